"""The sampler panel's choice of sampler, driven as a person would: each sampler shows its own settings, with
tooltips, and a bad one is named in the panel."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox
from test_panels import CHECKPOINT, retype

from models.work.settings import SAMPLER_HELP, SPECS, SettingsError
from widgets.prompt.sampler_panel import SamplerPanel


@pytest.fixture
def panel(qtbot) -> SamplerPanel:
    panel = SamplerPanel()
    qtbot.addWidget(panel)
    panel.set_defaults(CHECKPOINT)
    panel.resize(360, 640)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def choose(qtbot, box: QComboBox, text: str) -> None:
    """Pick an entry by keyboard, as a person can: focus the box and type the start of its text."""
    box.setFocus()
    for _ in range(box.count()):
        if box.currentText() == text:
            return
        qtbot.keyClick(box, Qt.Key.Key_Down)
    assert box.currentText() == text, f"{text!r} is not among {[box.itemText(i) for i in range(box.count())]}"


def shown_settings(panel: SamplerPanel) -> set[str]:
    return {name for name, spin in panel.spins.items() if spin.isVisible()}


def test_each_sampler_shows_its_own_settings(qtbot, panel):
    common = {"max_new_tokens", "max_denoising_steps", "stability_threshold", "confidence_threshold", "top_k"}
    assert panel.sampler_box.currentText() == "Entropy bound" and panel.settings().sampler == "entropy-bound"
    assert shown_settings(panel) == common | {"entropy_bound", "t_min", "t_max"}
    assert not panel.selection_box.isVisible()
    with qtbot.waitSignal(panel.changed):
        choose(qtbot, panel.sampler_box, "Block refinement")
    assert shown_settings(panel) == common | {"temperature", "threshold", "editing_threshold"}
    choose(qtbot, panel.sampler_box, "DDIM")
    assert shown_settings(panel) == common | {"temperature", "corrector_steps", "corrector_k",
                                              "corrector_selection_tau"}
    assert panel.selection_box.isVisible()
    assert SAMPLER_HELP["ddim"] in panel.sampler_box.toolTip()


def test_settings_typed_for_ddim_run_with_ddim(qtbot, panel):
    choose(qtbot, panel.sampler_box, "DDIM")
    retype(qtbot, panel.spins["corrector_steps"], "2")
    retype(qtbot, panel.spins["temperature"], "0.7")
    choose(qtbot, panel.selection_box, "random")
    settings = panel.settings()
    assert (settings.sampler, settings.corrector_steps, settings.corrector_selection) == ("ddim", 2, "random")
    assert settings.temperature == pytest.approx(0.7)
    assert settings.entropy_bound == CHECKPOINT.entropy_bound  # the other samplers' settings are kept
    panel.set_settings(CHECKPOINT)
    assert panel.sampler_box.currentText() == "Entropy bound" and panel.selection_box.currentText() == \
        "lowest_log_margin"
    panel.set_settings(settings)
    assert panel.settings() == settings


def test_a_bad_sampler_setting_is_named_in_the_panel(qtbot, panel):
    choose(qtbot, panel.sampler_box, "Block refinement")
    threshold = panel.spins["threshold"]
    assert threshold.minimum() > 0  # the open end of (0, 1] is never offered
    retype(qtbot, threshold, "0")
    assert panel.settings().threshold > 0
    assert panel.error_label.isVisible() and "Commit threshold takes (0, 1]" in panel.error_label.text()
    retype(qtbot, panel.spins["temperature"], "0.0001")  # above 0, below what the probabilities survive
    with pytest.raises(SettingsError, match="temperature must be 0"):
        panel.settings()
    assert panel.error_label.text().startswith("temperature must be 0")
    assert panel.labels["temperature"].styleSheet()


def test_every_setting_has_a_tooltip_with_its_range(panel):
    for spec in SPECS:
        tip = panel.spins[spec.name].toolTip()
        assert spec.help in tip and f"{spec.minimum:g} to {spec.maximum:g}" in tip
    assert "lowest_log_margin" in panel.selection_box.toolTip()
    for index in range(panel.sampler_box.count()):
        assert panel.sampler_box.itemData(index, Qt.ItemDataRole.ToolTipRole) == SAMPLER_HELP[
            panel.sampler_box.itemData(index)]
