"""The window at 1024x700, the smallest size a laptop user is likely to give it (issue 20, section 4, defect 14): no
button cut to "Re…ns", grid cells that read "<pad>" whole, plot labels that do not run into each other, the stop
threshold in full, and a prompt box and sampler fields that keep their size."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtGui import QFontMetricsF

from tests.window_helpers import focus_window, generate_with_keys, load, make_window, type_prompt


@pytest.mark.parametrize("start", [(1024, 700), (1400, 900)])  # opened at that size, or made smaller after a run
def test_nothing_is_cut_or_overlapping_at_1024_by_700(qtbot, tmp_path, start):
    win = make_window(qtbot, tmp_path / "settings.ini", size=start)
    qtbot.waitExposed(win)
    welcome = win.w.welcome
    load(qtbot, win, "")  # the demo model
    focus_window(qtbot, win)
    type_prompt(qtbot, win, "Sort 4 9 2 7 5")
    win.resize(1024, 700)
    qtbot.wait(50)
    for button in welcome.examples_box.findChildren(type(win.generate_button)):
        assert button.height() >= button.sizeHint().height(), button.text()  # scrolled, not squashed
    win.resize(*start)
    generate_with_keys(qtbot, win)
    win.resize(1024, 700)
    qtbot.wait(50)  # the layouts settle on the run's last state
    assert (win.width(), win.height()) == (1024, 700)
    bar = win.canvas.bar
    for button in [*bar.overlay_buttons.values(), *bar.view_buttons.values()]:
        assert button.width() >= button.sizeHint().width(), button.text()  # "Revisions", not "Re…ns"
    layout = win.grid._layout
    font = layout.cell_font(win.grid.font())
    assert QFontMetricsF(font).horizontalAdvance("<pad>") <= layout.cell_w - 6  # "<pad>", not "<p…"
    curves = win.curves
    line = curves.fontMetrics().height()
    for plot in (curves.entropy_plot, curves.accepted_plot):
        ticks = plot.getAxis("left")._tickLevels[0]
        assert len(ticks) * line <= plot.vb.height(), [t[1] for t in ticks]  # tick labels never overlap
    title = curves.entropy_plot.titleLabel
    assert "stop &lt; 0.005" in title.text
    assert title.item.boundingRect().width() <= title.width()  # the threshold in full, not clipped
    assert curves.view.ci.width() <= curves.view.width() + 1  # the plots fit their widget: none cut on the right
    for spin in win.sampler_panel.spins.values():
        assert spin.width() >= spin.minimumSizeHint().width()
    panel = win.prompt_panel
    edit, intent = panel.user_edit, panel.intent
    assert edit.height() >= edit.minimumHeight()
    assert win.image_strip.mapTo(win, QPoint(0, 0)).y() >= edit.mapTo(win, QPoint(0, edit.height())).y()
    assert intent.height() >= intent.heightForWidth(intent.width())  # the two-line note beside the prompt, whole
