"""ConversationPanel: the turns of the conversation on screen, with their branches; pick a turn, switch a branch,
or run an earlier turn again as a new branch."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QToolButton, QVBoxLayout, QWidget


@dataclass(frozen=True)
class TurnRow:
    turn_id: int
    text: str  # the question (or where the text came from)
    branch: int  # 1-based place among its alternatives
    branches: int


class ConversationPanel(QWidget):
    turnChosen = Signal(int)
    branchStepped = Signal(int, int)  # turn id, -1 (previous alternative) or +1 (next)
    rerunRequested = Signal(int)  # put this turn's question in the prompt, to run again as a branch

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setToolTip("The conversation on screen, first question first. Click a turn to see and edit its "
                             "answer.")
        self.previous_button = self._button("‹", "Previous branch of the selected turn", -1)
        self.next_button = self._button("›", "Next branch of the selected turn", +1)
        self.rerun_button = QToolButton()
        self.rerun_button.setText("Run again…")
        self.rerun_button.setToolTip("Put the selected turn's question in the prompt box: generating then adds a "
                                     "new branch beside it, and the old answer stays")
        self.rerun_button.clicked.connect(lambda: self._emit_for_selected(self.rerunRequested))
        self.branch_label = QLabel()
        header = QHBoxLayout()
        header.addWidget(QLabel("<b>Conversation</b>"), 1)
        header.addWidget(self.previous_button)
        header.addWidget(self.branch_label)
        header.addWidget(self.next_button)
        header.addWidget(self.rerun_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.list)
        self._rendering = False
        self.list.currentItemChanged.connect(self._on_current)
        self._update_buttons()

    def _button(self, text: str, tip: str, step: int) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.clicked.connect(lambda: self._step(step))
        return button

    def show_turns(self, rows: list[TurnRow], current: int | None) -> None:
        """The active branch's turns and the current one; emits nothing."""
        self._rendering = True
        try:
            self.list.clear()
            for number, row in enumerate(rows, start=1):
                branch = f"   ‹{row.branch}/{row.branches}›" if row.branches > 1 else ""
                item = QListWidgetItem(f"{number}. {_one_line(row.text)}{branch}")
                item.setData(Qt.ItemDataRole.UserRole, row)
                item.setToolTip(row.text)
                self.list.addItem(item)
                if row.turn_id == current:
                    self.list.setCurrentItem(item)
        finally:
            self._rendering = False
        self._update_buttons()

    def rows(self) -> list[TurnRow]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def selected(self) -> TurnRow | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _on_current(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        self._update_buttons()
        if item is not None and not self._rendering:
            self.turnChosen.emit(item.data(Qt.ItemDataRole.UserRole).turn_id)

    def _step(self, step: int) -> None:
        row = self.selected()
        if row is not None:
            self.branchStepped.emit(row.turn_id, step)

    def _emit_for_selected(self, signal) -> None:
        row = self.selected()
        if row is not None:
            signal.emit(row.turn_id)

    def _update_buttons(self) -> None:
        row = self.selected()
        self.previous_button.setEnabled(row is not None and row.branch > 1)
        self.next_button.setEnabled(row is not None and row.branch < row.branches)
        self.branch_label.setText(f"{row.branch}/{row.branches}" if row is not None and row.branches > 1 else "")
        self.rerun_button.setEnabled(row is not None)


def _one_line(text: str, limit: int = 48) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
