"""Measuring the GUI thread while work streams into the window: a timer every 4 ms, and the gaps between its ticks.

A gap longer than a frame (16 ms) is a moment the window could not paint or answer input. Used by the latency tests
and scripts/window_latency.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
from PySide6.QtCore import QEventLoop, Qt, QTimer

PROBE_MS = 4


class LatencyProbe:
    def __init__(self) -> None:
        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(PROBE_MS)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))

    def start(self) -> None:
        self.ticks = [time.perf_counter()]
        self.timer.start()

    def stop(self) -> np.ndarray:
        """The gaps between ticks, in milliseconds."""
        self.timer.stop()
        return np.diff(self.ticks) * 1000


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
