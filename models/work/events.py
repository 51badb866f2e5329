"""Immutable events streamed by the engine: one per denoising step, one per committed canvas, one result."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class StepSnapshot:
    """What one denoising step of one canvas looked like; only canvas-length arrays, never logits."""

    canvas_index: int  # which canvas of this generation (0-based)
    step_index: int  # 0-based step within the canvas
    argmax: np.ndarray  # (canvas_length,) int64: the draft canvas (argmax of the logits the sampler passes on)
    # (canvas_length,) bool: positions that hold the model's token after this step rather than noise: entropy bound,
    # the tokens it accepted; block refinement, every token committed so far; DDIM, the positions that took the
    # predicted token; a corrector sweep, the positions that agree with its draft
    accepted: np.ndarray
    entropy: np.ndarray  # (canvas_length,) float32: entropy of the distribution the sampler passes on
    locked: np.ndarray  # (canvas_length,) bool: positions held fixed by the user
    editable: np.ndarray  # (canvas_length,) bool: positions this run may change (False outside a span)
    mean_entropy: float
    num_accepted: int
    temperature: float
    elapsed: float  # seconds since the generation started
    top_ids: np.ndarray | None = None  # (canvas_length, k) int64: the k likeliest tokens per position, best first
    top_probs: np.ndarray | None = None  # (canvas_length, k) float32: their probabilities under the scaled logits
    corrector: bool = False  # a DDIM corrector sweep (a forward of its own after a predictor step), not a step


@dataclass(frozen=True)
class CanvasCommitted:
    """A canvas finished denoising and was appended to the text (after EOS padding)."""

    canvas_index: int
    token_ids: np.ndarray  # (canvas_length,) int64, as committed
    steps: int  # denoising steps this canvas took
    adaptive_stop: bool  # True when the stable-and-confident criterion ended it early


@dataclass(frozen=True)
class GenerationResult:
    """The finished generation, with the numbers a user wants to see."""

    prompt_ids: np.ndarray  # (prompt_length,) int64
    token_ids: np.ndarray  # generated ids, as `model.generate` returns them after the prompt
    text: str  # the whole decoded answer, thought channel included
    thought: str  # the thought channel's text ("" without thinking mode)
    answer: str  # the final answer without the thought channel
    canvas_steps: tuple[int, ...]  # denoising steps each canvas took
    adaptive_stops: tuple[bool, ...]  # whether the adaptive stop ended each canvas
    seconds: float  # wall time of the whole generation
    tokens_per_forward: float  # generated non-pad tokens per decoder forward
    tokens_per_second: float  # generated non-pad tokens over wall time
    parallel_tokens_per_second: float  # canvas tokens per second of denoising-step time
    cancelled: bool = False
    span: tuple[int, int] | None = None  # the re-denoised span, for rewrites
    extra: dict = field(default_factory=dict)


Event = StepSnapshot | CanvasCommitted | GenerationResult
