"""The memory plan, shown before a load starts: load as is, offload under a GPU cap (and to a folder), or cancel.

options = MemoryPlanDialog.choose(plan, parent)   # LoadOptions, or None if the user cancelled
if options is not None:
    load_checkpoint(source, **options.load_kwargs(), progress=..., cancel=...)
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from models.checkpoint.plan_data import GIB, LoadOptions, MemoryPlan
from widgets.panels.modal import exec_dialog, existing_folder

_VERDICT_TITLES = {
    "gpu": "Fits on the GPU",
    "cpu": "Fits in RAM",
    "offload": "Fits with some layers offloaded to CPU RAM",
    "offload-disk": "Fits with layers offloaded to CPU RAM and disk",
    "too-big": "Does not fit on this machine",
    "unsupported": "This machine cannot run this build",
}


class MemoryPlanDialog(QDialog):
    """Shows what a checkpoint needs against what this machine has, and returns the user's load options."""

    def __init__(self, plan: MemoryPlan, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plan = plan
        self.setWindowTitle(f"Load {plan.source}")
        self.title = QLabel(f"<b>{_VERDICT_TITLES.get(plan.verdict, plan.verdict)}</b>")
        self.details = QPlainTextEdit("\n".join(plan.lines))
        self.details.setReadOnly(True)
        self.details.setMinimumSize(560, 150)

        self.as_is_button = QRadioButton("Load as is")
        self.offload_button = QRadioButton("Offload: keep what fits under the caps, the other layers in RAM or on disk")
        self.choice = QButtonGroup(self)
        self.choice.addButton(self.as_is_button)
        self.choice.addButton(self.offload_button)
        on_gpu = plan.hardware.device == "cuda"
        self.gpu_cap = _gib_spin(plan.hardware.gpu_total or 1)
        self.gpu_cap.setToolTip("Most GiB of weights kept on the GPU; the cache and working memory need the rest.")
        self.gpu_cap.setEnabled(on_gpu)
        self.ram_cap = _gib_spin(max(plan.hardware.ram_available, GIB))
        self.ram_cap.setSpecialValueText("no cap")  # 0: accelerate uses the RAM that is free
        self.ram_cap.setToolTip("Most GiB of weights kept in RAM; what does not fit goes to the offload folder.")
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("no folder: nothing goes to disk")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(self.browse_button)
        self.offload_form = QWidget()
        form = QFormLayout(self.offload_form)
        form.addRow("GPU cap (GiB):" if on_gpu else "GPU cap (no CUDA GPU):", self.gpu_cap)
        form.addRow("RAM cap (GiB):", self.ram_cap)
        form.addRow("Offload folder:", folder_row)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.load_button = self.buttons.addButton("Load", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.load_button.setEnabled(plan.can_load or plan.verdict == "too-big")  # too big may still be tried
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.details, 1)
        layout.addWidget(self.as_is_button)
        layout.addWidget(self.offload_button)
        layout.addWidget(self.offload_form)
        layout.addWidget(self.buttons)
        self._preset(plan.options)
        self.offload_button.toggled.connect(self.offload_form.setEnabled)
        self.offload_form.setEnabled(self.offload_button.isChecked())
        if plan.verdict == "unsupported":
            for widget in (self.as_is_button, self.offload_button, self.offload_form):
                widget.setEnabled(False)

    def _preset(self, options: LoadOptions) -> None:
        """Start from what the plan advises."""
        offload = options.max_gpu_memory is not None or options.max_cpu_memory is not None
        (self.offload_button if offload else self.as_is_button).setChecked(True)
        if options.max_gpu_memory is not None:
            self.gpu_cap.setValue(options.max_gpu_memory / GIB)
        else:
            self.gpu_cap.setValue(self.plan.hardware.gpu_free / GIB)
        self.ram_cap.setValue((options.max_cpu_memory or 0) / GIB)
        self.folder_edit.setText(options.offload_folder or "")

    def _browse(self) -> None:
        folder = existing_folder(self, "Folder for offloaded layers", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def options(self) -> LoadOptions:
        """The load options the dialog shows now."""
        dtype = None if self.plan.dtype == "as stored" else self.plan.dtype
        if not self.offload_button.isChecked():
            return LoadOptions(dtype=dtype)
        on_gpu = self.plan.hardware.device == "cuda"
        folder = self.folder_edit.text().strip()
        return LoadOptions(
            dtype=dtype,
            max_gpu_memory=int(self.gpu_cap.value() * GIB) if on_gpu else None,
            max_cpu_memory=int(self.ram_cap.value() * GIB) or None,
            offload_folder=folder or None,
        )

    @classmethod
    def choose(cls, plan: MemoryPlan, parent: QWidget | None = None) -> LoadOptions | None:
        """Show the plan (modal); the chosen options, or None when the user cancels."""
        dialog = cls(plan, parent)
        return dialog.options() if exec_dialog(dialog) == QDialog.DialogCode.Accepted else None


def _gib_spin(most: float) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setDecimals(1)
    spin.setSingleStep(0.5)
    spin.setRange(0.0, round(most / GIB, 1) + 0.1)
    return spin
