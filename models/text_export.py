"""The user's text as files: the document as plain text, the conversation (its branch on screen) as Markdown."""

from __future__ import annotations

from models.prompts import split_reply
from models.workspace import Workspace


def document_text(ws: Workspace) -> str:
    """The current turn's text as it stands, thoughts included (what the editor shows)."""
    return ws.document.text if ws.document is not None else ""


def conversation_markdown(ws: Workspace) -> str:
    """The branch on screen: each question (with its images counted) and the answer as edited; thoughts folded."""
    lines: list[str] = []
    title = ws.name.rsplit("/", 1)[-1] if ws.name else "Diffusion Desk session"
    lines += [f"# {title}", ""]
    if ws.model is not None:
        lines += [f"*Model: {ws.model.name}*", ""]
    for number, turn_id in enumerate(ws.conversation.active_path(), start=1):
        node = ws.conversation.turns[turn_id]
        if node.system:
            lines += [f"> **System:** {_quoted(node.system)}", ""]
        pictures = f" *({len(node.images)} image{'s' if len(node.images) != 1 else ''})*" if node.images else ""
        question = node.user or node.source or "(no question)"
        lines += [f"## {number}. {_one_line(question)}", "", f"**You:**{pictures} {question}", ""]
        if node.document is None:
            continue
        _, thought, answer = split_reply(node.document.ids, node.document.tokenizer)
        if thought:
            lines += ["<details><summary>Thoughts</summary>", "", thought, "", "</details>", ""]
        lines += ["**Answer:**", "", answer or "*(empty)*", ""]
    return "\n".join(lines).rstrip() + "\n"


def _one_line(text: str, limit: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _quoted(text: str) -> str:
    return text.replace("\n", "\n> ")
