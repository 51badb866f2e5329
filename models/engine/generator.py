"""The engine's public face: generate from a prompt, re-denoise a span, fill around locks, start from any text."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from models.checkpoint.loading import LoadedModel
from models.checkpoint.processing import apply_chat_template_checked, budget_kwargs
from models.engine.edit_plans import fill_plans, span_plans
from models.engine.sampling_loop import CancelToken, CanvasPlan, GenerationRun
from models.inputs.images import prepare_image
from models.inputs.validation import Limits, check_prompt_texts, check_prompt_tokens, special_token_escaper
from models.work.document import lay_into_canvases
from models.work.events import Event, GenerationResult
from models.work.prompts import Prompt, split_reply
from models.work.settings import SamplerSettings


@dataclass(frozen=True)
class Generation:
    """A finished generation: what the editor works on and what a session file records."""

    prompt: Prompt
    token_ids: np.ndarray  # generated ids (whole canvases, EOS-padded), indices from the first generated token
    settings: SamplerSettings
    locks: frozenset[int] = frozenset()  # token indices the user locked

    def with_ids(self, token_ids: np.ndarray) -> Generation:
        return dataclasses.replace(self, token_ids=np.asarray(token_ids, dtype=np.int64))


class Generator:
    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.tokenizer = loaded.tokenizer

    def prompt_inputs(self, prompt: Prompt, image_budget: int | None = None,
                      limits: Limits | None = None) -> dict[str, torch.Tensor]:
        """The processor's tensors for a prompt, exactly as `model.generate` would be given them.

        Checked on the way (InputError with one clear message): the prompt's texts (models.inputs.validation), the chat
        template, and the token count against `limits` (default: Limits.from_env()) and the model's context.
        Special-token strings the user typed are escaped so the model reads them as text.
        """
        limits = limits or Limits.from_env()
        check_prompt_texts(prompt, limits)
        kwargs: dict[str, Any] = {}
        if image_budget is not None and prompt.images:
            kwargs["processor_kwargs"] = budget_kwargs(image_budget)
        messages = _with_prepared_images(prompt).messages(escape=special_token_escaper(self.tokenizer))
        inputs = apply_chat_template_checked(self.loaded.processor, messages, self.loaded.name, **kwargs)
        model = self.loaded.model
        check_prompt_tokens(int(inputs["input_ids"].shape[-1]),
                            getattr(model.config.get_text_config(), "max_position_embeddings", None),
                            self.loaded.canvas_length, limits, self.loaded.name)
        return {key: (value.to(model.device, dtype=model.dtype) if value.is_floating_point() else
                      value.to(model.device))
                for key, value in inputs.items() if isinstance(value, torch.Tensor)}

    def end_ids(self) -> set[int]:
        config = self.loaded.model.generation_config
        eos = config.eos_token_id
        ids = set(eos if isinstance(eos, list) else [eos]) | {config.pad_token_id}
        return {i for i in ids if i is not None}

    def generate(self, prompt: Prompt, settings: SamplerSettings, cancel: CancelToken | None = None,
                 image_budget: int | None = None) -> Iterator[Event]:
        yield from self._stream(prompt, settings, None, cancel, image_budget)

    def rewrite(self, generation: Generation, span: tuple[int, int], locks: Iterable[int] = (),
                settings: SamplerSettings | None = None, cancel: CancelToken | None = None) -> Iterator[Event]:
        """Re-denoise [start, end) of the generated ids; locks and everything outside the span stay.

        An impossible edit raises EditError here, at the call, not when the stream is first read.
        """
        plans = span_plans(generation.token_ids, self.loaded.canvas_length, span, locks, self.end_ids())
        return self._stream(generation.prompt, settings or generation.settings, plans, cancel, span=span)

    def fill_around(self, generation: Generation, locks: Iterable[int], settings: SamplerSettings | None = None,
                    cancel: CancelToken | None = None) -> Iterator[Event]:
        plans = fill_plans(generation.token_ids, self.loaded.canvas_length, locks, self.end_ids())
        return self._stream(generation.prompt, settings or generation.settings, plans, cancel)

    def from_text(self, prompt: Prompt, text: str, settings: SamplerSettings) -> Generation:
        """A finished generation made from any text, so the editor can work on pasted or opened text."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        config = self.loaded.model.generation_config
        eos = config.eos_token_id
        end_id = eos[0] if isinstance(eos, list) else eos
        laid = lay_into_canvases(ids, self.loaded.canvas_length, end_id, config.pad_token_id)
        return Generation(prompt=prompt, token_ids=laid, settings=settings)

    def _stream(self, prompt: Prompt, settings: SamplerSettings, plans: list[CanvasPlan] | None,
                cancel: CancelToken | None, image_budget: int | None = None,
                span: tuple[int, int] | None = None) -> Iterator[Event]:
        inputs = self.prompt_inputs(prompt, image_budget)
        for event in GenerationRun(self.loaded.model, inputs, settings, plans=plans, cancel=cancel):
            if isinstance(event, GenerationResult):
                text, thought, answer = split_reply(event.token_ids, self.tokenizer)
                event = dataclasses.replace(event, text=text, thought=thought, answer=answer, span=span)
            yield event


def _with_prepared_images(prompt: Prompt) -> Prompt:
    """The prompt with every image RGB and no thinner than the processor handles cleanly (models.inputs.images)."""
    if not prompt.images and not any(turn.images for turn in prompt.history):
        return prompt
    history = tuple(dataclasses.replace(turn, images=tuple(prepare_image(i) for i in turn.images))
                    for turn in prompt.history)
    return dataclasses.replace(prompt, images=tuple(prepare_image(i) for i in prompt.images), history=history)
