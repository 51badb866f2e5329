"""Drawing a view's picture on a worker thread, so that the GUI thread only puts the finished image on screen.

While a run streams, the canvas views draw each new step into a QImage here (Qt paints QImages on any thread), and
their paintEvent draws that image: one blit instead of hundreds of cells and labels. The newest frame wins: a job
submitted while another is drawn replaces any job still waiting, so frames are dropped, never queued. The thread is
started for a burst of jobs (a run) and ends once none has come for a second, so nothing is left running after a
run or a test. It is not started per frame: starting a thread makes the caller wait until the new one has the
interpreter, up to a switch interval (5 ms) of the GUI thread's time each time (measured: 2.4 ms a frame).

Jobs must not touch a widget: they get plain values (frames, layouts, fonts, colours) and return what was drawn.
The interpreter lets one thread run Python at a time; a job made of many short Qt calls (a cell, a label) gives the
GUI thread its turn between them (models/engine/cpu_threads.py sets how soon: 1 ms).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

Job = Callable[[], Any]
IDLE_S = 1.0  # the thread ends once no job has come for this long


class RenderWorker(QObject):
    """One job at a time on a short-lived thread; `done(result)` or `failed(error)` fire on the GUI thread."""

    done = Signal(object)
    failed = Signal(object)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._wake = threading.Condition()
        self._pending: Job | None = None
        self._running = False  # a job is being drawn
        self._thread: threading.Thread | None = None
        self.failed.connect(self._raise)

    def submit(self, job: Job) -> None:
        """Draw `job` as soon as the thread is free; a job still waiting from before is dropped."""
        with self._wake:
            self._pending = job
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=f"render-{self.name}")
                self._thread.start()
            else:
                self._wake.notify()

    @property
    def busy(self) -> bool:
        """A job is being drawn or waits to be."""
        return self._running or self._pending is not None

    def wait(self, timeout_s: float = 5.0) -> bool:
        """Block until no job is running or waiting (tests and scripts); False if the timeout passed first."""
        with self._wake:
            return self._wake.wait_for(lambda: not self.busy, timeout_s)

    def _work(self) -> None:
        while True:
            with self._wake:
                if self._pending is None:
                    self._wake.wait(IDLE_S)
                job, self._pending = self._pending, None
                if job is None:  # nothing came for a while: the thread ends, the next job starts another
                    self._thread = None
                    return
                self._running = True
            try:
                result, signal = job(), self.done
            except Exception as error:  # noqa: BLE001 - handed to the GUI thread, raised there, never swallowed
                result, signal = error, self.failed
            with self._wake:
                self._running = False
                self._wake.notify_all()
            try:
                signal.emit(result)
            except RuntimeError:
                pass  # the view was destroyed while its frame was drawn: nobody is left to show it

    def _raise(self, error: BaseException) -> None:
        raise error


__all__ = ["RenderWorker"]
