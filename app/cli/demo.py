"""The README demo: the console runs the demo protocol on the simulated lab, then analyses it.

With a display the console opens and starts the session; you play the participant (SPACE,
then the self-report) unless --autopilot plays it. Without a display the same console, engine
and recorder run offscreen with the autopilot, and the session summary is printed. The
simulated participant reacts to the clips the protocol plays (SimLabConfig.reactive), so the
analysis of the session that follows (analysis.pipeline.analyze) finds the simulation's
micro-expressions in the recorded stimulus segments.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from app.cli.analyze import format_results
from app.cli.checks import CommandError
from app.console.analysis import default_out_dir
from app.console.app import go_headless, has_display, run_console
from app.console.setup import SessionSetup
from app.qt_platform import platform_problem
from app.rig import simulated_rig
from app.stop_signals import StoppedBySignal


def run_demo(out: str | Path, seed: int = 1, autopilot: bool | None = None,
             protocol: str = "demo") -> Path | None:
    """Record the demo protocol (practice + 3 short trials) from the simulated lab, then
    analyse the session into OUT/analysis/SESSION and print the figures.

    protocol: another protocol file or packaged name (tests use a shorter one).
    A stop signal closes the session and raises StoppedBySignal (no analysis).
    """
    headless = not has_display()
    if not headless:
        problem = platform_problem()
        if problem:  # Qt would abort on this display: the same demo runs offscreen instead
            print(f"melab demo: {problem}; running offscreen instead", file=sys.stderr,
                  flush=True)
            headless = True
            go_headless(force=True)
    if headless:
        go_headless()
    auto = headless if autopilot is None else autopilot
    where = "offscreen, the autopilot playing the participant" if headless else (
        "the autopilot playing the participant" if auto else
        "press SPACE in the participant window and answer the self-reports")
    name = "the CMRR demo protocol" if protocol == "demo" else f"protocol {protocol}"
    print(f"melab demo: {name} on the simulated lab ({where})")
    setup = SessionSetup("demo", protocol=protocol, output=str(out), full_screen=False,
                         notes="melab demo (simulated lab)")
    run = run_console(lambda seconds: simulated_rig(seconds, seed=seed, reactive=True), setup,
                      autostart=True, autopilot=auto, quit_when_done=headless,
                      remind_in_trial=2 if auto else None)
    if run.stopped_by is not None:
        raise StoppedBySignal(run.stopped_by, run.folder)
    if run.problems:
        raise CommandError("the demo cannot start: " + "; ".join(run.problems))
    finished = run.finished
    if finished is None:
        print("No session was recorded.")
        return None
    print(finished.summary_text)
    for problem in finished.problems:
        print(f"  ! {problem}")
    folder = Path(finished.folder)
    analyse_demo(folder)
    return folder


def analyse_demo(session: Path) -> dict[str, Any]:
    """`melab analyze SESSION --out OUTPUT/analysis/SESSION`, then its figures in a few lines."""
    from analysis.pipeline import analyze

    out = default_out_dir(session)
    print(f"Analysis (melab analyze {session} --out {out}):")
    summary = analyze([session], out=out, bar_file=sys.stderr)
    print(format_results(summary))
    print(f"Report: {out / 'report.html'}")
    return summary
