"""Run as a subprocess by test_console_resume_qt: the console records a protocol on the
simulated lab, an autopilot playing the participant, and prints every logged event
("EVENT kind trial") until the test kills it with SIGKILL.

usage: python -m tests.app.crash_console PROTOCOL OUT PREFIX
"""

from __future__ import annotations

import os
import sys


def main(protocol: str, out: str, prefix: str) -> None:
    """Check, start and run the protocol; never closes by itself before the protocol ends."""
    from core.clock import configure_lsl

    configure_lsl("machine")  # before the first LSL call: never off this machine
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtWidgets import QApplication

    from app.console.autopilot import Autopilot
    from app.console.setup import SessionSetup
    from app.console.window import ConsoleWindow
    from app.rig import simulated_rig

    app = QApplication(sys.argv[:1])
    window = ConsoleWindow(lambda seconds: simulated_rig(seconds, seed=7, width=320,
                                                         height=240, prefix=prefix))
    window.confirm = lambda title, text: True
    window.setup_page.fill(SessionSetup("P11", protocol=protocol, output=out,
                                        full_screen=False))
    pilots = []

    def checked(preflight: object) -> None:
        if not window.preflight.can_start:
            print("PREFLIGHT FAILED", [str(i) for i in window.preflight.errors], flush=True)
            app.quit()
            return
        window.start()

    def started(folder: object) -> None:
        print(f"FOLDER {folder}", flush=True)
        window.recording.sink.event_listeners.append(
            lambda e: print(f"EVENT {e.kind} {e.trial}", flush=True))
        pilots.append(Autopilot(window.session, delay_s=0.2))

    window.preflightDone.connect(checked)
    window.recordingStarted.connect(started)
    window.sessionFinished.connect(lambda finished: app.quit())
    window.show()
    window.check()
    app.exec()


if __name__ == "__main__":
    main(*sys.argv[1:4])
