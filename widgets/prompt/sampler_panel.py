"""SamplerPanel: the sampler's choice, a spin box per setting of the chosen sampler, a seed row and a visible message
when the combination is invalid."""

from __future__ import annotations

import math
import re
from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFocusEvent, QKeyEvent, QValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from models.work.settings import (
    CORRECTOR_SELECTION_HELP,
    CORRECTOR_SELECTIONS,
    DDIM,
    SAMPLER_HELP,
    SAMPLER_LABELS,
    SAMPLERS,
    SPECS,
    SamplerSettings,
    SettingsError,
    SettingSpec,
)

SEED_MAX = 2**31 - 1  # QSpinBox holds a C int; the app draws random seeds below 2^31 too

# Float settings: (decimals always shown, arrow step). Values keep up to 9 decimals so a checkpoint's defaults
# round-trip exactly (the smallest spec minimum is 1e-9); only the display trims trailing zeros.
FLOAT_FORMATS: dict[str, tuple[int, float]] = {
    "entropy_bound": (3, 0.01),
    "t_min": (2, 0.05),
    "t_max": (2, 0.05),
    "confidence_threshold": (3, 0.001),
    "temperature": (2, 0.05),
    "threshold": (2, 0.05),
    "editing_threshold": (2, 0.05),
    "corrector_selection_tau": (2, 0.1),
}
STORED_DECIMALS = 9
ERROR_STYLE = "color: #d32f2f;"


