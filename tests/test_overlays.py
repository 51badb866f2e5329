"""Overlays: the numbers (revisions, commit order, margin) from recorded steps, and the colours the views paint
from them, read back from the screen; the overlay bar drives the views as a user clicks it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from qt_helpers import shown

from models.canvas.overlays import NO_CANDIDATES, CanvasHistory, Overlay
from models.work.events import StepSnapshot
from widgets.canvas import colors
from widgets.canvas.canvas_panel import CanvasPanel
from widgets.canvas.token_grid import TokenGrid

NAN = np.nan


def step(s: int, argmax, accepted, entropy=None, top_probs=None) -> StepSnapshot:
    argmax = np.asarray(argmax, np.int64)
    n = len(argmax)
    entropy = np.full(n, 1.0, np.float32) if entropy is None else np.asarray(entropy, np.float32)
    top_ids = None if top_probs is None else np.tile(argmax[:, None], (1, np.shape(top_probs)[1]))
    return StepSnapshot(0, s, argmax, np.asarray(accepted, bool), entropy, np.zeros(n, bool), np.ones(n, bool),
                        float(entropy.mean()), int(np.sum(accepted)), 0.5, 0.1 * s, top_ids,
                        None if top_probs is None else np.asarray(top_probs, np.float32))  # fmt: skip


def four_steps(top_k: bool = False) -> list[StepSnapshot]:
    """Six positions over four steps, each a case of the commit-order definition (see the expected table)."""
    argmax = [
        [1, 1, 1, 1, 1, 1],
        [1, 2, 1, 1, 1, 2],
        [1, 2, 3, 1, 1, 3],
        [1, 2, 3, 1, 1, 4],
    ]
    accepted = [
        [1, 0, 0, 1, 0, 0],
        [1, 1, 0, 0, 0, 1],
        [1, 1, 1, 1, 0, 1],
        [1, 1, 1, 1, 0, 1],
    ]
    probs = None
    if top_k:
        probs = [np.array([[0.9, 0.05], [0.5, 0.45], [0.6, 0.3], [1.0, 0.0], [0.4, 0.4], [0.7, 0.1]]) for _ in argmax]
    return [step(s, a, c, top_probs=None if probs is None else probs[s])
            for s, (a, c) in enumerate(zip(argmax, accepted, strict=True))]  # fmt: skip


# Settled since which step, at each step (NaN: not accepted at that step):
# 0: accepted from step 0 with the same token -> 0 throughout;
# 1: changed at step 1 and accepted from then -> 1;
# 2: accepted only from step 2, after its last change -> 2;
# 3: accepted at 0, renoised at 1, accepted again at 2 with the same token -> 0, NaN, 2, 2;
# 4: never accepted -> NaN;
# 5: changes at every step while accepted: the streak restarts each step.
EXPECTED_SETTLED = [
    [0, NAN, NAN, 0, NAN, NAN],
    [0, 1, NAN, NAN, NAN, 1],
    [0, 1, 2, 2, NAN, 2],
    [0, 1, 2, 2, NAN, 3],
]
EXPECTED_REVISIONS = [[0] * 6, [0, 1, 0, 0, 0, 1], [0, 1, 1, 0, 0, 2], [0, 1, 1, 0, 0, 3]]


def test_commit_order_and_revisions_follow_the_definition():
    history = CanvasHistory()
    history.update(four_steps())
    for s in range(4):
        np.testing.assert_array_equal(history.values(Overlay.COMMIT_ORDER, s), EXPECTED_SETTLED[s])
        np.testing.assert_array_equal(history.values(Overlay.REVISIONS, s), EXPECTED_REVISIONS[s])
    assert history.value_range(Overlay.REVISIONS, 4.0) == (0.0, 3.0)
    assert history.value_range(Overlay.COMMIT_ORDER, 4.0) == (0.0, 3.0)
    assert Overlay.MARGIN not in history.available()
    assert np.isnan(history.values(Overlay.MARGIN, 3)).all()


def test_a_streamed_history_grows_to_what_a_whole_one_gives():
    rng = np.random.default_rng(5)
    steps = [step(s, rng.integers(0, 3, 40), rng.random(40) < 0.6, rng.random(40) * 3,
                  rng.dirichlet(np.ones(3), 40)) for s in range(12)]  # fmt: skip
    streamed, whole = CanvasHistory(), CanvasHistory()
    for s in range(1, 13):
        streamed.update(steps[:s])  # the same objects, one more each time, as a run streams
    whole.update(list(steps))
    for overlay in Overlay:
        np.testing.assert_array_equal(streamed.table(overlay), whole.table(overlay))
    # Another history (a replayed run) replaces it; an earlier prefix of the same one too.
    streamed.update(steps[:3])
    np.testing.assert_array_equal(streamed.table(Overlay.REVISIONS), whole.table(Overlay.REVISIONS)[:3])


def test_margin_is_top1_minus_top2_of_the_recorded_candidates():
    history = CanvasHistory()
    history.update(four_steps(top_k=True))
    assert Overlay.MARGIN in history.available()
    np.testing.assert_allclose(history.values(Overlay.MARGIN, 2), [0.85, 0.05, 0.3, 1.0, 0.0, 0.6], atol=1e-6)
    # A run whose last step has no candidates (top-k off) offers no margin at all.
    steps = four_steps(top_k=True)
    history.update(steps[:3] + [dataclasses.replace(steps[3], top_ids=None, top_probs=None)])
    assert Overlay.MARGIN not in history.available()


def pixel(grid: TokenGrid, position: int) -> tuple[int, int, int]:
    """The colour of a cell's background, left of its centred text and clear of its marks."""
    image = grid.grab().toImage()
    rect = grid.cell_rect(position)
    colour = QColor(image.pixel(int(rect.left() + rect.width() * 0.12), int(rect.center().y())))
    return colour.red(), colour.green(), colour.blue()


