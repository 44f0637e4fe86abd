"""The README demo: the console runs the demo protocol on the simulated lab, then summarizes.

With a display the console opens and starts the session; you play the participant (SPACE,
then the self-report) unless --autopilot plays it. Without a display the same console, engine
and recorder run offscreen with the autopilot, and the session summary is printed.
"""

from __future__ import annotations

from pathlib import Path

from app.console_app import go_headless, has_display, run_console
from app.console_rig import simulated_rig
from app.console_setup import SessionSetup


def run_demo(out: str | Path, seed: int = 1, autopilot: bool | None = None) -> Path | None:
    """Record the demo protocol (practice + 3 short trials) from the simulated lab."""
    headless = not has_display()
    if headless:
        go_headless()
    auto = headless if autopilot is None else autopilot
    where = "offscreen, the autopilot playing the participant" if headless else (
        "the autopilot playing the participant" if auto else
        "press SPACE in the participant window and answer the self-reports")
    print(f"melab demo: the CMRR demo protocol on the simulated lab ({where})")
    setup = SessionSetup("demo", protocol="demo", output=str(out), full_screen=False,
                         notes="melab demo (simulated lab)")
    run = run_console(lambda seconds: simulated_rig(seconds, seed=seed), setup, autostart=True,
                      autopilot=auto, quit_when_done=headless,
                      remind_in_trial=2 if auto else None)
    if run.problems:
        raise RuntimeError("the demo cannot start:\n  " + "\n  ".join(run.problems))
    finished = run.finished
    if finished is None:
        print("No session was recorded.")
        return None
    print(finished.summary_text)
    if "Sync:" not in finished.summary_text:
        print(f"  {finished.sync_text}")
    for problem in finished.problems:
        print(f"  ! {problem}")
    return Path(finished.folder)
