"""Per-canvas history plots: entropy per step and position as a heatmap, and mean entropy / accepted per step."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPalette, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QLabel, QSizePolicy, QVBoxLayout, QWidget

from models.events import StepSnapshot
from widgets import colors
from widgets.grid_cells import format_token

DEFAULT_MAX_STEPS = 48  # the sampler's default step budget: buffers start this tall and double if a run goes longer
MIN_FITTED_STEPS = 8  # a finished canvas fills the view, but two steps are not stretched to the whole height


class _Appender:
    """Tells how many of a history's snapshots were already seen, so updates append rows instead of rebuilding."""

    def __init__(self) -> None:
        self.first: StepSnapshot | None = None
        self.last: StepSnapshot | None = None
        self.count = 0

    def seen(self, snapshots: Sequence[StepSnapshot]) -> int:
        """Rows still valid from the previous call (0: a different canvas, start over); then remembers this one."""
        n = self.count
        same = n > 0 and len(snapshots) >= n and snapshots[0] is self.first and snapshots[n - 1] is self.last
        self.first, self.last, self.count = snapshots[0], snapshots[-1], len(snapshots)
        return n if same else 0

    def reset(self) -> None:
        self.__init__()


def _style_plot(plot: pg.PlotItem, palette: QPalette) -> None:
    """Axes and labels in the palette's text colour, so the plots read on light and dark themes alike."""
    text = palette.windowText().color()
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(text))
        axis.setTextPen(pg.mkPen(text))
        if axis.label is not None:
            axis.label.setDefaultTextColor(text)
    if plot.titleLabel.text:
        plot.titleLabel.setText(plot.titleLabel.text, color=text)


def _lock_view(plot: pg.PlotItem) -> None:
    # These views are indexes into the history, not data to explore: a click picks a step, it never pans.
    plot.setMouseEnabled(x=False, y=False)
    plot.setMenuEnabled(False)
    plot.hideButtons()


def _grow(buffer: np.ndarray, rows: int) -> np.ndarray:
    if rows <= buffer.shape[0]:
        return buffer
    bigger = np.zeros((max(rows, 2 * buffer.shape[0]),) + buffer.shape[1:], dtype=buffer.dtype)
    bigger[: buffer.shape[0]] = buffer
    return bigger


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
        self._text_cache: dict[int, str] = {}
        self._max_entropy = float(max_entropy)
        self._data = np.zeros((max_steps, 0), dtype=np.float32)
        self._rows = 0
        self._step = -1
        self._snapshots: list[StepSnapshot] = []
        self._appender = _Appender()
        self._range: tuple[int, int] | None = None

        self.view = pg.PlotWidget()
        self.plot: pg.PlotItem = self.view.getPlotItem()
        self.plot.invertY(True)
        self.plot.setLabel("bottom", "position")
        self.plot.setLabel("left", "step")
        _lock_view(self.plot)
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
        self._data = _grow(self._data, n)
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
        text = self._text_cache.get(token_id)
        if text is None:
            text = self._text_cache[token_id] = format_token(self._token_text(token_id))
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
        _style_plot(self.plot, self.palette())

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.PaletteChange:
            self._restyle()
        super().changeEvent(event)


