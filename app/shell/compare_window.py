"""Compare two runs: their canvases side by side under one scrubber, the positions that differ outlined, a
divergence map (for each position, the first step at which the two drafts disagree), each run's steps, corrector
sweeps and the step each position settled at (the grids' commit-order colours), and both runs' mean entropy per step.
Given several runs (one prompt run with every sampler), two choosers pick the pair."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QComboBox, QDialog, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.controllers.workspace_hub import WorkspaceHub, max_entropy, token_text
from models.canvas.compare import NEVER, CanvasComparison, compare_runs, summarize
from models.canvas.overlays import DESCRIPTIONS, Overlay
from widgets.canvas import colors
from widgets.canvas.grid_cells import grid_shape
from widgets.canvas.step_slider import StepSlider
from widgets.canvas.token_grid import TokenGrid
from widgets.plots.compare_curves import COLOURS, CompareCurves


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
    def __init__(self, hub: WorkspaceHub, first: int, second: int, parent: QWidget | None = None,
                 choices: list[int] | None = None) -> None:
        super().__init__(parent)
        ws = self.ws = hub.ws
        top = max_entropy(ws) or colors.DEFAULT_MAX_ENTROPY
        self.grids = (TokenGrid(token_text(ws), top), TokenGrid(token_text(ws), top))
        self.divergence = DivergenceMap()
        self.run_boxes = (QComboBox(), QComboBox())
        for box, chosen in zip(self.run_boxes, (first, second), strict=True):
            for run_id in choices or [first, second]:
                box.addItem(ws.runs[run_id].label(always_sampler=True), run_id)
            box.setCurrentIndex(box.findData(chosen))
            box.setToolTip("Which run to show on this side")
            box.currentIndexChanged.connect(lambda _: self.choose_runs())
        self.overlay_box = QComboBox()
        for overlay in (Overlay.COMMIT_ORDER, Overlay.ENTROPY, Overlay.REVISIONS):
            self.overlay_box.addItem(f"Colour: {overlay.value}", overlay)
            self.overlay_box.setItemData(self.overlay_box.count() - 1, DESCRIPTIONS[overlay],
                                         Qt.ItemDataRole.ToolTipRole)
        self.overlay_box.currentIndexChanged.connect(lambda _: self._set_overlay())
        self.canvas_combo = QComboBox()
        self.slider = StepSlider()  # a click on the groove goes to that step
        self.slider.setToolTip("One scrubber for both runs (a run that stopped earlier stays on its last step)")
        self.step_label = QLabel()
        self.run_notes = (QLabel(), QLabel())
        self.curves = CompareCurves()
        self.summary = QLabel()
        grids = QGridLayout()
        for column, (box, grid, note, colour) in enumerate(zip(self.run_boxes, self.grids, self.run_notes, COLOURS,
                                                               strict=True)):
            # The run's colour (as in the curves) on the box, not on its list, where it would clash with the highlight.
            box.setStyleSheet(f"QComboBox {{ color: rgb{colour}; font-weight: bold; }} "
                              "QComboBox QAbstractItemView { color: palette(text); font-weight: normal; }")
            grids.addWidget(box, 0, column)
            grids.addWidget(grid, 1, column)
            grids.addWidget(note, 2, column)
        grids.addWidget(QLabel("<b>First step where they differ</b>"), 0, 2)
        grids.addWidget(self.divergence, 1, 2)
        grids.addWidget(self.curves, 2, 2)
        grids.setRowStretch(1, 3)  # the canvases get the height; the notes and the curves sit under them
        grids.setRowStretch(2, 2)
        for note in self.run_notes:
            note.setWordWrap(True)
            note.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        controls = QHBoxLayout()
        controls.addWidget(self.canvas_combo)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.step_label)
        controls.addWidget(self.overlay_box)
        layout = QVBoxLayout(self)
        layout.addLayout(grids, 1)
        layout.addLayout(controls)
        layout.addWidget(self.summary)
        self.canvas_combo.currentIndexChanged.connect(lambda _: self.show_canvas())
        self.slider.valueChanged.connect(lambda _: self.show_step())
        self.resize(1300, 640)
        self._set_overlay()
        self.choose_runs()

    def choose_runs(self) -> None:
        """Compare the two runs the choosers name."""
        self.runs = tuple(self.ws.runs[int(box.currentData())] for box in self.run_boxes)
        self.setWindowTitle(f"Compare run #{self.runs[0].id} and run #{self.runs[1].id}")
        self.comparisons: list[CanvasComparison] = compare_runs(*self.runs)
        self.canvas_combo.blockSignals(True)
        self.canvas_combo.clear()
        for comparison in self.comparisons:
            self.canvas_combo.addItem(f"Canvas {comparison.canvas + 1}", comparison.canvas)
        self.canvas_combo.blockSignals(False)
        self.show_canvas()

    def _set_overlay(self) -> None:
        for grid in self.grids:
            grid.set_overlay(self.overlay_box.currentData())

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
        summaries = (summarize(comparison.first), summarize(comparison.second))
        for note, summary in zip(self.run_notes, summaries, strict=True):
            note.setText(summary.text() if summary is not None else "did not denoise this canvas")
        self.curves.show_runs(*(s.mean_entropy if s is not None else None for s in summaries))
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
        self.curves.set_step(step)
        sweeps = [s is not None and s.corrector and step < len(steps)
                  for s, steps in zip(comparison.at(step), (comparison.first, comparison.second), strict=True)]
        note = "".join(f" · {side} run: corrector sweep" for side, sweep in zip(("left", "right"), sweeps,
                                                                                 strict=True) if sweep)
        self.step_label.setText(f"Step {step + 1} / {comparison.steps} · {int(differ.sum())} differ{note}")


def show_comparison(parent: QWidget, hub: WorkspaceHub, first: int, second: int,
                    choices: list[int] | None = None) -> CompareWindow:
    window = CompareWindow(hub, first, second, parent, choices)
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    window.show()
    return window
