"""Checks at the edges (CLI, window, sessions, remote requests): every refusal is one message naming the input.

Qt-free and torch-free at import, so a server can validate a request before any model is loaded.

- `Limits` / `Limits.from_env()`: the caps on prompt size (characters and tokens) and on user files.
- `check_text(text, what)`: valid Unicode (no lone surrogates: invalid UTF-8 on a command line arrives as those),
  no control characters other than tab, newline and carriage return.
- `check_prompt_texts(prompt, limits)`: `check_text` on every text of a prompt, and the character cap.
- `check_prompt_tokens(count, ...)`: the tokenized prompt against the cap and the model's context.
- `escape_special_tokens(text, tokens)`: special-token strings typed as text stay text (see its docstring).
- `check_model_source(source)`, `check_temperature_schedule(t_min, t_max, steps)`.
"""

from __future__ import annotations

import os
import re
import unicodedata
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.inputs.safe_files import MiB

ENV_MAX_PROMPT_CHARS = "DIFFUSION_DESK_MAX_PROMPT_CHARS"
ENV_MAX_PROMPT_TOKENS = "DIFFUSION_DESK_MAX_PROMPT_TOKENS"

#: Lowest temperature the schedule may reach. Below it the scaled logits overflow half precision (soft-capped
#: logits of 30 / 1e-3 = 3e4 < 65504) and, at 1e-300, even float32 (NaN probabilities); at 1e-3 sampling is
#: already greedy, so nothing a user could want is lost.
MIN_TEMPERATURE = 1e-3

#: Word joiner (U+2060): invisible, and not part of any special token, so `<⁠|image|>` tokenizes as text.
ESCAPE_MARK = "\u2060"

# C0 controls but tab, newline and carriage return; DEL and the C1 controls; surrogates (never valid in text).
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class InputError(ValueError):
    """Bad input from a user or a client; the message names the input and says why.

    `reason` is the message without `hint`, a remedy for the command line (an environment variable to set) that
    means nothing to a person in the window."""

    def __init__(self, reason: str, hint: str = "") -> None:
        super().__init__(f"{reason} ({hint})" if hint else reason)
        self.reason, self.hint = reason, hint


@dataclass(frozen=True)
class Limits:
    """Caps on what a user may hand the engine. Defaults suit a 2-core laptop; raise them on a GPU."""

    max_prompt_chars: int = 100_000  # all texts of a prompt together, checked before tokenizing
    max_prompt_tokens: int = 16_384  # the tokenized prompt (images included); the model's context also bounds it
    max_image_bytes: int = 64 * MiB
    max_session_bytes: int = 256 * MiB  # sessions embed their images as PNG
    max_config_bytes: int = 16 * MiB  # config.json, the safetensors index, other checkpoint JSON

    @classmethod
    def from_env(cls, environ: Any = None) -> Limits:
        """Defaults, with DIFFUSION_DESK_MAX_PROMPT_CHARS / DIFFUSION_DESK_MAX_PROMPT_TOKENS applied if set."""
        environ = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for name, field in ((ENV_MAX_PROMPT_CHARS, "max_prompt_chars"), (ENV_MAX_PROMPT_TOKENS, "max_prompt_tokens")):
            text = environ.get(name, "").strip()
            if not text:
                continue
            try:
                value = int(text.replace("_", ""))
            except ValueError as error:
                raise InputError(f"{name} must be a whole number, got {text!r}") from error
            if value < 1:
                raise InputError(f"{name} must be at least 1, got {value}")
            values[field] = value
        return cls(**values)


def _character(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # how Python carries an undecodable byte of a command line or file name
        return f"an undecodable byte 0x{code - 0xDC00:02x} (the text is not valid UTF-8)"
    if 0xD800 <= code <= 0xDFFF:
        return f"an unpaired surrogate U+{code:04X} (not valid Unicode)"
    name = unicodedata.name(char, "")
    return f"the control character U+{code:04X}" + (f" ({name})" if name else "")


def check_text(text: Any, what: str, controls: bool = False) -> str:
    """`text`, if it is a str of valid Unicode with no control characters but tab, newline and carriage return.

    With `controls`, control characters pass: text the model wrote (an earlier answer) may hold the control bytes
    it generated, and goes back to it as it was.
    """
    if not isinstance(text, str):
        raise InputError(f"{what} must be text, got {type(text).__name__}")
    bad = (_SURROGATE if controls else _FORBIDDEN).search(text)
    if bad is not None:
        where = f"at character {bad.start() + 1}"
        if unicodedata.category(bad[0]) == "Cs":
            raise InputError(f"{what} contains {_character(bad[0])} {where}")
        raise InputError(
            f"{what} contains {_character(bad[0])} {where}; no control characters are allowed "
            "but tab, newline and carriage return"
        )
    return text


def prompt_texts(prompt: Any) -> list[tuple[str, str, bool]]:
    """(name, text, written by the model) of every text a prompt carries: system, user, and each earlier turn."""
    texts = [("system prompt", prompt.system, False), ("prompt", prompt.user, False)]
    for number, turn in enumerate(prompt.history, start=1):
        texts.append((f"turn {number}'s prompt", turn.user, False))
        texts.append((f"turn {number}'s answer", turn.answer, True))
    return texts


def check_prompt_texts(prompt: Any, limits: Limits | None = None) -> None:
    """Every text of a `models.work.prompts.Prompt` is valid, and together they are within `limits.max_prompt_chars`."""
    limits = limits or Limits.from_env()
    total = 0
    for name, text, model_written in prompt_texts(prompt):
        check_text(text, f"the {name}", controls=model_written)
        total += len(text)
    if total > limits.max_prompt_chars:
        raise InputError(
            f"the prompt is too long: {total:,} characters, the limit is {limits.max_prompt_chars:,}",
            f"set {ENV_MAX_PROMPT_CHARS} to raise it",
        )


def check_prompt_tokens(
    count: int, context: int | None, canvas_length: int, limits: Limits | None = None, model: str = "the model"
) -> None:
    """A prompt of `count` tokens fits the cap and leaves room for at least one canvas in the model's context."""
    limits = limits or Limits.from_env()
    if count > limits.max_prompt_tokens:
        raise InputError(
            f"the prompt is too long: {count:,} tokens, the limit is {limits.max_prompt_tokens:,}",
            f"set {ENV_MAX_PROMPT_TOKENS} to raise it",
        )
    if context is not None and count + canvas_length > context:
        raise InputError(
            f"the prompt is too long for {model}: {count:,} tokens plus a {canvas_length}-token "
            f"canvas, but its context is {context:,} tokens"
        )


def special_token_pattern(tokens: Iterable[str]) -> re.Pattern[str] | None:
    """One regex matching any of `tokens` (longest first), or None when there are none."""
    texts = sorted({t for t in tokens if isinstance(t, str) and len(t) > 1}, key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in texts)) if texts else None


