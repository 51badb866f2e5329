"""Runs: every generation and edit the model made for the user, with every recorded step and what became of it."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field

import numpy as np

from models.work.events import GenerationResult, StepSnapshot
from models.work.prompts import Prompt
from models.work.recording import GenerationRecord
from models.work.settings import SamplerSettings, sampler_label


class RunKind(str, enum.Enum):
    GENERATE = "generate"
    REDENOISE = "re-denoise"
    FILL = "fill"
    REWRITE = "rewrite"


class Fate(str, enum.Enum):
    RUNNING = "running"
    PROPOSED = "proposed"  # an edit waiting for review
    ACCEPTED = "accepted"
    PARTIAL = "partly accepted"
    REJECTED = "rejected"
    UNCHANGED = "unchanged"  # an edit that came back with the text as it was
    CANCELLED = "cancelled"
    FAILED = "failed"


#: Fates of runs whose text is (or was) in the document.
KEPT = frozenset({Fate.ACCEPTED, Fate.PARTIAL})


@dataclass
class Run:
    """One run of the engine for one conversation turn: what was asked, every step, and its outcome."""

    id: int
    kind: RunKind
    turn: int  # the conversation turn whose document it worked on
    prompt: Prompt  # exactly what the model was given
    settings: SamplerSettings  # with the run's definite seed
    canvas_length: int
    span: tuple[int, int] | None = None  # the tokens an edit worked on
    locks: frozenset[int] = frozenset()
    base_ids: np.ndarray | None = None  # the document an edit started from
    instruction: str = ""  # a rewrite's instruction
    rewrite_chars: tuple[int, int] | None = None  # the characters a rewrite replaces in the base text
    image_budget: int | None = None  # visual tokens per image a generation asked for; None: the processor's default
    record: GenerationRecord = field(init=False)
    fate: Fate = Fate.RUNNING
    proposal_ids: np.ndarray | None = None  # the document an edit proposes (after mapping a rewrite's answer)
    proposal_entropy: np.ndarray | None = None
    accepted_hunks: tuple[int, ...] = ()
    error: str = ""
    started: float = 0.0  # wall-clock time.time() when it started

    def __post_init__(self) -> None:
        self.record = GenerationRecord(self.canvas_length)

    def copy(self) -> Run:
        twin = dataclasses.replace(self)
        twin.record = self.record.copy()
        return twin

    @property
    def result(self) -> GenerationResult | None:
        return self.record.result

    @property
    def seed(self) -> int | None:
        return self.settings.seed

    @property
    def is_edit(self) -> bool:
        return self.kind is not RunKind.GENERATE

    @property
    def canvas_indices(self) -> list[int]:
        return self.record.canvas_indices

    def steps(self, canvas: int) -> list[StepSnapshot]:
        return self.record.steps(canvas)

    def step_count(self) -> int:
        return sum(len(self.record.steps(c)) for c in self.record.canvas_indices)

    def label(self, always_sampler: bool = False) -> str:
        """How the runs panel names it, e.g. "#3 re-denoise 12:20 · seed 7 · rejected" (the sampler is named unless it
        is entropy bound, the default; `always_sampler`: named whatever it is)."""
        what = self.kind.value
        if self.span is not None and self.kind is not RunKind.FILL:
            what += f" {self.span[0]}:{self.span[1]}"
        if self.instruction:
            what += f" “{self.instruction[:30]}”"
        return f"#{self.id} {what}{sampler_label(self.settings, always_sampler)} · seed {self.seed} · {self.fate.value}"

    def final_entropy(self) -> np.ndarray:
        """(generated length,) each token's entropy at the last step of its canvas; NaN where never denoised."""
        result = self.result
        length = len(result.token_ids) if result is not None else 0
        entropy = np.full(length, np.nan, dtype=np.float32)
        for canvas in self.record.canvas_indices:
            steps = self.record.steps(canvas)
            start = canvas * self.canvas_length
            if steps and start < length:
                last = steps[-1]
                keep = last.editable if self.is_edit else np.ones(self.canvas_length, dtype=bool)
                window = entropy[start:start + self.canvas_length]
                window[keep[: len(window)]] = last.entropy[: len(window)][keep[: len(window)]]
        return entropy
