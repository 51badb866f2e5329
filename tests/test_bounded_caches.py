"""Every cache the views keep per token is bounded: a long session at the real vocabulary (262,144 tokens, nearly
every changed token one never drawn before) holds as much memory after 100 runs as after 10."""

from __future__ import annotations

import gc

import numpy as np
import psutil
from qt_helpers import shown

from models.work.bounded_cache import BoundedCache
from models.work.document import TokenText
from models.work.events import StepSnapshot
from widgets.canvas.canvas_panel import CanvasPanel
from widgets.canvas.canvas_view import TOKEN_TEXTS
from widgets.canvas.grid_render import COLOURS, TEXT_IMAGES
from widgets.canvas.text_layout import LABEL_IMAGES, LABELS

VOCAB = 262144


def run_steps(rng: np.random.Generator, steps: int = 2, length: int = 256) -> list[StepSnapshot]:
    """A run's steps at the real vocabulary: every token new at every step (a random model's worst case)."""
    snaps = []
    for s in range(steps):
        accepted = rng.random(length) < 0.5
        entropy = (rng.random(length) * 8).astype(np.float32)
        ids = rng.integers(0, VOCAB, length)
        snaps.append(StepSnapshot(0, s, ids, accepted, entropy, np.zeros(length, bool), np.ones(length, bool),
                                  float(entropy.mean()), int(accepted.sum()), 0.5, 0.1))  # fmt: skip
    return snaps


def stream(qtbot, panel: CanvasPanel, snaps: list[StepSnapshot]) -> None:
    """One run as the window shows it: each step live (drawn on the worker), then the last one settled."""
    view = panel.current()
    panel.clear()
    for s, snap in enumerate(snaps):
        panel.show_step(snaps[: s + 1], s, live=True)
        qtbot.waitUntil(lambda snap=snap: view.drawn_frame() is not None and view.drawn_frame().snapshot is snap,
                        timeout=60_000)  # fmt: skip
    panel.show_step(snaps, len(snaps) - 1)
    view.repaint()


def cached(panel: CanvasPanel) -> dict[str, int]:
    grid, text = panel.grid, panel.text
    return {"grid texts": len(grid._raw_text), "grid images": grid._cells.cached() if grid._cells else 0,
            "text": text.cached()}  # fmt: skip


def test_100_runs_at_canvas_256_hold_the_memory_of_10(qtbot):
    panel = shown(qtbot, CanvasPanel(lambda i: f"▁tok{i}", 12.5), 900, 700)
    rng = np.random.default_rng(0)
    process = psutil.Process()
    after: dict[int, tuple[int, int, dict[str, int]]] = {}
    for run in range(1, 101):
        panel.set_view("grid" if run % 2 else "text")  # both views, in turn, as a user switches between them
        stream(qtbot, panel, run_steps(rng))
        if run in (10, 100):
            gc.collect()
            after[run] = (process.memory_info().rss, len(gc.get_objects()), cached(panel))
    (rss_10, objects_10, caches_10), (rss_100, objects_100, caches_100) = after[10], after[100]
    assert rss_100 <= 1.1 * rss_10, f"{rss_10 / 2**20:.0f} MiB after 10 runs, {rss_100 / 2**20:.0f} after 100"
    assert objects_100 <= 1.1 * objects_10, (objects_10, objects_100)
    # 512 new tokens a run: the caches reached their bounds long before the 100th run, and stayed there.
    assert caches_100["grid texts"] <= TOKEN_TEXTS and caches_100["grid images"] <= TEXT_IMAGES + COLOURS + 16
    assert caches_100["text"] <= LABEL_IMAGES + 2 * LABELS + 4096 + TOKEN_TEXTS
    assert caches_100["grid images"] <= 1.1 * caches_10["grid images"]


def test_a_bounded_cache_drops_the_entry_used_longest_ago() -> None:
    cache: BoundedCache[int, str] = BoundedCache(3)
    for key in range(3):
        cache.put(key, str(key))
    assert cache.get(0) == "0"  # 0 is now the most recently used
    cache.put(3, "3")
    assert 1 not in cache and [k for k in range(4) if k in cache] == [0, 2, 3] and len(cache) == 3
    assert cache.get_or_make(5, str) == "5" and 2 not in cache


class ManyTokens:
    """A tokenizer of the real vocabulary's size, decoding token i as 'w<i> ' (and a few byte tokens)."""

    def convert_ids_to_tokens(self, ids):
        return [f"<0x{i % 256:02X}>" if i < 256 else f"w{i}" for i in ids]

    def decode(self, ids, **_kwargs):
        return "".join(f"w{i} " for i in ids)

    pad_token_id, eos_token_id, unk_token_id = -1, -2, -3

    def convert_tokens_to_ids(self, _token):
        return -3


def test_decoded_tokens_are_cached_within_a_bound_and_decode_the_same(monkeypatch) -> None:
    import models.work.document

    monkeypatch.setattr(models.work.document, "VOCAB_CACHE", 1000)
    tokenizer, rng = ManyTokens(), np.random.default_rng(1)
    for _ in range(20):  # 20 canvases of 256 tokens: five times the cache's room
        ids = rng.integers(256, VOCAB, 256).tolist()
        assert TokenText(tokenizer, ids).pieces == tuple(f"w{i} " for i in ids)
    assert len(models.work.document._vocab(tokenizer).entries) == 1000