def escape_special_tokens(text: str, pattern: re.Pattern[str] | None) -> str:
    """Special-token strings typed as text stay text: a word joiner (U+2060) goes after their first character.

    The tokenizer matches special tokens (`<|image|>`, `<turn|>`, `<bos>` ...) anywhere in the text it is given, so
    a prompt that merely mentions one would otherwise put a real control token in front of the model (a fake turn,
    an image placeholder with no image). With the invisible joiner inside, `<|image|>` is tokenized as the
    ordinary pieces `<`, U+2060, `|image|>` ..., which the model reads as the text the user typed. The user's own
    text (in the prompt, the session file, the window) is never changed; only what is sent to the tokenizer.
    Repeated until no match is left, so overlapping spellings cannot re-form a token.
    """
    if pattern is None:
        return text
    while True:
        escaped = pattern.sub(lambda match: match[0][0] + ESCAPE_MARK + match[0][1:], text)
        if escaped == text:
            return text
        text = escaped


def special_token_strings(tokenizer: Any) -> list[str]:
    """The text of every special token the tokenizer would match in running text."""
    tokens = set(getattr(tokenizer, "all_special_tokens", []) or [])
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    for added in decoder.values():
        if getattr(added, "special", False):
            tokens.add(str(getattr(added, "content", added)))
    return sorted(tokens)


def is_hub_id(text: str) -> bool:
    """True for a syntactically valid hub id such as google/diffusiongemma-26B-A4B-it (nothing is contacted)."""
    if text.count("/") != 1 or text.startswith((".", "/", "~")):
        return False
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def check_model_source(source: str | os.PathLike | None) -> None:
    """A model source is empty (the demo), an existing path, or a valid hub id; else InputError saying which."""
    if source is None or str(source) == "":
        return
    text = str(source)
    if "\x00" in text:
        raise InputError(f"{text!r} is neither a checkpoint folder nor a hub id (it contains a NUL character)")
    if Path(text).expanduser().exists():
        return
    if not is_hub_id(text):
        raise InputError(
            f"no checkpoint folder at {text!r}, and it is not a valid hub id "
            "(hub ids look like google/diffusiongemma-26B-A4B-it: letters, digits, '-', '_', '.')"
        )


def temperature_schedule_problem(t_min: float, t_max: float, steps: int) -> str | None:
    """Why the schedule cannot run, or None: its lowest temperature (its last step) must be >= MIN_TEMPERATURE.

    The schedule is t(n) = t_min + (t_max - t_min) * n / steps for n = steps .. 1, so it never reaches t_min
    itself; its lowest value is at n = 1. Refused rather than clamped, so the engine keeps running exactly the
    settings the user sees (and `model.generate` would run).
    """
    lowest = t_min + (t_max - t_min) / steps
    if lowest >= MIN_TEMPERATURE:  # False for NaN too
        return None
    return (
        f"the temperature schedule falls to {lowest:.3g} at its last step (t_min={t_min:g}, t_max={t_max:g}, "
        f"{steps} steps); below {MIN_TEMPERATURE:g} the probabilities overflow: raise t_min to at least "
        f"{MIN_TEMPERATURE:g}"
    )


def check_temperature_schedule(t_min: float, t_max: float, steps: int) -> None:
    """InputError when `temperature_schedule_problem` finds one."""
    problem = temperature_schedule_problem(t_min, t_max, steps)
    if problem:
        raise InputError(problem)


_escapers: weakref.WeakKeyDictionary[Any, Callable[[str], str]] = weakref.WeakKeyDictionary()


def special_token_escaper(tokenizer: Any) -> Callable[[str], str]:
    """`text -> text` with the tokenizer's special-token strings escaped
    (`models.inputs.validation.escape_special_tokens`)."""
    try:
        return _escapers[tokenizer]
    except (KeyError, TypeError):
        pass
    pattern = special_token_pattern(special_token_strings(tokenizer))

    def escape(text: str) -> str:
        return escape_special_tokens(text, pattern)

    try:
        _escapers[tokenizer] = escape
    except TypeError:
        pass  # not weak-referenceable: built again next time
    return escape


_MEMORY_WORDS = ("out of memory", "not enough memory", "tried to allocate", "can't allocate memory")


def is_out_of_memory(error: BaseException) -> bool:
    """Whether an error means memory ran out (torch says so in several ways on CUDA and on the CPU)."""
    text = str(error).lower()
    return isinstance(error, MemoryError) or (isinstance(error, RuntimeError) and any(w in text for w in _MEMORY_WORDS))
