"""The key under a canvas view: the active overlay's colour bar with its range, and a sample of every cell mark."""

from __future__ import annotations

import functools

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen

from models.canvas.overlays import NO_CANDIDATES, Overlay
from widgets.canvas import colors
from widgets.canvas.grid_cells import (
    KEY,
    MARK_ACCEPTED_NOW,
    MARK_LOCKED,
    MARK_ON_LIGHT,
    MARK_STABLE,
    RENOISED_ALPHA,
    SWATCH_RGB,
    SWATCH_TEXT_RGB,
    WASH_ALPHA,
)
from widgets.canvas.grid_render import GridColours, MarkShape, paint_cell_marks, paint_span_outline, rgb32_image

NOT_SETTLED = "not settled"
UNKNOWN = "entropy unknown"  # text not sampled by the model (typed, opened): no number to colour it by
_MARKS = {"accepted now": MARK_ACCEPTED_NOW, "accepted before": MARK_STABLE, "locked": MARK_LOCKED}


@functools.cache
def lut_image(overlay: Overlay = Overlay.ENTROPY) -> QImage:
    """The overlay's colormap as a 256x1 image, low values on the left, drawn stretched as the colour bar."""
    style = colors.STYLES[overlay]
    lut = style.lut[::-1] if style.reverse else style.lut
    return rgb32_image(lut[None, :, :])


def bar_labels(overlay: Overlay, value_range: tuple[float, float]) -> tuple[str, str]:
    """The text left and right of the colour bar: what is measured and the values at its two ends."""
    low, high = value_range
    if overlay is Overlay.ENTROPY:
        return f"entropy (nats)  {low:.3g}", f"{high:.3g}"
    if overlay is Overlay.REVISIONS:
        return "revisions  0", f"{int(high)}"
    if overlay is Overlay.COMMIT_ORDER:
        return "settled at step  1", f"{int(high) + 1}"  # steps counted from 1, as everywhere on screen
    return "margin (top-1 − top-2)  1", "0"


class Legend:
    """Lays out and paints the key for one overlay state; a view keeps one and asks again when the state changes."""

    def __init__(self, font: QFont, overlay: Overlay, value_range: tuple[float, float], has_values: bool,
                 unknown: bool = False, text_view: bool = False) -> None:  # fmt: skip
        """`unknown`: some cells shown have no entropy (grey). `text_view`: the key of the text view (its compact
        marks, and no mark for tokens accepted before)."""
        self.font, self.overlay, self.range, self.has_values = QFont(font), overlay, value_range, has_values
        self.unknown = unknown
        self.text_view = text_view
        self.keys = tuple(key for key in KEY if key != "accepted before") if text_view else KEY
        self.items: list[tuple[str, QRectF]] = []
        self.height = 0

    def state(self) -> tuple:
        return self.overlay, self.range, self.has_values, self.unknown

    def layout(self, width: int) -> int:
        """Flow the colour bar and the key items into rows of at most `width`; returns the height."""
        fm = QFontMetrics(self.font)
        line = fm.height() + 6
        if self.has_values:
            left, right = bar_labels(self.overlay, self.range)
            first = ("bar", fm.horizontalAdvance(f"{left}  {right}") + 16 + max(120, width // 4))
        else:
            first = ("message", fm.horizontalAdvance(NO_CANDIDATES) + 8)
        keys = self.keys + ((NOT_SETTLED,) if self.overlay is Overlay.COMMIT_ORDER else ()) + \
            ((UNKNOWN,) if self.unknown else ())
        widths = [first] + [(label, line + 4 + fm.horizontalAdvance(label)) for label in keys]
        self.items = []
        x = y = 0.0
        for name, w in widths:
            if x > 0 and x + w > width:
                x, y = 0.0, y + line
            self.items.append((name, QRectF(x, y, min(w, width), line)))
            x += w + 14
        self.height = int(y + line) + 8
        return self.height

    def paint(self, p: QPainter, origin: QPointF, colours: GridColours) -> None:
        fm = QFontMetrics(self.font)
        swatch_bg, swatch_fg = QColor(*SWATCH_RGB), QColor(*SWATCH_TEXT_RGB)
        p.setFont(self.font)
        for name, item in self.items:
            rect = item.translated(origin)
            p.setPen(colours.text)
            if name == "message":
                p.drawText(rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, NO_CANDIDATES)
                continue
            if name == "bar":
                self._paint_bar(p, rect, fm, colours)
                continue
            swatch = QRectF(rect.left(), rect.top() + 2, rect.height() - 4, rect.height() - 4)
            p.fillRect(swatch, QColor(*colors.NO_VALUE_RGB) if name in (NOT_SETTLED, UNKNOWN) else swatch_bg)
            if name == "renoised":
                font = QFont(self.font)
                font.setItalic(True)
                p.setFont(font)
                p.setPen(QColor(swatch_fg.red(), swatch_fg.green(), swatch_fg.blue(), RENOISED_ALPHA))
                p.drawText(swatch, Qt.AlignmentFlag.AlignCenter, "a")
                p.setFont(self.font)
            elif name == "outside span":
                wash = QColor(colours.window)
                wash.setAlphaF(WASH_ALPHA)
                p.fillRect(swatch, wash)
            elif name == "selected":
                paint_span_outline(p, swatch, colours.highlight)
            elif name in _MARKS:
                on_light = MARK_ON_LIGHT if swatch_fg.red() == 0 else 0
                paint_cell_marks(p, MarkShape.of(swatch, self.text_view), _MARKS[name] | on_light)
            p.setPen(colours.text)
            label_rect = rect.adjusted(swatch.width() + 4, 0, 0, 0)
            p.drawText(label_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name)

    def _paint_bar(self, p: QPainter, rect: QRectF, fm: QFontMetrics, colours: GridColours) -> None:
        left, right = bar_labels(self.overlay, self.range)
        p.drawText(rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, left)
        p.drawText(rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, right)
        bar = QRectF(rect.left() + fm.horizontalAdvance(left) + 6, rect.top() + 3, 0, rect.height() - 6)
        bar.setRight(rect.right() - fm.horizontalAdvance(right) - 6)
        p.drawImage(bar, lut_image(self.overlay))
        p.setPen(QPen(colours.text, 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(bar)
