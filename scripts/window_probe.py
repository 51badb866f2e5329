"""The window fed by a real generation, offscreen: how often its event loop stalls while the steps stream in.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/window_probe.py --model PATH [--steps 48] [--max-new-tokens 256]

Opens the main window, loads the checkpoint the way a user would (on the best device there is), generates with a
fixed seed and no adaptive stop, and ticks a 4 ms timer on the GUI thread meanwhile. Prints one JSON line: the
window's step rate and the gaps between ticks (the last gap, which spans the pass that finishes the run, apart).
Without PySide6 it prints {"status": "skipped", ...} and exits 0, so a GPU box without Qt still runs the GPU check.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("DIFFUSION_DESK_UNATTENDED", "1")  # a script: no dialog waits, on any platform


def report(result: dict) -> None:
    print(json.dumps(result), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--steps", type=int, default=48)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds allowed for loading and generating")
    args = parser.parse_args()
    try:
        from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer
        from PySide6.QtWidgets import QApplication
    except ImportError as error:
        report({"status": "skipped", "reason": f"PySide6 is not available: {error}"})
        return 0
    import numpy as np

    from app.shell.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "probe.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    window.resize(1300, 850)
    window.show()
    errors: list[str] = []
    window.errorShown.connect(errors.append)

    def wait_for(signal, start) -> list:  # noqa: ANN001 - a Qt signal and a callable
        got: list = []
        loop = QEventLoop()
        signal.connect(lambda value: (got.append(value), loop.quit()))
        window.errorShown.connect(lambda _: loop.quit())
        QTimer.singleShot(int(args.timeout * 1000), loop.quit)
        if start():
            loop.exec()
        return got

    began = time.perf_counter()
    if not wait_for(window.modelReady, lambda: window.load_model(args.model)):
        report({"status": "failed", "reason": f"the model did not load: {errors or 'timeout'}"})
        return 1
    load_seconds = time.perf_counter() - began
    window.prompt_panel.user_edit.setPlainText("Explain how a text diffusion model writes a paragraph.")
    window.sampler_panel.spins["max_new_tokens"].setValue(args.max_new_tokens)
    window.sampler_panel.spins["max_denoising_steps"].setValue(args.steps)
    window.sampler_panel.spins["confidence_threshold"].setValue(1e-9)  # no adaptive stop: a run of known length
    window.sampler_panel.random_box.setChecked(False)
    window.sampler_panel.seed_spin.setValue(0)
    app.processEvents()

    ticks: list[float] = []
    probe = QTimer()
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    probe.setInterval(4)
    probe.timeout.connect(lambda: ticks.append(time.perf_counter()))

    def start() -> bool:
        started = window.generate()
        probe.start()
        return started

    done = wait_for(window.generationDone, start)
    probe.stop()
    if not done:
        report({"status": "failed", "reason": f"the generation did not finish: {errors or 'timeout'}"})
        return 1
    result = done[0]
    gaps = np.diff(ticks) * 1000
    if len(gaps) < 2:
        report({"status": "failed", "reason": f"the run ended after {len(ticks)} ticks; nothing to measure"})
        return 1
    streaming = gaps[:-1] if len(gaps) > 1 else gaps
    steps = int(sum(result.canvas_steps))
    print(
        json.dumps(
            {
                "status": "ok",
                "device": str(window.loaded.device) if window.loaded else None,
                "load_seconds": round(load_seconds, 2),
                "steps": steps,
                "seconds": round(result.seconds, 3),
                "steps_per_second": round(steps / result.seconds, 2) if result.seconds else None,
                "ticks": len(ticks),
                "gap_ms": {
                    "p50": round(float(np.percentile(streaming, 50)), 2),
                    "p95": round(float(np.percentile(streaming, 95)), 2),
                    "p99": round(float(np.percentile(streaming, 99)), 2),
                    "worst": round(float(streaming.max()), 2),
                    "finishing": round(float(gaps[-1]), 2),
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    # Leave at once: closing the window would ask whether to save the generation, and Qt's teardown adds nothing.
    os._exit(main())
