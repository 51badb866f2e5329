"""The workspace: everything the user works on, in one Qt-free model that every view renders from.

It holds the conversation (a tree of turns, each with the document the user edits), every run of the engine with
its recorded steps and fate, what is in the prompt boxes, the sampler settings, the review in progress, undo and
redo, and the one value that says what is on screen (`Position`). Every change is made by a method here and
announced once to the listeners with the kinds of things that changed (`Change` flags); views never patch each other.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.work.changes import Change
from models.work.conversation import Conversation, TurnNode
from models.work.document import Document, apply_hunks, diff_hunks, lay_into_canvases
from models.work.events import Event, StepSnapshot
from models.work.next_turn import next_turn
from models.work.prompts import Prompt, split_reply
from models.work.rewriting import rewrite_prompt
from models.work.runs import KEPT, Fate, Run, RunKind
from models.work.settings import SamplerSettings, SettingsError
from models.work.undo import DocumentStep, UndoStack
from models.work.vocabulary import ModelRef

Listener = Callable[["Workspace", Change], None]


@dataclass(frozen=True)
class Position:
    """What is on screen: a run's step on one canvas, or (run None) the current turn's document."""

    run: int | None = None
    canvas: int = 0
    step: int = -1  # -1: the last recorded step
    live: bool = False  # follows the newest step while the run streams


@dataclass(frozen=True)
class Draft:
    """What is in the prompt boxes: the next question, not yet asked."""

    user: str = ""
    system: str = ""
    think: bool = False
    images: tuple[Any, ...] = ()  # PIL images
    image_names: tuple[str, ...] = ()
    image_budget: int | None = None  # visual tokens per image; None: the processor's default
    follow_up: bool = False  # ask it as the next turn of the current conversation
    branch_of: int | None = None  # run it as an alternative to this earlier turn


@dataclass(frozen=True)
class _Asked:
    """What a generation changes when it is asked, as it was before: to withdraw one the engine refused."""

    run: int
    current: int | None
    root_choice: int | None
    active_children: dict[int, int | None]
    draft: Draft
    revision: int
    position: Position


class Workspace:
    def __init__(self, model: ModelRef | None = None, tokenizer: Any = None,
                 settings: SamplerSettings | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer  # the model's own, or a RecordedTokenizer for replay without it
        self.settings = settings or SamplerSettings()
        self.settings_problem = ""  # what is wrong with settings the user is typing; they stay as they were
        self.selection: tuple[int, int] | None = None  # the token span of the current text that edits act on
        self.conversation = Conversation()
        self.runs: dict[int, Run] = {}
        self.position = Position()
        self.draft = Draft()
        self.review: int | None = None  # the run whose proposal is being reviewed
        self.undo = UndoStack()
        self._asked: _Asked | None = None  # how things stood before the newest generation was asked
        self.name = ""  # the session file's path, "" until saved or opened
        self._listeners: list[Listener] = []
        self.revision = 0  # counts the changes worth saving
        self._saved_revision = 0
        self._next_run = 1

    @classmethod
    def restored(cls, model: ModelRef, tokenizer: Any, settings: SamplerSettings, conversation: Conversation,
                 runs: dict[int, Run], draft: Draft, review: int | None, position: Position,
                 name: str = "") -> Workspace:
        """A workspace rebuilt from a session file, unmodified."""
        ws = cls(model, tokenizer, settings)
        ws.name = name
        ws.conversation, ws.runs, ws.draft, ws.review = conversation, runs, draft, review
        ws._next_run = max(runs, default=0) + 1
        conversation.renumber_after(max(conversation.turns, default=-1))
        ws.position = Position(None)
        ws.show(position.run, position.canvas, position.step)
        ws._saved_revision = ws.revision
        return ws

    def frozen(self) -> Workspace:
        """A copy that later changes to this one do not reach, to be saved on another thread."""
        twin = Workspace(self.model, self.tokenizer, self.settings)
        twin.conversation = Conversation({i: dataclasses.replace(n) for i, n in self.conversation.turns.items()},
                                         self.conversation.current, self.conversation.root_choice)
        twin.runs = {i: run.copy() for i, run in self.runs.items()}
        twin.draft, twin.review, twin.position, twin.name = self.draft, self.review, self.position, self.name
        twin.revision = self.revision
        return twin

    def adopt_model(self, model: ModelRef, tokenizer: Any) -> bool:
        """Work with a freshly loaded model: a workspace with no turns takes it; one made with the same model swaps
        its recorded tokens for the model's tokenizer. False when the workspace belongs to another model."""
        if self.conversation.turns and not model.same_model(self.model):
            return False
        self.model, self.tokenizer = model, tokenizer
        for node in self.conversation:
            if node.document is not None:
                node.document = dataclasses.replace(node.document, tokenizer=tokenizer)
        self.undo.retokenize(tokenizer)
        self._changed(Change.MODEL | Change.DOCUMENT, unsaved=False)
        return True

    # ----- notifications --------------------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def _changed(self, change: Change, unsaved: bool = True) -> None:
        if not isinstance(change, Change):  # a stray string would reach every view and redraw none of them
            raise TypeError(f"a workspace change is a Change, not {change!r}")
        if unsaved:
            self.revision += 1
        for listener in list(self._listeners):
            listener(self, change)

    # ----- what there is ----------------------------------------------------------------------------------------
    @property
    def turn(self) -> TurnNode | None:
        current = self.conversation.current
        return None if current is None else self.conversation.turns[current]

    @property
    def document(self) -> Document | None:
        return self.turn.document if self.turn is not None else None

    @property
    def canvas_length(self) -> int:
        return self.model.canvas_length if self.model else 0

    def runs_of(self, turn_id: int | None) -> list[Run]:
        return [run for run in self.runs.values() if run.turn == turn_id]

    def running(self) -> Run | None:
        return next((run for run in self.runs.values() if run.fate is Fate.RUNNING), None)

    def replay_run(self) -> Run | None:
        """The run the scrubber replays: the one on screen, else the last run kept in the current turn's text."""
        if self.position.run is not None:
            return self.runs.get(self.position.run)
        kept = [run for run in self.runs_of(self.conversation.current) if run.fate in KEPT or
                (run.kind is RunKind.GENERATE and run.fate is Fate.CANCELLED)]
        return kept[-1] if kept else None

    def is_empty(self) -> bool:
        return not self.conversation.turns and not self.draft.user and not self.draft.images

    def is_modified(self) -> bool:
        return self.revision != self._saved_revision

    def mark_saved(self, name: str, revision: int | None = None) -> None:
        """The session was saved as `name` at `revision` (default: now); later changes make it modified again."""
        self.name = name
        self._saved_revision = self.revision if revision is None else revision
        self.undo.break_merge()
        self._changed(Change.SAVED, unsaved=False)

    def mark_unsaved(self) -> None:
        """Work that is not in any file (restored from an autosave) is modified whatever its history."""
        self._saved_revision = -1
        self._changed(Change.SAVED, unsaved=False)

    def empty_document(self) -> Document:
        tokenizer = self.tokenizer
        end = tokenizer.convert_tokens_to_ids("<turn|>")
        if not isinstance(end, int) or end == tokenizer.unk_token_id:
            end = tokenizer.eos_token_id
        return Document(lay_into_canvases([], self.canvas_length, end, tokenizer.pad_token_id), self.canvas_length,
                        tokenizer)

    # ----- the prompt boxes and the sampler ---------------------------------------------------------------------
    def set_draft(self, draft: Draft) -> None:
        if draft != self.draft:
            self.draft = draft
            self._changed(Change.DRAFT)

    def set_settings(self, settings: SamplerSettings) -> None:
        if settings != self.settings or self.settings_problem:
            self.settings, self.settings_problem = settings, ""
            self._changed(Change.SETTINGS)

    def refuse_settings(self, problem: str) -> None:
        """The user is asking for settings that are not valid: runs wait until they are (the last valid stay)."""
        if problem != self.settings_problem:
            self.settings_problem = problem
            self._changed(Change.SETTINGS)

    def settings_for_run(self) -> SamplerSettings:
        """The settings a run is asked with, the seed made definite so the run can be reproduced; SettingsError
        while the user's settings are not valid."""
        if self.settings_problem:
            raise SettingsError(self.settings_problem)
        if self.settings.seed is not None:
            return self.settings
        return self.settings.with_values(seed=random.randrange(2**31))

    # ----- the selection ----------------------------------------------------------------------------------------
    def set_selection(self, span: tuple[int, int] | None) -> None:
        """Select tokens [start, end) of the current text (None, or an empty span, selects nothing)."""
        span = (int(span[0]), int(span[1])) if span is not None and span[0] < span[1] else None
        if span != self.selection:
            self.selection = span
            self._changed(Change.SELECTION)

    # ----- runs -------------------------------------------------------------------------------------------------
    def _new_run(self, kind: RunKind, turn: int, prompt: Prompt, settings: SamplerSettings, **fields: Any) -> Run:
        run = Run(self._next_run, kind, turn, prompt, settings, self.canvas_length, started=time.time(), **fields)
        self._next_run += 1
        self.runs[run.id] = run
        self.undo.break_merge()
        self.position = Position(run.id, 0, -1, live=True)
        return run

    def start_generation(self, settings: SamplerSettings) -> Run:
        """A new turn from the prompt boxes (a follow-up, a branch of an earlier turn, or a new conversation)."""
        draft, conversation = self.draft, self.conversation
        asked = _Asked(self._next_run, conversation.current, conversation.root_choice,
                       {i: n.active_child for i, n in conversation.turns.items()}, draft, self.revision,
                       self.position)
        parent = next_turn(conversation, draft).parent
        node = conversation.add(parent, draft.user, draft.system, draft.think, draft.images)
        run = self._new_run(RunKind.GENERATE, node.id, conversation.prompt_for(node.id), settings,
                            image_budget=draft.image_budget)
        self._asked = asked
        if draft.branch_of is not None:
            self.draft = dataclasses.replace(draft, branch_of=None)
        self._changed(Change.CONVERSATION | Change.RUNS | Change.POSITION | Change.DOCUMENT | Change.DRAFT)
        return run

    def start_edit(self, kind: RunKind, settings: SamplerSettings, span: tuple[int, int],
                   instruction: str = "") -> Run:
        """A re-denoise, fill or rewrite of the current turn's document, to be reviewed when it ends."""
        doc, turn = self.document, self.conversation.current
        if doc is None or turn is None:
            raise ValueError("there is no text to edit yet")
        prompt, chars = self.conversation.prompt_for(turn), None
        if kind is RunKind.REWRITE:
            tokens = doc.token_text
            chars = (tokens.span_of(span[0])[0], tokens.span_of(span[1] - 1)[1])
            prompt = rewrite_prompt(instruction, doc.text, *chars)
        run = self._new_run(kind, turn, prompt, settings, span=span, locks=doc.locks, base_ids=doc.ids,
                            instruction=instruction, rewrite_chars=chars)
        self._changed(Change.RUNS | Change.POSITION)
        return run

    def add_events(self, run_id: int, events: Iterable[Event]) -> None:
        """Record a batch of a run's events; a live position follows the newest step."""
        run = self.runs[run_id]
        for event in events:
            run.record.add(event)
        if self.position.run == run_id and self.position.live:
            newest = run.record.newest()
            if newest is not None:
                self.position = Position(run_id, newest[0], newest[1], live=True)
        self._changed(Change.STEPS | Change.POSITION, unsaved=False)

    def live_document(self, run: Run) -> Document | None:
        """An edit's base document with its newest drafts in place, as it denoises."""
        base = self._base(run)
        if base is None:
            return None
        if run.kind is RunKind.REWRITE:
            return self._rewritten(run, base, run.record.draft_ids())
        doc = base
        for canvas in run.canvas_indices:
            steps = run.steps(canvas)
            if steps and (canvas + 1) * run.canvas_length <= len(doc.ids):
                doc = doc.with_canvas(canvas, steps[-1].argmax)
        return doc

    def finish_run(self, run_id: int, cancelled: bool = False) -> None:
        """The run ended (its result is recorded): a generation becomes its turn's text, an edit goes to review."""
        run = self.runs[run_id]
        result = run.result
        turn = self.conversation.turns[run.turn]
        if run.kind is RunKind.GENERATE:
            run.fate = Fate.CANCELLED if cancelled else Fate.ACCEPTED
            ids = result.token_ids if result is not None else np.zeros(0, dtype=np.int64)
            turn.document = (Document(ids, self.canvas_length, self.tokenizer, entropy=run.final_entropy())
                             if len(ids) else self.empty_document())
            self.position = self._on_document(max(run.canvas_indices, default=0))
            self._changed(Change.RUNS | Change.DOCUMENT | Change.POSITION | Change.CONVERSATION)
            return
        base = self._base(run)
        if cancelled or result is None or base is None:
            run.fate = Fate.CANCELLED
        else:
            proposal = self._proposal(run, base)
            run.proposal_ids, run.proposal_entropy = proposal.ids, proposal.entropy
            if diff_hunks(base, proposal.ids):
                run.fate = Fate.PROPOSED
                self.review = run.id
                newest = run.record.newest() or (0, 0)
                self.position = Position(run.id, newest[0], newest[1])
                self._changed(Change.RUNS | Change.REVIEW | Change.POSITION)
                return
            run.fate = Fate.UNCHANGED
        self.position = self._on_document(self.position.canvas)
        self._changed(Change.RUNS | Change.POSITION)

    def fail_run(self, run_id: int, message: str) -> None:
        run = self.runs[run_id]
        run.fate, run.error = Fate.FAILED, message
        if run.kind is RunKind.GENERATE and self.conversation.turns[run.turn].document is None:
            self.conversation.turns[run.turn].document = self.empty_document()
        newest = run.record.newest()  # what it recorded before it failed stays on screen (a server that dropped)
        self.position = Position(None) if newest is None else Position(run_id, newest[0], newest[1])
        self._changed(Change.RUNS | Change.POSITION | Change.DOCUMENT)

    def withdraw_generation(self, run_id: int) -> bool:
        """A generation refused before its first step (a prompt over a limit) leaves nothing behind: its turn and
        run go, and the conversation, the prompt boxes and what is on screen are as they were before it was asked.
        False (and nothing changed) when the run is not that fresh generation."""
        asked, run = self._asked, self.runs.get(run_id)
        if (asked is None or asked.run != run_id or run is None or run.kind is not RunKind.GENERATE or run.step_count()
                or self.conversation.children(run.turn)):
            return False
        self._asked = None
        del self.runs[run_id]
        conversation = self.conversation
        conversation.remove(run.turn)
        for turn_id, child in asked.active_children.items():
            conversation.turns[turn_id].active_child = child
        conversation.current, conversation.root_choice = asked.current, asked.root_choice
        self._next_run, self.draft, self.revision = run_id, asked.draft, asked.revision
        self.position = asked.position if asked.position.run in self.runs or asked.position.run is None else Position()
        self._changed(Change.CONVERSATION | Change.RUNS | Change.POSITION | Change.DOCUMENT | Change.DRAFT,
                      unsaved=False)
        return True

    def _base(self, run: Run) -> Document | None:
        doc = self.conversation.turns[run.turn].document
        if doc is None or run.base_ids is None:
            return doc
        return doc if np.array_equal(doc.ids, run.base_ids) else doc.with_ids(run.base_ids)

    def _rewritten(self, run: Run, base: Document, answer_ids: np.ndarray) -> Document:
        _, _, answer = split_reply(answer_ids, base.tokenizer)
        written = base.with_typed_text(*run.rewrite_chars, answer, lock=False)
        entropy = run.final_entropy()
        if len(entropy) != len(answer_ids):  # a preview while the run streams: no final entropies yet
            return written
        return written.with_written_entropy(base, answer_ids, entropy)

    def _proposal(self, run: Run, base: Document) -> Document:
        if run.kind is RunKind.REWRITE:
            return self._rewritten(run, base, run.result.token_ids)
        fresh = run.final_entropy()
        entropy = np.where(np.isnan(fresh), base.entropy, fresh) if len(fresh) == len(base.entropy) else fresh
        return base.with_ids(run.result.token_ids, entropy)

    def proposal_hunks(self) -> list:
        run = self.runs.get(self.review) if self.review is not None else None
        if run is None or self.document is None:
            return []
        return diff_hunks(self.document, run.proposal_ids)

    # ----- review -------------------------------------------------------------------------------------------------
    def accept(self, hunks: Iterable[int]) -> None:
        """Keep these hunks of the proposal under review (all of them, or some); one undoable step."""
        run = self.runs[self.review]
        hunks = sorted(set(hunks))
        total = len(self.proposal_hunks())
        doc = self.document
        self.review = None
        run.accepted_hunks = tuple(hunks)
        if not hunks:
            run.fate = Fate.REJECTED
        else:
            run.fate = Fate.ACCEPTED if len(hunks) == total else Fate.PARTIAL
            after = apply_hunks(doc, run.proposal_ids, hunks, run.proposal_entropy)
            self._push(after, f"Accept {run.kind.value}")
        self.position = self._on_document(self.position.canvas)
        self._changed(Change.RUNS | Change.REVIEW | Change.DOCUMENT | Change.POSITION)

    def reject(self) -> None:
        run = self.runs[self.review]
        run.fate = Fate.REJECTED
        self.review = None
        self.position = self._on_document(self.position.canvas)
        self._changed(Change.RUNS | Change.REVIEW | Change.POSITION)

    # ----- the document and undo ------------------------------------------------------------------------------
    def _push(self, after: Document, label: str, typing: bool = False) -> None:
        turn = self.turn
        self.undo.push(DocumentStep(turn.id, turn.document, after, label, typing))
        turn.document = after

    def change_document(self, after: Document, label: str, typing: bool = False) -> None:
        """An edit by the user (typing, locks): one undoable step; consecutive typing merges."""
        if self.turn is None or self.turn.document is None or after.same_as(self.turn.document):
            return
        self._push(after, label, typing)
        if not typing:
            self.undo.break_merge()
        self.position = self._on_document(self.position.canvas)
        self._changed(Change.DOCUMENT | Change.POSITION)

    def start_text(self, doc: Document, source: str = "") -> None:
        """A new turn holding text from elsewhere (an opened file, or typed), to edit with the model."""
        node = self.conversation.add(None, "")
        node.document, node.source = doc, source
        self.position = Position(None)
        self._changed(Change.CONVERSATION | Change.DOCUMENT | Change.POSITION)

    def undo_step(self) -> None:
        self._apply(self.undo.undo(), undo=True)

    def redo_step(self) -> None:
        self._apply(self.undo.redo(), undo=False)

    def _apply(self, step: DocumentStep | None, undo: bool) -> None:
        if step is None or step.turn not in self.conversation.turns:
            return
        self.conversation.select(step.turn)
        self.conversation.turns[step.turn].document = step.before if undo else step.after
        self.position = self._on_document(self.position.canvas)
        self._changed(Change.DOCUMENT | Change.CONVERSATION | Change.POSITION)

    # ----- what is on screen ----------------------------------------------------------------------------------
    def show(self, run_id: int | None, canvas: int = 0, step: int = -1, live: bool = False) -> None:
        """Put a run's step (or, run None, the document) on screen; out-of-range values are clamped."""
        if run_id is not None and run_id in self.runs:
            run = self.runs[run_id]
            canvases = run.canvas_indices
            newest = run.record.newest()
            if live and newest is not None:
                canvas = newest[0]
            if canvases:
                canvas = min(max(canvas, canvases[0]), canvases[-1])
                count = len(run.steps(canvas))
                step = count - 1 if step < 0 or live else min(step, count - 1)
            position = Position(run_id, canvas, step, live and run.fate is Fate.RUNNING)
        else:
            position = self._on_document(canvas)
        if position != self.position:
            self.position = position
            self._changed(Change.POSITION, unsaved=False)

    def _on_document(self, canvas: int = 0) -> Position:
        """The current turn's text on screen at `canvas`, or its last canvas: an undo or a branch can bring back a
        shorter text than the one on screen (a canvas past its end drew nothing and broke the grid)."""
        doc = self.document
        last = max(0, len(doc.ids) // doc.canvas_length - 1) if doc is not None else 0
        return Position(None, min(max(canvas, 0), last))

    def shown_step(self) -> StepSnapshot | None:
        pos = self.position
        run = self.runs.get(pos.run) if pos.run is not None else None
        steps = run.steps(pos.canvas) if run is not None else []
        return steps[pos.step] if steps and -len(steps) <= pos.step < len(steps) else None

    # ----- the conversation -------------------------------------------------------------------------------------
    def select_turn(self, turn_id: int) -> None:
        if turn_id in self.conversation.turns and turn_id != self.conversation.current:
            self.conversation.select(turn_id)
            self.undo.break_merge()
            self.position = Position(None)
            self._changed(Change.CONVERSATION | Change.DOCUMENT | Change.POSITION, unsaved=False)

    def step_branch(self, turn_id: int, step: int) -> None:
        """Show the previous (-1) or next (+1) alternative of a turn, and the branch below it."""
        siblings = self.conversation.siblings(turn_id)
        index = siblings.index(turn_id) + step
        if 0 <= index < len(siblings):
            self.conversation.select(siblings[index])
            self.undo.break_merge()
            self.position = Position(None)
            self._changed(Change.CONVERSATION | Change.DOCUMENT | Change.POSITION, unsaved=False)

    def rerun_turn(self, turn_id: int) -> None:
        """Put an earlier turn's question in the prompt boxes; generating then adds a branch beside it."""
        node = self.conversation.turns[turn_id]
        self.set_draft(Draft(node.user, node.system, node.think, node.images,
                             tuple(f"image {i + 1}" for i in range(len(node.images))), self.draft.image_budget,
                             follow_up=node.parent is not None, branch_of=turn_id))
