"""The device panel: one row per device, disk space, and warnings that wait to be acknowledged."""

from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.console.model import ERROR, IDLE, OK, WARN, DeviceRow, WarningBoard

COLUMNS = ("device", "state", "rate", "last sample", "dropped / lost", "queue", "sync")
SYNC_TIP = ("Live sync health: sync edges seen on the device's trigger input, seconds since "
            "the last, the running clock offset (session minus device clock) and the RMS "
            "residual of the last 20 edges about a line. Red when no sync edge arrived for "
            "3 s (or 3 sync periods). `melab sync` makes the stored fit after the session.")
LEVEL_COLOUR = {OK: "#e8f5e9", WARN: "#fff3e0", ERROR: "#ffebee", IDLE: "#f5f5f5"}


class DevicePanel(QWidget):
    """Shows DeviceRows and a WarningBoard; asks for (re)connection and acknowledgements."""

    connectRequested = pyqtSignal(str)  # role; "" for every device
    acknowledged = pyqtSignal(int)  # warning id; 0 for all

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeaderItem(COLUMNS.index("sync")).setToolTip(SYNC_TIP)
        # Long device names are elided (full name in the tooltip): the sync column needs room.
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(0, 190)
        self.connect_button = QPushButton("Connect all")
        self.reconnect_button = QPushButton("Reconnect selected")
        self.connect_button.clicked.connect(lambda: self.connectRequested.emit(""))
        self.reconnect_button.clicked.connect(self._reconnect)
        self.disk = QLabel("disk: -")
        self.warnings = QListWidget()
        self.ack_button = QPushButton("Acknowledge")
        self.ack_all_button = QPushButton("Acknowledge all")
        self.ack_button.clicked.connect(self._acknowledge)
        self.ack_all_button.clicked.connect(lambda: self.acknowledged.emit(0))
        self.warning_title = QLabel("Warnings")
        buttons = QHBoxLayout()
        buttons.addWidget(self.connect_button)
        buttons.addWidget(self.reconnect_button)
        buttons.addStretch(1)
        buttons.addWidget(self.disk)
        acks = QHBoxLayout()
        acks.addStretch(1)
        acks.addWidget(self.ack_button)
        acks.addWidget(self.ack_all_button)
        devices = QVBoxLayout()
        devices.addWidget(self.table, 1)
        devices.addLayout(buttons)
        warnings = QVBoxLayout()
        warnings.addWidget(self.warning_title)
        warnings.addWidget(self.warnings, 1)
        warnings.addLayout(acks)
        layout = QHBoxLayout(self)
        layout.addLayout(devices, 3)
        layout.addLayout(warnings, 2)
        self.rows: list[DeviceRow] = []
        self.set_recording(False)

    def set_recording(self, recording: bool) -> None:
        """Connecting belongs before the recording; LSL streams reconnect by themselves during."""
        self.connect_button.setEnabled(not recording)
        self.reconnect_button.setEnabled(not recording)

    def show_rows(self, rows: list[DeviceRow]) -> None:
        """Replace the table's rows (cells are updated in place when the roles stay the same)."""
        if [r.role for r in rows] != [r.role for r in self.rows]:
            self.table.setRowCount(len(rows))
        self.rows = rows
        for index, row in enumerate(rows):
            values = (row.name, row.state, row.rate, row.last_sample, row.dropped, row.queue,
                      row.sync)
            colour = QColor(LEVEL_COLOUR.get(row.level, "#ffffff"))
            for column, value in enumerate(values):
                cell = self.table.item(index, column)
                if cell is None:
                    cell = QTableWidgetItem()
                    self.table.setItem(index, column, cell)
                if cell.text() != value:
                    cell.setText(value)
                    cell.setToolTip(value)
                cell.setBackground(colour)
                cell.setData(Qt.ItemDataRole.UserRole, row.role)

    def show_disk(self, text: str) -> None:
        """Free space and recording time left."""
        self.disk.setText(f"disk: {text}")

    def show_warnings(self, board: WarningBoard) -> None:
        """The warnings not acknowledged yet (they stay until acknowledged)."""
        active = board.active
        shown = [self.warnings.item(i).data(Qt.ItemDataRole.UserRole)
                 for i in range(self.warnings.count())]
        texts = [self.warnings.item(i).text() for i in range(self.warnings.count())]
        wanted = [w.id for w in active]
        lines = [f"{w.first:7.1f} s  {w.text}" + (f"  (x{w.count})" if w.count > 1 else "")
                 for w in active]
        if shown != wanted or texts != lines:
            self.warnings.clear()
            for warning, line in zip(active, lines, strict=True):
                item = QListWidgetItem(line)
                item.setData(Qt.ItemDataRole.UserRole, warning.id)
                item.setForeground(QColor("#c62828"))
                self.warnings.addItem(item)
        self.warning_title.setText(f"Warnings ({len(active)} to acknowledge)" if active
                                   else "Warnings (none)")
        self.warning_title.setStyleSheet("color: #c62828; font-weight: bold;" if active else "")

    def _reconnect(self) -> None:
        row = self.table.currentRow()
        if 0 <= row < len(self.rows):
            self.connectRequested.emit(self.rows[row].role)

    def _acknowledge(self) -> None:
        item = self.warnings.currentItem() or self.warnings.item(0)
        if item is not None:
            self.acknowledged.emit(int(item.data(Qt.ItemDataRole.UserRole)))
