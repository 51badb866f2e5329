"""Compare two runs: their canvases side by side under one scrubber, the positions that differ outlined, and a
divergence map (for each position, the first step at which the two drafts disagree)."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QComboBox, QDialog, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.workspace_hub import WorkspaceHub, max_entropy, token_text
from models.compare import NEVER, CanvasComparison, compare_runs
from widgets import colors
from widgets.grid_cells import grid_shape
from widgets.step_slider import StepSlider
from widgets.token_grid import TokenGrid


class DivergenceMap(QWidget):
    """One cell per position: coloured by the first step the drafts disagree (early dark, late bright), grey where
    they never do, with the step number."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.values: list[int] = []  # per position: first differing step or NEVER
        self.steps = 1
        self.setMinimumSize(200, 160)
        self.setToolTip("Divergence map: the first step at which the two runs' drafts differ at each position "
                        "(grey: never)")

    def show_divergence(self, values, steps: int) -> None:
        self.values, self.steps = [int(v) for v in values], max(1, steps)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt naming
        p = QPainter(self)
        p.fillRect(event.rect(), self.palette().window())
        if not self.values:
            return
        rows, cols = grid_shape(len(self.values))
        w, h = self.width() / cols, self.height() / rows
        for position, step in enumerate(self.values):
            row, col = divmod(position, cols)
            rect = QRectF(col * w, row * h, w, h).adjusted(0.5, 0.5, -0.5, -0.5)
            if step == NEVER:
                p.fillRect(rect, QColor(170, 170, 170))
                continue
            rgb = colors.LUT[min(255, int(255 * step / self.steps))]
            p.fillRect(rect, QColor(*rgb.tolist()))
            dark = colors.use_dark_text(rgb[None, :])[0]
            p.setPen(QColor(0, 0, 0) if dark else QColor(255, 255, 255))
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(step + 1))


class CompareWindow(QDialog):
    def __init__(self, hub: WorkspaceHub, first: int, second: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        ws = hub.ws
        self.runs = (ws.runs[first], ws.runs[second])
        self.comparisons: list[CanvasComparison] = compare_runs(*self.runs)
        self.setWindowTitle(f"Compare run #{first} and run #{second}")
        top = max_entropy(ws) or colors.DEFAULT_MAX_ENTROPY
        self.grids = (TokenGrid(token_text(ws), top), TokenGrid(token_text(ws), top))
        self.divergence = DivergenceMap()
        self.canvas_combo = QComboBox()
        for comparison in self.comparisons:
            self.canvas_combo.addItem(f"Canvas {comparison.canvas + 1}", comparison.canvas)
        self.slider = StepSlider()  # a click on the groove goes to that step
        self.slider.setToolTip("One scrubber for both runs (a run that stopped earlier stays on its last step)")
        self.step_label = QLabel()
        self.summary = QLabel()
        grids = QGridLayout()
        for column, (run, grid) in enumerate(zip(self.runs, self.grids, strict=True)):
            grids.addWidget(QLabel(f"<b>{run.label()}</b>"), 0, column)
            grids.addWidget(grid, 1, column)
        grids.addWidget(QLabel("<b>First step where they differ</b>"), 0, 2)
        grids.addWidget(self.divergence, 1, 2)
        controls = QHBoxLayout()
        controls.addWidget(self.canvas_combo)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.step_label)
        layout = QVBoxLayout(self)
        layout.addLayout(grids, 1)
        layout.addLayout(controls)
        layout.addWidget(self.summary)
        self.canvas_combo.currentIndexChanged.connect(lambda _: self.show_canvas())
        self.slider.valueChanged.connect(lambda _: self.show_step())
        self.resize(1300, 560)
        self.show_canvas()

    def comparison(self) -> CanvasComparison | None:
        index = self.canvas_combo.currentIndex()
        return self.comparisons[index] if 0 <= index < len(self.comparisons) else None

    def show_canvas(self) -> None:
        comparison = self.comparison()
        if comparison is None:
            self.summary.setText("Neither run denoised a canvas.")
            return
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, comparison.steps - 1))
        self.slider.setValue(self.slider.maximum())
        self.slider.blockSignals(False)
        self.divergence.show_divergence(comparison.divergence, comparison.steps)
        never = int((comparison.divergence == NEVER).sum())
        self.summary.setText(f"{len(comparison.divergence) - never} of {len(comparison.divergence)} positions "
                             f"differ at some step; {never} never do.")
        self.show_step()

    def show_step(self) -> None:
        comparison = self.comparison()
        if comparison is None:
            return
        step = self.slider.value()
        differ = comparison.differ(step)
        for grid, steps, snapshot in zip(self.grids, (comparison.first, comparison.second),
                                         comparison.at(step), strict=True):
            if snapshot is None:
                grid.clear()
            else:
                grid.show_step(steps, min(step, len(steps) - 1))
            grid.set_highlight(differ)
        self.step_label.setText(f"Step {step + 1} / {comparison.steps} · {int(differ.sum())} differ")


def show_comparison(parent: QWidget, hub: WorkspaceHub, first: int, second: int) -> CompareWindow:
    window = CompareWindow(hub, first, second, parent)
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    window.show()
    return window
