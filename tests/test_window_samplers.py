"""Run with every sampler, in the window as a person would: one prompt, one seed, a run per sampler, then the
compare window with each run's steps, sweeps, settled steps and mean entropy, and a chooser for the pair."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from test_sampler_panel import choose
from window_helpers import fixed_seed, focus_window, load, make_window, type_prompt

from models.canvas.compare import summarize
from models.engine.generator import Generator
from models.work.settings import SAMPLERS


@pytest.fixture
def window(qtbot, tmp_path, small_canvas_checkpoint):
    win = make_window(qtbot, tmp_path / "settings.ini")
    load(qtbot, win, small_canvas_checkpoint)
    focus_window(qtbot, win)
    win.sampler_panel.spins["max_denoising_steps"].setValue(6)
    win.sampler_panel.spins["max_new_tokens"].setValue(32)
    fixed_seed(win, 9)
    return win


def test_run_with_every_sampler_then_compare_two(qtbot, window, loaded_small):
    from app.shell.compare_window import CompareWindow

    panel = window.sampler_panel
    choose(qtbot, panel.sampler_box, "DDIM")  # DDIM's own settings: a corrector sweep after its early steps
    panel.spins["corrector_steps"].setValue(1)
    panel.spins["temperature"].setValue(0.5)
    type_prompt(qtbot, window, "Sort 4 9 2 7 5")
    with qtbot.waitSignal(window.every_sampler.done, timeout=120_000) as done:
        QTest.keyClick(window.prompt_panel.user_edit, Qt.Key.Key_Return,
                       Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    ids = done.args[0]
    runs = [window.workspace.runs[i] for i in ids]
    assert [r.settings.sampler for r in runs] == list(SAMPLERS)
    assert {r.settings.seed for r in runs} == {9}
    assert {r.prompt for r in runs} == {runs[0].prompt}  # the same question, never a follow-up to the first answer
    for run in runs:  # each is exactly what the engine gives for its settings
        want = list(Generator(loaded_small).generate(run.prompt, run.settings))[-1]
        assert run.result.token_ids.tolist() == want.token_ids.tolist()
    assert any(s.corrector for s in runs[2].steps(0)) and not any(s.corrector for s in runs[0].steps(0))

    compare = window.findChild(CompareWindow)
    qtbot.waitUntil(lambda: compare is not None and compare.isVisible())
    assert [compare.run_boxes[0].itemData(i) for i in range(compare.run_boxes[0].count())] == ids
    assert (compare.runs[0].id, compare.runs[1].id) == (ids[0], ids[1])
    assert compare.run_boxes[0].currentText() == runs[0].label(always_sampler=True)
    assert "Entropy bound" in compare.run_boxes[0].currentText() and "Entropy bound" not in runs[0].label()
    choose(qtbot, compare.run_boxes[1], runs[2].label(always_sampler=True))  # right: DDIM, not block refinement
    assert (compare.runs[0].id, compare.runs[1].id) == (ids[0], ids[2])
    comparison = compare.comparison()
    left, right = summarize(runs[0].steps(comparison.canvas)), summarize(runs[2].steps(comparison.canvas))
    assert compare.run_notes[0].text() == left.text() and compare.run_notes[1].text() == right.text()
    assert "corrector sweep" in right.text() and "corrector" not in left.text()
    np.testing.assert_allclose(compare.curves.data(1), np.maximum(right.mean_entropy, 1e-4))
    assert compare.grids[0].overlay().value == "commit order"  # cells coloured by the step they settled at
    np.testing.assert_array_equal(compare.grids[1].snapshot().argmax, runs[2].steps(comparison.canvas)[-1].argmax)
    compare.slider.setValue(1)  # DDIM's second forward is its first corrector sweep
    assert "right run: corrector sweep" in compare.step_label.text()
