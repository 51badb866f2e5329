"""The conversation as a tree of turns: following up adds a child, running an earlier turn again adds a branch."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from models.work.document import Document
from models.work.prompts import Prompt, Turn, split_reply


@dataclass
class TurnNode:
    """One question to the model and the answer the user is working on (its document)."""

    id: int
    parent: int | None
    user: str
    system: str = ""
    think: bool = False
    images: tuple[Any, ...] = ()  # PIL images, before the text
    document: Document | None = None  # None until its first run commits something
    active_child: int | None = None  # the branch shown below this turn
    source: str = ""  # where text not written by the model came from ("opened notes.txt")


@dataclass
class Conversation:
    turns: dict[int, TurnNode] = field(default_factory=dict)
    current: int | None = None  # the turn on screen
    root_choice: int | None = None  # the root branch shown first
    _next_id: int = 0

    def add(self, parent: int | None, user: str, system: str = "", think: bool = False,
            images: tuple[Any, ...] = ()) -> TurnNode:
        """A new turn under `parent` (None: a new conversation); it becomes the current turn and its branch active."""
        if parent is not None and parent not in self.turns:
            raise KeyError(f"no turn {parent}")
        node = TurnNode(self._next_id, parent, user, system, think, tuple(images))
        self._next_id += 1
        self.turns[node.id] = node
        self.select(node.id)
        return node

    def renumber_after(self, last_id: int) -> None:
        """New turns get ids after `last_id` (turns read from a file keep theirs)."""
        self._next_id = last_id + 1

    def remove(self, turn_id: int) -> None:
        """Forget a turn with no children (a generation that failed before it wrote anything)."""
        node = self.turns.pop(turn_id)
        siblings = self.children(node.parent)
        if node.parent is not None and self.turns[node.parent].active_child == turn_id:
            self.turns[node.parent].active_child = siblings[-1] if siblings else None
        if self.root_choice == turn_id:
            roots = self.children(None)
            self.root_choice = roots[-1] if roots else None
        if self.current == turn_id:
            self.current = node.parent if node.parent is not None else self.root_choice

    def children(self, parent: int | None) -> list[int]:
        return sorted(t.id for t in self.turns.values() if t.parent == parent)

    def siblings(self, turn_id: int) -> list[int]:
        """The turn and its alternatives: the branches at its place in the conversation."""
        return self.children(self.turns[turn_id].parent)

    def ancestors(self, turn_id: int) -> list[int]:
        """Turn ids from the conversation's first turn down to (not including) this one."""
        path = []
        parent = self.turns[turn_id].parent
        while parent is not None:
            path.append(parent)
            parent = self.turns[parent].parent
        return path[::-1]

    def select(self, turn_id: int) -> None:
        """Show a turn: it becomes current and every turn above it points its active branch at it."""
        child = turn_id
        parent = self.turns[turn_id].parent
        while parent is not None:
            self.turns[parent].active_child = child
            child, parent = parent, self.turns[parent].parent
        self.root_choice = child
        self.current = turn_id

    def active_path(self) -> list[int]:
        """The branch on screen, first turn to last: the current turn's ancestors, it, then its active children."""
        if self.current is None:
            return []
        path = self.ancestors(self.current) + [self.current]
        node = self.turns[self.current]
        while node.active_child is not None and node.active_child in self.turns:
            node = self.turns[node.active_child]
            path.append(node.id)
        return path

    def prompt_for(self, turn_id: int) -> Prompt:
        """What the model is given for a turn: earlier turns' questions and final answers (never thoughts)."""
        node = self.turns[turn_id]
        history = tuple(self._as_history(self.turns[a]) for a in self.ancestors(turn_id))
        return Prompt(user=node.user, system=node.system, think=node.think, images=node.images, history=history)

    @staticmethod
    def _as_history(node: TurnNode) -> Turn:
        answer = ""
        if node.document is not None:
            answer = split_reply(node.document.ids, node.document.tokenizer)[2]
        return Turn(node.user, answer, node.images)

    def __iter__(self) -> Iterator[TurnNode]:
        return iter(self.turns[i] for i in sorted(self.turns))