def near(got: tuple[int, int, int], want) -> bool:
    return max(abs(a - int(b)) for a, b in zip(got, want, strict=True)) <= 2


@pytest.fixture
def grid(qtbot):
    return shown(qtbot, TokenGrid(lambda i: "x", 4.0), 420, 360)


def test_each_overlay_colours_the_cells_by_its_recorded_numbers(grid):
    grid.show_step(four_steps(top_k=True), 3)
    grid.set_overlay(Overlay.REVISIONS)  # 0..3 changes on magma
    assert near(pixel(grid, 0), colors.MAGMA[0]) and near(pixel(grid, 5), colors.MAGMA[-1])
    assert near(pixel(grid, 1), colors.MAGMA[85])  # 1 of 3 changes: a third of the way up the map
    grid.set_overlay(Overlay.COMMIT_ORDER)  # settled at step 0..3; never settled is grey
    assert near(pixel(grid, 0), colors.MAGMA[0]) and near(pixel(grid, 5), colors.MAGMA[-1])
    assert near(pixel(grid, 4), colors.NO_VALUE_RGB)
    assert near(pixel(grid, 2), colors.MAGMA[170])  # settled at step 2 of 3
    grid.set_overlay(Overlay.MARGIN)  # a wide margin is confident (dark), a tie bright
    assert near(pixel(grid, 3), colors.LUT[0]) and near(pixel(grid, 4), colors.LUT[-1])
    assert near(pixel(grid, 2), colors.LUT[int((1 - 0.3) * 256)])
    grid.set_overlay(Overlay.ENTROPY)
    assert near(pixel(grid, 0), colors.LUT[64])  # entropy 1.0 of a 4-nat scale
    # Replaying an earlier step shows that step's numbers on the whole history's scale: position 5 had changed
    # once by step 1, a third of the most any position changes.
    grid.set_overlay(Overlay.REVISIONS)
    grid.show_step(four_steps(top_k=True), 1)
    assert near(pixel(grid, 5), colors.MAGMA[85]) and near(pixel(grid, 2), colors.MAGMA[0])


def legend_bar(grid: TokenGrid, lut: np.ndarray) -> tuple[int, int] | None:
    """Where the legend's colour bar shows `lut`'s entries 20 and 235: (x of one, x of the other), or None when
    the legend's first row holds no bar of that map."""
    image = grid.grab().toImage()
    y = grid._layout.rect.bottom() + 7 + (grid.fontMetrics().height() + 6) // 2
    row = [QColor(image.pixel(x, y)).getRgb()[:3] for x in range(grid.width())]
    found = []
    for entry in (lut[20], lut[235]):
        xs = [x for x, rgb in enumerate(row) if max(abs(a - int(b)) for a, b in zip(rgb, entry, strict=True)) <= 8]
        if not xs:
            return None
        found.append(xs[0])
    return found[0], found[1]


def test_the_legend_changes_with_the_overlay(grid):
    grid.show_step(four_steps(top_k=True), 3)
    low, high = legend_bar(grid, colors.LUT)
    assert low < high and legend_bar(grid, colors.MAGMA) is None
    grid.set_overlay(Overlay.REVISIONS)
    assert legend_bar(grid, colors.LUT) is None and legend_bar(grid, colors.MAGMA) is not None
    grid.set_overlay(Overlay.MARGIN)  # reversed: the bar starts at a margin of 1, the confident (dark) end
    low, high = legend_bar(grid, colors.LUT)
    assert low > high
    grid.show_step(four_steps(top_k=False), 3)  # no candidates: no bar, the legend says why instead
    assert legend_bar(grid, colors.LUT) is None and legend_bar(grid, colors.MAGMA) is None


def test_the_bar_drives_both_views_and_disables_the_margin_without_candidates(qtbot):
    panel = shown(qtbot, CanvasPanel(lambda i: "x", 4.0), 640, 480)
    with_k = four_steps(top_k=True)
    panel.show_step(with_k, 3)
    revisions = panel.bar.overlay_buttons[Overlay.REVISIONS]
    qtbot.mouseClick(revisions, Qt.MouseButton.LeftButton)
    assert panel.grid.overlay() is Overlay.REVISIONS and panel.text.overlay() is Overlay.REVISIONS
    assert near(pixel(panel.grid, 5), colors.MAGMA[-1])
    margin = panel.bar.overlay_buttons[Overlay.MARGIN]
    assert margin.isEnabled()
    qtbot.mouseClick(margin, Qt.MouseButton.LeftButton)
    assert panel.overlay() is Overlay.MARGIN
    # A run without candidates: the button is disabled and says why; the cells have no margin colour.
    panel.show_step(four_steps(top_k=False), 3)
    assert not margin.isEnabled() and NO_CANDIDATES in margin.toolTip()
    assert near(pixel(panel.grid, 3), colors.NO_VALUE_RGB)
    panel.show_step(with_k, 3)
    assert margin.isEnabled()
