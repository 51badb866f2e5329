"""OutputPane: the answer, the model's thoughts folded away above it, a Copy button and the run's statistics."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)


def _read_only_text(placeholder: str) -> QPlainTextEdit:
    edit = QPlainTextEdit()
    edit.setReadOnly(True)
    edit.setPlaceholderText(placeholder)
    edit.setTextInteractionFlags(
        Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
    )
    return edit


def _set_text_kept(edit: QPlainTextEdit, text: str) -> None:
    """Replace the text only when it differs, so repeated updates during a run do not reset the scroll."""
    if edit.toPlainText() != text:
        edit.setPlainText(text)


class OutputPane(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thought_button = QToolButton()
        self.thought_button.setCheckable(True)
        self.thought_button.setAutoRaise(True)
        self.thought_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.thought_button.setToolTip("What the model wrote in its thinking channel before the answer")
        self.thought_view = _read_only_text("")
        thought_font = self.thought_view.font()
        thought_font.setItalic(True)
        self.thought_view.setFont(thought_font)
        self.thought_view.setMaximumHeight(self.thought_view.fontMetrics().lineSpacing() * 8)

        self.answer_view = _read_only_text("The answer appears here.")
        self.answer_view.setMinimumHeight(self.answer_view.fontMetrics().lineSpacing() * 3)

        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the answer to the clipboard")
        self.copy_button.setEnabled(False)

        self.stats_title = QLabel("<b>Statistics</b>")
        self.stats_form = QFormLayout()
        self.stats_form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        self.stats_form.setHorizontalSpacing(12)
        self.stats_form.setVerticalSpacing(2)
        self._stat_values: dict[str, QLabel] = {}

        self.notice = QLabel()  # why an answer is empty, and what to try
        self.notice.setWordWrap(True)
        self.notice.setTextFormat(Qt.TextFormat.RichText)
        self.notice.setStyleSheet("QLabel { background: palette(alternate-base); padding: 6px; }")
        self.notice.hide()

        text_column = QVBoxLayout()
        text_column.addWidget(self.notice)
        text_column.addWidget(self.thought_button, 0, Qt.AlignmentFlag.AlignLeft)
        text_column.addWidget(self.thought_view)
        text_column.addWidget(self.answer_view, 1)

        side = QWidget()
        side.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Preferred)
        side_column = QVBoxLayout(side)
        side_column.setContentsMargins(0, 0, 0, 0)
        side_column.addWidget(self.copy_button, 0, Qt.AlignmentFlag.AlignRight)
        side_column.addWidget(self.stats_title)
        side_column.addLayout(self.stats_form)
        side_column.addStretch(1)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(text_column, 1)
        layout.addWidget(side)

        self.thought_button.toggled.connect(self._on_thoughts_toggled)
        self.copy_button.clicked.connect(self.copy_answer)
        self._on_thoughts_toggled(False)
        self.set_thought("")
        self.set_stats({})

    def set_answer(self, text: str) -> None:
        _set_text_kept(self.answer_view, text)
        self.copy_button.setEnabled(bool(text))

    def answer(self) -> str:
        return self.answer_view.toPlainText()

    def set_notice(self, text: str) -> None:
        """A note above the answer (rich text); "" hides it."""
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    def set_thought(self, text: str) -> None:
        """Show the thoughts behind the toggle; the toggle keeps its state, and hides when there are none."""
        _set_text_kept(self.thought_view, text)
        words = len(text.split())
        self.thought_button.setText(f"Thoughts ({words} word{'' if words == 1 else 's'})")
        self.thought_button.setVisible(bool(text.strip()))
        self.thought_view.setVisible(bool(text.strip()) and self.thought_button.isChecked())

    def thought(self) -> str:
        return self.thought_view.toPlainText()

    def set_stats(self, stats: dict[str, str]) -> None:
        """Show these rows in order; with the same keys as before only the values change (no flicker)."""
        if list(stats) != list(self._stat_values):
            while self.stats_form.rowCount():
                self.stats_form.removeRow(0)
            self._stat_values = {}
            for key in stats:
                value = QLabel()
                value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                self.stats_form.addRow(f"{key}:", value)
                self._stat_values[key] = value
        for key, text in stats.items():
            label = self._stat_values[key]
            label.setText(text)
            # Widths only grow: a column that narrowed and widened as live numbers change would re-wrap the answer
            # beside it at every update (16 ms at the real canvas) and make it jump.
            label.setMinimumWidth(max(label.minimumWidth(), label.fontMetrics().horizontalAdvance(text) + 4))
        self.stats_title.setVisible(bool(stats))

    def stats(self) -> dict[str, str]:
        return {key: label.text() for key, label in self._stat_values.items()}

    def clear(self) -> None:
        self.set_notice("")
        self.set_answer("")
        self.set_thought("")
        self.set_stats({})

    def copy_answer(self) -> None:
        QGuiApplication.clipboard().setText(self.answer())

    def _on_thoughts_toggled(self, expanded: bool) -> None:
        self.thought_button.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.thought_view.setVisible(expanded and bool(self.thought().strip()))
