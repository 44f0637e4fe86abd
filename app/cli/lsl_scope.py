"""How far melab looks for LSL streams: --lsl-scope, --lsl-config FILE, and the line said at start.

The simulated lab, a replay, the tests and the benchmarks stay on this machine; the real rig
chooses a wider scope when its senders (Curry, the BIOPAC bridge) run on other computers.
"""

from __future__ import annotations

import argparse
import tomllib
from dataclasses import dataclass
from pathlib import Path

from core.clock import DEFAULT_LSL_SCOPE, LSL_SCOPES

# What each scope reaches (liblsl's multicast settings for it).
SCOPE_REACH = {
    "machine": "this computer only",
    "link": "this computer and the local network segment (link-local multicast, no routers)",
    "site": "computers on this site's network (multicast TTL 24)",
    "organization": "computers across the organization's network (multicast TTL 32)",
    "global": "any computer multicast reaches (TTL 255)",
}
CONFIG_EXAMPLE = '[lsl]\nscope = "site"'


@dataclass(frozen=True)
class LslScopeChoice:
    """The resolve scope of this run and where it came from."""

    scope: str
    source: str  # "default", "--lsl-scope", or the config file's path
    stated: bool  # a recording command: say it at start

    def line(self) -> str:
        """The one line melab says at start."""
        origin = "" if self.source == "default" else f", from {self.source}"
        return f"LSL resolve scope: {self.scope}{origin} (streams on {SCOPE_REACH[self.scope]})"


def add_lsl_arguments(parser: argparse.ArgumentParser) -> None:
    """--lsl-scope and --lsl-config on a command that records LSL streams."""
    parser.add_argument(
        "--lsl-scope", choices=LSL_SCOPES,
        help="how far to look for LSL streams: machine (default: this computer only), link, "
             "site, organization, global; the real rig only (the simulated lab stays local)")
    parser.add_argument(
        "--lsl-config", metavar="FILE", type=Path,
        help='TOML file with [lsl] scope = "site" (--lsl-scope wins over it)')


def read_lsl_config(path: Path) -> str:
    """The resolve scope a config file sets; ValueError saying what is wrong with it."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ValueError(f"LSL config file {path} does not exist; give an existing file to "
                         "--lsl-config") from None
    except OSError as exc:
        raise ValueError(f"LSL config file {path} cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"LSL config file {path} is not valid TOML ({exc}); write it as: "
                         f"{CONFIG_EXAMPLE!r}") from None
    table = data.get("lsl")
    extra = sorted(set(data) - {"lsl"}) + sorted(set(table or {}) - {"scope"})
    if not isinstance(table, dict) or "scope" not in table or extra:
        unknown = f" (unknown: {', '.join(extra)})" if extra else ""
        raise ValueError(f"LSL config file {path} must hold exactly {CONFIG_EXAMPLE!r}{unknown}")
    scope = table["scope"]
    if scope not in LSL_SCOPES:
        raise ValueError(f"LSL config file {path}: scope {scope!r} is not one of "
                         f"{', '.join(LSL_SCOPES)}")
    return str(scope)


def lsl_scope_choice(args: argparse.Namespace) -> LslScopeChoice:
    """The resolve scope the parsed command line asks for (machine unless it says otherwise)."""
    if not hasattr(args, "lsl_scope"):  # a command that records no LSL stream
        return LslScopeChoice(DEFAULT_LSL_SCOPE, "default", stated=False)
    if args.lsl_scope:
        choice = LslScopeChoice(args.lsl_scope, "--lsl-scope", stated=True)
    elif args.lsl_config:
        choice = LslScopeChoice(read_lsl_config(args.lsl_config), str(args.lsl_config), True)
    else:
        choice = LslScopeChoice(DEFAULT_LSL_SCOPE, "default", stated=True)
    local = "--simulate" if args.simulate else "--replay" if getattr(args, "replay", None) else ""
    if local and choice.scope != DEFAULT_LSL_SCOPE:
        raise ValueError(f"{local} stays on this machine (its LSL senders are local); the LSL "
                         f"scope {choice.scope!r} ({choice.source}) is for the real rig only")
    return choice
