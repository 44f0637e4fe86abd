"""The `melab` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from recordings.errors import SessionError


def _cmd_info(args: argparse.Namespace) -> int:
    from recordings.reader import open_session
    from recordings.summary import format_summary, summarize

    with open_session(args.session) as session:
        info = summarize(session)
    print(json.dumps(info, indent=2) if args.json else format_summary(info))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from app.demo import run_demo

    run_demo(args.out, duration=args.duration, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every melab subcommand."""
    parser = argparse.ArgumentParser(
        prog="melab", description="Record and analyse hidden-emotion (micro-expression) sessions."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="summarize a recorded session")
    info.add_argument("session", help="session folder")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.set_defaults(func=_cmd_info)

    demo = sub.add_parser("demo", help="record a short simulated session and summarize it")
    demo.add_argument("--out", default="sessions", help="folder that receives the session")
    demo.add_argument("--duration", type=float, default=5.0, help="seconds to record")
    demo.add_argument("--seed", type=int, default=1, help="random seed of the simulation")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `melab` command."""
    from drivers.lslconfig import configure_lsl

    configure_lsl()  # before anything can touch LSL: loopback only
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (SessionError, ValueError, FileNotFoundError) as exc:
        print(f"melab {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
