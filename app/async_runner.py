"""Remote work on Qt's own event loop (qasync): one task at a time, its events queued and drained at a bounded rate.

The same contract as app/tasks.TaskRunner, so the engine controller can use either: `events(list)` batches on the
GUI thread at most ~60 times a second, then exactly one of `finished(result)`, `failed(error)` or
`cancelled(result)`. The work is a coroutine function `fn(emit, cancel)`; no thread is started for a socket.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.tasks import DRAIN_INTERVAL_MS

AsyncTask = Callable[[Callable[[Any], None], threading.Event], Awaitable[Any]]


class AsyncRunner(QObject):
    events = Signal(list)
    finished = Signal(object)
    failed = Signal(object)
    cancelled = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._task: asyncio.Task | None = None
        self._queue: deque = deque()
        self._cancel = threading.Event()
        self._timer = QTimer(self)
        self._timer.setInterval(DRAIN_INTERVAL_MS)
        self._timer.timeout.connect(self._drain)

    @property
    def busy(self) -> bool:
        return self._task is not None

    def start(self, fn: AsyncTask) -> bool:
        """Schedule `fn` on the running asyncio loop; False (and nothing started) while another task runs."""
        if self._task is not None:
            return False
        self._queue, self._cancel = deque(), threading.Event()
        self._task = asyncio.ensure_future(fn(self._queue.append, self._cancel))
        self._task.add_done_callback(self._done)
        self._timer.start()
        return True

    def cancel(self) -> None:
        """Ask the task to stop: a remote run checks this every few tens of milliseconds and tells the server."""
        self._cancel.set()

    def shutdown(self) -> None:
        """The window is closing: stop the task where it stands (the server cancels a run whose client went)."""
        if self._task is not None:
            self._cancel.set()
            self._task.cancel()

    def _drain(self) -> None:
        batch = []
        while self._queue:
            batch.append(self._queue.popleft())
        if batch:
            self.events.emit(batch)

    def _done(self, task: asyncio.Task) -> None:
        self._task = None
        self._timer.stop()
        self._drain()
        if task.cancelled():
            self.cancelled.emit(None)
        elif task.exception() is not None:
            self.failed.emit(task.exception())
        elif self._cancel.is_set():
            self.cancelled.emit(task.result())
        else:
            self.finished.emit(task.result())
