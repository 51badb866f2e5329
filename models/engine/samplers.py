"""Each sampler is one of diffusers' schedulers, driven the way its reference drives it.

- entropy bound: `EntropyBoundScheduler`, driven as transformers' `generate` runs its entropy-bound sampler (the
  reference for this sampler): the temperature schedule is transformers' own logits processor, computed in float32,
  and the scheduler is built with t_min = t_max = 1, so it samples, accepts and renoises the already-scaled logits
  (its `model_output / 1.0` is exact). diffusers computes the temperature in float64 instead, one float32 ulp away
  from transformers' at some steps (12 of 48 at the defaults), and that changes draws. The canvas a run ends on is
  the last step's argmax, as in `generate`.
- block refinement: `BlockRefinementScheduler` in its uniform-noise mode (`mask_token_id=None`), as
  `DiffusionGemmaPipeline` drives it; the canvas a run ends on is the scheduler's last sample.
- DDIM: `DiscreteDDIMScheduler`, with its corrector sweeps (`step_correct`) folded into the step budget exactly as
  the pipeline folds them; the canvas a run ends on is the scheduler's last sample.

Every random draw is the scheduler's own, in the pipeline's order, so a run with a seed repeats the reference's ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from diffusers import BlockRefinementScheduler, DiscreteDDIMScheduler, EntropyBoundScheduler
from transformers.generation import LogitsProcessorList

from models.work.settings import BLOCK_REFINEMENT, DDIM, ENTROPY_BOUND, SamplerSettings


@dataclass(frozen=True)
class StepResult:
    """What one predictor step or corrector sweep hands the engine."""

    canvas: torch.Tensor  # (1, canvas_length) the next canvas
    pred_logits: torch.Tensor  # (1, canvas_length, vocab) what the scheduler passes on: the draft, entropy, stop
    accepted: torch.Tensor  # (1, canvas_length) bool: positions that now hold the model's token, not noise


def step_budget(total: int, corrector_steps: int) -> tuple[int, int]:
    """(predictor steps, how many of the first of them run corrector sweeps) for a budget of `total` forwards.

    DiffusionGemmaPipeline's split: the sweeps are taken out of the budget, not added to it."""
    if corrector_steps <= 0:
        return total, 0
    corrected = (total - 1) // (1 + corrector_steps)
    return total - corrected * corrector_steps, corrected


class SamplerDriver:
    """One run's scheduler, with the per-sampler rules the engine's loop needs."""

    def __init__(self, settings: SamplerSettings, model: Any, generation_config: Any, canvas_length: int,
                 device: Any) -> None:
        self.name = settings.sampler
        self.settings = settings
        total = int(settings.max_denoising_steps)
        self.corrector_steps = int(settings.corrector_steps) if self.name == DDIM else 0
        self.predictor_steps, self.corrected_steps = step_budget(total, self.corrector_steps)
        self._embed_dtype = model.model.decoder.embed_tokens.weight.dtype
        self._temperature = None
        self._step_kwargs: dict[str, Any] = {}
        if self.name == ENTROPY_BOUND:
            self.scheduler: Any = EntropyBoundScheduler(entropy_bound=float(settings.entropy_bound),
                                                        t_max=1.0, t_min=1.0, num_inference_steps=total)
            self._temperature = model._prepare_logits_processor(generation_config, LogitsProcessorList())
            self._gc = generation_config
            self.scheduler.set_timesteps(total, device=device)
        elif self.name == BLOCK_REFINEMENT:
            editing = float(settings.editing_threshold) or None  # the scheduler edits at any threshold but None
            self.scheduler = BlockRefinementScheduler(block_length=canvas_length, num_inference_steps=total,
                                                      threshold=float(settings.threshold), editing_threshold=editing)
            self.scheduler.set_timesteps(self.predictor_steps, device=device, block_length=canvas_length)
            self._step_kwargs = {"mask_token_id": None, "temperature": float(settings.temperature)}
        elif self.name == DDIM:
            self.scheduler = DiscreteDDIMScheduler(
                num_inference_steps=total, corrector_steps=self.corrector_steps,
                corrector_k=int(settings.corrector_k), corrector_selection=settings.corrector_selection,
                corrector_selection_tau=float(settings.corrector_selection_tau))
            self.scheduler.set_timesteps(self.predictor_steps, device=device)
            self._step_kwargs = {"temperature": float(settings.temperature)}
        else:  # settings are validated, so this is a bug
            raise AssertionError(f"no driver for sampler {self.name!r}")
        self._committed: torch.Tensor | None = None

    @property
    def uses_float_entropy(self) -> bool:
        """The pipeline judges its stop on `pred_logits.float()`; generate on the logits in the model's dtype."""
        return self.name != ENTROPY_BOUND

    def sweeps_after(self, step: int) -> int:
        """Corrector sweeps that follow predictor step `step` (0-based)."""
        return self.corrector_steps if step < self.corrected_steps else 0

    def temperature(self, step: int) -> float:
        """The temperature of predictor step `step`, for display."""
        if self.name != ENTROPY_BOUND:
            return float(self.settings.temperature)
        gc, n = self._gc, self.predictor_steps
        return float(gc.t_min + (gc.t_max - gc.t_min) * (n - step) / n)

    def predict(self, input_ids: torch.Tensor, logits: torch.Tensor, step: int, canvas: torch.Tensor) -> StepResult:
        """One predictor step on the (already constrained) logits of `canvas`."""
        if self.name == ENTROPY_BOUND:
            cur_step = torch.tensor(self.predictor_steps - step, device=logits.device, dtype=torch.int32)
            logits = self._temperature(input_ids, logits, cur_step=cur_step)
        out = self.scheduler.step(model_output=logits, timestep=step, sample=canvas, return_dict=True,
                                  **self._step_kwargs)
        if self.name == ENTROPY_BOUND:
            accepted = out.accepted_index
        elif self.name == BLOCK_REFINEMENT:
            # The scheduler's commits so far (it starts afresh at step 0, as it does itself).
            if step == 0 or self._committed is None:
                self._committed = torch.zeros_like(out.transfer_index)
            self._committed = self._committed | out.transfer_index
            accepted = self._committed
        else:
            accepted = out.prev_sample == out.sampled_tokens  # took (or kept) the predicted clean token
        return StepResult(out.prev_sample, out.pred_logits, accepted)

    def correct(self, logits: torch.Tensor, step: int, canvas: torch.Tensor) -> torch.Tensor:
        """One corrector sweep after predictor step `step`: the canvas with its least confident positions resampled."""
        return self.scheduler.step_correct(model_output=logits, timestep=step, sample=canvas).prev_sample

    def self_conditioning(self, pred_logits: torch.Tensor) -> torch.Tensor:
        # generate casts to the embeddings' dtype; the pipeline passes the scheduler's logits on as they are.
        return pred_logits.to(self._embed_dtype) if self.name == ENTROPY_BOUND else pred_logits

    def final_canvas(self, argmax_canvas: torch.Tensor, canvas: torch.Tensor) -> torch.Tensor:
        """The canvas a run that took all its steps ends on: generate's last argmax, or the pipeline's last sample."""
        return argmax_canvas if self.name == ENTROPY_BOUND else canvas

    def lock_gap_scale(self) -> float:
        """How much the lock gap must grow so that it stays >= the engine's gap after the sampler's temperature."""
        if self.name == ENTROPY_BOUND:
            return max(1.0, float(self.settings.t_max), float(self.settings.t_min))
        return max(1.0, float(self.settings.temperature))
