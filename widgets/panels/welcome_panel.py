"""WelcomePanel: what to do first, shown where the canvas will be until there is one: example prompts to click and
the keys that matter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

KEYS = (
    ("Ctrl+Enter", "generate an answer to the prompt"),
    ("Esc", "stop at the next step"),
    ("Ctrl+R", "re-denoise the selected text"),
    ("Ctrl+L", "lock the selected tokens"),
    ("Ctrl+K", "rewrite the selection by an instruction"),
    ("Ctrl+Z / Ctrl+Shift+Z or Ctrl+Y", "undo / redo"),
    ("F1", "how text diffusion works"),
)


class WelcomePanel(QWidget):
    exampleChosen = Signal(object)  # the example (app.controllers.examples.Example) clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("<h2>Watch a model write by denoising</h2>")
        self.intro = QLabel()
        self.intro.setWordWrap(True)
        self.examples_box = QWidget()
        self.examples_layout = QVBoxLayout(self.examples_box)
        self.examples_layout.setContentsMargins(0, 0, 0, 0)
        keys = QGridLayout()
        for row, (key, meaning) in enumerate(KEYS):
            keys.addWidget(QLabel(f"<b>{key}</b>"), row, 0)
            label = QLabel(meaning)
            label.setWordWrap(True)  # a narrow window wraps the meaning rather than cutting it
            keys.addWidget(label, row, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 16, 24, 16)
        layout.addStretch(1)
        for widget in (self.title, self.intro, self.examples_box):
            layout.addWidget(widget)
        layout.addSpacing(12)
        layout.addWidget(QLabel("<b>Keys</b>"))
        layout.addLayout(keys)
        layout.addStretch(2)
        self.buttons: list[QPushButton] = []
        self.set_examples([], demo=False)

    def set_examples(self, examples: Sequence[Any], demo: bool) -> None:
        """The example prompts to offer (the demo model's tasks), or none for another model."""
        for button in self.buttons:
            button.deleteLater()
        self.buttons = []
        if demo and examples:
            self.intro.setText("The demo model is small and was trained here on a few tasks only; it answers these "
                               "well. Click one to put it in the prompt box, then press <b>Ctrl+Enter</b> and watch "
                               "the canvas settle step by step.")
        else:
            self.intro.setText("Type a question in the prompt box on the left and press <b>Ctrl+Enter</b>: the canvas "
                               "appears here and denoises step by step.")
        for example in examples if demo else ():
            button = QPushButton(example.title)
            button.setToolTip(example.prompt)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.clicked.connect(lambda checked=False, e=example: self.exampleChosen.emit(e))
            self.examples_layout.addWidget(button)
            self.buttons.append(button)
