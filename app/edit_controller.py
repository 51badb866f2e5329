"""Editing with the model: locks, re-denoising a span, filling around locks, rewriting by instruction, review, undo.

The controller owns the document being edited and its undo stack; the window runs the engine for it and hands
back the stream. Every change the model proposes goes through review (a diff the user accepts, hunk by hunk, or
rejects); every accepted change, lock and typed edit is one undoable step.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence, QUndoCommand, QUndoStack
from PySide6.QtWidgets import QMenu

from models.document import Document, apply_hunks, diff_hunks
from models.editing import EditError, lay_into_canvases
from models.events import GenerationResult, StepSnapshot
from models.generator import Generation
from models.prompts import split_reply
from models.recording import GenerationRecord
from models.rewriting import rewrite_prompt
from models.settings import SamplerSettings, SettingsError

if TYPE_CHECKING:
    from app.main_window import MainWindow



class DocumentChange(QUndoCommand):
    """One undoable step: the document before and after. Consecutive typing merges into one step."""

    TYPING = 1

    def __init__(self, controller: EditController, before: Document, after: Document, text: str,
                 typing: bool = False) -> None:
        super().__init__(text)
        self.controller, self.before, self.after, self.typing = controller, before, after, typing

    def id(self) -> int:
        return self.TYPING if self.typing else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt naming
        if not (isinstance(other, DocumentChange) and other.typing and self.typing):
            return False
        self.after = other.after
        return True

    def redo(self) -> None:
        self.controller.show_document(self.after)

    def undo(self) -> None:
        self.controller.show_document(self.before)


@dataclass
class Proposal:
    """A change the model is working on or has proposed, waiting for review."""

    kind: str  # "re-denoise", "fill" or "rewrite"
    start: Callable[[int], bool]  # run it again with another seed (Try again)
    span: tuple[int, int]  # tokens shown as work in progress
    new_ids: np.ndarray | None = None


class EditController(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.pane = window.editor
        self.undo_stack = QUndoStack(self)
        self.doc: Document | None = None
        self.proposal: Proposal | None = None
        self._live: Document | None = None
        self._rewrite_chars = (0, 0)  # the characters a rewrite by instruction replaces
        pane = self.pane
        pane.textTyped.connect(self.type_text)
        pane.lockRequested.connect(self.toggle_lock)
        pane.redenoiseRequested.connect(self.redenoise)
        pane.fillRequested.connect(self.fill_around)
        pane.rewriteRequested.connect(pane.ask_instruction)
        pane.instructionSubmitted.connect(self.rewrite_by_instruction)
        pane.accepted.connect(self.accept)
        pane.rejected.connect(self.reject)
        pane.retryRequested.connect(self.retry)
        window.grid.selectionChanged.connect(self._on_grid_selection)
        window.grid.lockToggleRequested.connect(self._on_grid_lock)
        pane.selectionChanged.connect(self._on_editor_selection)

    def build_menu(self, menu: QMenu) -> dict[str, QAction]:
        """The Edit menu. Its actions own the shortcuts (so they work from the grid too); the pane's toolbar
        buttons keep their clicks and show the keys in their tooltips."""
        window, pane = self.window, self.pane
        undo = self.undo_stack.createUndoAction(window, "&Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = self.undo_stack.createRedoAction(window, "&Redo")
        redo.setShortcuts([QKeySequence.StandardKey.Redo, QKeySequence("Ctrl+Shift+Z")])
        menu.addActions([undo, redo])
        menu.addSeparator()
        actions = {}
        for name, text, shortcut, slot in (
            ("redenoise", "&Re-denoise selection", "Ctrl+R", self.redenoise),
            ("lock", "&Lock or unlock selection", "Ctrl+L", self.toggle_lock),
            ("rewrite", "Rewrite selection by &instruction…", "Ctrl+K", self.ask_instruction),
            ("fill", "&Fill around locked tokens", "Ctrl+Shift+F", self.fill_around),
        ):
            action = QAction(text, window)
            action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(lambda checked=False, run=slot: run())
            menu.addAction(action)
            window.addAction(action)
            actions[name] = action
            pane_action = getattr(pane, f"{name}_action")
            pane_action.setShortcut(QKeySequence())  # one owner per shortcut, or Qt calls it ambiguous
            pane_action.setToolTip(f"{pane_action.toolTip()} ({shortcut})")
        menu.addSeparator()
        menu.addAction(pane.boundaries_action)
        return actions

    def ask_instruction(self) -> None:
        self.window.bottom_tabs.setCurrentWidget(self.pane)
        self.pane.ask_instruction()

    # ----- one selection and one set of locks, shared by the grid and the editor ----------------------------
    def _grid_offset(self) -> int | None:
        """Document index of the grid's first cell: the shown canvas times the canvas length."""
        snapshot = self.window.grid.snapshot()
        return None if snapshot is None or self.doc is None else snapshot.canvas_index * self.doc.canvas_length

    def _on_grid_selection(self, start: int, end: int) -> None:
        offset = self._grid_offset()
        if offset is not None and start >= 0:
            self.pane.set_token_selection(offset + start, offset + end)

    def _on_editor_selection(self, start: int, end: int) -> None:
        offset, grid = self._grid_offset(), self.window.grid
        if offset is None:
            return
        local = (max(start - offset, 0), min(end - offset, self.doc.canvas_length))
        grid.blockSignals(True)  # the grid's echo would clip the editor's span to the one canvas it shows
        grid.setSelection(*local) if start >= 0 and local[0] < local[1] else grid.setSelection(None)
        grid.blockSignals(False)

    def _on_grid_lock(self, position: int) -> None:
        offset = self._grid_offset()
        if offset is not None:
            self.toggle_lock((offset + position, offset + position + 1))

    # ----- the document -------------------------------------------------------------------------------------
    def reset(self, doc: Document) -> None:
        """A new document (a new generation, opened text or session): the undo history starts again."""
        self.undo_stack.clear()
        self.proposal = None
        self.show_document(doc)

    def empty_document(self) -> Document:
        loaded = self.window.loaded
        tokenizer = loaded.tokenizer
        eot = tokenizer.convert_tokens_to_ids("<turn|>")
        return Document(lay_into_canvases([], loaded.canvas_length, eot, tokenizer.pad_token_id),
                        loaded.canvas_length, tokenizer)

    def show_document(self, doc: Document) -> None:
        """Show a document in the editor; it is the answer now, so the Answer tab and the session follow it."""
        self.doc = doc
        self.pane.set_document(doc)
        window = self.window
        _, thought, answer = split_reply(doc.ids, doc.tokenizer)
        window.output.set_answer(answer)
        window.output.set_thought(thought)
        if window.generation is not None:
            window.generation = window.generation.with_ids(doc.ids)
        window.refresh_grid()

    def change(self, after: Document, text: str, typing: bool = False) -> None:
        if self.doc is not None and after is not self.doc:
            self.undo_stack.push(DocumentChange(self, self.doc, after, text, typing))

    def type_text(self, start: int, end: int, text: str) -> None:
        if self.doc is None:
            self.reset(self.empty_document())
        self.change(self.doc.with_typed_text(start, end, text), "Typing", typing=True)

    def toggle_lock(self, span: tuple[int, int] | None = None) -> None:
        span = span or self.pane.token_selection()
        if self.doc is None or not span or span[0] >= span[1]:
            self.window.show_error("Nothing selected", "Select some text or tokens to lock or unlock.")
            return
        self.change(self.doc.with_locks_toggled(span), "Lock tokens")

    # ----- asking the model ---------------------------------------------------------------------------------
    def _settings(self) -> SamplerSettings | None:
        try:
            return self.window.editing_settings()
        except SettingsError as error:
            self.window.show_error("Invalid sampler settings", str(error))
            return None

    def redenoise(self) -> bool:
        span = self.pane.token_selection()
        if self.doc is None or not span or span[0] >= span[1]:
            self.window.show_error("Nothing selected", "Select the text (or tokens in the grid) to re-denoise.")
            return False
        span = (span[0], min(span[1], len(self.doc.ids)))
        return self._run("re-denoise", span, lambda gen, generation, settings, cancel: gen.rewrite(
            generation, span, generation.locks, settings, cancel))

    def fill_around(self) -> bool:
        if self.doc is None or not self.doc.locks:
            self.window.show_error("Nothing locked", "Lock or type some tokens first; fill re-denoises around them.")
            return False
        length = self.doc.canvas_length
        canvases = sorted({i // length for i in self.doc.locks})
        span = (canvases[0] * length, (canvases[-1] + 1) * length)
        return self._run("fill", span, lambda gen, generation, settings, cancel: gen.fill_around(
            generation, generation.locks, settings, cancel))

    def rewrite_by_instruction(self, instruction: str) -> bool:
        """Send the selection and its surroundings as a chat turn; the answer streams into the selection's place."""
        span = self.pane.token_selection()
        if self.doc is None or not span or span[0] >= span[1] or not instruction.strip():
            self.window.show_error("Nothing selected", "Select the text to rewrite, then say how.")
            return False
        if any(span[0] <= i < span[1] for i in self.doc.locks):
            self.window.show_error("Locked text selected", "The selection holds locked tokens, which a rewrite "
                                   "would replace. Unlock them first (Ctrl+L).")
            return False
        tokens = self.doc.token_text
        a, b = tokens.span_of(span[0])[0], tokens.span_of(span[1] - 1)[1]
        prompt = rewrite_prompt(instruction, self.doc.text, a, b)
        self._rewrite_chars = (a, b)
        return self._run("rewrite", span, lambda gen, generation, settings, cancel: gen.generate(
            prompt, settings, cancel))

    def _run(self, kind: str, span: tuple[int, int], make_events: Callable, seed: int | None = None) -> bool:
        """Start `make_events(generator, generation, settings, cancel)` on the worker; Try again reruns it."""
        settings = self._settings()
        if settings is None or self.doc is None:
            return False
        if seed is not None:
            settings = settings.with_values(seed=seed)
        generation = Generation(self.window.current_prompt(), self.doc.ids, settings, self.doc.locks)
        self.proposal = Proposal(kind, lambda new_seed: self._run(kind, span, make_events, new_seed), span)
        self._live = self.doc
        try:
            return self.window.start_edit_run(lambda gen, cancel: make_events(gen, generation, settings, cancel),
                                              settings)
        except EditError as error:
            self.proposal = None
            self.window.show_error("Cannot edit that", str(error))
            return False

    def _replaced(self, answer_ids: np.ndarray) -> Document:
        """The document with the rewritten selection in place of the old one."""
        _, _, answer = split_reply(answer_ids, self.doc.tokenizer)
        a, b = self._rewrite_chars
        return self.doc.with_typed_text(a, b, answer, lock=False)

    def on_events(self, batch: list[Any], record: GenerationRecord) -> None:
        """Show the newest draft of the span in place, as it denoises."""
        proposal = self.proposal
        if proposal is None or self._live is None:
            return
        snapshots = [e for e in batch if isinstance(e, StepSnapshot)]
        if not snapshots:
            return
        if proposal.kind == "rewrite":
            live = self._replaced(record.draft_ids())
            start, end = proposal.span
            new_end = end + live.visible_count - self.doc.visible_count
            self.pane.preview(live, (start, max(start, new_end)))
            return
        for snapshot in _newest_per_canvas(snapshots):
            self._live = self._live.with_canvas(snapshot.canvas_index, snapshot.argmax)
        self.pane.preview(self._live, proposal.span)

    def on_result(self, result: GenerationResult) -> None:
        proposal = self.proposal
        if proposal is None or self.doc is None:
            return
        if result.cancelled:
            self.proposal = None
            self.pane.end_preview()
            return
        new_ids = self._replaced(result.token_ids).ids if proposal.kind == "rewrite" else result.token_ids
        proposal.new_ids = np.asarray(new_ids, dtype=np.int64)
        hunks = diff_hunks(self.doc, proposal.new_ids)
        if not hunks:
            self.proposal = None
            self.pane.end_preview()
            self.window.statusBar().showMessage("The model kept the text as it was", 5000)
            return
        self.pane.show_review(hunks)
        cursor = self.pane.text_edit.textCursor()  # a selection's highlight would hide the diff's colours
        cursor.clearSelection()
        self.pane.text_edit.setTextCursor(cursor)

    def accept(self, hunks: set[int]) -> None:
        proposal = self.proposal
        if proposal is None or proposal.new_ids is None:
            return
        self.proposal = None
        self.pane.end_review()
        if hunks:
            self.change(apply_hunks(self.doc, proposal.new_ids, hunks), f"Accept {proposal.kind}")
        else:
            self.show_document(self.doc)

    def reject(self) -> None:
        self.proposal = None
        self.pane.end_review()
        if self.doc is not None:
            self.show_document(self.doc)

    def retry(self) -> None:
        proposal = self.proposal
        if proposal is not None:
            self.pane.end_review()
            proposal.start(random.randrange(2**31))


def _newest_per_canvas(snapshots: list[StepSnapshot]) -> list[StepSnapshot]:
    newest: dict[int, StepSnapshot] = {}
    for snapshot in snapshots:
        newest[snapshot.canvas_index] = snapshot
    return [newest[c] for c in sorted(newest)]
