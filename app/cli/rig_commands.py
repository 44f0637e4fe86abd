"""`melab rig check FILE` (a rig profile's problems) and `melab lsl dump NAME` (a stream's
header and 10 s of its data, to write a profile for a new amplifier)."""

from __future__ import annotations

import argparse
import sys

from app.cli import checks

DUMP_SECONDS = 10.0


def _cmd_rig_check(args: argparse.Namespace) -> int:
    from recordings.rigs.profile import check_profile

    profile, problems = check_profile(args.file)
    for problem in problems:
        print(problem, file=sys.stderr)
    if profile is None:
        return 2
    for key, device in profile.devices.items():
        trigger = device.trigger.kind if device.trigger else "by the defaults"
        print(f"{key}: {device.role}, stream {device.query.describe()}, "
              f"{len(device.channels)} channel(s) described, trigger {trigger}")
    print(f"{args.file}: ok ({len(profile.devices)} device(s))")
    return 0


def _cmd_lsl_dump(args: argparse.Namespace) -> int:
    from drivers.lsl_dump import dump_stream

    header, data = dump_stream(args.query, args.out, args.seconds)
    print(f"wrote {header} (the stream header, info().as_xml()) and {data} "
          f"({args.seconds:g} s of samples with their timestamps)")
    return 0


def add_rig_commands(sub: argparse._SubParsersAction) -> None:
    """rig check; lsl dump."""
    rig = sub.add_parser("rig", help="work with rig profiles (docs/rig-profiles.md)")
    rig_sub = rig.add_subparsers(dest="rig_command", required=True)
    check = rig_sub.add_parser("check", help="validate a rig profile (problems as file:line)")
    check.add_argument("file", help="rig profile (TOML), e.g. rigs/curry-lsl.toml")
    check.set_defaults(func=_cmd_rig_check)
    lsl = sub.add_parser("lsl", help="look at LSL streams")
    lsl_sub = lsl.add_subparsers(dest="lsl_command", required=True)
    dump = lsl_sub.add_parser(
        "dump", help="write a stream's header (info().as_xml()) and 10 s of its data",
        description="Write NAME.xml (the stream's whole LSL header) and NAME.csv (its "
                    "timestamps and samples) to check what a real sender sends.")
    dump.add_argument("query", help="the stream's name, or a query key=value[,...] as --stream")
    dump.add_argument("--out", type=checks.output_folder, default=".", help="output folder")
    dump.add_argument("--seconds", type=checks.seconds_up_to(600.0), default=DUMP_SECONDS,
                      help="seconds of data to write (default 10)")
    dump.set_defaults(func=_cmd_lsl_dump)