class StepCurves(QWidget):
    """Mean entropy per step (log scale, with the stop threshold) above tokens accepted per step."""

    stepClicked = Signal(int)

    def __init__(
        self,
        threshold: float = 0.005,
        max_entropy: float = colors.DEFAULT_MAX_ENTROPY,
        max_steps: int = DEFAULT_MAX_STEPS,
        entropy_floor: float = 1e-4,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._floor = float(entropy_floor)
        self._max_entropy = float(max_entropy)
        self._threshold = float(threshold)
        self._x = np.arange(1, max_steps + 1, dtype=np.float64)  # steps are numbered from 1, as the scrubber says
        self._mean = np.zeros(max_steps, dtype=np.float64)
        self._accepted = np.zeros(max_steps, dtype=np.float64)
        self._count = 0
        self._step = -1
        self._y_top = self._accepted_top = 0.0
        self._x_span = 0
        self._canvas_length = 0
        self._appender = _Appender()

        self.view = pg.GraphicsLayoutWidget()
        self.entropy_plot: pg.PlotItem = self.view.addPlot(row=0, col=0)
        self.accepted_plot: pg.PlotItem = self.view.addPlot(row=1, col=0)
        self.view.ci.layout.setRowStretchFactor(0, 3)
        self.view.ci.layout.setRowStretchFactor(1, 2)
        # Titles above each plot, not rotated axis labels: in a short window the two rotated labels ran into each
        # other ("acceptedmean entropy (na…").
        self.entropy_plot.setTitle("mean entropy (nats)", size="9pt")
        self.accepted_plot.setTitle("tokens accepted", size="9pt")
        self.accepted_plot.setLabel("bottom", "step")
        # Log scale: the stop threshold (~0.005) and the first steps (several nats) differ by three decades.
        # Log mode plots log10 of the data, so values are clipped to a floor first and the lines sit at log10 values.
        self.entropy_plot.setLogMode(y=True)
        self.accepted_plot.setXLink(self.entropy_plot)
        self.entropy_plot.getAxis("left").setWidth(56)
        self.accepted_plot.getAxis("left").setWidth(56)  # same width keeps the two x axes aligned
        for plot in (self.entropy_plot, self.accepted_plot):
            _lock_view(plot)
        # Faint lines at each decade instead of showGrid: the axis grid redraws every minor log tick on each
        # repaint (about 25 ms of a 35 ms frame when measured), a handful of static lines costs nothing.
        self.decade_lines = [
            pg.InfiniteLine(pos=d, angle=0, movable=False)
            for d in range(math.floor(math.log10(self._floor)), 3)  # up to 100 nats, above ln(any vocabulary)
        ]
        for line in self.decade_lines:
            line.setZValue(-10)
            self.entropy_plot.addItem(line)
        # Plain lines without point symbols or antialiasing: a scatter of symbols and antialiased paths cost most of
        # a live frame's time, and the GUI thread must stay responsive while the canvas streams.
        self.entropy_curve = self.entropy_plot.plot(pen=pg.mkPen((31, 119, 180), width=2))
        self.accepted_curve = self.accepted_plot.plot(pen=pg.mkPen((214, 95, 20), width=2), fillLevel=0,
                                                      brush=(214, 95, 20, 70))
        self.threshold_line = pg.InfiniteLine(
            angle=0, movable=False, label="", labelOpts={"position": 0.97, "anchors": [(1, 1), (1, 1)]}
        )
        self.entropy_plot.addItem(self.threshold_line)
        self.entropy_marker = pg.InfiniteLine(angle=90, movable=False)
        self.accepted_marker = pg.InfiniteLine(angle=90, movable=False)
        self.entropy_plot.addItem(self.entropy_marker)
        self.accepted_plot.addItem(self.accepted_marker)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.view.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self._restyle()
        self.set_threshold(threshold)
        self.clear()

    def show_step(self, snapshots: Sequence[StepSnapshot], step: int | None = None, fit: bool = True) -> None:
        """Plot one canvas's per-step numbers with a marker at `step` (default: the latest); `fit` as the heatmap's."""
        if not snapshots:
            self.clear()
            return
        n = len(snapshots)
        start = self._appender.seen(snapshots)
        if n > len(self._x):
            size = max(n, 2 * len(self._x))
            self._x = np.arange(1, size + 1, dtype=np.float64)
            self._mean = _grow(self._mean, size)
            self._accepted = _grow(self._accepted, size)
        self._canvas_length = len(snapshots[0].entropy)
        for i in range(start, n):
            self._mean[i] = max(float(snapshots[i].mean_entropy), self._floor)
            self._accepted[i] = snapshots[i].num_accepted
        if start != n or self._count != n:
            self._count = n
            self.entropy_curve.setData(self._x[:n], self._mean[:n])
            self.accepted_curve.setData(self._x[:n], self._accepted[:n])
            self._fit_y()
        self._set_x_range(max(n, MIN_FITTED_STEPS) if fit else len(self._x))
        self._step = (n - 1 if step is None else step) % n
        for marker in (self.entropy_marker, self.accepted_marker):
            marker.setValue(self._step + 1)
            marker.setVisible(True)

    def clear(self) -> None:
        self._appender.reset()
        self._count, self._step = 0, -1
        self.entropy_curve.setData([], [])
        self.accepted_curve.setData([], [])
        self.entropy_marker.setVisible(False)
        self.accepted_marker.setVisible(False)
        self._fit_y()
        self._set_x_range(len(self._x))

    def set_max_entropy(self, value: float) -> None:
        """The top of the entropy scale: ln(vocabulary size), the entropy of a uniform guess."""
        self._max_entropy = float(value)
        self._fit_y()

    def set_canvas_length(self, length: int) -> None:
        """The top of the accepted-tokens scale, set before a model's first run (see the heatmap's)."""
        self._canvas_length = length
        self._fit_y()

    def set_threshold(self, value: float) -> None:
        """The confidence threshold (nats of mean entropy) drawn as a dashed line."""
        if float(value) == self._threshold and self.threshold_line.label.format:
            return  # unchanged: a label set again is laid out again
        self._threshold = float(value)
        self.threshold_line.setValue(math.log10(max(self._threshold, self._floor)))
        self.threshold_line.label.setFormat(f"stop threshold {self._threshold:g}" if self._threshold > 0
                                            else "adaptive stop off")

    def threshold(self) -> float:
        return self._threshold

    def mean_entropy(self) -> np.ndarray:
        """Mean entropy per step as plotted (clipped to the floor)."""
        return self._mean[: self._count]

    def accepted(self) -> np.ndarray:
        return self._accepted[: self._count]

    def step_at(self, scene_pos: QPointF) -> int | None:
        """The plotted step nearest a scene point over either plot, or None."""
        for plot in (self.entropy_plot, self.accepted_plot):
            if plot.vb.sceneBoundingRect().contains(scene_pos):
                step = round(plot.vb.mapSceneToView(scene_pos).x()) - 1
                return step if 0 <= step < self._count else None
        return None

    def _on_mouse_clicked(self, event) -> None:
        step = self.step_at(event.scenePos()) if event.button() == Qt.MouseButton.LeftButton else None
        if step is not None:
            self.stepClicked.emit(step)

    # Ranges change rarely and only when they must: each new range makes pyqtgraph lay out an axis's ticks and
    # text again, which cost a streaming frame several milliseconds.
    def _set_x_range(self, steps: int) -> None:
        if self._x_span != steps:
            self._x_span = steps
            self.entropy_plot.setXRange(0.5, steps + 0.5, padding=0)

    def _fit_y(self) -> None:
        # Fixed decades from the floor to max entropy, widened only when the data goes above: no jitter per step.
        top = max(self._max_entropy, float(self._mean[: self._count].max()) if self._count else 0.0)
        if top != self._y_top:
            self._y_top = top
            self.entropy_plot.setYRange(math.log10(self._floor), math.log10(top), padding=0.02)
        # Tokens accepted: out of the whole canvas, a scale that stays put from run to run and canvas to canvas.
        if self._canvas_length != self._accepted_top:
            self._accepted_top = self._canvas_length
            self.accepted_plot.setYRange(0, max(1, self._canvas_length), padding=0.05)

    def _restyle(self) -> None:
        pal = self.palette()
        self.view.setBackground(pal.base().color())
        text = pal.windowText().color()
        highlight = pal.highlight().color()
        self.threshold_line.setPen(pg.mkPen(text, width=1.5, style=Qt.PenStyle.DashLine))
        self.threshold_line.label.setColor(text)
        for marker in (self.entropy_marker, self.accepted_marker):
            marker.setPen(pg.mkPen(highlight, width=2))
        faint = QColor(text)
        faint.setAlpha(45)
        for line in self.decade_lines:
            line.setPen(pg.mkPen(faint, width=1))
        for plot in (self.entropy_plot, self.accepted_plot):
            _style_plot(plot, pal)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.PaletteChange:
            self._restyle()
        super().changeEvent(event)
