"""Block-diffusion generation as a stream of step snapshots, with locks and span re-denoising, under any sampler.

The loop mirrors `DiffusionGemmaGenerationMixin.generate` call for call (encoder, then per step: decoder forward,
sampler step, adaptive stop), and each step is one of diffusers' schedulers (models/engine/samplers.py), driven the way
its reference drives it: transformers' `generate` for entropy bound, `DiffusionGemmaPipeline` for block refinement and
DDIM (corrector sweeps included). With no edits and the same seed a run repeats its reference's ids. The engine
differs only where an editor needs it to:
- fixed positions (user locks, and everything outside a re-denoised span) are made one-hot in the logits the
  scheduler is given, so any scheduler predicts them with certainty (entropy bound: zero entropy, always accepted);
  the canvas is put back at fixed positions after every step and sweep (the pipeline's `callback_on_step_end`
  hook), because a scheduler may renoise any position; and they are restored after EOS padding;
- every canvas is committed as `generate` commits it: tokens after the first end of turn become pad;
- entropy is computed once per forward and serves the adaptive stop and the snapshot alike;
- per forward, one small packed tensor (argmax, accepted, entropy, stop flag, and the top-k candidates) crosses to
  the host; logits never do.

Top-k candidates (`settings.top_k`, 0 = off) are `torch.topk` of the probabilities of the logits the scheduler passes
on (`pred_logits`, on the model's device): for entropy bound that is the temperature-scaled distribution the scheduler
draws from; for block refinement and DDIM the model's own distribution, whose order is that of the draws at any
temperature. At fixed positions the distribution is one-hot by design, so the first candidate is the fixed id with
probability 1 and the other k-1 have probability 0 (their ids are ties and carry no meaning). Top-k reads and draws
nothing the sampler uses, so the ids are the same with it on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from transformers.models.diffusion_gemma.generation_diffusion_gemma import EntropyBoundSamplerConfig

from models.engine.samplers import SamplerDriver
from models.engine.step_view import AdaptiveStop, StepView
from models.work.events import CanvasCommitted, Event, GenerationResult, StepSnapshot
from models.work.settings import SamplerSettings

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


def _fix_logits(logits: torch.Tensor, mask: torch.Tensor, ids: torch.Tensor, gap: float) -> torch.Tensor:
    """Make the rows at `mask` one-hot on `ids` (0 at the id, -gap elsewhere)."""
    one_hot = torch.full_like(logits[0, 0], -gap).expand(int(mask.sum()), -1).clone()
    one_hot.scatter_(1, ids[mask].unsqueeze(1), 0.0)
    logits = logits.clone()
    logits[0, mask] = one_hot
    return logits


@dataclass
class _Context:
    """What every canvas of one run shares: the model's callables, positions, masks and the KV cache."""

    gc: Any
    device: Any
    canvas_length: int
    vocab_size: int
    past_key_values: Any
    decoder_forward: Any
    driver: SamplerDriver
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
            driver=SamplerDriver(self.settings, model, gc, canvas_length, device), input_ids=input_ids,
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
        """The denoising loop of one canvas, yielding a snapshot per decoder forward (corrector sweeps included)."""
        driver, device, length = ctx.driver, ctx.device, ctx.canvas_length
        any_fixed = bool(fixed_mask.any())
        free = ~fixed_mask
        locked = (plan.locked_mask.numpy().astype(bool) if plan.locked_mask is not None
                  else np.zeros(length, dtype=bool))
        end_banned = (plan.end_banned.to(device) if plan.end_banned is not None
                      else torch.zeros(length, dtype=torch.bool, device=device))
        banned = torch.tensor([i for i in ctx.end_ids if i < ctx.vocab_size] if bool(end_banned.any()) else [],
                              dtype=torch.long, device=device)
        banned_rows = end_banned.nonzero()[:, :1]
        # Large enough that the sampler's temperature cannot shrink it below _LOCK_GAP.
        gap = _LOCK_GAP * driver.lock_gap_scale()
        # The random start is drawn even where positions are fixed, to keep the reference's RNG order.
        current = torch.randint(0, ctx.vocab_size, (1, length), device=device)
        current = torch.where(fixed_mask, fixed_ids, current)
        argmax_canvas = current
        self_conditioning = None
        decoder_masks = self.model.model.decoder.create_diffusion_decoder_attention_mask(
            config=self.model.config, inputs_embeds=current.unsqueeze(-1), past_key_values=ctx.past_key_values,
            decoder_attention_mask=ctx.decoder_attention_mask,
        )
        view = StepView(ctx, canvas_index, locked, free.cpu().numpy(), free if any_fixed else None,
                         min(int(self.settings.top_k), ctx.vocab_size))
        adaptive_stop = AdaptiveStop(ctx.gc.stability_threshold, ctx.gc.confidence_threshold, length, device)

        def forward(canvas: torch.Tensor) -> torch.Tensor:
            """The decoder's logits for `canvas`, with fixed positions one-hot and ends pushed down where banned."""
            ctx.forward_passes += 1
            if ctx.decoder_forward is not self.model:
                torch.compiler.cudagraph_mark_step_begin()  # as generate() does, for the compiled step
            logits = ctx.decoder_forward(
                decoder_input_ids=canvas, self_conditioning_logits=self_conditioning,
                decoder_attention_mask=decoder_masks, past_key_values=ctx.past_key_values,
                decoder_position_ids=ctx.decoder_position_ids, **ctx.model_kwargs,
            ).logits
            if len(banned):
                logits = logits.clone()
                logits[0, banned_rows, banned] -= gap
            return _fix_logits(logits, fixed_mask, fixed_ids, gap) if any_fixed else logits

        def hold(canvas: torch.Tensor) -> torch.Tensor:
            # What callback_on_step_end does in the pipeline: the scheduler may renoise any position (DDIM's noise
            # route, block refinement's uncommitted positions), and fixed positions must always hold their ids.
            return torch.where(fixed_mask, fixed_ids, canvas) if any_fixed else canvas

        for step in range(driver.predictor_steps):
            if self._cancelled():
                return _Denoised(argmax_canvas, view.steps, False, cancelled=True)
            step_start = time.perf_counter()
            result = driver.predict(ctx.input_ids, forward(current), step, current)
            current = hold(result.canvas)
            pred = result.pred_logits
            argmax_canvas = torch.argmax(pred, dim=-1)
            entropy, top = view.observe(pred.float() if driver.uses_float_entropy else pred)
            mean_entropy = view.mean(entropy)
            stop = adaptive_stop(argmax_canvas, mean_entropy)
            self_conditioning = driver.self_conditioning(pred)
            accepted = result.accepted | fixed_mask  # fixed positions hold their token, whatever the scheduler did
            snapshot, stopped = view.snapshot(argmax_canvas, accepted, entropy, mean_entropy, stop, top,
                                              driver.temperature(step), step_start, corrector=False)
            yield snapshot
            for _ in range(driver.sweeps_after(step)):
                # The pipeline runs a step's sweeps before it looks at the stop, even when the stop then discards
                # them: their draws move the RNG, so they run here too.
                if self._cancelled():
                    return _Denoised(argmax_canvas, view.steps, False, cancelled=True)
                step_start = time.perf_counter()
                logits = forward(current)
                current = hold(driver.correct(logits, step, current))
                sweep_entropy, sweep_top = view.observe_sweep(logits.float())
                draft = sweep_top.indices[:, :1].T if sweep_top is not None else torch.argmax(logits, dim=-1)
                snapshot, _ = view.snapshot(draft, current == draft, sweep_entropy, view.mean(sweep_entropy), None,
                                            sweep_top, driver.temperature(step), step_start, corrector=True)
                yield snapshot
            if stopped:
                return _Denoised(argmax_canvas, view.steps, adaptive_stop=True, cancelled=False)
        return _Denoised(driver.final_canvas(argmax_canvas, current), view.steps, adaptive_stop=False, cancelled=False)

    def _cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()


def _positions(start: int, length: int, device: Any) -> torch.Tensor:
    return torch.arange(start, start + length, dtype=torch.int32, device=device).unsqueeze(0)


def _fixed(plan: CanvasPlan, length: int, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask, ids) of the positions a plan holds fixed; a kept canvas is fixed everywhere."""
    if plan.fixed_ids is None:
        return (torch.zeros(length, dtype=torch.bool, device=device),
                torch.zeros(length, dtype=torch.long, device=device))
    mask = plan.fixed_mask if plan.denoise and plan.fixed_mask is not None else torch.ones(length, dtype=torch.bool)
    return mask.to(device), plan.fixed_ids.to(device)
