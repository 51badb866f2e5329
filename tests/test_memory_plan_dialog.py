"""The memory-plan dialog, driven with clicks and keys: it starts from the plan's advice and returns load options."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog

from models.checkpoint.memory_plan import Hardware, build_plan
from models.checkpoint.plan_data import GIB, LoadOptions
from models.checkpoint.quantization import Quantization
from models.checkpoint.size import CheckpointSize
from widgets.panels.memory_plan_dialog import MemoryPlanDialog

CONFIG_26B = {
    "model_type": "diffusion_gemma",
    "canvas_length": 256,
    "text_config": {
        "vocab_size": 262144,
        "hidden_size": 2816,
        "num_hidden_layers": 30,
        "num_key_value_heads": 8,
        "num_global_key_value_heads": 2,
        "head_dim": 256,
        "global_head_dim": 512,
        "num_experts": 128,
        "sliding_window": 1024,
    },
}
PARAMETERS = 25_420_514_108
BF16 = CheckpointSize(PARAMETERS, 2 * PARAMETERS, {"BF16": 2 * PARAMETERS}, 11, None)
FP8 = CheckpointSize(PARAMETERS, 27 * GIB, {"F8_E4M3": 24 * GIB, "BF16": 3 * GIB}, 1, Quantization("fp8", "fp8"))
RTX_4090 = Hardware(
    "cuda", ram_available=64 * GIB, gpu_name="RTX 4090", gpu_free=23 * GIB, gpu_total=24 * GIB, capability=(8, 9)
)
H100 = Hardware(
    "cuda", ram_available=200 * GIB, gpu_name="H100", gpu_free=79 * GIB, gpu_total=80 * GIB, capability=(9, 0)
)


def dialog_for(qtbot, plan) -> MemoryPlanDialog:
    dialog = MemoryPlanDialog(plan)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def click_radio(qtbot, button) -> None:
    # On its circle: a radio button stretched across the dialog takes clicks on its circle and text only.
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton, pos=QPoint(6, button.height() // 2))


def type_into(qtbot, spin, text: str) -> None:
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, text)
    qtbot.keyClick(spin, Qt.Key.Key_Tab)


def test_an_offload_plan_starts_at_its_advice_and_takes_the_users_caps(qtbot, tmp_path):
    plan = build_plan("google/diffusiongemma-26B-A4B-it", CONFIG_26B, BF16, RTX_4090)
    dialog = dialog_for(qtbot, plan)
    assert dialog.title.text() == "<b>Fits with some layers offloaded to CPU RAM</b>"
    assert "RedHatAI/diffusiongemma-26B-A4B-it-FP8-dynamic" in dialog.details.toPlainText()
    assert dialog.offload_button.isChecked() and dialog.offload_form.isEnabled()
    assert dialog.gpu_cap.value() == pytest.approx(plan.options.max_gpu_memory / GIB, abs=0.05)
    type_into(qtbot, dialog.gpu_cap, "18")
    type_into(qtbot, dialog.ram_cap, "40")
    qtbot.keyClicks(dialog.folder_edit, str(tmp_path))
    qtbot.mouseClick(dialog.load_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.options() == LoadOptions(
        dtype="bf16", max_gpu_memory=18 * GIB, max_cpu_memory=40 * GIB, offload_folder=str(tmp_path)
    )


def test_load_as_is_drops_the_caps(qtbot):
    dialog = dialog_for(qtbot, build_plan("big", CONFIG_26B, BF16, RTX_4090))
    click_radio(qtbot, dialog.as_is_button)
    assert not dialog.offload_form.isEnabled()
    click_radio(qtbot, dialog.offload_button)
    assert dialog.offload_form.isEnabled()
    click_radio(qtbot, dialog.as_is_button)
    qtbot.mouseClick(dialog.load_button, Qt.MouseButton.LeftButton)
    assert dialog.options() == LoadOptions(dtype="bf16")


def test_a_plan_that_fits_is_loaded_as_is_and_cancel_returns_nothing(qtbot, a_person_answers):
    plan = build_plan("big", CONFIG_26B, BF16, H100)
    assert plan.verdict == "gpu"

    def click(button_name: str) -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, MemoryPlanDialog) and dialog.as_is_button.isChecked()
        qtbot.mouseClick(getattr(dialog, button_name), Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, lambda: click("load_button"))
    assert MemoryPlanDialog.choose(plan) == LoadOptions(dtype="bf16")
    QTimer.singleShot(0, lambda: click("cancel_button"))
    assert MemoryPlanDialog.choose(plan) is None


def test_a_build_this_machine_cannot_run_cannot_be_loaded(qtbot):
    fp8 = dict(CONFIG_26B, quantization_config={"quant_method": "fp8"})
    dialog = dialog_for(qtbot, build_plan("fp8", fp8, FP8, Hardware("cpu", ram_available=64 * GIB)))
    assert dialog.title.text() == "<b>This machine cannot run this build</b>"
    assert "Cannot load: the FP8 build needs a CUDA GPU" in dialog.details.toPlainText()
    assert not dialog.load_button.isEnabled() and not dialog.offload_button.isEnabled()
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Rejected
