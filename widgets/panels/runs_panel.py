"""RunsPanel: the current turn's text and every run that worked on it; pick one to replay, or two to compare."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

DOCUMENT = -1  # the row for the text itself


@dataclass(frozen=True)
class RunRow:
    run_id: int  # DOCUMENT for the text
    label: str
    kept: bool  # its text is in the document (accepted, or the generation)
    dropped: bool  # rejected, cancelled, failed or unchanged: shown greyed


class RunsPanel(QWidget):
    runChosen = Signal(int)  # a run id, or DOCUMENT
    compareRequested = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setToolTip("Click a run to replay its steps (rejected proposals too); select two (Ctrl+click) "
                             "and press Compare to see where they diverge")
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Side by side, one scrubber, with the positions where the two runs differ")
        self.compare_button.setEnabled(False)
        header = QHBoxLayout()
        header.addWidget(QLabel("<b>Runs</b>"), 1)
        header.addWidget(self.compare_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.list)
        self._rendering = False
        self.list.itemSelectionChanged.connect(self._on_selection)
        self.list.itemClicked.connect(self._on_clicked)
        self.compare_button.clicked.connect(self._on_compare)

    def show_runs(self, rows: list[RunRow], current: int) -> None:
        """Rows to show (the text first, then runs, newest last) and the one on screen; emits nothing."""
        self._rendering = True
        try:
            if [self._row(i) for i in range(self.list.count())] != rows:
                self.list.clear()
                for row in rows:
                    item = QListWidgetItem(row.label)
                    item.setData(Qt.ItemDataRole.UserRole, row)
                    if row.dropped:
                        item.setForeground(QColor(128, 128, 128))
                    if row.kept or row.run_id == DOCUMENT:
                        font = QFont(item.font())
                        font.setBold(row.run_id == DOCUMENT)
                        item.setFont(font)
                    self.list.addItem(item)
            for i in range(self.list.count()):
                item = self.list.item(i)
                if self._row(i).run_id == current and not item.isSelected():
                    self.list.setCurrentItem(item)
                    break
        finally:
            self._rendering = False
        self._update_compare()

    def rows(self) -> list[RunRow]:
        return [self._row(i) for i in range(self.list.count())]

    def _row(self, index: int) -> RunRow:
        return self.list.item(index).data(Qt.ItemDataRole.UserRole)

    def _chosen_runs(self) -> list[int]:
        rows = [item.data(Qt.ItemDataRole.UserRole) for item in self.list.selectedItems()]
        return [row.run_id for row in rows if row.run_id != DOCUMENT]

    def _update_compare(self) -> None:
        self.compare_button.setEnabled(len(self._chosen_runs()) == 2)

    def _on_selection(self) -> None:
        self._update_compare()

    def _on_clicked(self, item: QListWidgetItem) -> None:
        if not self._rendering and len(self.list.selectedItems()) == 1:
            self.runChosen.emit(item.data(Qt.ItemDataRole.UserRole).run_id)

    def _on_compare(self) -> None:
        chosen = self._chosen_runs()
        if len(chosen) == 2:
            self.compareRequested.emit(*sorted(chosen))
