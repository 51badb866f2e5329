"""How fast the token grid draws a streamed step at canvas 256, offscreen: today's grid against the grid as it was.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/benchmark_grid.py [--baseline COMMIT] [--rounds 6]

The baseline is the grid's own modules (token_grid, grid_cells, colors) read from git at COMMIT and imported as a
separate package, so both grids run in one process on the same data, interleaved step by step (this machine is
shared: run-to-run noise is large, a ratio within one run is not). Each sample is what the window pays for one
streamed step: `show_step` with the history so far, then a synchronous repaint of what a step changes (the cells;
the legend is not repainted while a run streams). The canvas text view is measured alongside ("text"; it has no
earlier version). Two histories: "churn", where every cell changes colour at every step (the worst case for a grid
that redraws only changed cells), and "settling", where settled positions keep their entropy. Prints one line per
view and scenario, the grid's ratio of the means, then one JSON line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

BASELINE = "eef0635720b699a3c9b911f07c67a4aaf29ee11a"  # the grid before this rework (15.7 ms/step in the window)
PROSE = (
    "the model lays down a canvas of random tokens and denoises the whole canvas in parallel step by step "
    "accepting the tokens it is most sure of and renoising the rest until the canvas snaps into focus then "
    "the canvas is committed and the next one begins while every step is shown in the grid"
).split()


def baseline_grid_class(commit: str) -> type:
    """TokenGrid as it was at `commit`, imported from a temporary package (its imports point inside it)."""
    folder = Path(tempfile.mkdtemp(prefix="grid-baseline-"))
    package = folder / "baseline_widgets"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("token_grid", "grid_cells", "colors"):
        source = subprocess.run(
            ["git", "show", f"{commit}:widgets/{name}.py"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
        (package / f"{name}.py").write_text(source.replace("from widgets", "from baseline_widgets"))
    sys.path.insert(0, str(folder))
    return importlib.import_module("baseline_widgets.token_grid").TokenGrid


def history(churn: bool, length: int = 256, steps: int = 48, seed: int = 0) -> tuple[list, dict[int, str]]:
    """A canvas of prose-like tokens converging over `steps`: each position settles at a random step; before that
    its draft flickers between words, with high entropy and no acceptance. `churn`: settled positions still get a
    new random entropy (0-0.4 nats) every step, so every cell changes colour at every step (the worst case); else
    they keep their entropy once settled, as confident tokens of a real model nearly do."""
    import numpy as np

    from models.work.events import StepSnapshot

    vocab = {i: "\u2581" + word for i, word in enumerate(PROSE)}
    vocab.update({len(vocab): "\n", len(vocab) + 1: ",", len(vocab) + 2: "."})
    rng = np.random.default_rng(seed)
    final = rng.integers(0, len(vocab), length)
    settle = rng.integers(0, steps, length)
    final_entropy = rng.random(length) * 0.4
    locked = np.zeros(length, bool)
    locked[rng.choice(length, 8, replace=False)] = True
    snaps = []
    for s in range(steps):
        done = settle <= s
        argmax = np.where(done, final, rng.integers(0, len(vocab), length)).astype(np.int64)
        settled_entropy = rng.random(length) * 0.4 if churn else final_entropy
        entropy = np.where(done, settled_entropy, 1.0 + rng.random(length) * 6).astype(np.float32)
        snaps.append(
            StepSnapshot(
                0,
                s,
                argmax,
                done,
                entropy,
                locked,
                np.ones(length, bool),
                float(entropy.mean()),
                int(done.sum()),
                0.5,
                0.1 * s,
            )
        )
    return snaps, vocab


def measure(grids: dict, snaps: list, rounds: int) -> dict[str, list[float]]:
    from PySide6.QtWidgets import QApplication

    samples: dict[str, list[float]] = {name: [] for name in grids}
    order = list(grids)
    for round_ in range(rounds + 1):  # the first round warms the caches and is not counted
        for step in range(len(snaps)):
            for name in order if step % 2 == 0 else order[::-1]:
                grid = grids[name]
                start = time.perf_counter()
                grid.show_step(snaps[: step + 1], step)
                grid.repaint(grid._cells_area() if hasattr(grid, "_cells_area") else grid._dirty_rect())
                took = time.perf_counter() - start
                if round_:
                    samples[name].append(took)
                QApplication.processEvents()
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help="the commit whose grid is the baseline")
    parser.add_argument("--rounds", type=int, default=6, help="times each of the 48 steps is drawn by each grid")
    parser.add_argument("--size", default="760x560", help="widget size, WIDTHxHEIGHT")
    args = parser.parse_args()
    import numpy as np
    from PySide6.QtWidgets import QApplication

    from widgets.canvas.canvas_text_view import CanvasTextView
    from widgets.canvas.token_grid import TokenGrid

    app = QApplication.instance() or QApplication(sys.argv[:1])
    width, height = (int(v) for v in args.size.split("x"))
    results = {}
    for scenario in ("churn", "settling"):
        snaps, vocab = history(churn=scenario == "churn")
        grids = {"before": baseline_grid_class(args.baseline)(vocab.get, 12.0), "now": TokenGrid(vocab.get, 12.0),
                 "text": CanvasTextView(vocab.get, 12.0)}  # fmt: skip
        for grid in grids.values():
            grid.resize(width, height)
            grid.show()
        app.processEvents()
        samples = measure(grids, snaps, args.rounds)
        report = {}
        for name, times in samples.items():
            ms = np.array(times) * 1000
            report[name] = {"mean_ms": round(float(ms.mean()), 3), "p50_ms": round(float(np.median(ms)), 3),
                            "p95_ms": round(float(np.percentile(ms, 95)), 3), "worst_ms": round(float(ms.max()), 3),
                            "paints_per_s": round(1000 / float(ms.mean()), 1)}  # fmt: skip
            r = report[name]
            print(
                f"{scenario:>8} {name:>6}: {r['mean_ms']:.2f} ms mean, p50 {r['p50_ms']:.2f}, p95 {r['p95_ms']:.2f}, "
                f"worst {r['worst_ms']:.2f} -> {r['paints_per_s']:.0f} paints/s"
            )
        ratio = report["before"]["mean_ms"] / report["now"]["mean_ms"]
        print(
            f"{scenario:>8}  ratio: {ratio:.2f}x the paints per second of the baseline ({args.baseline[:7]}), "
            f"canvas 256, {width}x{height}, {len(samples['now'])} samples each (text: the text view, no baseline)"
        )
        results[scenario] = {"ratio": round(ratio, 2), **report}
        for grid in grids.values():
            grid.close()
    print(json.dumps({"canvas": 256, "size": args.size, "baseline": args.baseline, **results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
