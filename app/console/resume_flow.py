"""'Resume a crashed session...' in the console: choose the session, confirm, fill the form.

The logic (what was finished, where to go on, the form's values) is app/console/resume.py's;
this only asks the experimenter and hands the plan to the window, whose Start then records
the continuation into a new session folder linked to the crashed one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt6.QtWidgets import QFileDialog

from app.console.resume import ResumePlan, plan_resume
from app.console.setup import check_protocol
from protocols.resume import ResumeError


class ResumeController:
    """Holds the chosen ResumePlan of a console window until its session starts."""

    def __init__(self, window: Any) -> None:
        self.window = window
        self.plan: ResumePlan | None = None

    def choose(self, folder: Path | None = None) -> ResumePlan | None:
        """Ask for the crashed session (unless given), check it against the form's protocol,
        confirm, then fill the form and run the preflight; None when nothing is resumed."""
        window = self.window
        page = window.setup_page
        if window.recording is not None:
            return None
        if folder is None:
            chosen = QFileDialog.getExistingDirectory(window, "Crashed session to resume",
                                                      page.output.text() or "sessions")
            if not chosen:
                return None
            folder = Path(chosen)
        protocol, items = check_protocol(page.values())
        try:
            if protocol is None:
                raise ResumeError("the protocol chosen in the form does not load: "
                                  + "; ".join(i.detail for i in items))
            plan = plan_resume(folder, protocol)
        except ResumeError as exc:
            self.clear()
            page.resume_note.setText(f"cannot resume {folder.name}: {exc}")
            window.statusBar().showMessage(f"Cannot resume {folder.name}: {exc}")
            return None
        if not window.confirm("Resume the session?", plan.describe()):
            return None
        self.plan = plan
        window.new_session()  # back to the set-up page
        page.fill(plan.setup(page.values()))
        page.resume_note.setText(f"Resuming: {plan.describe()}")
        window.statusBar().showMessage(f"Resuming {folder.name}: check, then Start.")
        window.check()
        return plan

    def take(self) -> ResumePlan | None:
        """The plan for the session starting now (then forgotten: one continuation each)."""
        plan, self.plan = self.plan, None
        if plan is not None:
            self.window.setup_page.resume_note.setText("")
        return plan

    def clear(self) -> None:
        """Forget the chosen plan."""
        self.plan = None
        self.window.setup_page.resume_note.setText("")
