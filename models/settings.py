"""Sampler settings: defaults from the checkpoint's generation config, validated with messages a user can act on."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from models.json_fields import shown
from models.validation import temperature_schedule_problem

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


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("max_new_tokens", "Max new tokens", int, 1, 32768,
                "Token budget. The model writes whole canvases, so this is rounded up to a multiple of the canvas."),
    SettingSpec("max_denoising_steps", "Denoising steps", int, 1, 1000,
                "Most denoising steps per canvas; the adaptive stop may end a canvas sooner."),
    SettingSpec("entropy_bound", "Entropy bound", float, 1e-6, 1000.0,
                "How much joint uncertainty the sampler accepts per step: higher accepts more tokens per step "
                "(faster, riskier)."),
    SettingSpec("t_min", "Final temperature", float, 0.0, 100.0,
                "Temperature at the last step; the schedule falls linearly from t_max to t_min."),
    SettingSpec("t_max", "Initial temperature", float, 0.0, 100.0,
                "Temperature at the first step; must be above t_min."),
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

    def validated(self) -> SamplerSettings:
        """Return self, or raise SettingsError naming the first bad setting and its range."""
        for spec in SPECS:
            check_in_range(spec.name, getattr(self, spec.name))
        if self.t_max <= self.t_min:
            raise SettingsError(f"t_max must be greater than t_min (got t_max={self.t_max}, t_min={self.t_min})")
        schedule_problem = temperature_schedule_problem(self.t_min, self.t_max, int(self.max_denoising_steps))
        if schedule_problem:  # in range yet NaN probabilities (t_min 0, t_max 1e-300): refused, see models/validation
            raise SettingsError(schedule_problem)
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
    if not finite or not spec.minimum <= value <= spec.maximum:
        raise SettingsError(f"{name} must be between {spec.minimum:g} and {spec.maximum:g}, got {shown(value)}")


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
