"""Block-diffusion generation as a stream of step snapshots, with locks and span re-denoising.

The loop mirrors `DiffusionGemmaGenerationMixin.generate` call for call and draw for draw (encoder, then per step:
decoder forward, temperature, `multinomial`, entropy-bound acceptance, `randint` renoise), so with no locks and the
same seed it produces the same ids. It differs only where an editor needs it to:
- entropy is computed once per step and serves acceptance, the adaptive stop and the snapshot alike;
- fixed positions (user locks, and everything outside a re-denoised span) are made one-hot in the scaled logits,
  so they have zero entropy, are always accepted and never renoised, and are restored after EOS padding;
- per step, one small packed tensor (argmax, accepted, entropy, stop flag) crosses to the host; logits never do.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from transformers.generation import LogitsProcessorList
from transformers.models.diffusion_gemma.generation_diffusion_gemma import EntropyBoundSamplerConfig

from models.events import CanvasCommitted, Event, GenerationResult, StepSnapshot
from models.settings import SamplerSettings

# A logit gap this large makes a one-hot row whose entropy is exactly 0 in float32 (exp(-1e4) underflows),
# while staying finite so entropy and softmax stay well defined (-inf would give NaN entropies).
_LOCK_GAP = 1e4


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class CanvasPlan:
    """How one canvas is treated by a run: denoised with some positions fixed, or kept as it is."""

    fixed_ids: torch.Tensor | None = None  # (canvas_length,) ids held at fixed positions; None: a fresh canvas
    fixed_mask: torch.Tensor | None = None  # (canvas_length,) bool; True where the id must not change
    locked_mask: torch.Tensor | None = None  # (canvas_length,) bool; the user's locks, a subset of fixed_mask
    denoise: bool = True  # False: commit fixed_ids unchanged (context before a span)
    ban_end: bool = False  # True: EOS and pad may not appear at free positions (a span with text after it)


def _entropy(logits: torch.Tensor) -> torch.Tensor:
    # Same computation as the sampler and the stopping criterion, so acceptance is bit-identical to theirs.
    return torch.distributions.Categorical(logits=logits).entropy()


def _accept_mask(entropy: torch.Tensor, bound: float) -> torch.Tensor:
    """Entropy-bound acceptance (EntropyBoundSampler.accept_canvas), given the entropies."""
    sorted_entropy, order = torch.sort(entropy, dim=-1, descending=False)
    cumulative = torch.cumsum(sorted_entropy, dim=-1)
    selected = cumulative - sorted_entropy <= bound
    return torch.scatter(input=torch.zeros_like(selected), dim=-1, index=order, src=selected)


def _fix_logits(logits: torch.Tensor, mask: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Make the rows at `mask` one-hot on `ids` (0 at the id, -gap elsewhere)."""
    one_hot = torch.full_like(logits[0, 0], -_LOCK_GAP).expand(int(mask.sum()), -1).clone()
    one_hot.scatter_(1, ids[mask].unsqueeze(1), 0.0)
    logits = logits.clone()
    logits[0, mask] = one_hot
    return logits


