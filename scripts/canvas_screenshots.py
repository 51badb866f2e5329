"""Screenshots of the canvas views at canvas 256: the grid under each overlay, and the text view.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/canvas_screenshots.py [--out FOLDER] [--step 10]

The canvas is a prose answer in word-level tokens (a tokenizer trained on the built-in corpus at vocab 4096, as
Gemma's tokens are about a word long), denoised over 24 synthetic steps with recorded top-5 candidates: each token
settles at its own step, drafts before that. Writes grid-<overlay>.png, grid-margin-unrecorded.png and text-*.png.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

STEPS = 24


def prose_history(tokenizer, length: int = 256, top_k: bool = True) -> list:
    """A synthetic denoising of the corpus's opening prose laid out as one canvas (end of turn, then padding)."""
    import dataclasses

    import numpy as np

    from models.testing.tiny_checkpoint import CORPUS
    from models.work.events import StepSnapshot

    text = CORPUS[:640] + "Café, naïve, 東京."
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][: length - 12]
    n_text = len(ids)
    ids = ids + [tokenizer.convert_tokens_to_ids("<turn|>")] + [tokenizer.pad_token_id] * (length - n_text - 1)
    final = np.array(ids, dtype=np.int64)
    rng = np.random.default_rng(3)
    settle = rng.integers(2, STEPS - 2, length)
    settle[n_text:] = 1  # the end of turn and the padding settle first
    locked = np.zeros(length, bool)
    locked[40:44] = True
    snaps = []
    for s in range(STEPS):
        done = (settle <= s) | locked
        drafts = final[rng.integers(0, n_text, length)]
        argmax = np.where(done, final, drafts)
        entropy = np.where(done, rng.random(length) * 0.3, 1.5 + rng.random(length) * 5 * (1 - s / STEPS))
        entropy = np.where(locked, 0.0, entropy).astype(np.float32)
        p1 = np.exp(-entropy / 2)
        p2 = (1 - p1) * rng.uniform(0.3, 0.9, length)
        rest = (1 - p1 - p2)[:, None] * np.array([0.5, 0.3, 0.2])
        probs = np.concatenate([p1[:, None], p2[:, None], rest], axis=1).astype(np.float32)
        top_ids = np.stack([argmax] + [final[rng.integers(0, n_text, length)] for _ in range(4)], axis=1)
        snaps.append(StepSnapshot(0, s, argmax, done, entropy, locked, np.ones(length, bool), float(entropy.mean()),
                                  int(done.sum()), 0.5, 0.2 * s, top_ids, probs))  # fmt: skip
    if not top_k:
        snaps = [dataclasses.replace(snap, top_ids=None, top_probs=None) for snap in snaps]
    return snaps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT.parent / "notes" / "shots"))
    parser.add_argument("--step", type=int, default=10, help="the step shown (0-based, of 24)")
    args = parser.parse_args()
    from PySide6.QtWidgets import QApplication

    from models.canvas.overlays import Overlay
    from models.testing.tiny_checkpoint import build_tokenizer
    from widgets.canvas.canvas_panel import CanvasPanel

    app = QApplication.instance() or QApplication(sys.argv[:1])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(4096)
    snaps = prose_history(tokenizer)
    panel = CanvasPanel(lambda i: tokenizer.convert_ids_to_tokens(int(i)) or "", max_entropy=8.3)
    panel.set_tokenizer(tokenizer)
    panel.resize(980, 720)
    panel.show()
    panel.show_step(snaps, args.step)
    panel.setSelection(60, 66)
    for overlay in Overlay:
        panel.set_overlay(overlay)
        app.processEvents()
        panel.grab().save(str(out / f"grid-{overlay.name.lower().replace('_', '-')}.png"))
    panel.show_step(prose_history(tokenizer, top_k=False), args.step)
    app.processEvents()
    panel.grab().save(str(out / "grid-margin-unrecorded.png"))
    panel.show_step(snaps, args.step)
    panel.set_view("text")
    for overlay, name in ((Overlay.ENTROPY, "text-entropy.png"), (Overlay.COMMIT_ORDER, "text-commit-order.png")):
        panel.set_overlay(overlay)
        app.processEvents()
        panel.grab().save(str(out / name))
    panel.show_step(snaps, STEPS - 1)
    panel.set_overlay(Overlay.ENTROPY)
    app.processEvents()
    panel.grab().save(str(out / "text-last-step.png"))
    print(f"wrote {len(list(out.glob('*.png')))} screenshots to {out}")
    panel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
