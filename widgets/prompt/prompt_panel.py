"""PromptPanel: the system prompt, the user prompt, an optional image strip, the thinking-mode and follow-up toggles,
and a line saying what Generate will do with them."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontMetrics, QResizeEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

THINK_TOOLTIP = (
    "Adds <|think|> to the system turn: the model first writes its thoughts in a separate channel, "
    "shown under “Thoughts” above the answer, and then the answer itself. Slower, often better on hard questions."
)


def _lines_tall(edit: QPlainTextEdit, lines: int) -> int:
    """Height of a text edit showing this many lines of its font, frame and margins included."""
    metrics = QFontMetrics(edit.font())
    margins = edit.contentsMargins()
    document_margin = 2 * edit.document().documentMargin()
    return int(
        lines * metrics.lineSpacing() + document_margin + margins.top() + margins.bottom() + 2 * edit.frameWidth()
    )


class PromptPanel(QWidget):
    """What to ask: emits changed() whenever any field changes. The follow-up box mirrors the Generate menu's
    Follow up action (the window keeps them together); branchCancelled asks to drop a pending "Run again…"."""

    changed = Signal()
    branchCancelled = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.system_edit = QPlainTextEdit()
        self.system_edit.setPlaceholderText("System prompt (optional)")
        self.system_edit.setTabChangesFocus(True)
        # A system prompt is usually a line or two; the user prompt gets the room.
        self.system_edit.setMinimumHeight(_lines_tall(self.system_edit, 2))
        self.system_edit.setMaximumHeight(_lines_tall(self.system_edit, 4))
        self.system_edit.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

        self.user_edit = QPlainTextEdit()
        self.user_edit.setPlaceholderText("Ask something… (Ctrl+Enter to generate)")
        self.user_edit.setTabChangesFocus(True)
        self.user_edit.setMinimumHeight(_lines_tall(self.user_edit, 4))

        self.think_box = QCheckBox("Thinking mode")
        self.think_box.setToolTip(THINK_TOOLTIP)
        self.follow_box = QCheckBox("Follow up")
        self.follow_box.setToolTip("Ask this as the next turn of the conversation on screen (Ctrl+Shift+N); "
                                   "unticked, Generate starts a new conversation")
        self.intent = QLabel()  # what Generate will do: a new conversation, a follow-up, or a branch
        self.intent.setWordWrap(True)
        self.intent.setStyleSheet("color: palette(dark);")
        self.cancel_branch = QToolButton()
        self.cancel_branch.setText("Don't branch")
        self.cancel_branch.setToolTip("Ask this prompt as a new turn instead of a branch of the earlier one")
        self.cancel_branch.hide()
        self.cancel_branch.clicked.connect(self.branchCancelled)

        system_label = QLabel("&System prompt")
        system_label.setBuddy(self.system_edit)
        user_label = QLabel("&Prompt")
        user_label.setBuddy(self.user_edit)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(system_label)
        layout.addWidget(self.system_edit)
        layout.addWidget(user_label)
        layout.addWidget(self.user_edit, 1)
        toggles = QHBoxLayout()
        toggles.addWidget(self.think_box)
        toggles.addWidget(self.follow_box)
        toggles.addStretch(1)
        layout.addLayout(toggles)
        intent = QHBoxLayout()
        intent.addWidget(self.intent, 1)
        intent.addWidget(self.cancel_branch)
        layout.addLayout(intent)
        self._layout, self._toggles = layout, toggles

        self.system_edit.textChanged.connect(self.changed)
        self.user_edit.textChanged.connect(self.changed)
        self.think_box.toggled.connect(self.changed)

    def system_text(self) -> str:
        return self.system_edit.toPlainText()

    def user_text(self) -> str:
        return self.user_edit.toPlainText()

    def think(self) -> bool:
        return self.think_box.isChecked()

    def set_prompt(self, user: str, system: str = "", think: bool = False) -> None:
        """Fill every field at once; changed() fires once, not per field."""
        fields = (self.system_edit, self.user_edit, self.think_box)
        for field in fields:
            field.blockSignals(True)
        try:
            self.system_edit.setPlainText(system)
            self.user_edit.setPlainText(user)
            self.think_box.setChecked(think)
        finally:
            for field in fields:
                field.blockSignals(False)
        self.changed.emit()

    def show_intent(self, text: str, branch: bool) -> None:
        """Say what Generate will do; a pending branch can be cancelled."""
        self.intent.setText(text)
        self.cancel_branch.setVisible(branch)
        self._fit_intent()

    def _fit_intent(self) -> None:
        # A wrapped label's height depends on its width, which a splitter's minimum does not ask for: without a
        # minimum of its own, a short window squeezed the panel and the image row slid over the prompt box.
        width = self.intent.width() if self.intent.width() > 50 else max(50, self.width() - 100)
        self.intent.setMinimumHeight(self.intent.heightForWidth(width))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._fit_intent()

    def add_strip(self, widget: QWidget) -> None:
        """Place a widget (the image strip) between the user prompt and the toggles."""
        self._layout.insertWidget(self._layout.indexOf(self._toggles), widget)
