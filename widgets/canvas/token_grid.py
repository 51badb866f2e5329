"""TokenGrid: one canvas at one denoising step, a cell per position coloured by the active overlay, in one widget.

Painting is widgets/canvas/grid_render.py's (the same code renders exported frames); the legend below the cells is the
overlay's and is repainted only when it changes, not at every streamed step. While a run streams, each frame's cells
are drawn on a worker thread (widgets/canvas/render_worker.py) and the GUI thread's paint puts the finished image on
screen.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from widgets.canvas import colors
from widgets.canvas.canvas_view import CanvasView, TokenText
from widgets.canvas.grid_cells import KEY, CellFrame, format_token, grid_shape
from widgets.canvas.grid_render import CellsImage, GridColours, GridLayout, paint_highlight, paint_selection
from widgets.canvas.legend import Legend
from widgets.canvas.render_worker import RenderWorker

Drawn = tuple[int, int, CellFrame, QImage]  # (layout epoch, frame version, frame, picture) of a live frame


class TokenGrid(CanvasView):
    """Grid of a canvas's tokens at one step; see CanvasView for the signals and the mouse."""

    def __init__(self, token_text: TokenText | None = None, max_entropy: float = colors.DEFAULT_MAX_ENTROPY,
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(token_text, max_entropy, parent)
        self._rows, self._cols = grid_shape(256)
        self._layout: GridLayout | None = None
        self._cells: CellsImage | None = None  # the cells as last drawn; a relayout drops it
        self._cells_lock = threading.Lock()  # the worker draws into the cells image, or the GUI thread does
        self._epoch = 0  # counts relayouts: a frame drawn for an older layout is not shown
        self._drawn: Drawn | None = None  # what the worker drew last
        self._legend: Legend | None = None
        self._worker = RenderWorker("grid", self)
        self._worker.done.connect(self._frame_drawn)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    # ---- layout -----------------------------------------------------------------------------------------------
    def _data_changed(self, layout: bool, legend: bool = False) -> None:
        count = self._history.length if self._step >= 0 else 0
        shape = grid_shape(count) if count else (self._rows, self._cols)
        if shape != (self._rows, self._cols):
            self._rows, self._cols = shape
            self.updateGeometry()
            layout = True
        if layout or legend or self._legend is None or self._legend_state() != self._legend.state():
            self._relayout()
            self.update()
            return
        self._schedule(self._cells_area())  # a streamed step repaints the cells, not the legend below them

    def _relayout(self) -> None:
        self._legend = Legend(self.font(), *self._legend_state())
        legend_h = self._legend.layout(self.width() - 8)
        area = self.rect().adjusted(2, 2, -2, -2 - legend_h)
        count = self._history.length if self._step >= 0 else self._rows * self._cols
        self._layout = GridLayout(area, self._rows, self._cols, count)
        self._cells = None  # drawn afresh at the next paint, for this layout, font and palette
        self._epoch += 1

    def _grid_rect(self) -> QRect:
        if self._layout is None:
            self._relayout()
        return self._layout.rect

    def _cells_area(self) -> QRect:
        """The widget above the legend: the cells and their selection outlines."""
        return QRect(0, 0, self.width(), self._grid_rect().bottom() + 4)

    def _dirty_rect(self) -> QRect:
        return self._cells_area()

    def _legend_height(self) -> int:
        legend = Legend(self.font(), *self._legend_state())
        return legend.layout(self._cols * 46)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(self._cols * 46, self._rows * 24 + self._legend_height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(max(self._cols * 20, 320), self._rows * 13 + self._legend_height())

    def resizeEvent(self, event) -> None:  # noqa: N802
        self._relayout()
        super().resizeEvent(event)

    # ---- geometry ---------------------------------------------------------------------------------------------
    def cell_rect(self, position: int) -> QRectF:
        rect = self._grid_rect()
        w, h = rect.width() / self._cols, rect.height() / self._rows
        row, col = divmod(position, self._cols)
        return QRectF(rect.left() + col * w, rect.top() + row * h, w, h)

    position_rect = cell_rect

    def position_at(self, point: QPoint | QPointF) -> int | None:
        rect = QRectF(self._grid_rect())
        if self._step < 0 or not rect.contains(QPointF(point)):
            return None
        col = int((point.x() - rect.left()) * self._cols / rect.width())
        row = int((point.y() - rect.top()) * self._rows / rect.height())
        pos = min(row, self._rows - 1) * self._cols + min(col, self._cols - 1)
        return pos if pos < self._history.length else None

    def _where(self, position: int) -> str:
        row, col = divmod(position, self._cols)
        return f"(row {row}, column {col})"

    # ---- painting ---------------------------------------------------------------------------------------------
    def _cells_image(self, colours: GridColours) -> CellsImage:
        if self._cells is None:
            self._cells = CellsImage(self._layout, self.raw_text, self.font(), colours, self.devicePixelRatioF())
        return self._cells

    def _refresh(self, rect: QRect) -> None:
        """A live frame is drawn on the worker, then shown (`_frame_drawn`); any other change is painted here."""
        if not (self._live and self.isVisible() and self._step >= 0):
            self.update(rect)  # not streaming, or hidden (the other view is on screen): a paint, if it ever shows
            return
        if self._layout is None or self._legend is None or self._legend_state() != self._legend.state():
            self._relayout()
        cells, lock, epoch = self._cells_image(GridColours.of(self.palette())), self._cells_lock, self._epoch
        version, build = self._frame_job()

        def draw() -> Drawn:
            frame = build()
            with lock:  # the copy is the GUI's to show; the worker draws the next frame into its own
                return epoch, version, frame, cells.draw(frame).copy()

        self._worker.submit(draw)

    def drawn_frame(self) -> CellFrame | None:
        """The frame of the picture the render worker drew last (None before a live frame)."""
        return self._drawn[2] if self._drawn is not None else None

    def _frame_drawn(self, drawn: Drawn) -> None:
        if drawn[0] == self._epoch:  # not drawn for a layout replaced since
            self._drawn = drawn
            self._adopt_frame(drawn[1], drawn[2])
            self.update(self._cells_area())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        if self._layout is None or self._legend is None or self._legend_state() != self._legend.state():
            self._relayout()
        p = QPainter(self)
        colours = GridColours.of(self.palette())
        p.fillRect(event.rect(), colours.window)
        if not self._cells_area().contains(event.rect()):
            self._legend.paint(p, QPointF(4, self._layout.rect.bottom() + 7), colours)
        if self._step < 0:
            self._painted(event.rect())
            p.setPen(colours.placeholder)
            p.drawText(QRectF(self._layout.rect), Qt.AlignmentFlag.AlignCenter, "No canvas yet")
            return
        drawn = self._drawn
        if self._live:
            # Streaming: the worker's newest image, a blit; until the newest step's arrives, the one before (or,
            # for the first step after a relayout, the empty cells). The frame itself is built there too.
            if drawn is not None and drawn[0] == self._epoch:
                p.drawImage(self._layout.rect.topLeft(), drawn[3])
            if drawn is not None and drawn[0] == self._epoch and drawn[1] == self._version:
                self._painted(event.rect())
            elif not self._worker.busy:
                self._refresh(self._cells_area())
        else:
            frame = self.frame()
            self._painted(event.rect())
            with self._cells_lock:  # every cell: a grab of the widget shows the whole frame, on any machine
                p.drawImage(self._layout.rect.topLeft(), self._cells_image(colours).draw(frame))
        if self._highlight:
            paint_highlight(p, self._layout, self._highlight)
        if self._selection is not None:
            paint_selection(p, self._layout, self._selection, colours.highlight)

__all__ = ["KEY", "TokenGrid", "format_token", "grid_shape"]
