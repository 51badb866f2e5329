"""Remote work on Qt's own event loop (qasync): one task at a time, its events queued and drained at a bounded rate.

The same contract as app/running/thread_runner.TaskRunner, so the engine controller can use either: `events(list)`
batches on the GUI thread at most ~60 times a second, then exactly one of `finished(result)`, `failed(error)` or
`cancelled(result)`. The work is a coroutine function `fn(emit, cancel)`; no thread is started for a socket.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import QObject

from app.running.thread_runner import BatchedRunner

AsyncTask = Callable[[Callable[[Any], None], threading.Event], Awaitable[Any]]


class AsyncRunner(BatchedRunner):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._task: asyncio.Task | None = None

    @property
    def busy(self) -> bool:
        return self._task is not None

    def start(self, fn: AsyncTask) -> bool:
        """Schedule `fn` on the running asyncio loop; False (and nothing started) while another task runs."""
        if self._task is not None:
            return False
        self._begin()
        self._task = asyncio.ensure_future(fn(self._queue.append, self._cancel))
        self._task.add_done_callback(self._done)
        return True

    def shutdown(self) -> None:
        """The window is closing: stop the task where it stands (the server cancels a run whose client went)."""
        if self._task is not None:
            self._cancel.set()
            self._task.cancel()

    def _done(self, task: asyncio.Task) -> None:
        self._task = None
        if task.cancelled():
            self._end(None, None)
        else:
            self._end(task.exception(), None if task.exception() is not None else task.result())
