"""The GUI thread while canvases of the real size (256) stream into the window: event-loop gaps, p50 to worst.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/window_latency.py [--rounds 5] [--quick] [--no-settle]

Each case runs `--rounds` times with the grid shown, then with the text view, the token inspector and the plots
open beside it: a real run on a tiny random model (one canvas), the same run recorded and fed to the window at 200
steps a second (as a fast GPU would: frames are dropped, no step is), and a real run of ten canvases; then at the
real vocabulary (262,144): a recorded run whose every changed token is a new random id (every label never drawn
before), fed at 200 steps a second, and a real run of a few steps. A random model's tokens change at every step,
the most the views ever have to draw.

Per case: p50, p95, p99 and the worst gap after the first pass, the pass that answers Generate (worst over the
rounds), the pass that finishes the run, the GUI thread's own processor time in its busiest gap (a loaded machine
stretches gaps, not that), and the full garbage collections seen (with --no-settle the collector is left as Python
leaves it after a load: models/checkpoint/heap.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("DIFFUSION_DESK_UNATTENDED", "1")  # a script: no dialog waits, on any platform
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.shell.qt_setup import prepare_qt_environment  # noqa: E402

prepare_qt_environment()  # as the app does

import numpy as np  # noqa: E402
from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

BIG_VOCAB = 262144
SETTLE_MS = 300  # between runs: what a run's end leaves to do (a pass of its own) is done before the next starts


def settle(ms: int) -> None:
    """Run the event loop for `ms` milliseconds."""
    from PySide6.QtCore import QEventLoop

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def fresh_ids(recorded: list[Any], vocab: int, seed: int = 0) -> list[Any]:
    """The recorded run with every token that changed at a step replaced by a new random id of `vocab`: at the real
    vocabulary nearly every changed token is one the views never drew before."""
    from models.work.events import CanvasCommitted, GenerationResult, StepSnapshot

    rng = np.random.default_rng(seed)
    out, last, finals = [], {}, {}
    for event in recorded:
        if isinstance(event, StepSnapshot):
            before = last.get(event.canvas_index)
            ids = rng.integers(0, vocab, len(event.argmax))
            if before is not None:
                ids = np.where(event.argmax == before[0], before[1], ids)
            last[event.canvas_index] = (event.argmax, ids)
            top = None if event.top_ids is None else rng.integers(0, vocab, event.top_ids.shape)
            event = dataclasses.replace(event, argmax=ids, top_ids=top)
        elif isinstance(event, CanvasCommitted):
            finals[event.canvas_index] = last[event.canvas_index][1]
            event = dataclasses.replace(event, token_ids=finals[event.canvas_index])
        elif isinstance(event, GenerationResult):
            event = dataclasses.replace(event, token_ids=np.concatenate([finals[c] for c in sorted(finals)]))
        out.append(event)
    return out


class Bench:
    def __init__(self, folder: Path, settle: bool) -> None:
        from app.shell.main_window import MainWindow
        from models.checkpoint.heap import settle_all

        if not settle:  # the collector as Python leaves it: nothing frozen after a load or a run
            import app.controllers.engine_controller
            import app.running.engine_jobs

            app.running.engine_jobs.settle_all = app.controllers.engine_controller.settle_recent = lambda: 0
        os.environ["DIFFUSION_DESK_DATA"] = str(folder / "data")
        self.window = MainWindow(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
        self.window.resize(1400, 900)
        if settle:
            settle_all()  # as app/shell/main.py does once the window is built
        self.window.show()

    def load(self, checkpoint: Path, canvases: int, steps: int) -> None:
        from app.shell.latency_probe import wait_for

        window = self.window
        settle(SETTLE_MS)  # the last run's ending, which changes the workspace, before it is marked saved
        window.workspace.mark_saved("")  # scratch work: another model starts a new session without asking
        window.load_model(str(checkpoint))
        assert wait_for(window.modelReady, 300_000), "the model did not load"
        self.configure(canvases, steps)
        window.prompt_panel.set_prompt("Latency")
        window.inspection.inspect(7)  # the inspector open on a position, following every step
        self.real_generate = window.engine.generator.generate

    def configure(self, canvases: int, steps: int) -> None:
        spins = self.window.sampler_panel.spins
        spins["max_new_tokens"].setValue(256 * canvases)
        spins["max_denoising_steps"].setValue(steps)
        spins["confidence_threshold"].setValue(0)  # no adaptive stop: every run streams every step
        self.window.sampler_panel.random_box.setChecked(False)

    def record(self) -> list[Any]:
        from models.engine.generator import Generator
        from models.work.prompts import Prompt

        settings = self.window.generation.run_settings()
        return list(Generator(self.window.loaded).generate(Prompt(user="Latency"), settings))

    def measure(self, view: str, events: list[Any] | None) -> dict[str, Any]:
        """One run: the gaps, the GUI thread's time in each, the collections; events None runs the model."""
        from app.shell.latency_probe import LatencyProbe, paced, wait_for
        from models.work.events import StepSnapshot

        window = self.window
        settle(SETTLE_MS)  # the last run's ending (its settled collector included) is not this run's answer
        window.workspace.mark_saved("")  # scratch work: a run for another model starts a new session without asking
        window.canvas.set_view(view)
        if events is None:
            window.engine.generator.generate = self.real_generate
        else:
            fast = paced(events, 200, lambda e: isinstance(e, StepSnapshot))
            window.engine.generator.generate = lambda *a, **k: fast
        probe = LatencyProbe()
        probe.start()
        QTimer.singleShot(0, window.generate)  # as a click would: the first gap holds the pass that answers it
        assert wait_for(window.generationDone, 900_000), "the run did not end"
        gaps, busy = probe.stop(), probe.busy()
        return {"gaps": gaps, "busy": busy, "full": probe.full_collections()}


