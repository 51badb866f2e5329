"""Prompts as chat messages, and the model's reply split into its thought channel and its answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

THINK_TOKEN = "<|think|>"  # at the start of the system turn, it turns thinking mode on
CHANNEL_OPEN = "<|channel>"  # opens the thought channel: "<|channel>thought\n ... <channel|>"
CHANNEL_CLOSE = "<channel|>"


@dataclass(frozen=True)
class Turn:
    """An earlier exchange. Only the model's final answer is kept: thoughts never go back into the history."""

    user: str
    answer: str
    images: tuple[Any, ...] = ()  # PIL images, in order


@dataclass(frozen=True)
class Prompt:
    user: str
    system: str = ""
    think: bool = False
    images: tuple[Any, ...] = ()  # PIL images, placed before the text, in order
    history: tuple[Turn, ...] = field(default_factory=tuple)

    def messages(self, escape: Callable[[str], str] | None = None) -> list[dict[str, Any]]:
        """Chat messages in the layout the model card asks for: system, then turns; images before text.

        `escape` is applied to every text the user gave (not to the `<|think|>` this adds), so special-token
        strings typed as text stay text: see `models.inputs.validation.escape_special_tokens`.
        """
        text = escape or (lambda value: value)
        messages: list[dict[str, Any]] = []
        system = (THINK_TOKEN + text(self.system)) if self.think else text(self.system)
        if system:
            messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
        for turn in self.history:
            messages.append(_user_message(text(turn.user), turn.images))
            messages.append({"role": "assistant", "content": [{"type": "text", "text": text(turn.answer)}]})
        messages.append(_user_message(text(self.user), self.images))
        return messages

    def followed_by(self, answer: str, user: str, images: Sequence[Any] = ()) -> Prompt:
        """The next prompt of a conversation, keeping this turn's answer (not its thoughts) in the history."""
        turn = Turn(self.user, answer, self.images)
        return Prompt(user=user, system=self.system, think=self.think, images=tuple(images),
                      history=self.history + (turn,))


def _user_message(text: str, images: Sequence[Any]) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "image", "image": image} for image in images]
    content.append({"type": "text", "text": text})
    return {"role": "user", "content": content}


def split_reply(token_ids: Sequence[int], tokenizer: Any) -> tuple[str, str, str]:
    """(whole text, thought, answer) of generated ids: the thought channel is cut out of the answer."""
    ids = [int(i) for i in token_ids]
    end_ids = _end_ids(tokenizer)
    for index, token in enumerate(ids):
        if token in end_ids:
            ids = ids[:index]
            break
    whole = tokenizer.decode(ids, skip_special_tokens=False)
    open_id = tokenizer.convert_tokens_to_ids(CHANNEL_OPEN)
    close_id = tokenizer.convert_tokens_to_ids(CHANNEL_CLOSE)
    thought_ids: list[int] = []
    answer_ids = ids
    if open_id in ids:
        start = ids.index(open_id)
        end = ids.index(close_id, start) if close_id in ids[start:] else len(ids)
        thought_ids = ids[start + 1:end]
        answer_ids = ids[:start] + ids[end + 1:]
    thought = tokenizer.decode(thought_ids, skip_special_tokens=True).strip()
    if thought.startswith("thought"):  # the channel's name, not part of the thought itself
        thought = thought[len("thought"):].lstrip()
    answer = tokenizer.decode(answer_ids, skip_special_tokens=True).strip()
    return whole, thought, answer


def _end_ids(tokenizer: Any) -> set[int]:
    ids = {tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<turn|>")}
    return {i for i in ids if isinstance(i, int) and i != tokenizer.unk_token_id}
