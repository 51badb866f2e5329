"""ReviewPanel: the bar under the editor while a proposal waits: how many changes, Accept / Reject / Try again, and
one tickable row per change (hunk) when there are several."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout

from models.work.document import Hunk
from widgets.editor.editor_text import short


def hunk_label(k: int, hunk: Hunk) -> str:
    if not hunk.old_text:
        return f"{k + 1}. add “{short(hunk.new_text)}”"
    if not hunk.new_text:
        return f"{k + 1}. remove “{short(hunk.old_text)}”"
    return f"{k + 1}. “{short(hunk.old_text)}” → “{short(hunk.new_text)}”"


class ReviewPanel(QFrame):
    acceptClicked = Signal()
    rejected = Signal()
    retryRequested = Signal()
    hunkToggled = Signal(int, bool)  # a row's checkbox: keep that change or not

    def __init__(self) -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.label = QLabel()
        self.accept_button = QPushButton("Accept (Enter)")
        self.reject_button = QPushButton("Reject (Esc)")
        self.retry_button = QPushButton("Try again")
        self.accept_button.clicked.connect(self.acceptClicked)
        self.reject_button.clicked.connect(self.rejected)
        self.retry_button.clicked.connect(self.retryRequested)
        self.hunk_list = QListWidget()
        self.hunk_list.setToolTip("Untick a change to keep the old text there; clicking a change in the text works too")
        self.hunk_list.itemChanged.connect(
            lambda item: self.hunkToggled.emit(self.hunk_list.row(item), item.checkState() == Qt.CheckState.Checked))
        bar = QVBoxLayout(self)
        buttons = QHBoxLayout()
        buttons.addWidget(self.label, 1)
        for button in (self.accept_button, self.reject_button, self.retry_button):
            buttons.addWidget(button)
        bar.addLayout(buttons)
        bar.addWidget(self.hunk_list)
        self.hide()

    def show_hunks(self, hunks: list[Hunk]) -> None:
        """Every change ticked; the list shows when there is more than one."""
        self.hunk_list.blockSignals(True)
        self.hunk_list.clear()
        for k, hunk in enumerate(hunks):
            item = QListWidgetItem(hunk_label(k, hunk))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.hunk_list.addItem(item)
        self.hunk_list.blockSignals(False)
        self.hunk_list.setVisible(len(hunks) > 1)
        if hunks:  # as tall as its rows, up to five; more scroll
            rows = min(len(hunks), 5) * self.hunk_list.sizeHintForRow(0)
            self.hunk_list.setFixedHeight(rows + 2 * self.hunk_list.frameWidth())
        count = f"{len(hunks)} change{'' if len(hunks) == 1 else 's'}"
        self.label.setText(f"<b>Review the proposal</b>: {count}" if hunks else "<b>No changes</b>")
        self.show()

    def set_ticked(self, index: int, ticked: bool) -> None:
        item = self.hunk_list.item(index)
        if item is not None:
            self.hunk_list.blockSignals(True)
            item.setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)
            self.hunk_list.blockSignals(False)
