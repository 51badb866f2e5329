"""While a run streams, the views beside the grid follow its frames one at a time, each in an event-loop pass of its
own: the grid's frame, the inspector and a plot in one pass were over a frame's budget (16 ms) at the real canvas."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal


class FrameFollowers(QObject):
    def __init__(self, frame_painted: Signal, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._followers: list[tuple[Callable[[], bool], Callable[[], None]]] = []
        self._queue: list[Callable[[], None]] = []
        frame_painted.connect(self._frame)

    def follow(self, due: Callable[[], bool], draw: Callable[[], None]) -> None:
        """After each frame, `draw()` when `due()`: in a pass after the frame's, and after the followers before."""
        self._followers.append((due, draw))

    def _frame(self) -> None:
        waiting = not self._queue
        self._queue.extend(draw for due, draw in self._followers if due() and draw not in self._queue)
        if waiting:
            self._next()

    def _next(self) -> None:
        if self._queue:
            QTimer.singleShot(0, self, self._draw_one)

    def _draw_one(self) -> None:
        if self._queue:
            self._queue.pop(0)()
        self._next()
