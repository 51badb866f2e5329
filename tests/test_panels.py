"""The side panels driven as a person would: prompt, sampler settings, replay bar and output pane."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QCheckBox, QLabel, QWidget
from qt_helpers import shown

from models.work.settings import SPECS, SamplerSettings, SettingsError
from widgets.canvas.replay_bar import ReplayBar
from widgets.panels.output_pane import OutputPane
from widgets.prompt.prompt_panel import PromptPanel
from widgets.prompt.sampler_panel import SamplerPanel


def click_checkbox(qtbot, box: QCheckBox) -> None:
    # On the indicator: a checkbox stretched by its layout ignores clicks right of its text.
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))


def retype(qtbot, widget: QWidget, text: str) -> None:
    """Select all, type over it and press Enter, as in a spin box."""
    widget.setFocus()
    qtbot.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(widget, text)
    qtbot.keyClick(widget, Qt.Key.Key_Return)


# ----- PromptPanel ------------------------------------------------------------------------------------------
@pytest.fixture
def prompt_panel(qtbot) -> PromptPanel:
    return shown(qtbot, PromptPanel(), 360, 400)


def test_prompt_panel_returns_what_was_typed(qtbot, prompt_panel: PromptPanel) -> None:
    with qtbot.waitSignal(prompt_panel.changed):
        qtbot.keyClicks(prompt_panel.user_edit, "Why is the sky blue?")
    qtbot.keyClicks(prompt_panel.system_edit, "Answer briefly.")
    assert not prompt_panel.think()
    with qtbot.waitSignal(prompt_panel.changed):
        click_checkbox(qtbot, prompt_panel.think_box)

    assert prompt_panel.user_text() == "Why is the sky blue?"
    assert prompt_panel.system_text() == "Answer briefly."
    assert prompt_panel.think()
    assert "<|think|>" in prompt_panel.think_box.toolTip()
    assert prompt_panel.user_edit.placeholderText().startswith("Ask something")
    assert prompt_panel.system_edit.placeholderText() == "System prompt (optional)"


def test_prompt_panel_set_prompt_round_trips_with_one_signal(prompt_panel: PromptPanel) -> None:
    seen = []
    prompt_panel.changed.connect(lambda: seen.append(1))
    prompt_panel.set_prompt("Write a haiku.", system="You are a poet.", think=True)
    assert (prompt_panel.user_text(), prompt_panel.system_text(), prompt_panel.think()) == (
        "Write a haiku.",
        "You are a poet.",
        True,
    )
    assert len(seen) == 1
    prompt_panel.set_prompt("Again")
    assert (prompt_panel.user_text(), prompt_panel.system_text(), prompt_panel.think()) == ("Again", "", False)


def test_prompt_panel_add_strip_goes_between_prompt_and_toggle(qtbot, prompt_panel: PromptPanel) -> None:
    strip = QLabel("images")
    strip.setMinimumHeight(40)
    prompt_panel.add_strip(strip)
    qtbot.waitUntil(strip.isVisible)
    user, toggle = prompt_panel.user_edit.geometry(), prompt_panel.think_box.geometry()
    assert strip.parent() is prompt_panel
    assert user.bottom() < strip.geometry().top() and strip.geometry().bottom() < toggle.top()


# ----- SamplerPanel -----------------------------------------------------------------------------------------
CHECKPOINT = SamplerSettings(
    max_new_tokens=512,
    max_denoising_steps=32,
    entropy_bound=0.25,
    t_min=0.3,
    t_max=0.9,
    stability_threshold=2,
    confidence_threshold=0.005,
)


@pytest.fixture
def sampler_panel(qtbot) -> SamplerPanel:
    panel = SamplerPanel()
    qtbot.addWidget(panel)
    panel.set_defaults(CHECKPOINT)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def test_sampler_panel_shows_the_checkpoint_defaults(sampler_panel: SamplerPanel) -> None:
    assert sampler_panel.defaults() == CHECKPOINT
    assert sampler_panel.settings() == CHECKPOINT
    assert sampler_panel.spins["max_new_tokens"].value() == 512
    assert sampler_panel.spins["t_max"].value() == pytest.approx(0.9)
    # Thresholds keep their significant digits instead of rounding to the display's decimals.
    assert sampler_panel.spins["confidence_threshold"].text() == "0.005"
    assert sampler_panel.spins["t_min"].text() == "0.30"
    assert sampler_panel.random_box.isChecked() and not sampler_panel.seed_spin.isEnabled()
    assert not sampler_panel.error_label.isVisible()


def test_sampler_panel_keeps_small_values_exactly(sampler_panel: SamplerPanel) -> None:
    fine = CHECKPOINT.with_values(confidence_threshold=0.00025, entropy_bound=1e-6, compile=True)
    sampler_panel.set_settings(fine)
    assert sampler_panel.settings() == fine
    assert sampler_panel.spins["confidence_threshold"].text() == "0.00025"


def test_sampler_panel_typing_changes_settings(qtbot, sampler_panel: SamplerPanel) -> None:
    with qtbot.waitSignal(sampler_panel.changed):
        retype(qtbot, sampler_panel.spins["max_denoising_steps"], "64")
    retype(qtbot, sampler_panel.spins["entropy_bound"], "0.5")
    settings = sampler_panel.settings()
    assert settings.max_denoising_steps == 64
    assert settings.entropy_bound == pytest.approx(0.5)
    assert settings.max_new_tokens == CHECKPOINT.max_new_tokens


def test_sampler_panel_random_seed_toggle(qtbot, sampler_panel: SamplerPanel) -> None:
    assert sampler_panel.settings().seed is None
    click_checkbox(qtbot, sampler_panel.random_box)
    assert sampler_panel.seed_spin.isEnabled()
    retype(qtbot, sampler_panel.seed_spin, "1234")
    assert sampler_panel.settings().seed == 1234
    click_checkbox(qtbot, sampler_panel.random_box)
    assert not sampler_panel.seed_spin.isEnabled()
    assert sampler_panel.settings().seed is None


def test_sampler_panel_reset_restores_defaults(qtbot, sampler_panel: SamplerPanel) -> None:
    retype(qtbot, sampler_panel.spins["max_new_tokens"], "100")
    click_checkbox(qtbot, sampler_panel.random_box)
    assert sampler_panel.settings() != CHECKPOINT
    with qtbot.waitSignal(sampler_panel.changed):
        qtbot.mouseClick(sampler_panel.reset_button, Qt.MouseButton.LeftButton)
    assert sampler_panel.settings() == CHECKPOINT
    assert sampler_panel.random_box.isChecked()


def test_sampler_panel_shows_why_settings_are_invalid(qtbot, sampler_panel: SamplerPanel) -> None:
    retype(qtbot, sampler_panel.spins["t_max"], "0.2")  # below t_min = 0.3
    with pytest.raises(SettingsError) as error:
        sampler_panel.settings()
    assert "t_max" in str(error.value)
    assert sampler_panel.error_label.isVisible()
    assert sampler_panel.error_label.text() == str(error.value)
    flagged = {name for name, label in sampler_panel.labels.items() if label.styleSheet()}
    assert flagged == {"t_min", "t_max"}

    retype(qtbot, sampler_panel.spins["t_max"], "0.8")
    assert sampler_panel.settings().t_max == pytest.approx(0.8)
    assert not sampler_panel.error_label.isVisible()
    assert sampler_panel.error_label.text() == ""
    assert not any(label.styleSheet() for label in sampler_panel.labels.values())


def test_sampler_panel_tooltips_give_help_and_range(sampler_panel: SamplerPanel) -> None:
    for spec in SPECS:
        tip = sampler_panel.spins[spec.name].toolTip()
        assert spec.help in tip
        assert f"{spec.minimum:g} to {spec.maximum:g}" in tip


# ----- ReplayBar --------------------------------------------------------------------------------------------
@pytest.fixture
def replay_bar(qtbot):
    bar = shown(qtbot, ReplayBar(), 600, 40)
    yield bar
    assert not any(timer.isActive() for timer in bar.findChildren(QTimer)), "a playback timer was left running"


def record(bar: ReplayBar, *counts: int) -> None:
    bar.set_canvas_count(len(counts))
    for canvas, n in enumerate(counts):
        bar.set_step_count(canvas, n)


def test_replay_bar_shows_the_position_set_without_signalling(qtbot, replay_bar: ReplayBar) -> None:
    record(replay_bar, 10)
    assert not replay_bar.canvas_combo.isVisible()
    with qtbot.assertNotEmitted(replay_bar.positionChanged):
        replay_bar.set_position(0, 2)
    assert replay_bar.step_label.text() == "Step 3 / 10"
    assert replay_bar.position() == (0, 2)

    record(replay_bar, 10, 4)
    assert replay_bar.canvas_combo.isVisible()
    assert [replay_bar.canvas_combo.itemText(i) for i in range(2)] == ["Canvas 1", "Canvas 2"]
    replay_bar.set_position(1, 99)  # clamped to what is recorded
    assert replay_bar.position() == (1, 3)
    assert replay_bar.step_label.text() == "Step 4 / 4"

    replay_bar.set_canvas_count(0)
    assert replay_bar.step_label.text() == "Step 0 / 0"
    assert not replay_bar.play_button.isEnabled()


def test_replay_bar_moving_the_slider_signals_and_leaves_live(qtbot, replay_bar: ReplayBar) -> None:
    record(replay_bar, 10)
    replay_bar.set_live(True)
    replay_bar.set_position(0, 2)
    replay_bar.slider.setFocus()
    with qtbot.waitSignals(
        [replay_bar.liveChanged, replay_bar.positionChanged],
        check_params_cbs=[lambda live: live is False, lambda c, s: (c, s) == (0, 3)],
    ):
        qtbot.keyClick(replay_bar.slider, Qt.Key.Key_Right)
    assert not replay_bar.is_live()
    assert not replay_bar.live_button.isChecked()
    assert replay_bar.step_label.text() == "Step 4 / 10"


def test_replay_bar_choosing_a_canvas_keeps_the_step_clamped(qtbot, replay_bar: ReplayBar) -> None:
    record(replay_bar, 10, 4)
    replay_bar.set_live(True)
    replay_bar.set_position(0, 7)
    with qtbot.waitSignal(replay_bar.positionChanged) as moved:
        qtbot.keyClick(replay_bar.canvas_combo, Qt.Key.Key_Down)
    assert moved.args == [1, 3]
    assert not replay_bar.is_live()
    assert replay_bar.step_label.text() == "Step 4 / 4"


def test_replay_bar_live_button_signals(qtbot, replay_bar: ReplayBar) -> None:
    record(replay_bar, 5)
    with qtbot.waitSignal(replay_bar.liveChanged) as toggled:
        qtbot.mouseClick(replay_bar.live_button, Qt.MouseButton.LeftButton)
    assert toggled.args == [True] and replay_bar.is_live()
    with qtbot.assertNotEmitted(replay_bar.liveChanged):
        replay_bar.set_live(False)
    assert not replay_bar.is_live()


def test_replay_bar_plays_across_canvases_and_stops_at_the_end(qtbot, replay_bar: ReplayBar) -> None:
    record(replay_bar, 4, 3)
    replay_bar.set_position(0, 0)
    replay_bar.set_live(True)
    qtbot.keyClick(replay_bar.speed_combo, Qt.Key.Key_Down)  # 10 -> 20 steps/s
    assert replay_bar.speed_combo.currentData() == 20
    seen: list[tuple[int, int]] = []
    replay_bar.positionChanged.connect(lambda c, s: seen.append((c, s)))

    with qtbot.waitSignal(replay_bar.liveChanged):
        qtbot.mouseClick(replay_bar.play_button, Qt.MouseButton.LeftButton)
    assert replay_bar.is_playing() and not replay_bar.is_live()
    qtbot.waitUntil(lambda: replay_bar.position()[0] == 1, timeout=20_000)
    qtbot.waitUntil(lambda: not replay_bar.is_playing(), timeout=20_000)

    assert seen == [(0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2)]
    assert replay_bar.position() == (1, 2)
    assert replay_bar.step_label.text() == "Step 3 / 3"
    assert replay_bar.play_button.toolTip() != "Pause"  # back to a play button


def test_replay_bar_play_at_the_end_starts_over_and_pause_stops(qtbot, replay_bar: ReplayBar) -> None:
    record(replay_bar, 50)
    replay_bar.set_position(0, 49)
    with qtbot.waitSignal(replay_bar.positionChanged) as moved:
        qtbot.mouseClick(replay_bar.play_button, Qt.MouseButton.LeftButton)
    assert moved.args == [0, 0]
    qtbot.waitUntil(lambda: replay_bar.position()[1] >= 1, timeout=20_000)
    qtbot.mouseClick(replay_bar.play_button, Qt.MouseButton.LeftButton)
    assert not replay_bar.is_playing()
    stopped_at = replay_bar.position()
    qtbot.wait(250)
    assert replay_bar.position() == stopped_at


def test_replay_bar_stops_playing_when_hidden_or_asked(qtbot, replay_bar: ReplayBar) -> None:
    record(replay_bar, 50)
    qtbot.mouseClick(replay_bar.play_button, Qt.MouseButton.LeftButton)
    assert replay_bar.is_playing()
    replay_bar.hide()
    assert not replay_bar.is_playing()

    replay_bar.show()
    qtbot.mouseClick(replay_bar.play_button, Qt.MouseButton.LeftButton)
    assert replay_bar.is_playing()
    replay_bar.stop_playback()
    assert not replay_bar.is_playing()


# ----- OutputPane -------------------------------------------------------------------------------------------
@pytest.fixture
def output_pane(qtbot) -> OutputPane:
    return shown(qtbot, OutputPane(), 700, 300)


def test_output_pane_shows_the_answer_and_copies_it(qtbot, output_pane: OutputPane) -> None:
    assert not output_pane.copy_button.isEnabled()
    output_pane.set_answer("The sky scatters blue light most.")
    assert output_pane.answer() == "The sky scatters blue light most."
    assert output_pane.answer_view.toPlainText() == output_pane.answer()
    assert output_pane.answer_view.isReadOnly()

    QGuiApplication.clipboard().clear()
    qtbot.mouseClick(output_pane.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == "The sky scatters blue light most."


def test_output_pane_thoughts_fold_and_hide(qtbot, output_pane: OutputPane) -> None:
    assert not output_pane.thought_button.isVisible()
    output_pane.set_thought("Rayleigh scattering goes as one over lambda to the fourth.")
    assert output_pane.thought_button.isVisible()
    assert output_pane.thought_button.text() == "Thoughts (10 words)"
    assert not output_pane.thought_view.isVisible()  # collapsed by default

    qtbot.mouseClick(output_pane.thought_button, Qt.MouseButton.LeftButton)
    assert output_pane.thought_view.isVisible()
    assert output_pane.thought_view.toPlainText().startswith("Rayleigh")
    qtbot.mouseClick(output_pane.thought_button, Qt.MouseButton.LeftButton)
    assert not output_pane.thought_view.isVisible()

    output_pane.set_thought("")
    assert not output_pane.thought_button.isVisible() and not output_pane.thought_view.isVisible()


def test_output_pane_stats_rows_replace_and_reuse(output_pane: OutputPane) -> None:
    output_pane.set_stats({"Effective speed": "12.0 tokens/s", "Seed": "7"})
    form = output_pane.stats_form
    assert form.rowCount() == 2
    label = form.itemAt(0, form.ItemRole.LabelRole).widget()
    value = form.itemAt(0, form.ItemRole.FieldRole).widget()
    assert (label.text(), value.text()) == ("Effective speed:", "12.0 tokens/s")
    assert output_pane.stats_title.isVisible()

    output_pane.set_stats({"Effective speed": "15.5 tokens/s", "Seed": "8"})
    assert form.itemAt(0, form.ItemRole.FieldRole).widget() is value  # same keys: labels reused
    assert output_pane.stats() == {"Effective speed": "15.5 tokens/s", "Seed": "8"}

    output_pane.set_stats({"Total time": "1.00 s"})
    assert form.rowCount() == 1
    assert output_pane.stats() == {"Total time": "1.00 s"}


def test_output_pane_clear(output_pane: OutputPane) -> None:
    output_pane.set_answer("answer")
    output_pane.set_thought("some thought")
    output_pane.set_stats({"Seed": "1"})
    output_pane.clear()
    assert output_pane.answer() == "" and output_pane.thought() == ""
    assert output_pane.stats() == {} and output_pane.stats_form.rowCount() == 0
    assert not output_pane.thought_button.isVisible() and not output_pane.copy_button.isEnabled()
    assert not output_pane.stats_title.isVisible()


def test_a_typed_value_out_of_range_is_said_not_reverted_in_silence(qtbot):
    from PySide6.QtCore import Qt as QtKeys

    panel = SamplerPanel()
    qtbot.addWidget(panel)
    panel.show()
    bound = panel.spins["entropy_bound"]
    bound.setFocus()
    bound.selectAll()
    qtbot.keyClicks(bound, "0")
    qtbot.keyClick(bound, QtKeys.Key.Key_Return)  # editing ends: Qt keeps the last value in range
    assert bound.value() == pytest.approx(0.1)
    assert panel.error_label.isVisible() and "Entropy bound takes 1e-06 to 1000" in panel.error_label.text()
    threshold = panel.spins["confidence_threshold"]
    threshold.setFocus()
    threshold.selectAll()
    qtbot.keyClicks(threshold, "0")
    qtbot.keyClick(threshold, QtKeys.Key.Key_Return)
    assert panel.settings().confidence_threshold == 0  # 0 is allowed: the adaptive stop never fires
