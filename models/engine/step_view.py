"""Per-forward observation for the engine: entropy and candidates on the device, one small packed transfer, and
the adaptive stop fed that entropy."""

from __future__ import annotations

import time
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch

from models.work.events import StepSnapshot


class RunClock(Protocol):
    """What a view needs of the run it observes (the sampling loop's context has it): no import of the loop."""

    canvas_length: int
    start: float
    step_seconds: float


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


class Candidates(NamedTuple):
    values: torch.Tensor  # (rows, k) probabilities, best first
    indices: torch.Tensor  # (rows, k) token ids


#: Top-k in blocks of this many tokens where the vocabulary divides into enough of them (the real one: 512 blocks).
TOPK_BLOCK = 512


def top_candidates(probs: torch.Tensor, k: int) -> Candidates:
    """`torch.topk(probs, k)` over the last dimension, at the real vocabulary about twice as fast.

    The k largest values of a row lie in the k blocks with the largest maxima (a value in any other block is beaten
    by k block maxima), so a reduction to block maxima and two small top-k's find them. Where values tie, which of
    the tied ids comes back is unspecified, as in torch.topk."""
    rows, vocab = probs.shape
    if vocab % TOPK_BLOCK or vocab < 16 * TOPK_BLOCK or k > vocab // TOPK_BLOCK:
        top = torch.topk(probs, k, dim=-1)
        return Candidates(top.values, top.indices)
    blocks = probs.view(rows, vocab // TOPK_BLOCK, TOPK_BLOCK)
    best_blocks = torch.topk(blocks.amax(dim=-1), k, dim=-1).indices  # (rows, k)
    inside = blocks.gather(1, best_blocks.unsqueeze(-1).expand(-1, -1, TOPK_BLOCK)).reshape(rows, k * TOPK_BLOCK)
    values, where = torch.topk(inside, k, dim=-1)
    return Candidates(values, best_blocks.gather(1, where // TOPK_BLOCK) * TOPK_BLOCK + where % TOPK_BLOCK)


class StepView:
    """What each forward of one canvas shows: entropy and candidates on the device, one small packed transfer."""

    def __init__(self, ctx: RunClock, canvas_index: int, locked: np.ndarray, editable: np.ndarray,
                 free: torch.Tensor | None, top_k: int) -> None:
        self.ctx, self.canvas_index, self.locked, self.editable = ctx, canvas_index, locked, editable
        self.free, self.top_k = free, top_k
        self.n_free = int(free.sum()) if free is not None else 0
        self.steps = 0

    def observe(self, logits: torch.Tensor) -> tuple[torch.Tensor, Candidates | None]:
        """(entropy, top-k candidates) of the distribution `logits` define, for a step the adaptive stop judges.

        The same computation as transformers' and diffusers' adaptive stops (`Categorical(...).entropy()`), so the
        stop fires exactly as theirs; its probabilities give the candidates with no second softmax."""
        dist = torch.distributions.Categorical(logits=logits, validate_args=False)
        entropy = dist.entropy()
        return entropy, (top_candidates(dist.probs[0], self.top_k) if self.top_k else None)

    def observe_sweep(self, logits: torch.Tensor) -> tuple[torch.Tensor, Candidates | None]:
        """The same for a corrector sweep, which no stop judges and no reference computes: fewer passes over the
        vocabulary (at the real vocabulary Categorical's entropy costs twice as much; same value within 1e-4)."""
        log_probs = torch.log_softmax(logits, dim=-1)
        probs = log_probs.exp()
        entropy = -torch.einsum("...v,...v->...", probs, log_probs)
        return entropy, (top_candidates(probs[0], self.top_k) if self.top_k else None)

    def mean(self, entropy: torch.Tensor) -> torch.Tensor:
        # Over the positions this run may change: fixed positions have zero entropy and would otherwise end a small
        # span's denoising (and its adaptive stop) before it converged.
        if self.free is None:
            return entropy.mean(dim=-1)
        return (entropy * self.free).sum(dim=-1) / max(self.n_free, 1)

    def snapshot(self, argmax: torch.Tensor, accepted: torch.Tensor, entropy: torch.Tensor, mean: torch.Tensor,
                 stop: torch.Tensor | None, top: Candidates | None, temperature: float, step_start: float,
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