class GenerationRun:
    """One run of the block-diffusion loop over a prompt; iterate it for events."""

    def __init__(
        self,
        model: Any,
        inputs: dict[str, torch.Tensor],
        settings: SamplerSettings,
        plans: list[CanvasPlan] | None = None,
        cancel: CancelToken | None = None,
        decode: Any = None,
    ) -> None:
        self.model = model
        self.inputs = inputs
        self.settings = settings.validated()
        self.plans = plans
        self.cancel = cancel
        self.decode = decode

    def _generation_config(self) -> Any:
        s = self.settings
        overrides: dict[str, Any] = {
            "max_new_tokens": int(s.max_new_tokens),
            "max_denoising_steps": int(s.max_denoising_steps),
            "sampler_config": EntropyBoundSamplerConfig(entropy_bound=float(s.entropy_bound)),
            "t_min": float(s.t_min),
            "t_max": float(s.t_max),
            "stability_threshold": int(s.stability_threshold),
            "confidence_threshold": float(s.confidence_threshold),
        }
        if self.plans is not None:
            overrides["max_new_tokens"] = len(self.plans) * self.model.config.canvas_length
        if s.compile:
            overrides["cache_implementation"] = "static"
        generation_config, model_kwargs = self.model._prepare_generation_config(None, **overrides)
        assert not model_kwargs
        return generation_config

    def __iter__(self) -> Iterator[Event]:
        with torch.inference_mode():
            yield from self._run()

    def _run(self) -> Iterator[Event]:  # noqa: C901 - mirrors generate() step for step; kept in one piece on purpose
        model = self.model
        gc = self._generation_config()
        start = time.perf_counter()
        if self.settings.seed is not None:
            torch.manual_seed(self.settings.seed)

        model_kwargs = {k: v for k, v in self.inputs.items() if k not in ("input_ids", "attention_mask")}
        input_ids = self.inputs["input_ids"]
        device = input_ids.device
        batch_size, cur_len = input_ids.shape
        if batch_size != 1:
            raise ValueError("the engine generates one sequence at a time")
        prompt_len = cur_len
        canvas_length = model.config.canvas_length
        vocab_size = model.config.text_config.vocab_size
        max_length, max_new_tokens = model._prepare_generated_length(gc, cur_len)
        plans = self.plans or [CanvasPlan()] * math.ceil(max_new_tokens / canvas_length)

        past_key_values = model._prepare_cache_for_generation(gc, batch_size, max_length)
        encoder_after_prefill, decoder_forward = model.model.encoder, model
        if gc.cache_implementation == "static" and past_key_values.is_compileable:
            # The same compiled callables (and attribute names) generate() uses, so the compile cache is shared.
            if not hasattr(model, "_compiled_encoder"):
                model._compiled_encoder = torch.compile(model.model.encoder, mode="reduce-overhead", fullgraph=True)
            if not hasattr(model, "_compiled_decoder_forward"):
                model._compiled_decoder_forward = torch.compile(model.forward, mode="reduce-overhead",
                                                                fullgraph=True)
            encoder_after_prefill, decoder_forward = model._compiled_encoder, model._compiled_decoder_forward
        pad_id = gc.pad_token_id
        eos_tensor = torch.tensor(gc.eos_token_id, device=device) if gc.eos_token_id is not None else None
        end_ids = [i for i in (eos_tensor.flatten().tolist() if eos_tensor is not None else []) + [pad_id]
                   if i is not None]
        encoder_position_ids = torch.arange(0, cur_len, dtype=torch.int32, device=device).unsqueeze(0)
        decoder_position_ids = torch.arange(cur_len, cur_len + canvas_length, dtype=torch.int32,
                                            device=device).unsqueeze(0)
        attention_mask = self.inputs.get("attention_mask")
        attention_mask = (attention_mask.bool() if attention_mask is not None
                          else torch.ones((1, cur_len), dtype=torch.bool, device=device))
        decoder_attention_mask = torch.nn.functional.pad(attention_mask, (0, canvas_length), value=True)

        temperature = model._prepare_logits_processor(gc, LogitsProcessorList())
        stopping_criteria = model._prepare_ar_stopping_criteria(gc)
        embed_dtype = model.model.decoder.embed_tokens.weight.dtype
        forward_passes = 0
        step_seconds = 0.0
        canvas_steps: list[int] = []
        adaptive_stops: list[bool] = []
        finished = torch.zeros(1, dtype=torch.bool, device=device)
        cancelled = False
        is_prefill = True

        for canvas_index, plan in enumerate(plans):
            if not any(later.denoise for later in plans[canvas_index:]):
                # Nothing left to denoise: the rest is kept as it is, with no need to encode it.
                kept = torch.cat([later.fixed_ids for later in plans[canvas_index:]]).to(device)
                input_ids = torch.cat([input_ids, kept.unsqueeze(0)], dim=-1)
                break
            unprocessed_ids, encoder_masks = model._prepare_encoder_inputs(
                input_ids=input_ids, attention_mask=attention_mask, encoder_position_ids=encoder_position_ids,
                past_key_values=past_key_values, is_prefill=is_prefill, canvas_length=canvas_length,
                batch_size=batch_size, **model_kwargs,
            )
            encoder = model.model.encoder if is_prefill else encoder_after_prefill
            encoder_outputs = encoder(
                input_ids=unprocessed_ids, attention_mask=encoder_masks, past_key_values=past_key_values,
                position_ids=encoder_position_ids, **model_kwargs,
            )
            past_key_values = encoder_outputs.past_key_values
            if is_prefill:
                for key in ("pixel_values", "image_position_ids", "mm_token_type_ids"):
                    model_kwargs.pop(key, None)
            is_prefill = False

            if plan.denoise:
                fixed_mask = (plan.fixed_mask.to(device) if plan.fixed_mask is not None
                              else torch.zeros(canvas_length, dtype=torch.bool, device=device))
                fixed_ids = (plan.fixed_ids.to(device) if plan.fixed_ids is not None
                             else torch.zeros(canvas_length, dtype=torch.long, device=device))
                locked_np = (plan.locked_mask.numpy().astype(bool) if plan.locked_mask is not None
                             else np.zeros(canvas_length, dtype=bool))
                editable_np = ~fixed_mask.cpu().numpy()
                any_fixed = bool(fixed_mask.any())
                # The sampler's random start is drawn even where positions are fixed, to keep generate's RNG order.
                current = torch.randint(0, vocab_size, (1, canvas_length), device=device)
                if any_fixed:
                    current = torch.where(fixed_mask, fixed_ids, current)
                argmax_canvas = current
                self_conditioning = None
                decoder_masks = model.model.decoder.create_diffusion_decoder_attention_mask(
                    config=model.config, inputs_embeds=current.unsqueeze(-1), past_key_values=past_key_values,
                    decoder_attention_mask=decoder_attention_mask,
                )
                history = None if gc.stability_threshold == 0 else torch.full(
                    (gc.stability_threshold, 1, canvas_length), -1, dtype=torch.long, device=device)
                free = ~fixed_mask
                n_free = int(free.sum())
                ban = [i for i in end_ids if i < vocab_size] if plan.ban_end else []
                steps_taken = 0
                stopped_early = False
                for cur_step in reversed(range(1, gc.max_denoising_steps + 1)):
                    if self.cancel is not None and self.cancel.is_set():
                        cancelled = True
                        break
                    step_start = time.perf_counter()
                    forward_passes += 1
                    if decoder_forward is not model:
                        torch.compiler.cudagraph_mark_step_begin()  # as generate(), for the compiled step
                    out = decoder_forward(
                        decoder_input_ids=current, self_conditioning_logits=self_conditioning,
                        decoder_attention_mask=decoder_masks, past_key_values=past_key_values,
                        decoder_position_ids=decoder_position_ids, **model_kwargs,
                    )
                    step_tensor = torch.tensor(cur_step, device=device, dtype=torch.int32)
                    logits = temperature(input_ids, out.logits, cur_step=step_tensor)
                    if ban:
                        logits = logits.clone()
                        logits[0, free.nonzero().squeeze(1).unsqueeze(1), torch.tensor(ban, device=device)] -= _LOCK_GAP
                    if any_fixed:
                        logits = _fix_logits(logits, fixed_mask, fixed_ids)
                    probs = torch.softmax(logits, dim=-1, dtype=torch.float32)
                    denoised = torch.multinomial(probs.view(-1, vocab_size), num_samples=1).view(1, canvas_length)
                    argmax_canvas = torch.argmax(logits, dim=-1)
                    entropy = _entropy(logits)
                    accepted = _accept_mask(entropy, gc.sampler_config.entropy_bound)
                    accepted_canvas = torch.where(accepted, denoised, current)
                    noise = torch.randint(0, vocab_size, (1, canvas_length), device=device)
                    current = torch.where(~accepted, noise, accepted_canvas)

                    # The adaptive stop judges confidence over the positions this run may change: fixed positions
                    # have zero entropy and would otherwise end a small span's denoising before it converged.
                    mean_entropy = entropy.mean(dim=-1) if not any_fixed else (
                        (entropy * free).sum(dim=-1) / max(n_free, 1))
                    stop = torch.zeros(1, dtype=torch.bool, device=device)
                    if gc.stability_threshold is not None and gc.confidence_threshold is not None:
                        if history is None:
                            stable = torch.ones(1, dtype=torch.bool, device=device)
                        else:
                            stable = (history == argmax_canvas[None]).all(dim=-1).all(dim=0)
                            history = torch.roll(history, shifts=-1, dims=0)
                            history[-1] = argmax_canvas
                        stop = stable & (mean_entropy < gc.confidence_threshold)
                    self_conditioning = logits.to(embed_dtype)

                    # One small host transfer per step (generate also syncs once per step, on its stop flag).
                    packed = torch.cat([argmax_canvas[0].float(), accepted[0].float(), entropy[0].float(),
                                        mean_entropy.float(), stop.float()]).cpu().numpy()
                    steps_taken += 1
                    step_seconds += time.perf_counter() - step_start
                    L = canvas_length
                    yield StepSnapshot(
                        canvas_index=canvas_index,
                        step_index=steps_taken - 1,
                        argmax=packed[:L].astype(np.int64),
                        accepted=packed[L:2 * L] > 0.5,
                        entropy=packed[2 * L:3 * L].astype(np.float32),
                        locked=locked_np,
                        editable=editable_np,
                        mean_entropy=float(packed[3 * L]),
                        num_accepted=int((packed[L:2 * L] > 0.5).sum()),
                        temperature=float(gc.t_min + (gc.t_max - gc.t_min) * cur_step / gc.max_denoising_steps),
                        elapsed=time.perf_counter() - start,
                    )
                    if packed[3 * L + 1] > 0.5:
                        stopped_early = True
                        break
                if cancelled:
                    break
                new_canvas = argmax_canvas
                canvas_steps.append(steps_taken)
                adaptive_stops.append(stopped_early)
            else:
                new_canvas = plan.fixed_ids.to(device).unsqueeze(0)
                fixed_mask = torch.ones(canvas_length, dtype=torch.bool, device=device)
                fixed_ids = plan.fixed_ids.to(device)
                any_fixed = True

            input_ids = torch.cat([input_ids, new_canvas], dim=-1)
            if plan.denoise and not plan.ban_end:
                input_ids, finished = model._finalize_canvas(
                    input_ids=input_ids, finished_sequences=finished, generation_config=gc,
                    stopping_criteria=stopping_criteria, canvas_length=canvas_length, eos_tensor=eos_tensor,
                )
                if any_fixed:  # EOS padding must not overwrite a locked token
                    tail = input_ids[0, -canvas_length:]
                    input_ids[0, -canvas_length:] = torch.where(fixed_mask, fixed_ids, tail)
            if plan.denoise:
                yield CanvasCommitted(
                    canvas_index=canvas_index,
                    token_ids=input_ids[0, -canvas_length:].cpu().numpy().copy(),
                    steps=canvas_steps[-1],
                    adaptive_stop=adaptive_stops[-1],
                )
            if bool(finished.all()):
                break
            cur_len += canvas_length
            decoder_attention_mask = torch.nn.functional.pad(decoder_attention_mask, (0, canvas_length), value=True)
            attention_mask = torch.nn.functional.pad(attention_mask, (0, canvas_length), value=True)
            encoder_position_ids = decoder_position_ids
            decoder_position_ids = torch.arange(cur_len, cur_len + canvas_length, dtype=torch.int32,
                                                device=device).unsqueeze(0)

        seconds = time.perf_counter() - start
        generated = input_ids[0, prompt_len:].cpu().numpy().copy()
        valid = int((generated != pad_id).sum()) if pad_id is not None else int(generated.size)
        total_steps = sum(canvas_steps)
        yield GenerationResult(
            prompt_ids=input_ids[0, :prompt_len].cpu().numpy().copy(),
            token_ids=generated,
            text="", thought="", answer="",
            canvas_steps=tuple(canvas_steps),
            adaptive_stops=tuple(adaptive_stops),
            seconds=seconds,
            tokens_per_forward=valid / forward_passes if forward_passes else 0.0,
            tokens_per_second=valid / seconds if seconds > 0 else 0.0,
            parallel_tokens_per_second=canvas_length * total_steps / step_seconds if step_seconds > 0 else 0.0,
            cancelled=cancelled,
        )
