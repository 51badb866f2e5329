"""Labels whose text changes at every step of a run, sized once so that a new text repaints only the label."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel


def steady(label: QLabel, widest: str) -> QLabel:
    """Fix the label's size to fit `widest`, the longest text it will show. A widget whose size can change re-lays
    out every ancestor up to the window each time its text changes (QLayout::activate asks its parent again,
    changed or not): at the real canvas that was a few milliseconds of every frame."""
    metrics = label.fontMetrics()
    margins = label.contentsMargins()
    label.setFixedSize(metrics.horizontalAdvance(widest) + margins.left() + margins.right() + 2,
                       max(label.sizeHint().height(), metrics.height() + margins.top() + margins.bottom()))
    return label
