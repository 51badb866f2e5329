"""The GUI thread while canvases of the real size (256) stream into the window: event-loop gaps, p50 to worst.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/window_latency.py [--rounds 3] [--steps 32] [--canvases 2]

Three cases, each `--rounds` times: a real run on a tiny random model shown as the grid, the same shown as running
text, and a recorded run fed to the window at 200 steps a second (as a fast GPU would), where frames are dropped but
no step is. A random model's tokens change at every step, the most the views ever have to draw. The first gap of a
run, the pass that answers Generate (every view cleared and laid out for the new run), is shown apart.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("DIFFUSION_DESK_UNATTENDED", "1")  # a script: no dialog waits, on any platform
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.qt_setup import prepare_qt_environment  # noqa: E402

prepare_qt_environment()  # as the app does

import numpy as np  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--canvases", type=int, default=2)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    from app.latency_probe import LatencyProbe, paced, percentiles, wait_for
    from app.main_window import MainWindow
    from models.events import StepSnapshot
    from models.generator import Generator
    from models.prompts import Prompt
    from models.tiny_checkpoint import build_checkpoint

    folder = tempfile.mkdtemp()
    checkpoint = build_checkpoint(Path(folder) / "canvas256", vision=False, canvas_length=256, seed=3)
    os.environ["DIFFUSION_DESK_DATA"] = str(Path(folder) / "data")
    window = MainWindow(QSettings(str(Path(folder) / "settings.ini"), QSettings.Format.IniFormat))
    window.resize(1400, 900)
    window.show()
    window.load_model(str(checkpoint))
    assert wait_for(window.modelReady, 120_000), "the model did not load"
    spins = window.sampler_panel.spins
    spins["max_new_tokens"].setValue(256 * args.canvases)
    spins["max_denoising_steps"].setValue(args.steps)
    spins["confidence_threshold"].setValue(0)
    window.sampler_panel.random_box.setChecked(False)
    window.prompt_panel.set_prompt("Latency")
    window.inspection.inspect(7)
    settings = window.generation.run_settings()
    recorded = list(Generator(window.loaded).generate(Prompt(user="Latency"), settings))
    real_generate = window.engine.generator.generate

    def measure(view: str, feed: bool) -> np.ndarray:
        window.canvas.set_view(view)
        if feed:
            fast = paced(recorded, 200, lambda e: isinstance(e, StepSnapshot))
            window.engine.generator.generate = lambda *a, **k: fast
        else:
            window.engine.generator.generate = real_generate
        probe = LatencyProbe()
        window.generate()
        probe.start()
        wait_for(window.generationDone, 300_000)
        return probe.stop()[:-1]  # the last gap spans the pass that finishes the run
    print(f"canvas 256, {args.canvases} canvases x {args.steps} steps, {args.rounds} rounds each; gaps in ms "
          f"(probe every 4 ms); load average {os.getloadavg()[0]:.1f}")
    for label, view, feed in (("run, grid", "grid", False), ("run, text view", "text", False),
                              ("fed at 200 steps/s, grid", "grid", True)):
        rounds = [measure(view, feed) for _ in range(args.rounds)]
        figures = percentiles(np.concatenate([gaps[1:] for gaps in rounds]))
        starts = ", ".join(f"{gaps[0]:.0f}" for gaps in rounds)
        print(f"{label:28s} p50 {figures['p50']:5.1f}  p95 {figures['p95']:5.1f}  p99 {figures['p99']:5.1f}  "
              f"worst {figures['worst']:5.1f}   answering Generate: {starts}")
    window.workspace.mark_saved("")
    window.close()
    app.quit()


if __name__ == "__main__":
    main()
