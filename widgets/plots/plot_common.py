"""What the entropy plots share: their step budget, appending rows, and the look of their axes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QGraphicsItem

from models.work.events import StepSnapshot

DEFAULT_MAX_STEPS = 48  # the sampler's default step budget: buffers start this tall and double if a run goes longer
MIN_FITTED_STEPS = 8  # a finished canvas fills the view, but two steps are not stretched to the whole height


class Appender:
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


def style_plot(plot: pg.PlotItem, palette: QPalette) -> None:
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


def cache_axes(plot: pg.PlotItem) -> None:
    """Axes, their labels and the title drawn once into a pixmap and blitted after that: a live update repaints the
    plot area, and the repaint region touched the axes, whose ticks and text (replayed from a QPicture) cost more
    of a streamed frame than the data did. A new range or colour invalidates the pixmap (pyqtgraph calls update)."""
    cached = QGraphicsItem.CacheMode.DeviceCoordinateCache
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setCacheMode(cached)
        if axis.label is not None:
            axis.label.setCacheMode(cached)
    plot.titleLabel.setCacheMode(cached)


def lock_view(plot: pg.PlotItem) -> None:
    # These views are indexes into the history, not data to explore: a click picks a step, it never pans.
    plot.setMouseEnabled(x=False, y=False)
    plot.setMenuEnabled(False)
    plot.hideButtons()


def grow(buffer: np.ndarray, rows: int) -> np.ndarray:
    if rows <= buffer.shape[0]:
        return buffer
    bigger = np.zeros((max(rows, 2 * buffer.shape[0]),) + buffer.shape[1:], dtype=buffer.dtype)
    bigger[: buffer.shape[0]] = buffer
    return bigger