class FloatSpin(QDoubleSpinBox):
    """A double spin box that keeps 9 decimals but shows only the significant ones (at least `shown`)."""

    refused = Signal(str)  # typed text that is out of range, which Qt puts back to the last value

    def __init__(self, shown: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._shown = shown
        self.setDecimals(STORED_DECIMALS)

    def _refused_text(self) -> str | None:
        text = self.lineEdit().text()
        return text if self.validate(text, len(text))[0] != QValidator.State.Acceptable else None

    def focusOutEvent(self, event: QFocusEvent) -> None:  # noqa: N802 - Qt naming
        # Editing ends on text the range does not allow: Qt puts the last value back; this says so, after it.
        refused = self._refused_text()
        super().focusOutEvent(event)
        if refused is not None:
            self.refused.emit(refused)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt naming
        finishing = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        refused = self._refused_text() if finishing else None
        super().keyPressEvent(event)
        if refused is not None:
            self.refused.emit(refused)

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt naming
        text = super().textFromValue(value)
        point = self.locale().decimalPoint()
        whole, found, fraction = text.partition(point)
        if not found:
            return text
        fraction = fraction.rstrip("0").ljust(self._shown, "0")
        return f"{whole}{point}{fraction}" if fraction else whole


def _spin_for(spec: SettingSpec) -> QAbstractSpinBox:
    if spec.kind is int:
        spin: QAbstractSpinBox = QSpinBox()
        spin.setRange(int(spec.minimum), int(spec.maximum))
    else:
        shown, step = FLOAT_FORMATS.get(spec.name, (3, 0.01))
        spin = FloatSpin(shown)
        # Round the minimum up, not to nearest, so the spin box cannot offer a value below the spec's range.
        scale = 10**STORED_DECIMALS
        # An open minimum (threshold in (0, 1]) is never offered: the box starts one stored decimal above it.
        lowest = math.ceil(spec.minimum * scale) + (1 if spec.open_minimum else 0)
        spin.setRange(lowest / scale, spec.maximum)
        spin.setSingleStep(step)
    above = f", above {spec.minimum:g}" if spec.open_minimum else ""
    spin.setToolTip(f"{spec.help}\n\n{spec.name}: {spec.minimum:g} to {spec.maximum:g}{above}")
    spin.setAccelerated(True)
    return spin


class SamplerPanel(QWidget):
    """Sampler settings as the user has them: emits changed() on every edit; settings() raises when invalid."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._defaults = SamplerSettings()
        # Fields the panel has no control for (compile) come from the settings last given to it.
        self._base = self._defaults
        self.spins: dict[str, QAbstractSpinBox] = {}
        self.labels: dict[str, QLabel] = {}

        form = self.form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.sampler_box = QComboBox()
        for name in SAMPLERS:
            self.sampler_box.addItem(SAMPLER_LABELS[name], name)
            self.sampler_box.setItemData(self.sampler_box.count() - 1, SAMPLER_HELP[name], Qt.ItemDataRole.ToolTipRole)
        self.sampler_box.currentIndexChanged.connect(self._on_sampler_chosen)
        sampler_label = QLabel("Sampler")
        sampler_label.setBuddy(self.sampler_box)
        form.addRow(sampler_label, self.sampler_box)
        self.selection_box = QComboBox()
        self.selection_box.addItems(list(CORRECTOR_SELECTIONS))
        self.selection_box.setToolTip(CORRECTOR_SELECTION_HELP)
        self.selection_box.currentIndexChanged.connect(self._on_edited)
        selection_label = QLabel("Sweep picks")
        selection_label.setToolTip(CORRECTOR_SELECTION_HELP)
        selection_label.setBuddy(self.selection_box)
        for spec in SPECS:
            spin = _spin_for(spec)
            spin.valueChanged.connect(self._on_edited)
            if isinstance(spin, FloatSpin):
                spin.refused.connect(lambda text, spec=spec: self._refused(spec, text))
            self.spins[spec.name] = spin
            label = QLabel(spec.label)
            label.setToolTip(spin.toolTip())
            label.setBuddy(spin)
            self.labels[spec.name] = label
            form.addRow(label, spin)
            if spec.name == "corrector_k":
                form.addRow(selection_label, self.selection_box)

        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, SEED_MAX)
        self.seed_spin.setToolTip(
            "Seed for the sampler's random draws: the same seed, prompt and settings give the same answer."
        )
        self.random_box = QCheckBox("Random")
        self.random_box.setToolTip("Use a fresh random seed for each run (the status bar and statistics show it).")
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed_spin, 1)
        seed_row.addWidget(self.random_box)
        seed_label = QLabel("Seed")
        seed_label.setBuddy(self.seed_spin)
        form.addRow(seed_label, seed_row)
        self.seed_spin.valueChanged.connect(self._on_edited)
        self.random_box.toggled.connect(self._on_random_toggled)

        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()

        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.setToolTip("Back to this checkpoint's recommended sampler settings.")
        self.reset_button.clicked.connect(lambda: self.set_settings(self._defaults))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.reset_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Sampler</b>"))
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addLayout(buttons)
        layout.addStretch(1)

        self.set_settings(self._defaults)

    def defaults(self) -> SamplerSettings:
        return self._defaults

    def set_defaults(self, settings: SamplerSettings) -> None:
        """Remember the checkpoint's defaults (what Reset restores) and show them."""
        self._defaults = settings
        self.set_settings(settings)

    def set_settings(self, settings: SamplerSettings) -> None:
        """Show these settings; changed() fires once."""
        self._base = settings
        widgets = [*self.spins.values(), self.seed_spin, self.random_box, self.sampler_box, self.selection_box]
        for widget in widgets:
            widget.blockSignals(True)
        try:
            for name, spin in self.spins.items():
                spin.setValue(getattr(settings, name))
            self.sampler_box.setCurrentIndex(SAMPLERS.index(settings.sampler))
            self.selection_box.setCurrentIndex(CORRECTOR_SELECTIONS.index(settings.corrector_selection))
            if settings.seed is not None:
                self.seed_spin.setValue(min(settings.seed, SEED_MAX))
            self.random_box.setChecked(settings.seed is None)
            self.seed_spin.setEnabled(settings.seed is not None)
        finally:
            for widget in widgets:
                widget.blockSignals(False)
        self._show_sampler_rows()
        self._on_edited()

    def settings(self) -> SamplerSettings:
        """The settings shown, validated: raises SettingsError naming the bad one."""
        values = {name: spin.value() for name, spin in self.spins.items()}
        seed = None if self.random_box.isChecked() else self.seed_spin.value()
        return replace(self._base, **values, seed=seed, sampler=self.sampler(),
                       corrector_selection=self.selection_box.currentText()).validated()

    def sampler(self) -> str:
        return str(self.sampler_box.currentData())

    def error(self) -> str:
        """What is wrong with the settings shown, or "" when they are valid."""
        try:
            self.settings()
        except SettingsError as exc:
            return str(exc)
        return ""

    def _refused(self, spec: SettingSpec, text: str) -> None:
        spin = self.spins[spec.name]
        allowed = spec.range_text() if spec.open_minimum else f"{spec.minimum:g} to {spec.maximum:g}"
        self.error_label.setText(f"{spec.label} takes {allowed}; “{text.strip()}” is "
                                 f"outside that, so it stays at {spin.textFromValue(spin.value())}")
        self.error_label.show()

    def _on_sampler_chosen(self) -> None:
        self._show_sampler_rows()
        self._on_edited()

    def _show_sampler_rows(self) -> None:
        """Only the chosen sampler's own settings are shown (the others keep their values for when it comes back)."""
        sampler = self.sampler()
        self.sampler_box.setToolTip(f"Which of diffusers' samplers denoises the canvas.\n\n{SAMPLER_HELP[sampler]}")
        for spec in SPECS:
            self.form.setRowVisible(self.spins[spec.name], spec.applies_to(sampler))
        self.form.setRowVisible(self.selection_box, sampler == DDIM)

    def _on_random_toggled(self, random: bool) -> None:
        self.seed_spin.setEnabled(not random)
        self._on_edited()

    def _on_edited(self) -> None:
        message = self.error()
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))
        # The message names settings by their field names (t_max); colour their labels so it points at the rows.
        for name, label in self.labels.items():
            label.setStyleSheet(ERROR_STYLE if re.search(rf"\b{name}\b", message) else "")
        self.changed.emit()
