"""Commands as messages: prompts, generations and settings written by the client, validated by the server.

The server validates each command in one function (`validate_generate`, `validate_rewrite`, ...) with the checks the
command line makes on its arguments: settings through `SamplerSettings.with_values` from the model's defaults,
images through `load_image_bytes`, spans and locks through the engine's own edit planning (which raises EditError).
Prompt texts go through the shared checks of models/inputs/validation.py. A bad command raises RequestError (or the
engine's SettingsError, ImageError, EditError, InputError), whose message is sent back.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.inputs.images import IMAGE_TOKEN_BUDGETS, check_pixel_budget, load_image_bytes
from models.inputs.json_fields import shown
from models.inputs.validation import check_prompt_texts, check_text
from models.work.prompts import Prompt, Turn
from models.work.settings import SamplerSettings, SettingsError

MAX_IMAGES = 16  # per prompt, history included: each image is decoded (up to 40 megapixels) before it is scaled
# All images of one request together, as their headers declare them, checked before any is decoded: sixteen 40 MP
# images took 11-17 s and 570 MB each to decode. 64 MP is, say, sixteen 4 MP photos or one 40 MP scan and more.
MAX_REQUEST_PIXELS = 64_000_000
MAX_TOKENS = 32768  # the longest generation a command may carry or ask for (max_new_tokens' own limit)


class RequestError(ValueError):
    """A command that is not well formed; the message names the field and what it needs."""


@dataclass(frozen=True)
class ModelLimits:
    """What a command is checked against: the served model's shape and defaults."""

    canvas_length: int
    vocab_size: int
    defaults: SamplerSettings


@dataclass(frozen=True)
class GenerateRequest:
    prompt: Prompt
    settings: SamplerSettings
    image_budget: int | None


@dataclass(frozen=True)
class EditRequest:
    """rewrite (span set) or fill_around (span None)."""

    prompt: Prompt
    token_ids: np.ndarray
    generation_settings: SamplerSettings
    locks: tuple[int, ...]
    settings: SamplerSettings | None
    span: tuple[int, int] | None


@dataclass(frozen=True)
class FromTextRequest:
    prompt: Prompt
    text: str
    settings: SamplerSettings


# ---------------------------------------------------------------------------------------------- client side


def png_bytes(image: Any) -> bytes:
    """An image as PNG (lossless, so the server sees the same pixels the local engine would)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def prompt_message(prompt: Prompt) -> dict[str, Any]:
    return {
        "user": prompt.user,
        "system": prompt.system,
        "think": prompt.think,
        "images": [png_bytes(image) for image in prompt.images],
        "history": [
            {"user": t.user, "answer": t.answer, "images": [png_bytes(i) for i in t.images]} for t in prompt.history
        ],
    }


def generation_message(prompt: Prompt, token_ids: np.ndarray, settings: SamplerSettings) -> dict[str, Any]:
    return {
        "prompt": prompt_message(prompt),
        "token_ids": np.asarray(token_ids, dtype=np.int64),
        "settings": settings.to_dict(),
    }


# ---------------------------------------------------------------------------------------------- server side


def validate_generate(message: dict[str, Any], limits: ModelLimits) -> GenerateRequest:
    """`generate`: a prompt, settings over the model's defaults, an optional visual token budget."""
    budget = message.get("image_budget")
    if budget is not None and (not _is_int(budget) or budget not in IMAGE_TOKEN_BUDGETS):
        raise RequestError(
            f"image_budget must be one of {', '.join(map(str, IMAGE_TOKEN_BUDGETS))}, got {shown(budget)}"
        )
    return GenerateRequest(
        prompt=_prompt(message.get("prompt")), settings=_settings(message, limits, "settings"), image_budget=budget
    )


def validate_rewrite(message: dict[str, Any], limits: ModelLimits) -> EditRequest:
    """`rewrite`: a generation, a span [start, end) of its ids, locks, optional new settings."""
    span = message.get("span")
    if not (isinstance(span, (list, tuple)) and len(span) == 2 and all(_is_int(x) for x in span)):
        raise RequestError(f"span must be two whole numbers [start, end], got {shown(span)}")
    return _edit(message, limits, (int(span[0]), int(span[1])))


def validate_fill_around(message: dict[str, Any], limits: ModelLimits) -> EditRequest:
    """`fill_around`: a generation and its locks; everything else in the locks' canvases is re-denoised."""
    return _edit(message, limits, None)


def validate_from_text(message: dict[str, Any], limits: ModelLimits) -> FromTextRequest:
    """`from_text`: a prompt, any text and settings; the reply is the text laid into canvases."""
    text = check_text(message.get("text"), "the text")
    return FromTextRequest(
        prompt=_prompt(message.get("prompt")), text=text, settings=_settings(message, limits, "settings")
    )


