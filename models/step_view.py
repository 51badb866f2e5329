"""Per-forward observation for the engine: entropy and candidates on the device, one small packed transfer, and
the adaptive stop fed that entropy."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from models.events import StepSnapshot

if TYPE_CHECKING:
    from models.engine import _Context


class AdaptiveStop:
    """transformers' StableAndConfidentStoppingCriteria, fed the step's entropy instead of recomputing it.

    DiffusionGemmaPipeline's stop is the same rule for every stability of 1 or more; at 0 it still checks one step
    (it keeps max(stability, 1) drafts), where this, as transformers, checks none."""

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


class StepView:
    """What each forward of one canvas shows: entropy and candidates on the device, one small packed transfer."""

    def __init__(self, ctx: _Context, canvas_index: int, locked: np.ndarray, editable: np.ndarray,
                 free: torch.Tensor | None, top_k: int) -> None:
        self.ctx, self.canvas_index, self.locked, self.editable = ctx, canvas_index, locked, editable
        self.free, self.top_k = free, top_k
        self.n_free = int(free.sum()) if free is not None else 0
        self.steps = 0

    def observe(self, logits: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """(entropy, top-k of the probabilities) of the distribution `logits` define, computed once."""
        # The same computation as transformers' and diffusers' adaptive stops, so the stop fires exactly as theirs.
        dist = torch.distributions.Categorical(logits=logits, validate_args=False)
        entropy = dist.entropy()
        return entropy, (torch.topk(dist.probs[0], self.top_k, dim=-1) if self.top_k else None)

    def mean(self, entropy: torch.Tensor) -> torch.Tensor:
        # Over the positions this run may change: fixed positions have zero entropy and would otherwise end a small
        # span's denoising (and its adaptive stop) before it converged.
        if self.free is None:
            return entropy.mean(dim=-1)
        return (entropy * self.free).sum(dim=-1) / max(self.n_free, 1)

    def snapshot(self, argmax: torch.Tensor, accepted: torch.Tensor, entropy: torch.Tensor, mean: torch.Tensor,
                 stop: torch.Tensor | None, top: Any, temperature: float, step_start: float,
                 corrector: bool) -> tuple[StepSnapshot, bool]:
        """The step's snapshot and whether the adaptive stop fired, from one host transfer.

        Ids travel as float32, exact below 2**24 (the real vocabulary is 262144)."""
        length = self.ctx.canvas_length
        parts = [argmax[0].float(), accepted[0].float(), entropy[0].float(), mean.float(),
                 stop.float() if stop is not None else torch.zeros_like(mean, dtype=torch.float32)]
        if top is not None:
            parts += [top.indices.float().flatten(), top.values.float().flatten()]
        packed = torch.cat(parts).cpu().numpy()
        self.steps += 1
        self.ctx.step_seconds += time.perf_counter() - step_start
        accepted_np = packed[length:2 * length] > 0.5
        snapshot = StepSnapshot(
            canvas_index=self.canvas_index,
            step_index=self.steps - 1,
            argmax=packed[:length].astype(np.int64),
            accepted=accepted_np,
            entropy=packed[2 * length:3 * length].astype(np.float32),
            locked=self.locked,
            editable=self.editable,
            mean_entropy=float(packed[3 * length]),
            num_accepted=int(accepted_np.sum()),
            temperature=temperature,
            elapsed=time.perf_counter() - self.ctx.start,
            corrector=corrector,
            **_candidates(packed[3 * length + 2:], length, self.top_k),
        )
        return snapshot, bool(packed[3 * length + 1] > 0.5)


def _candidates(packed: np.ndarray, length: int, k: int) -> dict[str, np.ndarray | None]:
    """StepSnapshot's top_ids (length, k) int64 and top_probs (length, k) float32 from the packed tail."""
    if not k:
        return {"top_ids": None, "top_probs": None}
    return {"top_ids": packed[:length * k].reshape(length, k).astype(np.int64),
            "top_probs": packed[length * k:2 * length * k].reshape(length, k).astype(np.float32)}
