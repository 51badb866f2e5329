"""The token inspector follows the grid: a clicked cell (or the arrow keys) picks the position, the scrubber picks the
step; choosing a candidate puts it in the text, locked, as one undoable step, and offers to denoise around it."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject

from app.controllers.edit_controller import EditController
from app.controllers.workspace_hub import WorkspaceHub, max_entropy, token_text
from models.canvas.inspection import candidates, timeline
from models.work.changes import Change
from widgets.canvas.canvas_panel import CanvasPanel
from widgets.canvas.token_inspector import InspectedToken, TokenInspector

NEIGHBOURHOOD = 8  # tokens on each side that "Re-denoise around" sends back to noise


class InspectorController(QObject):
    REDRAWS_ON = (Change.POSITION | Change.STEPS | Change.DOCUMENT | Change.RUNS | Change.MODEL
                  | Change.CONVERSATION)

    def __init__(self, hub: WorkspaceHub, inspector: TokenInspector, grid: CanvasPanel, edits: EditController,
                 reveal: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hub, self.inspector, self.grid, self.edits, self.reveal = hub, inspector, grid, edits, reveal
        self.position: int | None = None  # the canvas position inspected (a view state, like a selection)
        self._due = False  # a streamed step waits for the grid's next frame
        grid.positionClicked.connect(self.inspect)  # a click in the grid or the text view
        grid.selectionChanged.connect(self._grid_selected)
        inspector.positionMoved.connect(self.move)
        inspector.candidatePicked.connect(self.pick)
        inspector.fillRequested.connect(lambda: self.edits.fill_around())
        inspector.redenoiseRequested.connect(self.redenoise_around)
        hub.watch(self, self.render)

    def _grid_selected(self, start: int, end: int) -> None:
        if start >= 0 and end == start + 1:
            self.inspect(start)

    def inspect(self, position: int) -> None:
        self.position = position
        self.reveal()
        self._draw(Change.POSITION)

    def move(self, step: int) -> None:
        snapshot = self.grid.snapshot()
        if self.position is None or snapshot is None:
            return
        position = min(max(self.position + step, 0), len(snapshot.argmax) - 1)
        self.grid.setSelection(position, position + 1)  # the grid, the editor and the inspector follow

    def render(self, change: Change) -> None:
        ws = self.hub.ws
        if not change & ~(Change.STEPS | Change.POSITION) and ws.position.live and ws.running() is not None:
            # A streaming step: drawn after the grid's next frame, in an event-loop pass of its own (the two
            # together were over a frame's budget at the real canvas), showing the step that frame shows.
            self._due = True
            return
        self._due = False
        self._draw(change)

    def due(self) -> bool:
        """Whether a streamed step waits for the inspector (app/shell/frame_followers.py draws it)."""
        return self._due

    def draw_due(self) -> None:
        if self._due:
            self._due = False
            self._draw(Change.STEPS)

    def _draw(self, change: Change) -> None:
        if change & Change.MODEL:
            ws = self.hub.ws
            self.inspector.set_token_text(token_text(ws), max_entropy(ws) or 4.0)
        shown = self._inspected()
        self.inspector.show_token(shown)
        ws = self.hub.ws
        self.inspector.set_offers(shown is not None and bool(ws.document and ws.document.locks)
                                  and self.edits.can_run())

    def _inspected(self) -> InspectedToken | None:
        """The position at the step on screen: a run's step, or the text with the replayed run's last step."""
        ws, position = self.hub.ws, self.position
        snapshot = self.grid.snapshot()
        if position is None or snapshot is None or position >= len(snapshot.argmax):
            return None
        pos = ws.position
        run = ws.runs.get(pos.run) if pos.run is not None else ws.replay_run()
        steps = run.steps(pos.canvas) if run is not None else []
        if pos.run is not None:
            step = pos.step if 0 <= pos.step < len(steps) else len(steps) - 1
            return InspectedToken(position, step, int(snapshot.argmax[position]),
                                  tuple(candidates(steps[step], position)) if steps else (),
                                  timeline(steps, position) if steps else None)
        # The text itself: its token, with the candidates of the last step that denoised this canvas, and the token
        # that step had when the text now holds another (a candidate used, typing): the list is that step's.
        token = int(snapshot.argmax[position])
        if not steps:
            return InspectedToken(position, -1, token, (), None)
        had = int(steps[-1].argmax[position])
        return InspectedToken(position, -1, token, tuple(candidates(steps[-1], position)), timeline(steps, position),
                              source=f"step {len(steps)} of run #{run.id}", replaced=None if had == token else had)

    def pick(self, position: int, token_id: int) -> None:
        """The candidate goes into the text at that position, locked: one undoable step."""
        ws = self.hub.ws
        doc = ws.document
        if doc is None or not self.edits.can_run():
            return
        index = ws.position.canvas * doc.canvas_length + position
        ws.change_document(doc.with_token(index, token_id), "Pick a candidate")
        self.position = position
        self._draw(Change.DOCUMENT)

    def redenoise_around(self, position: int) -> None:
        doc = self.hub.ws.document
        if doc is None:
            return
        index = self.hub.ws.position.canvas * doc.canvas_length + position
        span = (max(0, index - NEIGHBOURHOOD), min(len(doc.ids), index + NEIGHBOURHOOD + 1))
        self.edits.redenoise(span=span)
