"""Editing with the model: the editor pane and the grid send commands here; the workspace changes; they re-render.

Every change the model proposes goes through review (a diff accepted hunk by hunk, or rejected); every accepted
change, lock and typed edit is one undoable step of the workspace.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from app.controllers.engine_controller import EngineController
from app.controllers.workspace_hub import WorkspaceHub, settings_for_run
from models.engine.edit_plans import EditError
from models.work.changes import Change
from models.work.runs import Run, RunKind
from models.work.vocabulary import NeedsModel, RecordedTokenizer
from widgets.canvas.canvas_panel import CanvasPanel
from widgets.editor.editor_pane import EditorPane, Mode

GENERAL_INSTRUCTIONS = ("More formal", "Shorter", "Simpler", "Fix the grammar", "Translate to French")


def redo_keys() -> list[QKeySequence]:
    """The platform's Redo keys, plus Ctrl+Shift+Z and Ctrl+Y where the platform lacks them: X11 binds Redo to
    Ctrl+Shift+Z only, Windows to Ctrl+Y too. A key the platform already binds is not added again (twice is an
    ambiguous shortcut, and then the key does nothing)."""
    keys = list(QKeySequence.keyBindings(QKeySequence.StandardKey.Redo))
    for extra in (QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")):
        if not any(k.matches(extra) == QKeySequence.SequenceMatch.ExactMatch for k in keys):
            keys.append(extra)
    return keys


class EditController(QObject):
    REDRAWS_ON = (Change.DOCUMENT | Change.REVIEW | Change.STEPS | Change.POSITION | Change.RUNS | Change.CONVERSATION
                  | Change.MODEL | Change.SELECTION)

    def __init__(self, hub: WorkspaceHub, engine: EngineController, pane: EditorPane, grid: CanvasPanel,
                 notify: Callable[[str], None], show_editor: Callable[[], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hub, self.engine, self.pane, self.grid = hub, engine, pane, grid
        self.notify, self.show_editor = notify, show_editor
        self.actions: dict[str, QAction] = {}
        pane.textTyped.connect(self.type_text)
        pane.lockRequested.connect(self.toggle_lock)
        pane.redenoiseRequested.connect(self.redenoise)
        pane.fillRequested.connect(self.fill_around)
        pane.rewriteRequested.connect(self.ask_instruction)
        pane.instructionSubmitted.connect(self.rewrite_by_instruction)
        pane.accepted.connect(self.accept)
        pane.rejected.connect(self.reject)
        pane.retryRequested.connect(self.retry)
        pane.selectionChanged.connect(self._on_editor_selection)
        grid.selectionChanged.connect(self._on_grid_selection)
        grid.lockToggleRequested.connect(self._on_grid_lock)
        for view in grid.views():  # Enter and Esc answer a review from the canvas too, as from the editor
            view.installEventFilter(self)
        hub.watch(self, self.render)

    @property
    def ws(self):
        return self.hub.ws

    # ----- the Edit menu --------------------------------------------------------------------------------------
    def build_menu(self, menu: QMenu, window: QWidget) -> dict[str, QAction]:
        """Undo, redo and the model edits. The menu's actions own the shortcuts (so they work from the grid too);
        the pane's toolbar buttons keep their clicks and show the keys in their tooltips."""
        undo = self._action(window, menu, "undo", "&Undo", self.undo)
        undo.setShortcuts(QKeySequence.keyBindings(QKeySequence.StandardKey.Undo))
        redo = self._action(window, menu, "redo", "&Redo", self.redo)
        redo.setShortcuts(redo_keys())
        menu.addSeparator()
        for name, text, shortcut, slot in (
            ("redenoise", "&Re-denoise selection", "Ctrl+R", self.redenoise),
            ("lock", "&Lock or unlock selection", "Ctrl+L", self.toggle_lock),
            ("rewrite", "Rewrite selection by &instruction…", "Ctrl+K", self.ask_instruction),
            ("fill", "&Fill around locked tokens", "Ctrl+Shift+F", self.fill_around),
        ):
            action = self._action(window, menu, name, text, slot)
            action.setShortcut(QKeySequence(shortcut))
            pane_action = getattr(self.pane, f"{name}_action")
            pane_action.setShortcut(QKeySequence())  # one owner per shortcut, or Qt calls it ambiguous
            pane_action.setToolTip(f"{pane_action.toolTip()} ({shortcut})")
        menu.addSeparator()
        menu.addAction(self.pane.boundaries_action)
        self.update_actions()
        return self.actions

    def _action(self, window: QWidget, menu: QMenu, name: str, text: str, slot: Callable) -> QAction:
        action = QAction(text, window)
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda checked=False: slot())
        menu.addAction(action)
        window.addAction(action)
        self.actions[name] = action
        return action

    def update_actions(self) -> None:
        ws, idle = self.ws, not self.engine.busy
        editable = idle and ws.review is None and self._can_edit()
        undo, redo = self.actions.get("undo"), self.actions.get("redo")
        if undo is not None:
            undo.setEnabled(editable and bool(ws.undo.undo_label()))
            undo.setText(f"&Undo {ws.undo.undo_label()}".strip())
            redo.setEnabled(editable and bool(ws.undo.redo_label()))
            redo.setText(f"&Redo {ws.undo.redo_label()}".strip())
        for name in ("redenoise", "lock", "rewrite", "fill"):
            if name in self.actions:
                self.actions[name].setEnabled(editable and self.engine.generator is not None)

    def can_run(self) -> bool:
        """Whether an edit can start now: a model, nothing streaming, no proposal waiting, an editable text."""
        return (self.engine.generator is not None and not self.engine.busy and self.ws.review is None
                and self._can_edit())

    def _can_edit(self) -> bool:
        # A session of a model that is not loaded replays with its recorded tokens, which cannot be edited.
        return self.ws.document is not None and not isinstance(self.ws.document.tokenizer, RecordedTokenizer)

    # ----- rendering ------------------------------------------------------------------------------------------
    def render(self, change: Change) -> None:
        ws, pane = self.ws, self.pane
        if change & Change.MODEL:
            self._suggest_instructions()
        if change & (Change.REVIEW | Change.DOCUMENT | Change.CONVERSATION | Change.MODEL | Change.RUNS):
            self.update_actions()
        if change & (Change.SELECTION | Change.POSITION):
            self._show_selection()
        running = ws.running()
        if ws.review is not None and ws.runs[ws.review].turn == ws.conversation.current:
            if pane.mode() is not Mode.REVIEW or change & (Change.REVIEW | Change.CONVERSATION | Change.MODEL):
                if pane.document() is not ws.document:
                    pane.set_document(ws.document)
                pane.show_review(ws.proposal_hunks())
            return
        if running is not None and running.is_edit and running.turn == ws.conversation.current:
            live = ws.live_document(running)
            if live is not None and (change & Change.STEPS or pane.mode() is not Mode.LIVE):
                pane.preview(live, self._live_span(running, live))
            return
        doc = ws.document
        if doc is None:  # nothing asked yet: an empty page to type on
            shown = pane.document()
            if ws.tokenizer is not None and (shown is None or shown.visible_count or pane.mode() is not Mode.NORMAL
                                             or shown.tokenizer is not ws.tokenizer):
                pane.set_document(ws.empty_document())
        elif pane.document() is not doc or pane.mode() is not Mode.NORMAL:
            pane.set_document(doc)

    def _suggest_instructions(self) -> None:
        """The demo model knows a few instructions, word for word; any other model gets everyday ones."""
        from models.checkpoint.demo_model import REWRITE_INSTRUCTIONS

        if self.ws.model is not None and self.ws.model.source == "demo":
            self.pane.instruction_row.set_suggestions(
                REWRITE_INSTRUCTIONS, "The demo model knows these, word for word (Replace takes any two digits)")
        else:
            self.pane.instruction_row.set_suggestions(GENERAL_INSTRUCTIONS)

    def _live_span(self, run: Run, live) -> tuple[int, int]:
        start, end = run.span
        if run.kind is RunKind.REWRITE:  # the replacement's length changes as it denoises
            end += live.visible_count - self.ws.document.visible_count
        return start, max(start, end)

    # ----- one selection and one set of locks, shared by the grid and the editor ----------------------------
    def _grid_offset(self) -> int | None:
        """Document index of the grid's first cell: the shown canvas times the canvas length."""
        doc = self.ws.document
        return None if doc is None else self.ws.position.canvas * doc.canvas_length

    def _on_grid_selection(self, start: int, end: int) -> None:
        offset = self._grid_offset()
        if offset is not None and start >= 0:
            self.ws.set_selection((offset + start, offset + end))

    def _on_editor_selection(self, start: int, end: int) -> None:
        self.ws.set_selection((start, end) if start >= 0 else None)

    def _show_selection(self) -> None:
        """The workspace's selection in the editor and, clipped to the canvas it shows, in the grid. A view that
        already shows it is left alone: resetting the editor's cursor would reverse a selection made backwards."""
        span, offset, doc = self.ws.selection, self._grid_offset(), self.ws.document
        if span is not None and self.pane.token_selection() != span:
            self.pane.set_token_selection(*span)
        if offset is None:
            return
        local = None if span is None else (max(span[0] - offset, 0), min(span[1] - offset, doc.canvas_length))
        local = local if local is not None and local[0] < local[1] else None
        if self.grid.selection() != local:
            self.grid.blockSignals(True)  # the grid's echo would clip the span to the one canvas it shows
            self.grid.setSelection(*local) if local is not None else self.grid.setSelection(None)
            self.grid.blockSignals(False)

    def _on_grid_lock(self, position: int) -> None:
        offset = self._grid_offset()
        if offset is not None:
            self.toggle_lock((offset + position, offset + position + 1))

    # ----- the document -------------------------------------------------------------------------------------
    def type_text(self, start: int, end: int, text: str) -> None:
        if self.ws.document is None and self.ws.tokenizer is not None:
            self.ws.start_text(self.ws.empty_document())  # typing on the empty page starts a text of one's own
        doc = self.ws.document
        if doc is None:
            return
        try:
            self.ws.change_document(doc.with_typed_text(start, end, text), "Typing", typing=True)
        except NeedsModel as error:
            self.notify(str(error))
            self.pane.set_document(doc)

    def toggle_lock(self, span: tuple[int, int] | None = None) -> None:
        span = span or self.ws.selection
        doc = self.ws.document
        if doc is None or not span or span[0] >= span[1]:
            self.notify("Select some text or tokens to lock or unlock (Ctrl+L).")
            return
        self.ws.change_document(doc.with_locks_toggled(span), "Lock tokens")

    def undo(self) -> None:
        self.ws.undo_step()

    def redo(self) -> None:
        self.ws.redo_step()

    # ----- asking the model ---------------------------------------------------------------------------------
    def ask_instruction(self) -> None:
        if not self.ws.selection:
            self.notify("Select the text to rewrite first, then press Ctrl+K.")
            return
        self.show_editor()
        self.pane.ask_instruction()

    def redenoise(self, seed: int | None = None, span: tuple[int, int] | None = None) -> bool:
        span = span or self.ws.selection
        doc = self.ws.document
        if doc is None or not span or span[0] >= span[1]:
            self.notify("Select the text (or tokens in the grid) to re-denoise, then press Ctrl+R.")
            return False
        span = (span[0], min(span[1], len(doc.ids)))
        return self._start(RunKind.REDENOISE, span, seed)

    def fill_around(self, seed: int | None = None) -> bool:
        doc = self.ws.document
        if doc is None or not doc.locks:
            self.notify("Lock or type some tokens first; Fill re-denoises the text around them.")
            return False
        length = doc.canvas_length
        canvases = sorted({i // length for i in doc.locks})
        span = (canvases[0] * length, (canvases[-1] + 1) * length)
        return self._start(RunKind.FILL, span, seed)

    def rewrite_by_instruction(self, instruction: str, seed: int | None = None,
                               span: tuple[int, int] | None = None) -> bool:
        """Send the selection and its surroundings as a chat turn; the answer streams into the selection's place."""
        span = span or self.ws.selection
        doc = self.ws.document
        if doc is None or not span or span[0] >= span[1] or not instruction.strip():
            self.notify("Select the text to rewrite, then say how.")
            return False
        if any(span[0] <= i < span[1] for i in doc.locks):
            self.notify("The selection holds locked tokens, which a rewrite would replace. Unlock them first (Ctrl+L).")
            return False
        return self._start(RunKind.REWRITE, span, seed, instruction)

    def _start(self, kind: RunKind, span: tuple[int, int], seed: int | None, instruction: str = "") -> bool:
        """Check the edit, record it as a run of the workspace and stream it."""
        ws, engine = self.ws, self.engine
        if not self.can_run():
            return False
        settings = settings_for_run(self.ws, self.notify)
        if settings is None:
            return False
        if seed is not None:
            settings = settings.with_values(seed=seed)
        try:
            engine.check_edit(kind, ws.document, span)
        except EditError as error:
            self.notify(f"Cannot edit that: {error}")
            return False
        run = ws.start_edit(kind, settings, span, instruction)
        self.show_editor()
        return engine.start_run(run)

    # ----- review ---------------------------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        if (watched in self.grid.views() and event.type() == QEvent.Type.KeyPress and self.ws.review is not None
                and isinstance(event, QKeyEvent)):
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.accept(self.pane.accepted_hunks())
                return True
            if event.key() == Qt.Key.Key_Escape:
                self.reject()
                return True
        return super().eventFilter(watched, event)

    def accept(self, hunks: set[int]) -> None:
        if self.ws.review is not None:
            self.ws.accept(hunks)

    def reject(self) -> None:
        if self.ws.review is not None:
            self.ws.reject()

    def retry(self) -> None:
        """Try again: the same edit with another seed; the proposal on screen is rejected."""
        ws = self.ws
        run = ws.runs.get(ws.review) if ws.review is not None else None
        if run is None:
            return
        ws.reject()
        seed = random.randrange(2**31)
        if run.kind is RunKind.REWRITE:
            self.rewrite_by_instruction(run.instruction, seed, run.span)
        elif run.kind is RunKind.FILL:
            self.fill_around(seed)
        else:
            self.redenoise(seed, run.span)

