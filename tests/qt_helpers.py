"""Helpers shared by the widget tests."""

from __future__ import annotations

from typing import TypeVar

W = TypeVar("W")


def shown(qtbot, widget: W, width: int, height: int) -> W:
    """The widget, handed to qtbot for clean-up, sized and shown on screen."""
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    return widget
