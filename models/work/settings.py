"""Sampler settings: which of diffusers' samplers runs and its settings, validated with messages a user can act on.

Defaults come from the checkpoint's generation config (entropy bound, as transformers runs it). The other samplers'
defaults are diffusers' own (DiffusionGemmaPipeline's temperature 0, each scheduler's config defaults).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from models.inputs.json_fields import shown
from models.inputs.validation import MIN_TEMPERATURE, temperature_schedule_problem

# The model card's recommended sampling, used where a checkpoint's generation config says nothing.
FALLBACK_DEFAULTS: dict[str, Any] = {
    "max_new_tokens": 256,
    "max_denoising_steps": 48,
    "entropy_bound": 0.1,
    "t_min": 0.4,
    "t_max": 0.8,
    "stability_threshold": 1,
    "confidence_threshold": 0.005,
}


#: The samplers the engine runs (models/engine/samplers.py drives diffusers' scheduler of each).
ENTROPY_BOUND, BLOCK_REFINEMENT, DDIM = "entropy-bound", "block-refinement", "ddim"
SAMPLERS: tuple[str, ...] = (ENTROPY_BOUND, BLOCK_REFINEMENT, DDIM)
#: DiscreteDDIMScheduler's ways of choosing the positions a corrector sweep resamples.
CORRECTOR_SELECTIONS: tuple[str, ...] = ("lowest_log_margin", "lowest_maxprob", "lowest_current_prob", "random")
CHOICES: dict[str, tuple[str, ...]] = {"sampler": SAMPLERS, "corrector_selection": CORRECTOR_SELECTIONS}
#: Each sampler in a few words (the window's sampler choice, its help, the command line's help).
SAMPLER_LABELS: dict[str, str] = {ENTROPY_BOUND: "Entropy bound", BLOCK_REFINEMENT: "Block refinement", DDIM: "DDIM"}
SAMPLER_HELP: dict[str, str] = {
    ENTROPY_BOUND: "The model's own sampler (diffusers' EntropyBoundScheduler, run exactly as transformers' generate "
                   "runs it): each step draws a token everywhere, keeps the surest ones until their summed entropy "
                   "reaches the entropy bound and throws the rest back as noise. Its temperature falls from t_max "
                   "to t_min.",
    BLOCK_REFINEMENT: "diffusers' BlockRefinementScheduler: a token is committed once its probability passes the "
                      "commit threshold, and at least an even share of the canvas is committed each step, so it is "
                      "full at the last step; committed tokens stay (unless the editing threshold lets the model "
                      "replace them) and the rest are noise until committed.",
    DDIM: "diffusers' DiscreteDDIMScheduler: each step every position either takes the predicted token, keeps its "
          "own or turns to noise, with the probabilities of the exact posterior, so the canvas is clean at the last "
          "step. With corrector sweeps, the first steps are followed by extra forwards that resample the least "
          "confident positions (they are steps of their own, marked as corrector sweeps, within the same budget).",
}
CORRECTOR_SELECTION_HELP = ("How a corrector sweep chooses the positions it resamples: lowest_log_margin (the "
                            "smallest lead of the current token over the next), lowest_maxprob, lowest_current_prob, "
                            "or random.")


class SettingsError(ValueError):
    """A setting is out of range; the message names it and its range."""


@dataclass(frozen=True)
class SettingSpec:
    name: str
    label: str
    kind: type
    minimum: float
    maximum: float
    help: str
    samplers: tuple[str, ...] = SAMPLERS  # the samplers that use it (a panel shows it only for those)
    open_minimum: bool = False  # the minimum itself is refused: the range is (minimum, maximum]

    def range_text(self) -> str:
        return f"{'(' if self.open_minimum else '['}{self.minimum:g}, {self.maximum:g}]"

    def applies_to(self, sampler: str) -> bool:
        return sampler in self.samplers


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("max_new_tokens", "Max new tokens", int, 1, 32768,
                "Token budget. The model writes whole canvases, so this is rounded up to a multiple of the canvas."),
    SettingSpec("max_denoising_steps", "Denoising steps", int, 1, 1000,
                "Most denoising steps per canvas; the adaptive stop may end a canvas sooner."),
    SettingSpec("entropy_bound", "Entropy bound", float, 1e-6, 1000.0,
                "How much joint uncertainty the sampler accepts per step: higher accepts more tokens per step "
                "(faster, riskier).", (ENTROPY_BOUND,)),
    SettingSpec("t_min", "Final temperature", float, 0.0, 100.0,
                "Temperature at the last step; the schedule falls linearly from t_max to t_min.", (ENTROPY_BOUND,)),
    SettingSpec("t_max", "Initial temperature", float, 0.0, 100.0,
                "Temperature at the first step; must be above t_min.", (ENTROPY_BOUND,)),
    SettingSpec("temperature", "Temperature", float, 0.0, 100.0,
                "Sampling temperature of the predicted tokens, the same at every step (0: always the likeliest "
                "token, as DiffusionGemmaPipeline does by default).", (BLOCK_REFINEMENT, DDIM)),
    SettingSpec("threshold", "Commit threshold", float, 0.0, 1.0,
                "A token whose probability is above this is committed at once; below it, tokens are committed by "
                "confidence at an even pace, so the canvas is full at the last step.", (BLOCK_REFINEMENT,),
                open_minimum=True),
    SettingSpec("editing_threshold", "Editing threshold", float, 0.0, 1.0,
                "A committed token is replaced when the model predicts another with probability above this "
                "(0: committed tokens never change).", (BLOCK_REFINEMENT,)),
    SettingSpec("corrector_steps", "Corrector sweeps", int, 0, 1000,
                "Gibbs corrector sweeps after each of the first predictor steps, taken out of the step budget "
                "(0: plain DDIM). Each sweep is a step of its own in the view.", (DDIM,)),
    SettingSpec("corrector_k", "Positions per sweep", int, 1, 100000,
                "How many of the least confident positions each corrector sweep resamples.", (DDIM,)),
    SettingSpec("corrector_selection_tau", "Selection temperature", float, 0.0, 1000.0,
                "Temperature of the random choice of positions to resample (lower: the least confident "
                "positions more surely).", (DDIM,), open_minimum=True),
    SettingSpec("stability_threshold", "Stability steps", int, 0, 1000,
                "Steps the draft must stay unchanged before the adaptive stop may fire (0: no stability check)."),
    SettingSpec("confidence_threshold", "Confidence threshold", float, 0.0, 100.0,
                "The adaptive stop fires when mean entropy falls below this and the draft is stable "
                "(0: it never fires, every canvas takes all its steps)."),
    SettingSpec("top_k", "Top-k candidates", int, 0, 10,
                "How many of each position's likeliest tokens every step records, for inspection (0: none). "
                "Observation only: the sampler draws exactly the same tokens whatever this is."),
)
SPEC_BY_NAME = {spec.name: spec for spec in SPECS}


@dataclass(frozen=True)
class SamplerSettings:
    max_new_tokens: int = FALLBACK_DEFAULTS["max_new_tokens"]
    max_denoising_steps: int = FALLBACK_DEFAULTS["max_denoising_steps"]
    entropy_bound: float = FALLBACK_DEFAULTS["entropy_bound"]
    t_min: float = FALLBACK_DEFAULTS["t_min"]
    t_max: float = FALLBACK_DEFAULTS["t_max"]
    stability_threshold: int = FALLBACK_DEFAULTS["stability_threshold"]
    confidence_threshold: float = FALLBACK_DEFAULTS["confidence_threshold"]
    top_k: int = 5  # candidates recorded per position and step (observation, not sampling); absent from old sessions
    seed: int | None = None  # None: a fresh random seed each run
    compile: bool = False  # static cache so transformers compiles the step (GPU users)
    # Which sampler runs, and the settings only some samplers use (see SPECS). Absent from sessions saved before
    # there was a choice: those open as entropy bound.
    sampler: str = ENTROPY_BOUND
    temperature: float = 0.0  # DiffusionGemmaPipeline's default: greedy
    threshold: float = 0.95  # BlockRefinementScheduler's default
    editing_threshold: float = 0.0  # 0: off (the scheduler's None)
    corrector_steps: int = 0  # DiscreteDDIMScheduler's defaults, from here down
    corrector_k: int = 1
    corrector_selection: str = CORRECTOR_SELECTIONS[0]
    corrector_selection_tau: float = 1.0

    def validated(self) -> SamplerSettings:
        """Return self, or raise SettingsError naming the first bad setting and its range."""
        for name, choices in CHOICES.items():
            if getattr(self, name) not in choices:
                raise SettingsError(f"{name} must be one of {', '.join(choices)}; got {getattr(self, name)!r}")
        for spec in SPECS:
            check_in_range(spec.name, getattr(self, spec.name))
        if self.t_max <= self.t_min:
            raise SettingsError(f"t_max must be greater than t_min (got t_max={self.t_max}, t_min={self.t_min})")
        schedule_problem = temperature_schedule_problem(self.t_min, self.t_max, int(self.max_denoising_steps))
        # in range yet NaN probabilities (t_min 0, t_max 1e-300): refused, see models/inputs/validation
        if schedule_problem:
            raise SettingsError(schedule_problem)
        if 0 < self.temperature < MIN_TEMPERATURE:  # logits / temperature would overflow to NaN probabilities
            raise SettingsError(f"temperature must be 0 (always the likeliest token) or at least {MIN_TEMPERATURE:g}, "
                                f"got {shown(self.temperature)}")
        seed = self.seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63):
            raise SettingsError(f"seed must be a whole number from 0 to 2^63-1, got {shown(seed)}")
        if not isinstance(self.compile, bool):  # a session's `"compile": null` would reach the window's checkbox
            raise SettingsError(f"compile must be true or false, got {shown(self.compile)}")
        return self

    def with_values(self, **changes: Any) -> SamplerSettings:
        """A copy with some values changed (ints coerced where the setting is whole), validated."""
        for name, value in changes.items():
            spec = SPEC_BY_NAME.get(name)
            if spec is not None and spec.kind is int and isinstance(value, float) and value.is_integer():
                changes[name] = int(value)
        return replace(self, **changes).validated()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SamplerSettings:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**data).validated()


def sampler_label(settings: SamplerSettings, always: bool = False) -> str:
    """How a run's name says its sampler: " · DDIM + 2 sweeps", " · Block refinement"; for entropy bound (the
    default, so runs read as they always did) nothing, unless `always` (beside runs of other samplers)."""
    if settings.sampler == ENTROPY_BOUND:
        return f" · {SAMPLER_LABELS[ENTROPY_BOUND]}" if always else ""
    if settings.sampler == DDIM and settings.corrector_steps:
        return f" · DDIM + {settings.corrector_steps} sweep{'s' if settings.corrector_steps > 1 else ''}"
    return f" · {SAMPLER_LABELS[settings.sampler]}"


def check_in_range(name: str, value: Any) -> None:
    """SettingsError unless `value` is a number in the range of setting `name` (whole, where the setting is).

    Alone, without the other settings: the command line checks its options with it before loading a model.
    """
    spec = SPEC_BY_NAME[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingsError(f"{name} must be a number, got {shown(value)}")
    if spec.kind is int and isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise SettingsError(f"{name} must be a whole number from {spec.minimum:g} to {spec.maximum:g}")
    # Compared as they are: an int of any size compares with the float bounds exactly, where math.isfinite or
    # float() on an int beyond 1e308 raises OverflowError.
    finite = isinstance(value, int) or math.isfinite(value)
    if spec.open_minimum and finite and value == spec.minimum:
        raise SettingsError(f"{name} must be in {spec.range_text()}, got {shown(value)}")
    if not finite or not spec.minimum <= value <= spec.maximum:
        raise SettingsError(f"{name} must be between {spec.minimum:g} and {spec.maximum:g}, got {shown(value)}"
                            if not spec.open_minimum else f"{name} must be in {spec.range_text()}, got {shown(value)}")


def defaults_from_generation_config(generation_config: Any) -> SamplerSettings:
    """The checkpoint's own sampler defaults where it sets them, the model card's otherwise."""
    values = dict(FALLBACK_DEFAULTS)
    if generation_config is not None:
        for name in ("max_new_tokens", "max_denoising_steps", "t_min", "t_max",
                     "stability_threshold", "confidence_threshold"):
            value = getattr(generation_config, name, None)
            if value is not None:
                values[name] = value
        sampler_config = getattr(generation_config, "sampler_config", None)
        bound = getattr(sampler_config, "entropy_bound", None)
        if bound is None and isinstance(sampler_config, dict):
            bound = sampler_config.get("entropy_bound")
        if bound is not None:
            values["entropy_bound"] = bound
    return SamplerSettings(**values).validated()
