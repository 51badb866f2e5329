"""What Generate will do with the prompt boxes: start a conversation, follow up the turn on screen, or add a branch
beside an earlier turn ("Run again…"). One rule, used both to make the turn and to say so beside the prompt."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from models.work.conversation import Conversation, TurnNode


class Draft(Protocol):
    """What decides where a prompt goes (the workspace's Draft has it): no import of the workspace."""

    follow_up: bool
    branch_of: int | None


class NextKind(str, enum.Enum):
    NEW = "new conversation"
    FOLLOW_UP = "follow-up"
    BRANCH = "branch"


@dataclass(frozen=True)
class NextTurn:
    kind: NextKind
    parent: int | None  # the new turn's parent (None: a conversation of its own)
    number: int  # the new turn's place in its conversation, 1 for the first question
    branch: int  # its place among the alternatives at that place, 1 for the first
    branches: int  # how many alternatives there will be there, itself included


def next_turn(conversation: Conversation, draft: Draft) -> NextTurn:
    """Where the next generation goes: a branch of the turn "Run again…" was asked on, else a follow-up of the
    current turn when Follow up is ticked, else a new conversation (kept beside the others, as branches of turn 1)."""
    if draft.branch_of is not None and draft.branch_of in conversation.turns:
        kind, parent = NextKind.BRANCH, conversation.turns[draft.branch_of].parent
    elif draft.follow_up and conversation.current is not None:
        kind, parent = NextKind.FOLLOW_UP, conversation.current
    else:
        kind, parent = NextKind.NEW, None
    number = 1 if parent is None else len(conversation.ancestors(parent)) + 2
    branches = len(conversation.children(parent)) + 1
    return NextTurn(kind, parent, number, branches, branches)


def describe(conversation: Conversation, draft: Draft) -> str:
    """One short line for beside the prompt, e.g. "Generate: turn 2, a follow-up to turn 1 (“Sort 4 9 2”)."."""
    nxt = next_turn(conversation, draft)
    if nxt.kind is NextKind.BRANCH:
        original = conversation.turns[draft.branch_of]
        return f"Generate: branch {nxt.branch} of turn {nxt.number}, beside “{_short(original)}” (Run again…)."
    if nxt.kind is NextKind.FOLLOW_UP:
        return (f"Generate: turn {nxt.number}, a follow-up to turn {nxt.number - 1} "
                f"(“{_short(conversation.turns[nxt.parent])}”).")
    if not conversation.turns:
        return "Generate: the first turn of a conversation."
    return f"Generate: a new conversation (branch {nxt.branch} of turn 1). Follow up continues this one."


def _short(turn: TurnNode, limit: int = 20) -> str:
    line = " ".join((turn.user or turn.source).split()) or "(no text)"
    return line if len(line) <= limit else line[: limit - 1] + "…"
