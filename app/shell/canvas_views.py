"""The canvas views (token grid, entropy heatmap, step curves, scrubber) rendered from the workspace's position.

While a run streams, the grid draws the newest step (at most 30 times a second) and the plots follow it: after a frame
of the grid is on screen, one plot (the heatmap, then the curves, in turn) is updated in an event-loop pass of its own
(app/shell/frame_followers.py). The scrubber, the heatmap and the curves only ask the workspace to show
another position; what they draw comes back from it.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject

from app.controllers.workspace_hub import WorkspaceHub, max_entropy, token_text
from models.work.changes import Change
from models.work.document import canvas_snapshot
from models.work.events import StepSnapshot
from widgets.canvas.canvas_panel import CanvasPanel
from widgets.canvas.replay_bar import ReplayBar
from widgets.plots.entropy_heatmap import EntropyHeatmap
from widgets.plots.step_curves import StepCurves

PLOT_INTERVAL_MS = 200  # while a run streams, the heatmap and the curves each redraw at most 5 times a second


class CanvasViews(QObject):
    REDRAWS_ON = Change.POSITION | Change.STEPS | Change.DOCUMENT | Change.RUNS | Change.MODEL | Change.SETTINGS

    def __init__(self, hub: WorkspaceHub, grid: CanvasPanel, heatmap: EntropyHeatmap, curves: StepCurves,
                 replay: ReplayBar, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hub, self.grid, self.heatmap, self.curves, self.replay = hub, grid, heatmap, curves, replay
        self._plot_target: tuple[list[StepSnapshot], int] | None = None
        self._live_plots_due = False  # steps arrived that the plots do not show yet
        self._next_live_plot = 0  # 0: the heatmap, 1: the curves
        self._last_live_plot = 0.0
        hub.watch(self, self.render)
        replay.positionChanged.connect(self._scrubbed)
        replay.liveChanged.connect(self._live_toggled)
        heatmap.stepPositionClicked.connect(self._heatmap_clicked)
        curves.stepClicked.connect(lambda step: self._scrubbed(self.hub.ws.position.canvas, step))

    def stop(self) -> None:
        self._live_plots_due = False
        self.replay.stop_playback()

    # ----- rendering ------------------------------------------------------------------------------------------
    def render(self, change: Change) -> None:
        if change & Change.MODEL:
            self._configure()
        self._render()

    def _configure(self) -> None:
        """The scales and token texts of the workspace's model (a session may come from another model)."""
        ws = self.hub.ws
        for widget in (self.grid, self.heatmap):
            widget.set_token_text(token_text(ws))
        self.grid.set_tokenizer(ws.tokenizer)
        top = max_entropy(ws)
        if top is not None:
            for widget in (self.grid, self.heatmap, self.curves):
                widget.set_max_entropy(top)
            for plot in (self.heatmap, self.curves):
                plot.set_canvas_length(ws.canvas_length)

    def _render(self) -> None:
        ws = self.hub.ws
        pos = ws.position
        run_shown = ws.runs.get(pos.run) if pos.run is not None else None
        self.curves.set_threshold((run_shown.settings if run_shown is not None else ws.settings).confidence_threshold)
        replayed = ws.replay_run()
        counts = {c: len(replayed.steps(c)) for c in replayed.canvas_indices} if replayed is not None else {}
        if pos.run is None:
            doc = ws.document
            if doc is None:
                self.grid.clear()
                self.heatmap.clear()
                self.curves.clear()
                self.replay.show_state({}, 0, 0, document=False, live=False)
                return
            canvases = len(doc.ids) // doc.canvas_length
            self.replay.set_sweep(False)
            self.replay.show_state(counts, pos.canvas, counts.get(pos.canvas, 1) - 1, document=True, live=False,
                                   canvases=canvases)
            self.grid.show_step([canvas_snapshot(doc, pos.canvas)])
            history = replayed.steps(pos.canvas) if replayed is not None else []
            self._plot_target = (history, len(history) - 1) if history else None
            self._draw_plots()
            return
        run = ws.runs[pos.run]
        steps = run.steps(pos.canvas)
        self.replay.show_state(counts, pos.canvas, pos.step if pos.step >= 0 else len(steps) - 1, document=False,
                               live=pos.live)
        if not steps:
            self.replay.set_sweep(False)
            return
        step = pos.step if 0 <= pos.step < len(steps) else len(steps) - 1
        self.replay.set_sweep(steps[step].corrector)
        record = run.record.canvases.get(pos.canvas)
        # Live (a run streaming, or the recording played back): frames drawn on the views' worker, shown when done.
        self.grid.show_step(steps, step, committed=record is not None and record.committed is not None,
                            live=pos.live or self.replay.is_playing())
        self._plot_target = (steps, step)
        if not pos.live:
            self._draw_plots()
        else:
            self._live_plots_due = True

    def _draw_plots(self) -> None:
        """Both plots at once (after a run, or when the user moves the scrubber), fitted to the canvas's steps."""
        self._live_plots_due = False
        if self._plot_target is None:
            self.heatmap.clear()
            self.curves.clear()
            return
        steps, step = self._plot_target
        self.heatmap.show_step(steps, step)
        self.curves.show_step(steps, step)

    def plot_due(self) -> bool:
        """Whether a plot waits for streamed steps (app/shell/frame_followers.py draws it after a grid frame): one
        plot per frame, in a pass of its own, and each at most 5 times a second."""
        elapsed_ms = (time.perf_counter() - self._last_live_plot) * 1000
        return self._live_plots_due and elapsed_ms >= PLOT_INTERVAL_MS / 2

    def draw_live_plot(self) -> None:
        if not self._live_plots_due or self._plot_target is None:
            return
        plot = (self.heatmap, self.curves)[self._next_live_plot]
        plot.show_step(*self._plot_target, fit=False)
        self._next_live_plot = 1 - self._next_live_plot
        self._live_plots_due = self._next_live_plot == 1  # the curves still to follow the heatmap
        self._last_live_plot = time.perf_counter()

    # ----- navigation -----------------------------------------------------------------------------------------
    def _scrubbed(self, canvas: int, step: int) -> None:
        ws = self.hub.ws
        run = ws.replay_run()
        if run is not None and run.steps(canvas):
            ws.show(run.id, canvas, step)
        else:
            ws.show(None, canvas)  # a canvas the replayed run never denoised: the document's own

    def _live_toggled(self, live: bool) -> None:
        ws = self.hub.ws
        running = ws.running()
        if live and running is not None:
            ws.show(running.id, live=True)
        elif not live and ws.position.live:
            ws.show(ws.position.run, ws.position.canvas, ws.position.step)

    def _heatmap_clicked(self, step: int, position: int) -> None:
        self._scrubbed(self.hub.ws.position.canvas, step)
        self.grid.setSelection(position, position + 1)
