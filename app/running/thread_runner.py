"""Long work off the GUI thread: one task at a time, cancellable, its events queued and drained at a bounded rate."""

from __future__ import annotations

import threading
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal

# fn(emit, cancel) -> result. `emit` queues an event for the GUI; `cancel.is_set()` says the user wants it stopped.
TaskFunction = Callable[[Callable[[Any], None], threading.Event], Any]

DRAIN_INTERVAL_MS = 16  # the GUI takes queued events at most ~60 times a second
_running: set[QThread] = set()


def running_threads() -> list[QThread]:
    """Worker threads started here that have not ended (tests assert none are left behind)."""
    return [thread for thread in _running if thread.isRunning()]


class _TaskThread(QThread):
    def __init__(self, fn: TaskFunction, queue: deque, cancel: threading.Event) -> None:
        super().__init__()
        self.fn, self.queue, self.cancel = fn, queue, cancel
        self.result: Any = None
        self.error: BaseException | None = None
        self.error_details = ""

    def run(self) -> None:
        try:
            self.result = self.fn(self.queue.append, self.cancel)
        except BaseException as error:  # noqa: BLE001 - re-raised as a message on the GUI thread, never swallowed
            self.error = error
            self.error_details = traceback.format_exc()


class BatchedRunner(QObject):
    """What every runner shares: the signals, the cancel flag, and events queued by the work and handed to the GUI
    in batches, at most ~60 times a second.

    Signals fire on the GUI thread: `events(list)` with everything queued since the last batch, then exactly one
    of `finished(result)`, `failed(error)` or `cancelled(result)` (what the task returned after it stopped early).
    A task started while one runs is refused (`start` returns False).
    """

    events = Signal(list)
    finished = Signal(object)
    failed = Signal(object)  # the exception; its message is for the user
    cancelled = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._queue: deque = deque()
        self._cancel = threading.Event()
        self._timer = QTimer(self)
        self._timer.setInterval(DRAIN_INTERVAL_MS)
        self._timer.timeout.connect(self._drain)

    def cancel(self) -> None:
        """Ask the task to stop at its next check (the engine checks at every step boundary)."""
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        """The task now running was asked to stop and has not reached its next check yet."""
        return self._cancel.is_set()

    def _begin(self) -> None:
        self._queue, self._cancel = deque(), threading.Event()
        self._timer.start()

    def _drain(self) -> None:
        batch = []
        while self._queue:
            batch.append(self._queue.popleft())
        if batch:
            self.events.emit(batch)

    def _end(self, error: BaseException | None, result: Any) -> None:
        """The last events, then the one outcome signal."""
        self._timer.stop()
        self._drain()
        if error is not None:
            self.failed.emit(error)
        elif self._cancel.is_set():
            self.cancelled.emit(result)
        else:
            self.finished.emit(result)


class TaskRunner(BatchedRunner):
    """Runs one task at a time on a QThread (see BatchedRunner for the signals)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: _TaskThread | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def start(self, fn: TaskFunction) -> bool:
        """Start `fn` on a worker thread; False (and nothing started) while another task runs."""
        if self._thread is not None:
            return False
        self._begin()
        self._thread = _TaskThread(fn, self._queue, self._cancel)
        self._thread.finished.connect(self._on_thread_finished)
        _running.add(self._thread)
        self._thread.start()
        return True

    def shutdown(self) -> None:
        """Cancel and wait for the thread to end, so no QThread outlives its owner (closing the window)."""
        if self._thread is None:
            return
        self._cancel.set()
        self._thread.wait()
        self._on_thread_finished()

    def _on_thread_finished(self) -> None:
        thread = self._thread
        if thread is None:
            return
        self._thread = None
        _running.discard(thread)
        thread.finished.disconnect(self._on_thread_finished)
        thread.deleteLater()
        self._end(thread.error, thread.result)
