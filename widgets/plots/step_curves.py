"""StepCurves: mean entropy (against the stop threshold) and tokens accepted at each step of one canvas."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QVBoxLayout, QWidget

from models.work.events import StepSnapshot
from widgets.canvas import colors
from widgets.plots.plot_common import (
    DEFAULT_MAX_STEPS,
    MIN_FITTED_STEPS,
    Appender,
    cache_axes,
    grow,
    lock_view,
    style_plot,
)


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
        self._appender = Appender()

        self.view = pg.GraphicsLayoutWidget()
        self.entropy_plot: pg.PlotItem = self.view.addPlot(row=0, col=0)
        self.accepted_plot: pg.PlotItem = self.view.addPlot(row=1, col=0)
        self.view.ci.layout.setRowStretchFactor(0, 3)
        self.view.ci.layout.setRowStretchFactor(1, 2)
        # Titles above each plot, not rotated axis labels: in a short window the two rotated labels ran into each
        # other ("acceptedmean entropy (na…"). The entropy plot's title carries the stop threshold (set_threshold).
        self.accepted_plot.setTitle("tokens accepted", size="9pt")
        self.accepted_plot.setLabel("bottom", "step")
        self.entropy_plot.hideAxis("bottom")  # the steps are read off the plot below (the x axes are linked)
        # Log scale: the stop threshold (~0.005) and the first steps (several nats) differ by three decades.
        # Log mode plots log10 of the data, so values are clipped to a floor first and the lines sit at log10 values.
        self.entropy_plot.setLogMode(y=True)
        self.accepted_plot.setXLink(self.entropy_plot)
        self.entropy_plot.getAxis("left").setWidth(56)
        self.accepted_plot.getAxis("left").setWidth(56)  # same width keeps the two x axes aligned
        for plot in (self.entropy_plot, self.accepted_plot):
            lock_view(plot)
            cache_axes(plot)
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
        # The threshold's value goes in the title, not on the line: in a short plot a label on the line covered the
        # top tick and was clipped at the plot's edge.
        self.threshold_line = pg.InfiniteLine(angle=0, movable=False)
        self.entropy_plot.addItem(self.threshold_line)
        self.entropy_marker = pg.InfiniteLine(angle=90, movable=False)
        self.accepted_marker = pg.InfiniteLine(angle=90, movable=False)
        self.entropy_plot.addItem(self.entropy_marker)
        self.accepted_plot.addItem(self.accepted_marker)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.view.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        for plot in (self.entropy_plot, self.accepted_plot):
            plot.vb.sigResized.connect(self._fit_ticks)
        self.set_threshold(threshold)
        self._restyle()
        self._fit_ticks()
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
            self._mean = grow(self._mean, size)
            self._accepted = grow(self._accepted, size)
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
        if float(value) == self._threshold and self.entropy_plot.titleLabel.text:
            return  # unchanged: a title set again is laid out again
        self._threshold = float(value)
        self.threshold_line.setValue(math.log10(max(self._threshold, self._floor)))
        stop = f"stop &lt; {self._threshold:g}" if self._threshold > 0 else "no adaptive stop"  # the title is HTML
        # Short: a title wider than the plot widens the scene past the widget, which then cuts the plots' right side.
        self.entropy_plot.setTitle(f"mean entropy · {stop}", size="9pt",
                                   color=self.palette().windowText().color())

    def _fit_ticks(self) -> None:
        """As many tick labels on each left axis as its height has room for, so they never run into each other."""
        line = self.fontMetrics().height() + 2
        entropy_rows = int(self.entropy_plot.vb.height() // line)
        low = math.floor(math.log10(self._floor))
        decades = list(range(low, 1))  # 1e-4 .. 1: above 1 nat a model is guessing, whatever the value
        while len(decades) > 2 and len(decades) > entropy_rows:
            decades = decades[::2] if decades[::2][-1] == decades[-1] else [decades[0], decades[-1]]
        self.entropy_plot.getAxis("left").setTicks([[(d, f"{10.0 ** d:g}") for d in decades], []])
        top = max(1, self._canvas_length)
        accepted_rows = int(self.accepted_plot.vb.height() // line)
        values = [0, top // 2, top] if accepted_rows >= 3 and top >= 2 else [0, top]
        self.accepted_plot.getAxis("left").setTicks([[(v, str(v)) for v in values], []])

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
            self._fit_ticks()

    def _restyle(self) -> None:
        pal = self.palette()
        self.view.setBackground(pal.base().color())
        text = pal.windowText().color()
        highlight = pal.highlight().color()
        self.threshold_line.setPen(pg.mkPen(text, width=1.5, style=Qt.PenStyle.DashLine))
        for marker in (self.entropy_marker, self.accepted_marker):
            marker.setPen(pg.mkPen(highlight, width=2))
        faint = QColor(text)
        faint.setAlpha(45)
        for line in self.decade_lines:
            line.setPen(pg.mkPen(faint, width=1))
        for plot in (self.entropy_plot, self.accepted_plot):
            style_plot(plot, pal)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.PaletteChange:
            self._restyle()
        super().changeEvent(event)
