"""The results page: a session's summary, then the analysis's tables, plots and report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import Qt, QUrl, pyqtSignal
from PyQt6.QtGui import QDesktopServices, QPixmap
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.console.analysis import (
    AnalysisResult,
    cell_text,
    empty_reason,
    summary_lines,
    table_columns,
)

PLOT_WIDTH = 640


def open_with_desktop(path: Path) -> bool:
    """Open a file with the desktop's default application."""
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))))


class ResultsPage(QWidget):
    """Shows what a recording and its analysis produced; the report opens on request."""

    analyzeRequested = pyqtSignal()
    newSessionRequested = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.open_file: Callable[[Path], bool] = open_with_desktop  # tests replace it
        self.title = QLabel("No session yet")
        self.title.setStyleSheet("font-size: 16px; font-weight: bold;")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.summary = QPlainTextEdit()
        self.summary.setReadOnly(True)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.summary, "Summary")
        self.analyze = QPushButton("Analyze session...")
        self.open_report = QPushButton("Open report")
        self.open_report.setEnabled(False)
        self.new_session = QPushButton("New session")
        self.analyze.clicked.connect(self.analyzeRequested)
        self.open_report.clicked.connect(self._open_report)
        self.new_session.clicked.connect(self.newSessionRequested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.analyze)
        buttons.addWidget(self.open_report)
        buttons.addStretch(1)
        buttons.addWidget(self.new_session)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.message)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(buttons)
        self.report: Path | None = None
        self.result: AnalysisResult | None = None

    def show_session(self, folder: Path, text: str) -> None:
        """A freshly recorded session: its summary, and the analysis still to run."""
        self._clear_tabs()
        self.title.setText(f"Session {folder.name}")
        self.message.setText(f"Recorded into {folder}")
        self.summary.setPlainText(text)
        self.report, self.result = None, None
        self.open_report.setEnabled(False)

    def show_message(self, text: str, error: bool = False) -> None:
        """A note above the results (analysis missing, failed or cancelled)."""
        self.message.setText(text)
        self.message.setStyleSheet("color: #c62828;" if error else "")

    def show_result(self, result: AnalysisResult) -> None:
        """Summary, one tab per table, the plots, and the report button."""
        self._clear_tabs()
        self.result = result
        self.title.setText(f"Analysis in {result.out_dir}")
        self.show_message(f"{len(result.tables)} table(s), {len(result.plots)} plot(s)"
                          + (f"; report {result.report}" if result.report else "; no report"))
        self.summary.setPlainText("\n".join(summary_lines(result.summary)) or "(no summary)")
        for name, rows in result.tables.items():
            self.tabs.addTab(self._table(rows) if rows else self._note(
                empty_reason(name, result.summary)), name)
        self.tabs.addTab(self._plots(result.plots) if result.plots else self._note(
            empty_reason("plots", result.summary)), "Plots")
        self.report = result.report
        self.open_report.setEnabled(result.report is not None)

    def open_current_report(self) -> bool:
        """Open the report, if there is one."""
        return self.report is not None and self.open_file(self.report)

    def _open_report(self) -> None:
        self.open_current_report()

    def _clear_tabs(self) -> None:
        while self.tabs.count() > 1:
            widget = self.tabs.widget(1)
            self.tabs.removeTab(1)
            if widget is not None:
                widget.deleteLater()

    @staticmethod
    def _note(text: str) -> QLabel:
        """A tab that says why it has nothing to show."""
        label = QLabel(text)
        label.setWordWrap(True)
        label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        label.setMargin(12)
        return label

    @staticmethod
    def _table(rows: list[dict[str, object]]) -> QTableWidget:
        columns = table_columns(rows)
        table = QTableWidget(len(rows), len(columns))
        table.setHorizontalHeaderLabels(columns)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSortingEnabled(False)
        for r, row in enumerate(rows):
            for c, column in enumerate(columns):
                table.setItem(r, c, QTableWidgetItem(cell_text(row.get(column))))
        table.resizeColumnsToContents()
        return table

    @staticmethod
    def _plots(paths: list[Path]) -> QScrollArea:
        box = QWidget()
        layout = QVBoxLayout(box)
        for path in paths:
            pixmap = QPixmap(str(path))
            title = QLabel(path.name)
            image = QLabel()
            if pixmap.isNull():
                image.setText(f"(cannot read {path})")
            else:
                image.setPixmap(pixmap.scaledToWidth(
                    min(PLOT_WIDTH, pixmap.width()), Qt.TransformationMode.SmoothTransformation))
            layout.addWidget(title)
            layout.addWidget(image)
        layout.addStretch(1)
        area = QScrollArea()
        area.setWidget(box)
        area.setWidgetResizable(True)
        return area
