"""InstructionBox: the one-line box Ctrl+K opens over the editor: say how the selection should change (the model's
suggestions drop down as soon as it opens, and narrow as you type); Enter sends it, Esc closes the box."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QCompleter, QHBoxLayout, QLabel, QLineEdit, QWidget

PLACEHOLDER = "How should the selection change?"


class _Line(QLineEdit):
    escaped = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt naming
        if event.key() == Qt.Key.Key_Escape and not (self.completer() and self.completer().popup().isVisible()):
            self.escaped.emit()
            return
        super().keyPressEvent(event)


class InstructionBox(QWidget):
    submitted = Signal(str)
    closed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = _Line()
        self.edit.setPlaceholderText(PLACEHOLDER)
        self.edit.setClearButtonEnabled(True)
        self.suggestions = QStringListModel()
        completer = QCompleter(self.suggestions, self.edit)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.edit.setCompleter(completer)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Rewrite:"))
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.hint)
        self.edit.returnPressed.connect(self._submit)
        self.edit.escaped.connect(self.close_box)
        self.hide()

    def set_suggestions(self, instructions: Sequence[str], hint: str = "") -> None:
        """What the drop-down offers (the demo model knows only its own instructions, word for word); the
        placeholder names the first of them, so it never suggests what the model does not know."""
        self.suggestions.setStringList(list(instructions))
        examples = ", ".join(instructions[:3])
        self.edit.setPlaceholderText(f"{PLACEHOLDER} e.g. {examples}" if examples else PLACEHOLDER)
        self.hint.setText(hint)
        self.hint.setVisible(bool(hint))

    def ask(self) -> None:
        self.edit.clear()
        self.show()
        self.edit.setFocus()
        if self.suggestions.rowCount():  # every suggestion at once, before any typing; typing narrows them
            completer = self.edit.completer()
            completer.setCompletionPrefix("")
            completer.complete()

    def close_box(self) -> None:
        self.hide()
        self.closed.emit()

    def _submit(self) -> None:
        text = self.edit.text().strip()
        if text:
            self.hide()
            self.submitted.emit(text)
