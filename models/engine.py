"""Block-diffusion generation as a stream of step snapshots, with locks and span re-denoising.

The loop mirrors `DiffusionGemmaGenerationMixin.generate` call for call and draw for draw (encoder, then per step:
decoder forward, temperature, `multinomial`, entropy-bound acceptance, `randint` renoise), so with no locks and the
same seed it produces the same ids. It differs only where an editor needs it to:
- entropy is computed once per step and serves acceptance, the adaptive stop and the snapshot alike;
- fixed positions (user locks, and everything outside a re-denoised span) are made one-hot in the scaled logits,
  so they have zero entropy, are always accepted and never renoised, and are restored after EOS padding;
- per step, one small packed tensor (argmax, accepted, entropy, stop flag, and the top-k candidates) crosses to the
  host; logits never do.

Top-k candidates (`settings.top_k`, 0 = off) are `torch.topk` of `probs`, the very float32 softmax `multinomial` draws
from, on the model's device: at free positions that is softmax of the temperature-scaled logits `generate` uses at
that step (with EOS and pad pushed down at free positions that kept text follows). At fixed positions (locks, and
everything outside a re-denoised span) the sampler's distribution is one-hot by design, so the first candidate is the
fixed id with probability 1 and the other k-1 have probability 0 (their ids are ties and carry no meaning). `topk`
reads `probs` and writes nothing the sampler uses, and draws no random numbers, so the ids are the same with it on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator, Iterator
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
    # (canvas_length,) bool: free positions where EOS and pad are pushed down, because kept text follows them;
    # None: nowhere. Positions after the last kept token are never banned, so the answer can end there.
    end_banned: torch.Tensor | None = None
    may_end: bool = True  # False: kept text follows in a later canvas, so this canvas must not end the answer


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


class _AdaptiveStop:
    """StableAndConfidentStoppingCriteria, fed the step's entropy instead of recomputing it from the logits."""

    def __init__(self, stability: int | None, confidence: float | None, canvas_length: int, device: Any) -> None:
        self.enabled = stability is not None and confidence is not None
        self.confidence = confidence
        self.history = (torch.full((stability, 1, canvas_length), -1, dtype=torch.long, device=device)
                        if self.enabled and stability > 0 else None)

    def __call__(self, argmax_canvas: torch.Tensor, mean_entropy: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return torch.zeros_like(mean_entropy, dtype=torch.bool)
        if self.history is None:
            stable = torch.ones_like(mean_entropy, dtype=torch.bool)
        else:
            stable = (self.history == argmax_canvas[None]).all(dim=-1).all(dim=0)
            self.history = torch.roll(self.history, shifts=-1, dims=0)
            self.history[-1] = argmax_canvas
        return stable & (mean_entropy < self.confidence)


@dataclass
class _Context:
    """What every canvas of one run shares: the model's callables, positions, masks and the KV cache."""

    gc: Any
    device: Any
    canvas_length: int
    vocab_size: int
    past_key_values: Any
    decoder_forward: Any
    temperature: Any
    embed_dtype: torch.dtype
    input_ids: torch.Tensor
    decoder_attention_mask: torch.Tensor
    decoder_position_ids: torch.Tensor
    model_kwargs: dict[str, Any]
    end_ids: list[int]
    start: float
    forward_passes: int = 0
    step_seconds: float = 0.0


@dataclass
class _Denoised:
    canvas: torch.Tensor  # (1, canvas_length)
    steps: int
    adaptive_stop: bool
    cancelled: bool


class GenerationRun:
    """One run of the block-diffusion loop over a prompt; iterate it for events."""

    def __init__(
        self,
        model: Any,
        inputs: dict[str, torch.Tensor],
        settings: SamplerSettings,
        plans: list[CanvasPlan] | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        self.model = model
        self.inputs = inputs
        self.settings = settings.validated()
        self.plans = plans
        self.cancel = cancel

    def __iter__(self) -> Iterator[Event]:
        with torch.inference_mode():
            yield from self._run()

    def _generation_config(self) -> Any:
        s = self.settings
        overrides: dict[str, Any] = {
            "max_new_tokens": int(s.max_new_tokens),
            "max_denoising_steps": int(s.max_denoising_steps),
            "sampler_config": EntropyBoundSamplerConfig(entropy_bound=float(s.entropy_bound)),
            "t_min": float(s.t_min),
            "t_max": float(s.t_max),
            "stability_threshold": int(s.stability_threshold),
            # 0 turns the adaptive stop off; transformers' config refuses 0 but takes None for "no criterion".
            "confidence_threshold": float(s.confidence_threshold) if s.confidence_threshold > 0 else None,
        }
        if self.plans is not None:
            overrides["max_new_tokens"] = len(self.plans) * self.model.config.canvas_length
        if s.compile:
            overrides["cache_implementation"] = "static"
        generation_config, model_kwargs = self.model._prepare_generation_config(None, **overrides)
        assert not model_kwargs
        return generation_config

    def _compiled(self, past_key_values: Any) -> tuple[Any, Any]:
        """(encoder after prefill, decoder forward): compiled, as generate() does, when the cache is static."""
        model = self.model
        if not past_key_values.is_compileable:
            return model.model.encoder, model
        # The same compiled callables (and attribute names) generate() uses, so the compile cache is shared.
        if not hasattr(model, "_compiled_encoder"):
            model._compiled_encoder = torch.compile(model.model.encoder, mode="reduce-overhead", fullgraph=True)
        if not hasattr(model, "_compiled_decoder_forward"):
            model._compiled_decoder_forward = torch.compile(model.forward, mode="reduce-overhead", fullgraph=True)
        return model._compiled_encoder, model._compiled_decoder_forward

    def _run(self) -> Iterator[Event]:
        model = self.model
        gc = self._generation_config()
        start = time.perf_counter()
        if self.settings.seed is not None:
            torch.manual_seed(self.settings.seed)

        input_ids = self.inputs["input_ids"]
        device = input_ids.device
        batch_size, cur_len = input_ids.shape
        if batch_size != 1:
            raise ValueError("the engine generates one sequence at a time")
        prompt_len = cur_len
        canvas_length = model.config.canvas_length
        max_length, max_new_tokens = model._prepare_generated_length(gc, cur_len)
        plans = self.plans or [CanvasPlan()] * math.ceil(max_new_tokens / canvas_length)
        past_key_values = model._prepare_cache_for_generation(gc, batch_size, max_length)
        encoder_after_prefill, decoder_forward = self._compiled(past_key_values)
        eos_tensor = torch.tensor(gc.eos_token_id, device=device) if gc.eos_token_id is not None else None
        end_ids = [] if eos_tensor is None else eos_tensor.flatten().tolist()
        if gc.pad_token_id is not None:
            end_ids.append(gc.pad_token_id)
        attention_mask = self.inputs.get("attention_mask")
        attention_mask = (attention_mask.bool() if attention_mask is not None
                          else torch.ones((1, cur_len), dtype=torch.bool, device=device))
        ctx = _Context(
            gc=gc, device=device, canvas_length=canvas_length, vocab_size=model.config.text_config.vocab_size,
            past_key_values=past_key_values, decoder_forward=decoder_forward,
            temperature=model._prepare_logits_processor(gc, LogitsProcessorList()),
            embed_dtype=model.model.decoder.embed_tokens.weight.dtype, input_ids=input_ids,
            decoder_attention_mask=torch.nn.functional.pad(attention_mask, (0, canvas_length), value=True),
            decoder_position_ids=_positions(cur_len, canvas_length, device),
            model_kwargs={k: v for k, v in self.inputs.items() if k not in ("input_ids", "attention_mask")},
            end_ids=end_ids, start=start,
        )
        encoder_position_ids = _positions(0, cur_len, device)
        stopping_criteria = model._prepare_ar_stopping_criteria(gc)
        canvas_steps: list[int] = []
        adaptive_stops: list[bool] = []
        finished = torch.zeros(1, dtype=torch.bool, device=device)
        cancelled = False

        for canvas_index, plan in enumerate(plans):
            if not any(later.denoise for later in plans[canvas_index:]):
                # Nothing left to denoise: the rest is kept as it is, with no need to encode it.
                kept = torch.cat([later.fixed_ids for later in plans[canvas_index:]]).to(device)
                ctx.input_ids = torch.cat([ctx.input_ids, kept.unsqueeze(0)], dim=-1)
                break
            is_prefill = canvas_index == 0
            unprocessed_ids, encoder_masks = model._prepare_encoder_inputs(
                input_ids=ctx.input_ids, attention_mask=attention_mask, encoder_position_ids=encoder_position_ids,
                past_key_values=ctx.past_key_values, is_prefill=is_prefill, canvas_length=canvas_length,
                batch_size=batch_size, **ctx.model_kwargs,
            )
            encoder = model.model.encoder if is_prefill else encoder_after_prefill
            ctx.past_key_values = encoder(
                input_ids=unprocessed_ids, attention_mask=encoder_masks, past_key_values=ctx.past_key_values,
                position_ids=encoder_position_ids, **ctx.model_kwargs,
            ).past_key_values
            for key in ("pixel_values", "image_position_ids", "mm_token_type_ids"):
                ctx.model_kwargs.pop(key, None)  # consumed by the prefill, as in generate()

            fixed_mask, fixed_ids = _fixed(plan, canvas_length, device)
            if plan.denoise:
                done = yield from self._denoise(ctx, canvas_index, plan, fixed_mask, fixed_ids)
                if done.cancelled:
                    cancelled = True
                    break
                new_canvas = done.canvas
                canvas_steps.append(done.steps)
                adaptive_stops.append(done.adaptive_stop)
            else:
                new_canvas = fixed_ids.unsqueeze(0)

            ctx.input_ids = torch.cat([ctx.input_ids, new_canvas], dim=-1)
            if plan.denoise and plan.may_end:
                ctx.input_ids, finished = model._finalize_canvas(
                    input_ids=ctx.input_ids, finished_sequences=finished, generation_config=gc,
                    stopping_criteria=stopping_criteria, canvas_length=canvas_length, eos_tensor=eos_tensor,
                )
                tail = ctx.input_ids[0, -canvas_length:]  # EOS padding must not overwrite a fixed token
                ctx.input_ids[0, -canvas_length:] = torch.where(fixed_mask, fixed_ids, tail)
            if plan.denoise:
                yield CanvasCommitted(canvas_index=canvas_index,
                                      token_ids=ctx.input_ids[0, -canvas_length:].cpu().numpy().copy(),
                                      steps=canvas_steps[-1], adaptive_stop=adaptive_stops[-1])
            if bool(finished.all()):
                break
            cur_len += canvas_length
            ctx.decoder_attention_mask = torch.nn.functional.pad(ctx.decoder_attention_mask, (0, canvas_length),
                                                                 value=True)
            attention_mask = torch.nn.functional.pad(attention_mask, (0, canvas_length), value=True)
            encoder_position_ids = ctx.decoder_position_ids
            ctx.decoder_position_ids = _positions(cur_len, canvas_length, device)

        seconds = time.perf_counter() - start
        generated = ctx.input_ids[0, prompt_len:].cpu().numpy().copy()
        valid = int((generated != gc.pad_token_id).sum()) if gc.pad_token_id is not None else int(generated.size)
        yield GenerationResult(
            prompt_ids=ctx.input_ids[0, :prompt_len].cpu().numpy().copy(),
            token_ids=generated,
            text="", thought="", answer="",
            canvas_steps=tuple(canvas_steps),
            adaptive_stops=tuple(adaptive_stops),
            seconds=seconds,
            tokens_per_forward=valid / ctx.forward_passes if ctx.forward_passes else 0.0,
            tokens_per_second=valid / seconds if seconds > 0 else 0.0,
            parallel_tokens_per_second=(canvas_length * sum(canvas_steps) / ctx.step_seconds
                                        if ctx.step_seconds > 0 else 0.0),
            cancelled=cancelled,
        )

    def _denoise(self, ctx: _Context, canvas_index: int, plan: CanvasPlan, fixed_mask: torch.Tensor,
                 fixed_ids: torch.Tensor) -> Generator[StepSnapshot, None, _Denoised]:
        """The denoising loop of one canvas (generate()'s step 1.c), yielding a snapshot per step."""
        gc, device, length = ctx.gc, ctx.device, ctx.canvas_length
        any_fixed = bool(fixed_mask.any())
        free = ~fixed_mask
        n_free = int(free.sum())
        locked = (plan.locked_mask.numpy().astype(bool) if plan.locked_mask is not None
                  else np.zeros(length, dtype=bool))
        editable = free.cpu().numpy()
        end_banned = (plan.end_banned.to(device) if plan.end_banned is not None
                      else torch.zeros(length, dtype=torch.bool, device=device))
        banned = torch.tensor([i for i in ctx.end_ids if i < ctx.vocab_size] if bool(end_banned.any()) else [],
                              dtype=torch.long, device=device)
        # The sampler's random start is drawn even where positions are fixed, to keep generate()'s RNG order.
        current = torch.randint(0, ctx.vocab_size, (1, length), device=device)
        current = torch.where(fixed_mask, fixed_ids, current)
        argmax_canvas = current
        self_conditioning = None
        decoder_masks = self.model.model.decoder.create_diffusion_decoder_attention_mask(
            config=self.model.config, inputs_embeds=current.unsqueeze(-1), past_key_values=ctx.past_key_values,
            decoder_attention_mask=ctx.decoder_attention_mask,
        )
        adaptive_stop = _AdaptiveStop(gc.stability_threshold, gc.confidence_threshold, length, device)
        top_k = min(int(self.settings.top_k), ctx.vocab_size)
        steps = 0
        for cur_step in reversed(range(1, gc.max_denoising_steps + 1)):
            if self.cancel is not None and self.cancel.is_set():
                return _Denoised(argmax_canvas, steps, False, cancelled=True)
            step_start = time.perf_counter()
            ctx.forward_passes += 1
            if ctx.decoder_forward is not self.model:
                torch.compiler.cudagraph_mark_step_begin()  # as generate() does, for the compiled step
            out = ctx.decoder_forward(
                decoder_input_ids=current, self_conditioning_logits=self_conditioning,
                decoder_attention_mask=decoder_masks, past_key_values=ctx.past_key_values,
                decoder_position_ids=ctx.decoder_position_ids, **ctx.model_kwargs,
            )
            logits = ctx.temperature(ctx.input_ids, out.logits,
                                     cur_step=torch.tensor(cur_step, device=device, dtype=torch.int32))
            if len(banned):
                logits = logits.clone()
                logits[0, end_banned.nonzero()[:, :1], banned] -= _LOCK_GAP
            if any_fixed:
                logits = _fix_logits(logits, fixed_mask, fixed_ids)
            probs = torch.softmax(logits, dim=-1, dtype=torch.float32)
            denoised = torch.multinomial(probs.view(-1, ctx.vocab_size), num_samples=1).view(1, length)
            # Candidates from the distribution just drawn from (best first); on the device, only (length, k) leaves.
            top = torch.topk(probs[0], top_k, dim=-1) if top_k else None
            argmax_canvas = torch.argmax(logits, dim=-1)
            entropy = _entropy(logits)
            accepted = _accept_mask(entropy, gc.sampler_config.entropy_bound)
            accepted_canvas = torch.where(accepted, denoised, current)
            noise = torch.randint(0, ctx.vocab_size, (1, length), device=device)
            current = torch.where(~accepted, noise, accepted_canvas)
            # The adaptive stop judges confidence over the positions this run may change: fixed positions have zero
            # entropy and would otherwise end a small span's denoising before it converged.
            mean_entropy = (entropy * free).sum(dim=-1) / max(n_free, 1) if any_fixed else entropy.mean(dim=-1)
            stop = adaptive_stop(argmax_canvas, mean_entropy)
            self_conditioning = logits.to(ctx.embed_dtype)

            # One small host transfer per step (generate() also syncs once per step, on its stop flag). Ids travel
            # as float32, exact below 2**24 (the real vocabulary is 262144).
            parts = [argmax_canvas[0].float(), accepted[0].float(), entropy[0].float(), mean_entropy.float(),
                     stop.float()]
            if top is not None:
                parts += [top.indices.float().flatten(), top.values.flatten()]
            packed = torch.cat(parts).cpu().numpy()
            steps += 1
            ctx.step_seconds += time.perf_counter() - step_start
            accepted_np = packed[length:2 * length] > 0.5
            yield StepSnapshot(
                canvas_index=canvas_index,
                step_index=steps - 1,
                argmax=packed[:length].astype(np.int64),
                accepted=accepted_np,
                entropy=packed[2 * length:3 * length].astype(np.float32),
                locked=locked,
                editable=editable,
                mean_entropy=float(packed[3 * length]),
                num_accepted=int(accepted_np.sum()),
                temperature=float(gc.t_min + (gc.t_max - gc.t_min) * cur_step / gc.max_denoising_steps),
                elapsed=time.perf_counter() - ctx.start,
                **_candidates(packed[3 * length + 2:], length, top_k),
            )
            if packed[3 * length + 1] > 0.5:
                return _Denoised(argmax_canvas, steps, adaptive_stop=True, cancelled=False)
        return _Denoised(argmax_canvas, steps, adaptive_stop=False, cancelled=False)


def _candidates(packed: np.ndarray, length: int, k: int) -> dict[str, np.ndarray | None]:
    """StepSnapshot's top_ids (length, k) int64 and top_probs (length, k) float32 from the packed tail."""
    if not k:
        return {"top_ids": None, "top_probs": None}
    return {"top_ids": packed[:length * k].reshape(length, k).astype(np.int64),
            "top_probs": packed[length * k:2 * length * k].reshape(length, k).astype(np.float32)}


def _positions(start: int, length: int, device: Any) -> torch.Tensor:
    return torch.arange(start, start + length, dtype=torch.int32, device=device).unsqueeze(0)


def _fixed(plan: CanvasPlan, length: int, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask, ids) of the positions a plan holds fixed; a kept canvas is fixed everywhere."""
    if plan.fixed_ids is None:
        return (torch.zeros(length, dtype=torch.bool, device=device),
                torch.zeros(length, dtype=torch.long, device=device))
    mask = plan.fixed_mask if plan.denoise and plan.fixed_mask is not None else torch.ones(length, dtype=torch.bool)
    return mask.to(device), plan.fixed_ids.to(device)