def validate_load_model(message: dict[str, Any]) -> str:
    """`load_model`: a checkpoint folder on the server, or a hub id already in the server's cache."""
    source = message.get("source")
    if not isinstance(source, str) or not source.strip():
        raise RequestError("source must be a checkpoint folder or hub id (a non-empty string)")
    return source.strip()


def _edit(message: dict[str, Any], limits: ModelLimits, span: tuple[int, int] | None) -> EditRequest:
    generation = message.get("generation")
    if not isinstance(generation, dict):
        raise RequestError("generation must be an object with prompt, token_ids and settings")
    locks = message.get("locks", [])
    if not isinstance(locks, (list, tuple)) or not all(_is_int(i) for i in locks):
        raise RequestError("locks must be a list of whole numbers (generated-token positions)")
    ids = _token_ids(generation.get("token_ids"), limits)
    if span is not None and not 0 <= span[0] < span[1] <= len(ids):  # as the command line checks --span
        raise RequestError(f"span {span[0]}:{span[1]} is outside the generated text (0:{len(ids)})")
    settings = _settings(message, limits, "settings") if message.get("settings") is not None else None
    return EditRequest(
        prompt=_prompt(generation.get("prompt")),
        token_ids=ids,
        generation_settings=_settings(generation, limits, "settings"),
        locks=tuple(int(i) for i in locks),
        settings=settings,
        span=span,
    )


def _token_ids(value: Any, limits: ModelLimits) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.ndim != 1 or value.dtype != np.int64:
        raise RequestError("token_ids must be a one-dimensional int64 array")
    n, canvas = len(value), limits.canvas_length
    if n == 0 or n % canvas or n > MAX_TOKENS:
        raise RequestError(f"token_ids must be whole canvases of {canvas} ids, at most {MAX_TOKENS}; got {n} ids")
    if value.min() < 0 or value.max() >= limits.vocab_size:
        raise RequestError(f"token_ids must lie in the vocabulary (0 to {limits.vocab_size - 1})")
    return value


def _settings(message: dict[str, Any], limits: ModelLimits, key: str) -> SamplerSettings:
    """Settings over the model's defaults, validated as the command line validates its options."""
    values = message.get(key, {})
    if not isinstance(values, dict):
        raise RequestError(f"{key} must be an object of sampler settings")
    known = set(SamplerSettings.__dataclass_fields__)
    unknown = set(values) - known
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    if not isinstance(values.get("compile", False), bool):
        raise SettingsError("compile must be true or false")
    return limits.defaults.with_values(**values)


def _prompt(value: Any) -> Prompt:
    if not isinstance(value, dict):
        raise RequestError("prompt must be an object with user, system, think, images and history")
    user, system, think = value.get("user"), value.get("system", ""), value.get("think", False)
    if not isinstance(user, str) or not isinstance(system, str) or not isinstance(think, bool):
        raise RequestError("prompt needs user and system as strings and think as true or false")
    history = value.get("history", [])
    if not isinstance(history, list) or not all(isinstance(t, dict) for t in history):
        raise RequestError("prompt history must be a list of {user, answer, images} objects")
    for index, turn in enumerate(history):
        if not isinstance(turn.get("user"), str) or not isinstance(turn.get("answer"), str):
            raise RequestError(f"history turn {index} needs user and answer as strings")
    # Every image list is checked, counted and measured before any image is decoded.
    encoded = [_encoded_images(t.get("images", []), f"history turn {i}") for i, t in enumerate(history)]
    own = _encoded_images(value.get("images", []), "prompt")
    every = [data for group in (*encoded, own) for data in group]
    if len(every) > MAX_IMAGES:
        raise RequestError(f"a prompt may carry at most {MAX_IMAGES} images, got {len(every)}")
    check_pixel_budget(every, MAX_REQUEST_PIXELS)
    turns = tuple(
        Turn(turn["user"], turn["answer"], _decoded(images, f"history turn {index}"))
        for index, (turn, images) in enumerate(zip(history, encoded, strict=True))
    )
    prompt = Prompt(user=user, system=system, think=think, images=_decoded(own, "prompt"), history=turns)
    check_prompt_texts(prompt)  # the shared layer (models/inputs/validation.py): valid text, within the character cap
    return prompt


def _encoded_images(value: Any, where: str) -> list[bytes]:
    if not isinstance(value, list) or not all(isinstance(v, bytes) for v in value):
        raise RequestError(f"{where} images must be a list of encoded images (PNG bytes), got {shown(value)}")
    return value


def _decoded(images: list[bytes], where: str) -> tuple[Any, ...]:
    return tuple(load_image_bytes(data, f"{where} image {i + 1}") for i, data in enumerate(images))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
