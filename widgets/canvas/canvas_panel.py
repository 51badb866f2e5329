"""CanvasPanel: the canvas on screen as a token grid or as running text, under the overlay bar, with one selection.

It has the grid's API (show_step, clear, snapshot, set_token_text, set_max_entropy, selection, setSelection,
set_highlight and the signals selectionChanged, lockToggleRequested, positionClicked), so the window can put it where
the grid was; both views get every step (cheap: the hidden one is not painted) and always agree on the selection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QScrollArea, QStackedWidget, QVBoxLayout, QWidget

from models.canvas.overlays import Overlay
from models.work.events import StepSnapshot
from widgets.canvas import colors
from widgets.canvas.canvas_text_view import CanvasTextView
from widgets.canvas.canvas_view import CanvasView, TokenText
from widgets.canvas.overlay_bar import OverlayBar
from widgets.canvas.token_grid import TokenGrid


class CanvasPanel(QWidget):
    selectionChanged = Signal(int, int)  # canvas positions, half-open; (-1, -1) when cleared
    lockToggleRequested = Signal(int)
    positionClicked = Signal(int)
    framePainted = Signal()

    def __init__(self, token_text: TokenText | None = None, max_entropy: float = colors.DEFAULT_MAX_ENTROPY,
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.bar = OverlayBar()
        self.grid = TokenGrid(token_text, max_entropy)
        self.text = CanvasTextView(token_text, max_entropy)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.text)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.grid)
        self.stack.addWidget(self.scroll)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.bar)
        layout.addWidget(self.stack, 1)
        self.bar.attach(self.grid, self.text)
        self.bar.viewChanged.connect(self.set_view)
        for view in self.views():
            view.selectionChanged.connect(lambda s, e, v=view: self._selected(v, s, e))
            view.lockToggleRequested.connect(self.lockToggleRequested)
            view.positionClicked.connect(self.positionClicked)
            view.framePainted.connect(self.framePainted)

    def views(self) -> tuple[CanvasView, CanvasView]:
        return self.grid, self.text

    # ---- which view -------------------------------------------------------------------------------------------
    def set_view(self, name: str) -> None:
        """Show the "grid" or the "text" view."""
        self.stack.setCurrentWidget(self.grid if name == "grid" else self.scroll)
        self.bar.set_view(name)

    def view(self) -> str:
        return "grid" if self.stack.currentWidget() is self.grid else "text"

    def current(self) -> CanvasView:
        return self.grid if self.view() == "grid" else self.text

    def set_overlay(self, overlay: Overlay) -> None:
        self.bar.set_overlay(overlay)
        for view in self.views():
            view.set_overlay(overlay)

    def overlay(self) -> Overlay:
        return self.grid.overlay()

    # ---- the grid's API, for both views -----------------------------------------------------------------------
    def show_step(self, snapshots: Sequence[StepSnapshot], step: int | None = None, committed: bool = False,
                  live: bool = False) -> None:
        for view in self.views():
            view.show_step(snapshots, step, committed, live)

    def clear(self) -> None:
        for view in self.views():
            view.clear()

    def snapshot(self) -> StepSnapshot | None:
        return self.grid.snapshot()

    def set_token_text(self, token_text: TokenText) -> None:
        for view in self.views():
            view.set_token_text(token_text)

    def set_tokenizer(self, tokenizer: Any) -> None:
        """The text view decodes with it (the grid shows raw token texts from set_token_text)."""
        self.text.set_tokenizer(tokenizer)

    def set_max_entropy(self, value: float) -> None:
        for view in self.views():
            view.set_max_entropy(value)

    def max_entropy(self) -> float:
        return self.grid.max_entropy()

    def set_highlight(self, mask: np.ndarray | None) -> None:
        for view in self.views():
            view.set_highlight(mask)

    def selection(self) -> tuple[int, int] | None:
        return self.grid.selection()

    def setSelection(self, start: int | None, end: int | None = None) -> None:  # noqa: N802 - Qt naming
        before = self.grid.selection()
        for view in self.views():
            view.blockSignals(True)
            view.setSelection(start, end)
            view.blockSignals(False)
        after = self.grid.selection()
        if after != before:
            self.selectionChanged.emit(*(after or (-1, -1)))

    def _selected(self, source: CanvasView, start: int, end: int) -> None:
        """One view's selection changed (a click or drag): the other follows, and the panel says so once."""
        other = self.text if source is self.grid else self.grid
        other.blockSignals(True)
        other.setSelection(None if start < 0 else start, None if start < 0 else end)
        other.blockSignals(False)
        self.selectionChanged.emit(start, end)
