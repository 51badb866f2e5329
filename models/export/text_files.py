"""The user's text as files: the document as plain text, the whole conversation (every branch) as Markdown."""

from __future__ import annotations

from pathlib import PurePath

from models.work.conversation import Conversation, TurnNode
from models.work.prompts import split_reply
from models.work.workspace import Workspace

HARD_BREAK = "  "  # two trailing spaces: a line break Markdown keeps (a Latin square's rows stay rows)


def document_text(ws: Workspace) -> str:
    """The current turn's text as it stands, thoughts included (what the editor shows)."""
    return ws.document.text if ws.document is not None else ""


def conversation_markdown(ws: Workspace) -> str:
    """Every turn of every branch, depth first: each question (its images counted) and its answer as edited, with
    thoughts folded; the branch on screen is marked, and a turn that follows up an earlier one says which."""
    conversation = ws.conversation
    about = [f"Session: {PurePath(ws.name).name}" if ws.name else "", f"Model: {ws.model.name}" if ws.model else ""]
    lines = ["# Conversation", ""]
    if any(about):
        lines += [f"*{' · '.join(part for part in about if part)}*", ""]
    branched = any(len(conversation.children(parent)) > 1 for parent in [None, *conversation.turns])
    shown = set(conversation.active_path()) if branched else set()  # "on screen" only where there is a choice
    previous: int | None = None
    for turn_id, number in _depth_first(conversation):
        node = conversation.turns[turn_id]
        lines += [f"## {_heading(conversation, node, number, turn_id in shown)}", ""]
        if node.parent is not None and node.parent != previous:  # back up the tree: say what it follows
            parent = conversation.turns[node.parent]
            lines += [f"*Follows up turn {number - 1}: “{_one_line(parent.user or parent.source, 40)}”*", ""]
        previous = turn_id
        lines += _turn(node)
    return "\n".join(lines).rstrip() + "\n"


def _depth_first(conversation: Conversation) -> list[tuple[int, int]]:
    """(turn id, its number in its conversation) for every turn, each branch followed to its end before the next."""
    order: list[tuple[int, int]] = []
    stack = [(turn_id, 1) for turn_id in reversed(conversation.children(None))]
    while stack:
        turn_id, number = stack.pop()
        order.append((turn_id, number))
        stack += [(child, number + 1) for child in reversed(conversation.children(turn_id))]
    return order


def _heading(conversation: Conversation, node: TurnNode, number: int, on_screen: bool) -> str:
    siblings = conversation.siblings(node.id)
    branch = f" · branch {siblings.index(node.id) + 1} of {len(siblings)}" if len(siblings) > 1 else ""
    mark = " · on screen" if on_screen else ""
    return f"{number}. {_one_line(node.user or node.source or '(no question)')}{branch}{mark}"


def _turn(node: TurnNode) -> list[str]:
    lines: list[str] = []
    if node.system:
        lines += [f"> **System:** {_quoted(_hard_breaks(node.system))}", ""]
    pictures = f" *({len(node.images)} image{'s' if len(node.images) != 1 else ''})*" if node.images else ""
    question = node.user or node.source or "(no question)"
    lines += [f"**You:**{pictures} {_hard_breaks(question)}", ""]
    if node.document is None:
        return lines
    _, thought, answer = split_reply(node.document.ids, node.document.tokenizer)
    if thought:
        lines += ["<details><summary>Thoughts</summary>", "", _hard_breaks(thought), "", "</details>", ""]
    return lines + ["**Answer:**", "", _hard_breaks(answer) if answer else "*(empty)*", ""]


def _hard_breaks(text: str) -> str:
    """Each line break inside a paragraph kept as a line break (Markdown would join the lines into one); fenced
    code is left as it is."""
    lines = text.split("\n")
    fenced = False
    for index, line in enumerate(lines[:-1]):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced and line.strip() and lines[index + 1].strip():
            lines[index] = line.rstrip() + HARD_BREAK
    return "\n".join(lines)


def _one_line(text: str, limit: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _quoted(text: str) -> str:
    return text.replace("\n", "\n> ")
