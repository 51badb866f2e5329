"""TokenGrid: one canvas at one denoising step, a cell per position coloured by entropy, painted in one widget."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QRectF, QSize, QSizeF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QFontMetricsF,
    QHelpEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QStaticText,
    QTransform,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from models.events import StepSnapshot
from widgets import colors
from widgets.grid_cells import (
    KEY,
    RENOISED_ALPHA,
    SWATCH_RGB,
    SWATCH_TEXT_RGB,
    WASH_ALPHA,
    CellMarks,
    format_token,
    grid_shape,
    history_stats,
    lut_image,
    paint_cell_marks,
)

TokenText = Callable[[int], str]
DIFFERENT = QColor(230, 0, 170)  # magenta: no entropy colour is near it

class TokenGrid(QWidget):
    """Grid of a canvas's tokens at one step; click selects, shift-click extends, ctrl-click asks to toggle a lock."""

    selectionChanged = Signal(int, int)  # half-open [start, end)
    lockToggleRequested = Signal(int)

    def __init__(
        self,
        token_text: TokenText | None = None,
        max_entropy: float = colors.DEFAULT_MAX_ENTROPY,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._token_text: TokenText = token_text or str
        self._max_entropy = float(max_entropy)
        self._raw_text: dict[int, str] = {}
        # Laid-out text per (token id, italic) and cell rectangles: both depend on cell size and font, so a
        # relayout clears them; a new step reuses them.
        self._texts: dict[tuple[int, bool], tuple[QStaticText, QPointF]] = {}
        self._rects: list[QRectF] = []
        self._snapshots: list[StepSnapshot] = []
        self._step = -1
        self._stats_key: tuple[object, object, int] | None = None
        self._counts = self._last_changed = np.zeros((0, 0), dtype=np.int64)
        self._marks: CellMarks | None = None
        self._selection: tuple[int, int] | None = None
        self._highlight: list[int] = []  # positions outlined as different (the comparison view)
        self._anchor = 0
        self._rows, self._cols = grid_shape(256)
        self._grid = QRectF()
        self._legend_items: list[tuple[str, QRectF]] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    # ---- data -------------------------------------------------------------------------------------------------

    def show_step(self, snapshots: Sequence[StepSnapshot], step: int | None = None) -> None:
        """Show snapshots[step] (default: the latest) of one canvas; earlier snapshots give the change history."""
        if not snapshots:
            self.clear()
            return
        step = len(snapshots) - 1 if step is None else step
        if not -len(snapshots) <= step < len(snapshots):
            raise IndexError(f"step {step} outside a history of {len(snapshots)} snapshots")
        self._snapshots = list(snapshots)
        self._step = step % len(snapshots)
        # Snapshots are immutable, so the same first and last objects and length mean the same history.
        key = (snapshots[0], snapshots[-1], len(snapshots))
        old = self._stats_key
        if old is None or old[0] is not key[0] or old[1] is not key[1] or old[2] != key[2]:
            self._counts, self._last_changed = history_stats(np.stack([s.argmax for s in snapshots]))
            self._stats_key = key
        snap = self._snapshots[self._step]
        prev = self._snapshots[self._step - 1] if self._step > 0 else None
        window = self.palette().window().color()
        wash = (window.red(), window.green(), window.blue())
        self._marks = CellMarks.from_snapshots(snap, prev, self._max_entropy, wash)
        shape = grid_shape(len(snap.argmax))
        if shape != (self._rows, self._cols):
            self._rows, self._cols = shape
            self._relayout()
            self.updateGeometry()
        if self._selection is not None and self._selection[1] > len(snap.argmax):
            self.setSelection(None)
        self.update(self._cells_area())  # the legend below stays as it is: a streamed step repaints only the cells

    def clear(self) -> None:
        self._snapshots, self._step, self._marks, self._stats_key = [], -1, None, None
        self.update()

    def set_highlight(self, mask: np.ndarray | None) -> None:
        """Outline these positions (True in `mask`), e.g. where two runs differ; None clears."""
        self._highlight = [] if mask is None else np.flatnonzero(mask).tolist()
        self.update(self._cells_area())

    def highlighted(self) -> list[int]:
        return list(self._highlight)

    def snapshot(self) -> StepSnapshot | None:
        return self._snapshots[self._step] if self._marks is not None else None

    def set_token_text(self, token_text: TokenText) -> None:
        self._token_text = token_text
        self._raw_text.clear()
        self._texts.clear()
        self.update()

    def set_max_entropy(self, value: float) -> None:
        self._max_entropy = float(value)
        self._relayout()  # the bar's end label may change width
        if self._marks is not None:
            self.show_step(self._snapshots, self._step)

    def max_entropy(self) -> float:
        return self._max_entropy

    def raw_text(self, token_id: int) -> str:
        text = self._raw_text.get(token_id)
        if text is None:
            text = self._raw_text[token_id] = self._token_text(token_id)
        return text

    # ---- selection --------------------------------------------------------------------------------------------

    def selection(self) -> tuple[int, int] | None:
        return self._selection

    def setSelection(self, start: int | None, end: int | None = None) -> None:  # noqa: N802 - Qt naming
        """Select [start, end) (end defaults to start + 1); None clears. Emits selectionChanged when it changes."""
        new = None if start is None else (int(start), int(start) + 1 if end is None else int(end))
        if new is not None and not 0 <= new[0] < new[1]:
            raise ValueError(f"bad selection {new}")
        if new == self._selection:
            return
        self._selection = new
        if new is not None:
            self._anchor = new[0]
            self.selectionChanged.emit(*new)
        else:
            self.selectionChanged.emit(-1, -1)
        self.update()

    # ---- geometry ---------------------------------------------------------------------------------------------

    def cell_rect(self, position: int) -> QRectF:
        w, h = self._grid.width() / self._cols, self._grid.height() / self._rows
        row, col = divmod(position, self._cols)
        return QRectF(self._grid.left() + col * w, self._grid.top() + row * h, w, h)

    def position_at(self, point: QPoint | QPointF) -> int | None:
        """The canvas position under a widget point, or None."""
        if self._marks is None or not self._grid.contains(QPointF(point)):
            return None
        col = int((point.x() - self._grid.left()) * self._cols / self._grid.width())
        row = int((point.y() - self._grid.top()) * self._rows / self._grid.height())
        pos = min(row, self._rows - 1) * self._cols + min(col, self._cols - 1)
        return pos if pos < len(self._marks.entropy) else None

    def _relayout(self) -> None:
        legend_h, self._legend_items = self._layout_legend(self.width() - 8)
        self._grid = QRectF(self.rect().adjusted(2, 2, -2, -2 - legend_h))
        self._texts.clear()
        self._rects = []
        self.update()

    def _layout_legend(self, width: int) -> tuple[int, list[tuple[str, QRectF]]]:
        """Flow the colour bar and the key items into rows of at most `width`: (height, [(item, rect)])."""
        fm = QFontMetrics(self.font())
        line = fm.height() + 6
        bar_w = fm.horizontalAdvance(f"entropy (nats)  0  {self._max_entropy:.3g}") + 16 + max(120, width // 4)
        widths = [("bar", bar_w)] + [(label, line + 4 + fm.horizontalAdvance(label)) for label in KEY]
        items: list[tuple[str, QRectF]] = []
        x = y = 0.0
        for name, w in widths:
            if x > 0 and x + w > width:
                x, y = 0.0, y + line
            items.append((name, QRectF(x, y, min(w, width), line)))
            x += w + 14
        return int(y + line) + 8, items

    def _legend_height(self) -> int:
        return self._layout_legend(self._cols * 46)[0]

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(self._cols * 46, self._rows * 24 + self._legend_height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(max(self._cols * 20, 320), self._rows * 13 + self._legend_height())

    def resizeEvent(self, event) -> None:  # noqa: N802
        self._relayout()
        super().resizeEvent(event)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.FontChange:
            self._relayout()
        elif event.type() == QEvent.Type.PaletteChange and self._marks is not None:
            self.show_step(self._snapshots, self._step)  # outside-span cells blend toward the window colour
        super().changeEvent(event)

    # ---- painting ---------------------------------------------------------------------------------------------

    def _cell_font(self, height: float) -> QFont:
        font = QFont(self.font())
        font.setPixelSize(int(max(8, min(16, height * 0.52))))
        return font

    def _static_text(self, token_id: int, italic: bool, font: QFont, cell: QSizeF) -> tuple[QStaticText, QPointF]:
        """Laid-out, elided text for a token and its offset to centre it in a cell; cached until a relayout."""
        key = (token_id, italic)
        hit = self._texts.get(key)
        if hit is None:
            metrics = QFontMetricsF(font)
            full = format_token(self.raw_text(token_id))
            text = metrics.elidedText(full, Qt.TextElideMode.ElideRight, max(1.0, cell.width() - 4))
            static = QStaticText(text)
            static.setTextFormat(Qt.TextFormat.PlainText)
            static.prepare(QTransform(), font)
            size = static.size()
            offset = QPointF((cell.width() - size.width()) / 2, (cell.height() - size.height()) / 2)
            hit = self._texts[key] = (static, offset)
        return hit

    def _cell_rects(self, count: int) -> list[QRectF]:
        if len(self._rects) != count:
            self._rects = [self.cell_rect(pos) for pos in range(count)]
        return self._rects

    def _cells_area(self) -> QRect:
        """The widget above the legend: the cells and their selection outlines."""
        return QRect(0, 0, self.width(), math.ceil(self._grid.bottom()) + 3)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        pal = self.palette()
        p.fillRect(event.rect(), pal.window())
        if not self._cells_area().contains(event.rect()):
            self._paint_legend(p, QPointF(4, self._grid.bottom() + 6))
        marks = self._marks
        if marks is None:
            p.setPen(pal.placeholderText().color())
            p.drawText(self._grid, Qt.AlignmentFlag.AlignCenter, "No canvas yet")
            return
        rects = self._cell_rects(len(marks.entropy))
        for rect, colour in zip(rects, marks.background, strict=True):
            p.fillRect(rect.adjusted(0.5, 0.5, -0.5, -0.5), colour)
        # Text in two passes (upright, then italic for renoised cells) to switch fonts twice per paint, not per cell.
        cell = rects[0].size()
        ids = marks.token_ids
        for italic in (False, True):
            font = self._cell_font(cell.height())
            font.setItalic(italic)
            p.setFont(font)
            for pos in marks.italic_positions if italic else marks.upright_positions:
                static, offset = self._static_text(ids[pos], italic, font, cell)
                p.setPen(marks.foreground[pos])
                p.drawStaticText(rects[pos].topLeft() + offset, static)
        for pos in marks.decorated_positions:
            paint_cell_marks(
                p, rects[pos], marks.contrast[pos],
                accepted_now=marks.accepted_now_list[pos], stable=marks.stable_list[pos],
                locked=marks.locked_list[pos],
            )  # fmt: skip
        if self._highlight:
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(DIFFERENT, 3))
            for pos in self._highlight:
                if pos < len(rects):
                    p.drawRect(rects[pos].adjusted(2, 2, -2, -2))
        self._paint_selection(p)

    def _paint_legend(self, p: QPainter, origin: QPointF) -> None:
        pal = self.palette()
        text = pal.windowText().color()
        fm = QFontMetrics(self.font())
        swatch_bg, swatch_fg = QColor(*SWATCH_RGB), QColor(*SWATCH_TEXT_RGB)
        p.setFont(self.font())
        for name, item in self._legend_items:
            rect = item.translated(origin)
            p.setPen(text)
            if name == "bar":
                label = "entropy (nats)  0"
                p.drawText(rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, label)
                high = f"{self._max_entropy:.3g}"
                p.drawText(rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, high)
                bar = QRectF(rect.left() + fm.horizontalAdvance(label) + 6, rect.top() + 3,
                             0, rect.height() - 6)  # fmt: skip
                bar.setRight(rect.right() - fm.horizontalAdvance(high) - 6)
                p.drawImage(bar, lut_image())
                p.setPen(QPen(text, 1))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(bar)
                continue
            swatch = QRectF(rect.left(), rect.top() + 2, rect.height() - 4, rect.height() - 4)
            p.fillRect(swatch, swatch_bg)
            if name == "renoised":
                font = QFont(self.font())
                font.setItalic(True)
                p.setFont(font)
                p.setPen(QColor(swatch_fg.red(), swatch_fg.green(), swatch_fg.blue(), RENOISED_ALPHA))
                p.drawText(swatch, Qt.AlignmentFlag.AlignCenter, "a")
                p.setFont(self.font())
            elif name == "outside span":
                wash = QColor(pal.window().color())
                wash.setAlphaF(WASH_ALPHA)
                p.fillRect(swatch, wash)
            elif name == "selected":
                self._paint_span_outline(p, swatch)
            else:
                flags = {"accepted_now": name == "accepted now", "stable": name == "accepted before",
                         "locked": name == "locked"}  # fmt: skip
                paint_cell_marks(p, swatch, swatch_fg, **flags)
            p.setPen(text)
            label_rect = rect.adjusted(swatch.width() + 4, 0, 0, 0)
            p.drawText(label_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name)

    def _paint_span_outline(self, p: QPainter, rect: QRectF) -> None:
        colour = self.palette().highlight().color()
        fill = QColor(colour)
        fill.setAlpha(70)
        p.setPen(QPen(colour, 3))
        p.setBrush(fill)
        p.drawRect(rect.adjusted(1.5, 1.5, -1.5, -1.5))

    def _paint_selection(self, p: QPainter) -> None:
        if self._selection is None or self._marks is None:
            return
        start, end = self._selection[0], min(self._selection[1], len(self._marks.entropy))
        # One outline per grid row the span crosses, so a multi-row span reads as one block of text.
        row_start = start
        while row_start < end:
            row_end = min(end, (row_start // self._cols + 1) * self._cols)
            self._paint_span_outline(p, self.cell_rect(row_start).united(self.cell_rect(row_end - 1)))
            row_start = row_end

    # ---- interaction ------------------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = self.position_at(event.position())
        if event.button() != Qt.MouseButton.LeftButton or pos is None:
            super().mousePressEvent(event)
            return
        mods = event.modifiers()
        if mods & Qt.KeyboardModifier.ControlModifier:
            self.lockToggleRequested.emit(pos)
        elif mods & Qt.KeyboardModifier.ShiftModifier and self._selection is not None:
            self._extend_to(pos)
        else:
            self.setSelection(pos, pos + 1)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = self.position_at(event.position())
        if event.buttons() & Qt.MouseButton.LeftButton and pos is not None and self._selection is not None:
            self._extend_to(pos)  # dragging extends like shift-click
        super().mouseMoveEvent(event)

    def _extend_to(self, pos: int) -> None:
        anchor = self._anchor
        self.setSelection(min(anchor, pos), max(anchor, pos) + 1)
        self._anchor = anchor  # setSelection moves the anchor to the span's start; extending keeps the original

    def tooltip_text(self, position: int) -> str:
        """Plain-text description of one cell at the shown step (the hover tooltip's content)."""
        marks = self._marks
        if marks is None or not 0 <= position < len(marks.entropy):
            return ""
        snap = self._snapshots[self._step]
        token_id = int(snap.argmax[position])
        row, col = divmod(position, self._cols)
        count = int(self._counts[self._step, position])
        last = int(self._last_changed[self._step, position])
        plural = "s" if count != 1 else ""
        changed = f"last changed at step {last}, {count} change{plural}" if count else "unchanged since step 0"
        state = [label for flag, label in (
            (marks.accepted_now[position], "accepted this step"),
            (marks.stable[position], "accepted earlier (stable)"),
            (marks.renoised[position], "renoised this step"),
            (marks.locked[position], "locked"),
            (not marks.editable[position], "outside the span"),
        ) if flag]  # fmt: skip
        return "\n".join((
            f"position {position} (row {row}, column {col})",
            f"token id {token_id}: {self.raw_text(token_id)!r}",
            f"entropy {float(snap.entropy[position]):.4g} nats",
            f"step {snap.step_index}: {changed}",
            ", ".join(state),
        ))  # fmt: skip

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            pos = self.position_at(event.pos())
            if pos is None:
                QToolTip.hideText()
                event.ignore()
                return True
            body = "<br>".join(html.escape(line) for line in self.tooltip_text(pos).splitlines())
            QToolTip.showText(event.globalPos(), f"<p style='white-space:pre'>{body}</p>", self,
                              self.cell_rect(pos).toRect())  # fmt: skip
            return True
        return super().event(event)


__all__ = ["KEY", "TokenGrid", "format_token", "grid_shape", "history_stats"]
