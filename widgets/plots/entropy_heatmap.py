"""EntropyHeatmap: entropy per step and position of one canvas, on the grid's colormap; a click picks a step."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QPen
from PySide6.QtWidgets import QGraphicsRectItem, QLabel, QSizePolicy, QVBoxLayout, QWidget

from models.work.bounded_cache import BoundedCache
from models.work.events import StepSnapshot
from widgets.canvas import colors
from widgets.canvas.grid_cells import format_token
from widgets.plots.plot_common import (
    DEFAULT_MAX_STEPS,
    MIN_FITTED_STEPS,
    Appender,
    cache_axes,
    grow,
    lock_view,
    style_plot,
)


class EntropyHeatmap(QWidget):
    """Rows are steps (first at the top), columns are canvas positions; colour is entropy on the grid's colormap."""

    stepPositionClicked = Signal(int, int)

    def __init__(
        self,
        token_text: Callable[[int], str] | None = None,
        max_entropy: float = colors.DEFAULT_MAX_ENTROPY,
        max_steps: int = DEFAULT_MAX_STEPS,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._token_text = token_text or str
        self._text_cache: BoundedCache[int, str] = BoundedCache(1024)  # the tokens hovered lately
        self._max_entropy = float(max_entropy)
        self._data = np.zeros((max_steps, 0), dtype=np.float32)
        self._rows = 0
        self._step = -1
        self._snapshots: list[StepSnapshot] = []
        self._appender = Appender()
        self._range: tuple[int, int] | None = None

        self.view = pg.PlotWidget()
        self.plot: pg.PlotItem = self.view.getPlotItem()
        self.plot.invertY(True)
        self.plot.setLabel("bottom", "position")
        self.plot.setLabel("left", "step")
        lock_view(self.plot)
        cache_axes(self.plot)
        # axisOrder per item, not pg.setConfigOptions: the global option would flip every other ImageItem in the app.
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(colors.LUT)
        self.image.setLevels((0.0, self._max_entropy))
        self.plot.addItem(self.image)
        self.marker = QGraphicsRectItem()  # outlines the displayed step's row without hiding its colours
        self.marker.setZValue(10)
        self.marker.setVisible(False)
        self.plot.addItem(self.marker)
        self.hover_label = QLabel(" ")
        self.hover_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.hover_label.setTextFormat(Qt.TextFormat.PlainText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.view)
        layout.addWidget(self.hover_label)
        self.view.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.view.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self._restyle()
        self._set_range(fit=False)

    def show_step(self, snapshots: Sequence[StepSnapshot], step: int | None = None, fit: bool = True) -> None:
        """Show one canvas's history with the row of `step` (default: the latest) marked.

        `fit`: the view spans the steps taken (a finished canvas); otherwise the whole step budget, so a streaming
        canvas fills in downwards without the axes being laid out again at every step.
        """
        if not snapshots:
            self.clear()
            return
        n, length = len(snapshots), len(snapshots[0].entropy)
        start = self._appender.seen(snapshots)
        if length != self._data.shape[1]:
            self._data = np.zeros((max(self._data.shape[0], n), length), dtype=np.float32)
            start = 0
        self._data = grow(self._data, n)
        for i in range(start, n):
            self._data[i] = snapshots[i].entropy
        self._snapshots = list(snapshots)
        if start != n or self._rows != n:
            self._rows = n
            self.image.setImage(self._data[:n], autoLevels=False, levels=(0.0, self._max_entropy))
            self.image.setRect(QRectF(0, 1, length, n))  # row i is step i + 1, numbered from 1 as everywhere
        self._set_range(fit)  # a no-op unless the range changes
        self._step = (n - 1 if step is None else step) % n
        pen = QPen(self.palette().highlight().color(), 2)
        pen.setCosmetic(True)
        self.marker.setPen(pen)
        self.marker.setRect(QRectF(0, self._step + 1, length, 1))
        self.marker.setVisible(True)

    def clear(self) -> None:
        self._appender.reset()
        self._snapshots, self._rows, self._step = [], 0, -1
        self.image.clear()
        self.marker.setVisible(False)
        self.hover_label.setText(" ")
        self._set_range(fit=False)  # the next canvas streams into the whole step budget

    def set_token_text(self, token_text: Callable[[int], str]) -> None:
        self._token_text = token_text
        self._text_cache.clear()

    def set_max_entropy(self, value: float) -> None:
        self._max_entropy = float(value)
        self.image.setLevels((0.0, self._max_entropy))

    def set_canvas_length(self, length: int) -> None:
        """Size the view for a model's canvas before its first run, so the run does not lay the axes out."""
        if length != self._data.shape[1]:
            self._data = np.zeros((self._data.shape[0], length), dtype=np.float32)
            self.clear()

    def image_data(self) -> np.ndarray:
        """The entropies shown: (steps so far, positions) float32."""
        return self._data[: self._rows]

    def marker_step(self) -> int:
        return self._step

    def cell_at(self, scene_pos: QPointF) -> tuple[int, int] | None:
        """(step, position) under a scene point, or None outside the drawn rows."""
        if not self.plot.vb.sceneBoundingRect().contains(scene_pos):
            return None
        point = self.plot.vb.mapSceneToView(scene_pos)
        step, position = math.floor(point.y()) - 1, math.floor(point.x())
        if 0 <= step < self._rows and 0 <= position < self._data.shape[1]:
            return step, position
        return None

    def describe(self, step: int, position: int) -> str:
        """The hover text for one cell."""
        token_id = int(self._snapshots[step].argmax[position])
        text = self._text_cache.get_or_make(token_id, lambda i: format_token(self._token_text(i)))
        entropy = float(self._data[step, position])
        return f"step {step + 1}   position {position}   token {token_id} “{text}”   entropy {entropy:.3g} nats"

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        cell = self.cell_at(scene_pos)
        self.hover_label.setText(self.describe(*cell) if cell else " ")

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        cell = self.cell_at(event.scenePos())
        if cell is not None:
            self.stepPositionClicked.emit(*cell)

    def _set_range(self, fit: bool) -> None:
        # A fixed range (the whole step budget) instead of auto-range: rows fill in downwards as the canvas denoises.
        # Set only when it changes: a new range makes pyqtgraph lay out the axes' ticks and text again, which cost
        # a streaming frame several milliseconds at every canvas.
        width = max(1, self._data.shape[1])
        height = max(self._rows, MIN_FITTED_STEPS) if fit else self._data.shape[0]
        if self._range == (width, height):
            return
        self._range = (width, height)
        self.plot.setRange(xRange=(0, width), padding=0)
        self.plot.setRange(yRange=(1, height + 1), padding=0.02)  # room for the first tick label

    def _restyle(self) -> None:
        self.view.setBackground(self.palette().base().color())
        style_plot(self.plot, self.palette())

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.PaletteChange:
            self._restyle()
        super().changeEvent(event)
