"""Measuring the GUI thread while work streams into the window: a timer every 4 ms, and the gaps between its ticks.

A gap longer than a frame (16 ms) is a moment the window could not paint or answer input. Each gap is also told as
the GUI thread's own processor time in it (a busy machine stretches the gaps, not that), and every garbage
collection during the probe is counted with its length (a full one can stop the window for 150-300 ms when the
collector was not settled after a load: models/checkpoint/heap.py). Used by the latency tests and
scripts/window_latency.py.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
from PySide6.QtCore import QEventLoop, Qt, QTimer

PROBE_MS = 4


class LatencyProbe:
    def __init__(self) -> None:
        self.ticks: list[float] = []
        self.cpu: list[float] = []  # the GUI thread's processor time at each tick
        self.collections: list[tuple[int, float]] = []  # (generation, ms) of each collection, on any thread
        self._collecting: dict[int, float] = {}
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(PROBE_MS)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        self.ticks.append(time.perf_counter())
        self.cpu.append(time.thread_time())

    def _on_collection(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._collecting[info["generation"]] = time.perf_counter()
        elif info["generation"] in self._collecting:
            started = self._collecting.pop(info["generation"])
            self.collections.append((info["generation"], (time.perf_counter() - started) * 1000))

    def start(self) -> None:
        self.ticks, self.cpu, self.collections = [], [], []
        gc.callbacks.append(self._on_collection)
        self._tick()
        self.timer.start()

    def stop(self) -> np.ndarray:
        """The gaps between ticks, in milliseconds."""
        self.timer.stop()
        if self._on_collection in gc.callbacks:
            gc.callbacks.remove(self._on_collection)
        return np.diff(self.ticks) * 1000

    def busy(self) -> np.ndarray:
        """The GUI thread's own processor time in each gap, in milliseconds."""
        return np.diff(self.cpu) * 1000

    def full_collections(self) -> list[float]:
        """The length of each full (generation 2) collection during the probe, in milliseconds."""
        return [ms for generation, ms in self.collections if generation == 2]


def percentiles(gaps: np.ndarray) -> dict[str, float]:
    return {"p50": float(np.percentile(gaps, 50)), "p95": float(np.percentile(gaps, 95)),
            "p99": float(np.percentile(gaps, 99)), "worst": float(gaps.max())}


def paced(events: Iterable[Any], per_second: float, is_step: Callable[[Any], bool]) -> Iterator[Any]:
    """Recorded events replayed at a fixed rate of steps per second, as a fast GPU would produce them."""
    pause = 1.0 / per_second
    for event in events:
        if is_step(event):
            time.sleep(pause)
        yield event


def wait_for(signal: Any, timeout_ms: int) -> bool:
    """Run the event loop until the signal fires (True) or the timeout passes (False)."""
    loop = QEventLoop()
    fired: list[bool] = []
    signal.connect(lambda *args: (fired.append(True), loop.quit()))
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    return bool(fired)
