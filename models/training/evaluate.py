"""Evaluate a checkpoint on held-out prompts with the real sampler (the engine's Generator).

    python -m models.training.evaluate [--checkpoint resources/demo-model] [--per-task 50] [--locks 30]

Prints exact-match accuracy per task, mean denoising steps per canvas, how often the adaptive stop fired, and, for
the Latin square, how often an answer re-denoised around a locked cell (set to a different digit) is a Latin square
that keeps the lock. Text prompts come from the evaluation split (training never yields them); images are drawn
from the evaluation seed, so none was seen in training.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.events import GenerationResult
from models.generator import Generation, Generator
from models.loading import load_checkpoint
from models.prompts import Prompt
from models.training.data import (
    FREE_LATIN_PROMPT,
    Example,
    examples,
    is_latin,
    latin_text,
    parse_latin,
    shape_example,
)

#: (report name, task, kind filter): the shape task is scored per question so colour and shape are apart.
SUITES: tuple[tuple[str, str, str | None], ...] = (
    ("largest/smallest", "extreme", None),
    ("sort", "sort", None),
    ("latin square (puzzle)", "latin", "puzzle"),
    ("image: colour", "shape", "colour"),
    ("image: shape", "shape", "shape"),
    ("image: colour and shape", "shape", "both"),
)


@dataclass
class Tally:
    correct: int = 0
    total: int = 0
    steps: list[int] = field(default_factory=list)
    stops: list[bool] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add(self, ok: bool, result: GenerationResult, shown: str) -> None:
        self.correct += int(ok)
        self.total += 1
        self.steps.extend(result.canvas_steps)
        self.stops.extend(result.adaptive_stops)
        if not ok and len(self.failures) < 3:
            self.failures.append(shown)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def run(generator: Generator, prompt: Prompt, settings: Any) -> GenerationResult:
    result = None
    for event in generator.generate(prompt, settings):
        if isinstance(event, GenerationResult):
            result = event
    assert result is not None
    return result


def held_out_examples(task: str, kind: str | None, count: int, seed: int) -> list[Example]:
    if task == "shape":
        rng = random.Random(f"shape:{seed}:eval:{kind}")
        return [shape_example(rng, kind) for _ in range(count)]
    chosen: list[Example] = []
    seen: set[str] = set()
    for example in examples(task, seed, "eval"):
        if (kind is None or example.kind == kind) and example.user not in seen:
            seen.add(example.user)
            chosen.append(example)
            if len(chosen) == count:
                break
    return chosen


def lock_trials(generator: Generator, settings: Any, count: int, seed: int) -> tuple[int, int, int]:
    """(consistent, trials, own answers used): generate a square, set one cell to another digit and lock it,
    fill around the lock, and check the result is a Latin square that keeps it."""
    rng = random.Random(f"locks:{seed}")
    tokenizer = generator.tokenizer
    prompt = Prompt(user=FREE_LATIN_PROMPT)
    consistent = own = 0
    for trial in range(count):
        first = run(generator, prompt, settings.with_values(seed=seed * 1000 + trial))
        cells = parse_latin(first.answer)
        if cells is not None and is_latin(cells):
            own += 1
            generation = Generation(prompt=prompt, token_ids=first.token_ids, settings=settings)
        else:  # start from a valid square, so the trial measures the lock, not the first answer
            cells = [1, 2, 3, 4, 3, 4, 1, 2, 2, 1, 4, 3, 4, 3, 2, 1]
            generation = generator.from_text(prompt, latin_text(cells), settings)
        cell = rng.randrange(16)
        digit = rng.choice([d for d in (1, 2, 3, 4) if d != cells[cell]])
        digit_ids = {tokenizer.convert_tokens_to_ids(str(d)) for d in (1, 2, 3, 4)}
        ids = generation.token_ids.copy()
        position = [i for i, token in enumerate(ids) if int(token) in digit_ids][cell]  # digits are single tokens
        ids[position] = tokenizer.convert_tokens_to_ids(str(digit))
        result = None
        for event in generator.fill_around(generation.with_ids(ids), [position],
                                           settings.with_values(seed=seed * 1000 + trial)):
            if isinstance(event, GenerationResult):
                result = event
        filled = parse_latin(result.answer) if result is not None else None
        consistent += int(filled is not None and is_latin(filled) and filled[cell] == digit)
    return consistent, count, own


def evaluate(checkpoint: str | Path | None, per_task: int = 50, locks: int = 30, seed: int = 0,
             out: Any = sys.stdout, **setting_overrides: Any) -> dict[str, Any]:
    """Print and return the numbers; `setting_overrides` change the checkpoint's sampler defaults (tests)."""
    loaded = load_checkpoint(checkpoint, device="cpu", dtype="fp32")
    generator = Generator(loaded)
    settings = loaded.defaults.with_values(max_new_tokens=loaded.canvas_length, seed=seed, **setting_overrides)
    report: dict[str, Any] = {"checkpoint": str(loaded.path), "tasks": {}}
    all_steps: list[int] = []
    all_stops: list[bool] = []
    start = time.perf_counter()
    print(f"checkpoint {loaded.path}  ({per_task} held-out prompts per task, sampler defaults, seed {seed})", file=out)
    for name, task, kind in SUITES:
        tally = Tally()
        for index, example in enumerate(held_out_examples(task, kind, per_task, seed)):
            images = (example.image,) if example.image is not None else ()
            result = run(generator, Prompt(user=example.user, images=images),
                         settings.with_values(seed=seed * 100_000 + index))
            tally.add(result.answer.strip() == example.answer, result,
                      f"{example.user!r} -> {result.answer!r} (want {example.answer!r})")
        all_steps += tally.steps
        all_stops += tally.stops
        mean_steps = sum(tally.steps) / max(1, len(tally.steps))
        stop_rate = sum(tally.stops) / max(1, len(tally.stops))
        report["tasks"][name] = {"accuracy": tally.accuracy, "correct": tally.correct, "total": tally.total,
                                 "mean_steps": mean_steps, "adaptive_stop_rate": stop_rate}
        print(f"  {name:26s} exact match {tally.correct:3d}/{tally.total:<3d} = {100 * tally.accuracy:5.1f}%   "
              f"steps/canvas {mean_steps:5.1f}   adaptive stop {100 * stop_rate:5.1f}%", file=out)
        for failure in tally.failures:
            print(f"      miss: {failure}", file=out)
    report["mean_steps"] = sum(all_steps) / max(1, len(all_steps))
    report["adaptive_stop_rate"] = sum(all_stops) / max(1, len(all_stops))
    print(f"  all canvases: mean denoising steps {report['mean_steps']:.1f} (of at most "
          f"{settings.max_denoising_steps}), adaptive stop fired on {100 * report['adaptive_stop_rate']:.1f}%",
          file=out)
    if locks:
        consistent, trials, own = lock_trials(generator, settings, locks, seed)
        report["lock_consistency"] = consistent / trials
        print(f"  latin square with a locked cell (set to another digit, fill around): {consistent}/{trials} = "
              f"{100 * consistent / trials:.1f}% consistent with the lock ({own} started from the model's own "
              f"valid square)", file=out)
    report["seconds"] = time.perf_counter() - start
    print(f"  evaluated in {report['seconds']:.0f} s", file=out)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluate a checkpoint on the demo tasks with the real sampler.")
    parser.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the shipped demo model)")
    parser.add_argument("--per-task", type=int, default=50)
    parser.add_argument("--locks", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    report = evaluate(args.checkpoint, args.per_task, args.locks, args.seed)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