def report(label: str, rounds: list[dict[str, Any]]) -> None:
    from app.shell.latency_probe import percentiles

    streaming = np.concatenate([r["gaps"][1:-1] for r in rounds])
    busy = np.concatenate([r["busy"][1:-1] for r in rounds])
    figures = percentiles(streaming)
    answer = max(r["gaps"][0] for r in rounds)
    finish = max(r["gaps"][-1] for r in rounds)
    full = [ms for r in rounds for ms in r["full"]]
    collections = f"{len(full)} full ({max(full):.0f} ms)" if full else "0 full"
    print(f"{label:30s} p50 {figures['p50']:5.1f}  p95 {figures['p95']:5.1f}  p99 {figures['p99']:5.1f}  "
          f"worst {figures['worst']:6.1f}  over 16: {int((streaming > 16).sum()):3d}/{len(streaming):4d}  "
          f"answer {answer:5.1f}  finish {finish:5.1f}  GUI busiest {busy.max():5.1f}  gc {collections}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=32, help="denoising steps of the one-canvas runs")
    parser.add_argument("--canvases", type=int, default=10, help="canvases of the long run")
    parser.add_argument("--canvas-steps", type=int, default=8, help="denoising steps per canvas of the long run")
    parser.add_argument("--big-steps", type=int, default=2, help="steps of the real run at vocabulary 262,144")
    parser.add_argument("--views", default="grid,text")
    parser.add_argument("--quick", action="store_true", help="vocabulary 8192 only, no real run at 262,144")
    parser.add_argument("--big-only", action="store_true", help="the cases at vocabulary 262,144 only")
    parser.add_argument("--no-settle", action="store_true", help="leave the garbage collector unsettled")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    from models.checkpoint.heap import walked_by_full_collection
    from models.testing.tiny_checkpoint import build_checkpoint

    folder = Path(tempfile.mkdtemp())
    small = build_checkpoint(folder / "canvas256", vision=False, canvas_length=256, vocab_size=8192, seed=3)
    bench = Bench(folder, settle=not args.no_settle)
    bench.load(small, 1, args.steps)
    one_canvas = bench.record()
    gc.collect()  # the recording's garbage, so the collection timed next walks what a run's collections walk
    walked, started, cpu = walked_by_full_collection(), time.perf_counter(), time.thread_time()
    gc.collect()  # what a full collection costs the window now, whichever thread sets it off
    wall_ms, cpu_ms = (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000
    print(f"canvas 256, {args.rounds} rounds a case, gaps in ms (a probe every 4 ms); the collector "
          f"{'left as Python leaves it' if args.no_settle else 'settled after each load and run'}: "
          f"a full collection walks {walked:,} objects ({gc.get_freeze_count():,} frozen) in {wall_ms:.1f} ms "
          f"({cpu_ms:.1f} ms of CPU); load average {os.getloadavg()[0]:.1f}", flush=True)
    views = args.views.split(",")

    def case(label: str, events: Callable[[], list[Any] | None]) -> None:
        for view in views:
            report(f"{label}, {view}", [bench.measure(view, events()) for _ in range(args.rounds)])

    if not args.big_only:
        case(f"vocab 8192 run {args.steps} steps", lambda: None)
        case("vocab 8192 fed 200/s", lambda: one_canvas)
        bench.configure(args.canvases, args.canvas_steps)
        case(f"vocab 8192 run {args.canvases}x{args.canvas_steps}", lambda: None)
        bench.configure(1, args.steps)
    if not args.quick:
        big = build_checkpoint(folder / "vocab262144", vision=False, canvas_length=256, vocab_size=BIG_VOCAB, seed=3)
        bench.load(big, 1, args.big_steps)
        seeds = iter(range(1000))
        case("vocab 262144 fed 200/s", lambda: fresh_ids(one_canvas, BIG_VOCAB, next(seeds)))
        case(f"vocab 262144 run {args.big_steps} steps", lambda: None)
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    bench.window.workspace.mark_saved("")
    bench.window.close()
    app.quit()


if __name__ == "__main__":
    main()
