"""Parity and speed runs shared by the check scripts: the engine, all observation on, against bare `generate`.

Every function takes a loaded model (any device, any placement) and plain settings, and returns plain dicts that go
straight into a JSON report. Timing syncs the GPU before reading the clock, so queued kernels are counted.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from transformers.models.diffusion_gemma.generation_diffusion_gemma import EntropyBoundSamplerConfig

from models.checkpoint.loading import LoadedModel
from models.engine.generator import Generation, Generator
from models.work.events import GenerationResult, StepSnapshot
from models.work.prompts import Prompt
from models.work.settings import SamplerSettings


def _sync(loaded: LoadedModel) -> None:
    if loaded.device.type == "cuda":
        torch.cuda.synchronize(loaded.device)


def generate_kwargs(settings: SamplerSettings) -> dict[str, Any]:
    """`model.generate` arguments for the same sampler settings the engine runs with."""
    kwargs: dict[str, Any] = {
        "max_new_tokens": int(settings.max_new_tokens),
        "max_denoising_steps": int(settings.max_denoising_steps),
        "sampler_config": EntropyBoundSamplerConfig(entropy_bound=float(settings.entropy_bound)),
        "t_min": float(settings.t_min),
        "t_max": float(settings.t_max),
        "stability_threshold": int(settings.stability_threshold),
        "confidence_threshold": float(settings.confidence_threshold),
    }
    if settings.compile:
        kwargs["cache_implementation"] = "static"  # generate() then compiles, as the engine does
    return kwargs


def reference_ids(loaded: LoadedModel, prompt: Prompt, settings: SamplerSettings) -> list[int]:
    """The contract: the same prompt tensors, a global seed, then the stock `model.generate`."""
    inputs = Generator(loaded).prompt_inputs(prompt)
    torch.manual_seed(settings.seed)
    with torch.inference_mode():
        out = loaded.model.generate(**inputs, **generate_kwargs(settings))
    _sync(loaded)
    return out.sequences[0, inputs["input_ids"].shape[1] :].tolist()


def engine_ids(loaded: LoadedModel, prompt: Prompt, settings: SamplerSettings) -> tuple[list[int], int]:
    """Ids from the engine with every step snapshot produced and read, and the number of steps it streamed."""
    steps, result = 0, None
    for event in Generator(loaded).generate(prompt, settings):
        if isinstance(event, StepSnapshot):
            steps += int(event.accepted.sum() >= 0)  # touch the arrays, as a consumer would
        elif isinstance(event, GenerationResult):
            result = event
    _sync(loaded)
    assert result is not None
    return result.token_ids.tolist(), steps


def _first_difference(a: list[int], b: list[int]) -> int | None:
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return index
    return None if len(a) == len(b) else min(len(a), len(b))


def parity(loaded: LoadedModel, prompt: Prompt, settings: SamplerSettings, seeds: Iterable[int]) -> dict[str, Any]:
    """Engine ids against `generate` for each seed: how many are identical, and where the others first differ."""
    seeds = list(seeds)
    mismatches = []
    for seed in seeds:
        chosen = settings.with_values(seed=seed)
        expected, (ids, _) = reference_ids(loaded, prompt, chosen), engine_ids(loaded, prompt, chosen)
        if ids != expected:
            mismatches.append({"seed": seed, "first_difference": _first_difference(ids, expected)})
    return {
        "runs": len(seeds),
        "identical": len(seeds) - len(mismatches),
        "mismatches": mismatches,
        "tokens": int(settings.max_new_tokens),
    }


def locks_hold(
    loaded: LoadedModel, prompt: Prompt, settings: SamplerSettings, span: tuple[int, int], locks: list[int]
) -> dict[str, Any]:
    """Re-denoise a span with locks: locked ids never change at any step, nor does anything outside the span."""
    generator = Generator(loaded)
    first = [e for e in generator.generate(prompt, settings) if isinstance(e, GenerationResult)][-1]
    generation = Generation(prompt, first.token_ids, settings)
    canvas = loaded.canvas_length
    events = list(generator.rewrite(generation, span, locks, settings.with_values(seed=int(settings.seed or 0) + 1)))
    after = events[-1].token_ids
    keep = np.ones(len(after), dtype=bool)
    keep[span[0] : span[1]] = False
    keep[locks] = True
    step_violations = 0
    for event in events:
        if isinstance(event, StepSnapshot):
            offset = event.canvas_index * canvas  # canvas indices count from the first generated token
            held = np.array([p for p in locks if offset <= p < offset + canvas], dtype=np.int64)
            step_violations += int((event.argmax[held - offset] != first.token_ids[held]).sum())
    return {
        "span": list(span),
        "locks": locks,
        "locked_changed_at_any_step": step_violations,
        "kept_positions_changed": int((after[keep] != first.token_ids[keep]).sum()),
        "span_positions_changed": int((after[~keep] != first.token_ids[~keep]).sum()),
    }


def compare_speed(
    loaded: LoadedModel,
    prompt: Prompt,
    settings: SamplerSettings,
    rounds: int = 3,
    deadline: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    """Bare `generate` and the engine, interleaved (warm-up first, order alternating); medians, ratio and tokens/s.

    Stops after the round in progress once `deadline` (time.monotonic) passes; at least one round always runs.
    """
    runs = {
        "generate": lambda: reference_ids(loaded, prompt, settings),
        "engine": lambda: engine_ids(loaded, prompt, settings)[0],
    }
    start = clock()
    warm = {name: run() for name, run in runs.items()}  # first calls pay allocation (and compile) costs
    first_seconds = clock() - start
    times: dict[str, list[float]] = {name: [] for name in runs}
    same_ids = warm["generate"] == warm["engine"]
    for index in range(rounds):
        if index and deadline is not None and time.monotonic() > deadline:
            break
        order = list(runs.items())[:: -1 if index % 2 else 1]  # alternate, so drift in load hits both alike
        ids = {}
        for name, run in order:
            begin = clock()
            ids[name] = run()
            times[name].append(clock() - begin)
        same_ids = same_ids and ids["generate"] == ids["engine"]
    steps = int(settings.max_denoising_steps)
    canvases = -(-int(settings.max_new_tokens) // loaded.canvas_length)
    tokens = canvases * loaded.canvas_length
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "rounds": len(times["engine"]),
        "steps_per_canvas": steps,
        "canvases": canvases,
        "same_ids": same_ids,
        "warm_up_seconds": round(first_seconds, 3),
        "generate_seconds": [round(v, 4) for v in times["generate"]],
        "engine_seconds": [round(v, 4) for v in times["engine"]],
        "speed_ratio": round(medians["generate"] / medians["engine"], 4),  # engine speed / bare speed
        "engine_ms_per_step": round(1000 * medians["engine"] / (steps * canvases), 3),
        "generate_ms_per_step": round(1000 * medians["generate"] / (steps * canvases), 3),
        "engine_tokens_per_second": round(tokens / medians["engine"], 1),
        "generate_tokens_per_second": round(tokens / medians["generate"], 1),
    }
