"""CompareCurves: two runs' mean entropy per step on one log-scale plot, with a marker at the step shown."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

#: The two runs' colours, as their grids' headers say.
COLOURS = ((31, 119, 180), (214, 95, 20))
FLOOR = 1e-4  # log scale: zero entropy (all positions fixed or certain) is drawn at this floor


class CompareCurves(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = pg.PlotWidget()
        self.plot: pg.PlotItem = self.view.getPlotItem()
        self.plot.setTitle("mean entropy per step (nats)", size="9pt")
        self.plot.setLabel("bottom", "step")
        self.plot.setLogMode(y=True)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.curves = [self.plot.plot(pen=pg.mkPen(colour, width=2)) for colour in COLOURS]
        self.marker = pg.InfiniteLine(angle=90, movable=False)
        self.plot.addItem(self.marker)
        self.setToolTip("Mean entropy at each step of the two runs (left run blue, right run orange); the line is "
                        "the step on screen")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)

    def show_runs(self, first: np.ndarray | None, second: np.ndarray | None) -> None:
        """Each run's mean entropy per step (None: the run has no steps on this canvas)."""
        for curve, values in zip(self.curves, (first, second), strict=True):
            if values is None or not len(values):
                curve.setData([], [])
                continue
            curve.setData(np.arange(1, len(values) + 1, dtype=np.float64), np.maximum(values, FLOOR))

    def data(self, which: int) -> np.ndarray:
        """The values drawn for run `which` (0 or 1), before the log scale, for tests."""
        y = self.curves[which].yData
        return np.asarray(y if y is not None else [], dtype=np.float64)

    def set_step(self, step: int) -> None:
        self.marker.setValue(step + 1)
