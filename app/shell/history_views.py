"""The conversation panel, the runs panel and the answer pane, rendered from the workspace."""

from __future__ import annotations

import html
import time
from collections.abc import Callable

from PySide6.QtCore import QObject

from app.controllers.workspace_hub import WorkspaceHub
from app.shell.status_numbers import document_stats, live_stats, result_stats
from models.checkpoint.demo_model import DEMO_TASKS, outside_demo
from models.work.changes import Change
from models.work.prompts import split_reply
from models.work.runs import KEPT, Fate, Run, RunKind
from widgets.panels.conversation_panel import ConversationPanel, TurnRow
from widgets.panels.output_pane import OutputPane
from widgets.panels.runs_panel import DOCUMENT, RunRow, RunsPanel

LIVE_STATS_INTERVAL_S = 0.25
_OUTPUT_ON = Change.STEPS | Change.POSITION | Change.DOCUMENT | Change.RUNS | Change.CONVERSATION | Change.MODEL
_DROPPED = frozenset({Fate.REJECTED, Fate.CANCELLED, Fate.FAILED, Fate.UNCHANGED})


class HistoryViews(QObject):
    REDRAWS_ON = (Change.CONVERSATION | Change.RUNS | Change.DOCUMENT | Change.MODEL | Change.DRAFT | Change.POSITION
                  | Change.REVIEW | Change.STEPS)

    def __init__(self, hub: WorkspaceHub, conversation: ConversationPanel, runs: RunsPanel, output: OutputPane,
                 compare: Callable[[int, int], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hub, self.conversation, self.runs, self.output = hub, conversation, runs, output
        self._answer_key: tuple[int, int] | None = None
        self._stats_shown = 0.0  # when the live statistics were last updated
        self._live_stats: Run | None = None  # the streaming run whose numbers are shown live
        hub.watch(self, self.render)
        conversation.turnChosen.connect(lambda turn: self.hub.ws.select_turn(turn))
        conversation.branchStepped.connect(lambda turn, step: self.hub.ws.step_branch(turn, step))
        conversation.rerunRequested.connect(lambda turn: self.hub.ws.rerun_turn(turn))
        runs.runChosen.connect(self._run_chosen)
        runs.compareRequested.connect(compare)

    def set_enabled(self, idle: bool) -> None:
        """While a run streams or a proposal waits, the conversation stays on its turn."""
        self.conversation.setEnabled(idle and self.hub.ws.review is None)

    def stats_due(self) -> bool:
        """Whether a streaming run's numbers wait to be shown: at most 4 times a second (faster is unreadable)."""
        return self._live_stats is not None and time.monotonic() - self._stats_shown >= LIVE_STATS_INTERVAL_S

    def draw_stats(self) -> None:
        run = self._live_stats
        if run is not None and run.fate is Fate.RUNNING:
            self._stats_shown = time.monotonic()
            self.output.set_stats(live_stats(run))

    def _run_chosen(self, run_id: int) -> None:
        ws = self.hub.ws
        ws.show(None if run_id == DOCUMENT else run_id, ws.position.canvas if run_id == DOCUMENT else 0)

    def render(self, change: Change) -> None:
        ws = self.hub.ws
        if change & (Change.CONVERSATION | Change.RUNS | Change.DOCUMENT | Change.MODEL | Change.DRAFT):
            conversation = ws.conversation
            rows = []
            for turn_id in conversation.active_path():
                node = conversation.turns[turn_id]
                siblings = conversation.siblings(turn_id)
                rows.append(TurnRow(turn_id, node.user or node.source or "(text)", siblings.index(turn_id) + 1,
                                    len(siblings)))
            self.conversation.show_turns(rows, conversation.current)
        if change & (Change.CONVERSATION | Change.RUNS | Change.POSITION | Change.MODEL | Change.REVIEW):
            rows = [RunRow(DOCUMENT, "The text as it stands", True, False)] if ws.document is not None else []
            for run in ws.runs_of(ws.conversation.current):
                kept = run.fate in KEPT or (run.kind is RunKind.GENERATE and run.fate is Fate.CANCELLED)
                rows.append(RunRow(run.id, run.label(), kept, run.fate in _DROPPED))
            self.runs.show_runs(rows, DOCUMENT if ws.position.run is None else ws.position.run)
        if change & _OUTPUT_ON:
            self._render_output()

    def _render_output(self) -> None:
        ws, output = self.hub.ws, self.output
        pos = ws.position
        run = ws.runs.get(pos.run) if pos.run is not None else None
        if run is not None and run.kind is RunKind.GENERATE and run.fate is Fate.RUNNING:
            output.set_notice("")
            # The answer so far is decoded again only when a canvas commits, not at every streamed step.
            key = (run.id, sum(r.committed is not None for r in run.record.canvases.values()))
            if key != self._answer_key:
                self._answer_key = key
                _, thought, answer = split_reply(run.record.draft_ids(), ws.tokenizer)
                output.set_answer(answer)
                output.set_thought(thought)
            self._live_stats = run  # drawn after a grid frame, in a pass of its own (app/shell/frame_followers.py)
            return
        self._answer_key = None
        self._stats_shown = 0.0
        self._live_stats = None
        if run is not None and run.kind is RunKind.GENERATE and run.fate is Fate.FAILED:
            # The answer it had reached when it failed (a server that dropped): its drafts, and why it stopped.
            _, thought, answer = split_reply(run.record.draft_ids(), ws.tokenizer)
            output.set_answer(answer)
            output.set_thought(thought)
            output.set_notice(f"<b>Run #{run.id} failed</b>: {html.escape(run.error or 'no reason given')}. "
                              "Its recorded steps are on screen; the text below is its last draft.")
            output.set_stats(live_stats(run))
            return
        doc = ws.document
        if doc is None:
            output.clear()
            return
        _, thought, answer = split_reply(doc.ids, doc.tokenizer)
        output.set_answer(answer)
        output.set_thought(thought)
        written = any(r.kind is RunKind.GENERATE and r.fate is not Fate.RUNNING
                      for r in ws.runs_of(ws.conversation.current))
        empty = written and not answer.strip() and not thought.strip()
        output.set_notice(empty_answer_notice(ws) if empty else outside_demo_notice(ws) if written else "")
        if run is not None and run.result is not None:
            output.set_stats(result_stats(run.result, run.canvas_length, run.seed, run.label()))
        elif run is not None:
            output.set_stats(live_stats(run))
        else:
            output.set_stats(document_stats(doc, ws.replay_run()))


def outside_demo_notice(ws) -> str:
    """Said once, with the answer, when the demo model was asked something it was never taught."""
    if ws.model is None or ws.model.source != "demo" or ws.conversation.current is None:
        return ""
    reason = outside_demo(ws.conversation.prompt_for(ws.conversation.current))
    if reason is None:
        return ""
    return (f"<b>The demo model does not know this</b>: {reason}, so the answer below is a guess. It is a small "
            f"model trained here on a few tasks only: {DEMO_TASKS}. Try <i>Generate → Demo-model prompts</i>.")


def empty_answer_notice(ws) -> str:
    """Why the answer is empty and what to try; the demo model only knows its tasks."""
    if ws.model is not None and ws.model.source == "demo":
        return ("<b>The demo model wrote no answer</b>: only the end of its turn and padding. It is a small model "
                f"trained here on a few tasks ({DEMO_TASKS}); anything else gets an empty answer. Try "
                "<i>Generate → Demo-model prompts</i>.")
    return ("<b>The model ended its answer at once</b>: the canvas holds only end-of-turn and padding tokens. Try "
            "another seed, more denoising steps, or rephrasing the prompt.")
