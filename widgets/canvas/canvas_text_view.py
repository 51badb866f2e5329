"""CanvasTextView: the canvas at one step as running text, every token readable, coloured by the active overlay.

Tokens flow as the tokenizer decodes them (byte-fallback tokens joined into their character, which their boxes share),
wrapped at token boundaries; a newline token ends its line. Each token's box takes the overlay colour, drafts (tokens
the sampler renoised this step) are dimmed, locked tokens and tokens accepted this step carry the grid's marks, and
end tokens (pad, EOS, end of turn) are small markers, named where a run of them starts. Same signals, selection,
tooltips and overlays as the grid (CanvasView); put it in a QScrollArea (widget resizable) for long canvases.

Laying out and painting are widgets/canvas/text_layout.py's. While a run streams, each frame is decoded, laid out and
painted on a worker thread (widgets/canvas/render_worker.py); the GUI thread takes the finished layout with its image
and blits it.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from models.canvas.running_text import CanvasText, canvas_text, raw_canvas_text
from widgets.canvas import colors
from widgets.canvas.canvas_view import CanvasView, TokenText
from widgets.canvas.grid_cells import CellFrame
from widgets.canvas.grid_render import GridColours, paint_span_outline
from widgets.canvas.legend import Legend
from widgets.canvas.render_worker import RenderWorker
from widgets.canvas.text_layout import MARGIN, PAD, TextLayout, TextPainter

#: What the worker hands back: (epoch, the layout, the frame painted, the text as an image).
Drawn = tuple[int, int, TextLayout, CellFrame, QImage]  # (layout epoch, frame version, layout, frame, picture)


class CanvasTextView(CanvasView):
    """Running text of a canvas's tokens at one step; see CanvasView for the signals and the mouse."""

    def __init__(self, token_text: TokenText | None = None, max_entropy: float = colors.DEFAULT_MAX_ENTROPY,
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(token_text, max_entropy, parent)
        self._tokenizer: Any = None
        self._layout: TextLayout | None = None  # the layout the picture on screen was drawn with
        self._legend: Legend | None = None
        self._painter: TextPainter | None = None  # for the font in use; a font change replaces it
        self._painter_lock = threading.Lock()  # the worker paints with it, or the GUI thread does
        self._epoch = 0  # counts changes of width, font, legend or tokenizer: older frames are not shown
        self._drawn: Drawn | None = None  # what the worker drew last
        self._worker = RenderWorker("text", self)
        self._worker.done.connect(self._frame_drawn)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_tokenizer(self, tokenizer: Any) -> None:
        """Decode with this tokenizer (the workspace's own, or its recorded one); None shows raw token texts."""
        self._tokenizer = tokenizer
        self._data_changed(layout=True)

    def labels(self) -> list[str]:
        """What each position shows (its piece of the text, a marker for end tokens), as laid out."""
        return list(self._ensure_layout().labels)

    # ---- layout -----------------------------------------------------------------------------------------------
    def _data_changed(self, layout: bool, legend: bool = False) -> None:
        # Nothing is laid out here: a burst of steps costs one layout, at the paint that shows the newest.
        if layout:
            self._invalidate()
        if legend or layout:
            self._legend = None
        if self._legend is None or self._legend.state() != self._legend_state():
            self.update()
        else:
            self._schedule(self._dirty_rect())  # a streamed step repaints the text, not the legend above it

    def _invalidate(self) -> None:
        """The text must be laid out again (another width, font, legend or tokenizer)."""
        self._layout, self._drawn = None, None
        self._epoch += 1

    def _dirty_rect(self) -> QRect:
        return QRect(0, self._text_top(), self.width(), self.height())

    def _text_top(self) -> int:
        return MARGIN + (self._legend.height if self._legend is not None else 0)

    def _text_painter(self) -> TextPainter:
        ratio = self.devicePixelRatioF()
        if self._painter is None or self._painter.font != self.font() or self._painter.ratio != ratio:
            self._painter = TextPainter(self.font(), ratio)
        return self._painter

    def _ensure_legend(self) -> None:
        """The legend on top: its height depends on the width and the overlay only; the text moves when it does."""
        state = self._legend_state()
        if self._legend is None or self._legend.state() != state:
            old = self._legend.height if self._legend is not None else -1
            self._legend = Legend(self.font(), *state, text_view=True)
            if self._legend.layout(self.width() - 2 * MARGIN) != old:
                self._invalidate()

    def _ensure_layout(self) -> TextLayout:
        """The layout of the shown step: while a run streams, the one the worker drew last (what is on screen)."""
        self._ensure_legend()
        snap = self.snapshot()
        ids = tuple(np.asarray(snap.argmax).tolist()) if snap is not None else ()
        if self._layout is None or (ids != self._layout.ids and not (self._live and self._drawn is not None)):
            with self._painter_lock:
                layout = self._text_painter().lay_out(self._decode(ids), ids, self.width(), self._text_top())
            self._adopt(layout)  # outside the lock: a new minimum height resizes the view, which lays out again
        return self._layout

    def _adopt(self, layout: TextLayout) -> None:
        self._layout = layout
        # A scroll area around the view scrolls the rest into reach. Drafts change the line count from step to
        # step; the minimum height grows in steps of four lines and shrinks only by more than that, so streaming
        # seldom relayouts the scroll area.
        chunk = 4 * (QFontMetricsF(self.font()).height() + 8)
        height, now = int(math.ceil(layout.content_height / chunk) * chunk), self.minimumHeight()
        if height > now or height < now - chunk:
            self.setMinimumHeight(height)

    def _decode(self, ids: tuple[int, ...]) -> CanvasText:
        if self._tokenizer is not None:
            return canvas_text(self._tokenizer, ids)
        return raw_canvas_text(self.raw_text, ids)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(640, 360)

    def resizeEvent(self, event) -> None:  # noqa: N802
        if event.size().width() != event.oldSize().width():  # the text is laid out by width; height is the result
            self._legend = None
            self._invalidate()  # rewrap
            self._ensure_layout()
        super().resizeEvent(event)

    # ---- geometry ---------------------------------------------------------------------------------------------
    def position_rect(self, position: int) -> QRectF:
        boxes = self._ensure_layout().boxes
        return QRectF(boxes[position]) if 0 <= position < len(boxes) else QRectF()

    def position_at(self, point: QPoint | QPointF) -> int | None:
        """The position under a point; in a line's empty stretch, the line's last position before it."""
        layout = self._ensure_layout()
        x, y, boxes = point.x(), point.y(), layout.boxes
        for top, bottom, start, end in layout.lines:
            if top <= y < bottom and start < end:
                if x < boxes[start].left() - PAD:
                    return None
                candidates = [i for i in range(start, end) if boxes[i].left() <= x]
                return candidates[-1] if candidates else start
        return None

    def _where(self, position: int) -> str:
        lines = self._ensure_layout().lines
        line = next((n for n, (_t, _b, s, e) in enumerate(lines) if s <= position < e), 0)
        return f"(line {line + 1})"

    # ---- painting ---------------------------------------------------------------------------------------------
    def _refresh(self, rect: QRect) -> None:
        """A live frame is decoded, laid out and drawn on the worker, then shown (`_frame_drawn`)."""
        if not (self._live and self.isVisible() and self._step >= 0):
            self.update(rect)  # not streaming, or hidden (the other view is on screen): a paint, if it ever shows
            return
        self._ensure_legend()
        ids = tuple(np.asarray(self._history.snapshot(self._step).argmax).tolist())
        epoch, width, top, lock = self._epoch, self.width(), self._text_top(), self._painter_lock
        painter, window = self._text_painter(), GridColours.of(self.palette()).window
        decode = self._decode
        version, build = self._frame_job()

        def draw() -> Drawn:
            frame, text = build(), decode(ids)
            with lock:
                layout = painter.lay_out(text, ids, width, top)
                return epoch, version, layout, frame, painter.image(layout, frame, window)

        self._worker.submit(draw)

    def drawn_frame(self) -> CellFrame | None:
        """The frame of the picture the render worker drew last (None before a live frame)."""
        return self._drawn[3] if self._drawn is not None else None

    def _frame_drawn(self, drawn: Drawn) -> None:
        if drawn[0] == self._epoch and self._live:  # not drawn for a width or font replaced since
            self._drawn = drawn
            self._adopt_frame(drawn[1], drawn[3])
            self._adopt(drawn[2])
            self.update(self._dirty_rect())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        self._ensure_legend()
        p = QPainter(self)
        colours = GridColours.of(self.palette())
        p.fillRect(event.rect(), colours.window)
        if event.rect().top() < self._text_top():
            self._legend.paint(p, QPointF(MARGIN, MARGIN), colours)
        if self._step < 0:
            self._painted(event.rect())
            p.setPen(colours.placeholder)
            p.drawText(QRectF(self.rect()), Qt.AlignmentFlag.AlignCenter, "No canvas yet")
            return
        drawn = self._drawn
        if self._live:
            # Streaming: the worker's newest picture, a blit; until the newest step's arrives, the one before (or,
            # for the first step after a relayout, nothing). The frame itself is built there too.
            current = drawn is not None and drawn[0] == self._epoch
            if current:
                p.drawImage(0, drawn[2].top, drawn[4])
            if current and drawn[1] == self._version:
                self._painted(event.rect())
            elif not self._worker.busy:
                self._refresh(self._dirty_rect())
            if not current:
                return
            layout = drawn[2]
        else:
            frame = self.frame()
            layout = self._ensure_layout()
            self._painted(event.rect())
            with self._painter_lock:  # every label: a grab of the widget shows the whole frame, on any machine
                self._text_painter().paint(p, layout, frame)
        if self._highlight:
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QColor(230, 0, 170))
            p.drawRects([layout.boxes[i] for i in self._highlight if i < len(layout.boxes)])
        if self._selection is not None:
            self._paint_selection(p, layout, colours)

    def _paint_selection(self, p: QPainter, layout: TextLayout, colours: GridColours) -> None:
        start, end = self._selection[0], min(self._selection[1], len(layout.boxes))
        for _top, _bottom, first, last in layout.lines:
            a, b = max(start, first), min(end, last)
            if a < b:
                paint_span_outline(p, layout.boxes[a].united(layout.boxes[b - 1]).adjusted(-1.5, -1.5, 1.5, 1.5),
                                   colours.highlight)  # fmt: skip

    def cached(self) -> int:
        """Entries in the painter's caches (label images, widths, labels, colours) and the token texts."""
        return (self._painter.cached() if self._painter is not None else 0) + len(self._raw_text)



__all__ = ["CanvasTextView"]
