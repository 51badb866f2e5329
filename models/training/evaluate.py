"""Evaluate a checkpoint with the real sampler (the engine's Generator), on two independent sources of prompts.

    python -m models.training.evaluate [--checkpoint resources/demo-model] [--per-task 50] [--locks 50]

For each task: exact match on the held-out split of the training generator (prompts training never yields; images
from the evaluation seed) and on prompts drawn independently of the training code (`models.training.independent`),
mean denoising steps per canvas and how often the adaptive stop fired. Then the editing trials
(`models.training.edit_trials`): a square from scratch, fill around 1 and 2 locks, and one row re-denoised, each
scored as a valid square that keeps what was locked. The last lines are the Markdown tables README shows.
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

from models.checkpoint.loading import load_checkpoint
from models.engine.generator import Generator
from models.training.data import examples, shape_example
from models.training.edit_trials import EDIT_TRIALS, run_edit_trials
from models.training.independent import Case, independent_cases
from models.work.events import GenerationResult
from models.work.prompts import Prompt

#: (report name, task, kind): the shape task is scored per question, rewrites per instruction.
SUITES: tuple[tuple[str, str, str | None], ...] = (
    ("largest / smallest of 3-7 digits", "extreme", None),
    ("sort 3-7 digits", "sort", None),
    ("complete a Latin square (4-11 blanks)", "latin", "puzzle"),
    ("image: colour", "shape", "colour"),
    ("image: shape", "shape", "shape"),
    ('image: colour and shape ("A red circle.")', "shape", "both"),
    ('rewrite: "Reverse"', "rewrite", "reverse"),
    ('rewrite: "Sort ascending"', "rewrite", "ascending"),
    ('rewrite: "Sort descending"', "rewrite", "descending"),
    ('rewrite: "Replace 3 with 7" (any digits)', "rewrite", "replace"),
    ('rewrite: "Double each number"', "rewrite", "double"),
)
SOURCES = ("held-out", "independent")


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
        if not ok and len(self.failures) < 2:
            self.failures.append(shown)


def run(generator: Generator, prompt: Prompt, settings: Any) -> GenerationResult:
    result = None
    for event in generator.generate(prompt, settings):
        if isinstance(event, GenerationResult):
            result = event
    assert result is not None
    return result


def held_out_cases(task: str, kind: str | None, count: int, seed: int) -> list[Case]:
    """Cases from the training generator's evaluation split (distinct prompts), or its images from an eval seed."""
    if task == "shape":
        rng = random.Random(f"shape:{seed}:eval:{kind}")
        made = [shape_example(rng, kind) for _ in range(count)]
        return [Case(Prompt(user=e.user, images=(e.image,)), e.answer) for e in made]
    chosen: list[Case] = []
    seen: set[str] = set()
    for example in examples(task, seed, "eval"):
        if (kind is None or example.kind == kind) and example.user not in seen:
            seen.add(example.user)
            chosen.append(Case(Prompt(user=example.user, system=example.system), example.answer))
            if len(chosen) == count:
                return chosen
    raise AssertionError("unreachable: the example stream is endless")


def _score(generator: Generator, cases: list[Case], settings: Any, seed: int, tally: Tally) -> None:
    for index, case in enumerate(cases):
        result = run(generator, case.prompt, settings.with_values(seed=seed * 100_000 + index))
        tally.add(result.answer.strip() == case.answer, result,
                  f"{case.prompt.user[-60:]!r} -> {result.answer!r} (want {case.answer!r})")


def markdown_table(report: dict[str, Any]) -> str:
    """README's table: one row per task, both prompt sources, steps per canvas and adaptive-stop rate."""
    rows = ["| task | held-out split | independent prompts | steps per canvas | adaptive stop |",
            "| --- | --- | --- | --- | --- |"]
    for name, task in report["tasks"].items():
        held, fresh = task["held-out"], task["independent"]
        rows.append(f"| {name} | {100 * held['accuracy']:.0f}% | {100 * fresh['accuracy']:.0f}% | "
                    f"{task['mean_steps']:.1f} | {100 * task['adaptive_stop_rate']:.0f}% |")
    if report.get("edits"):
        rows += ["", "| editing a Latin square | valid, keeping the locks |", "| --- | --- |"]
        rows += [f"| {name} | {edit['correct']}/{edit['total']} ({100 * edit['accuracy']:.0f}%) |"
                 for name, edit in report["edits"].items()]
    return "\n".join(rows)


def evaluate(checkpoint: str | Path | None, per_task: int = 50, locks: int = 50, seed: int = 0,
             out: Any = sys.stdout, **setting_overrides: Any) -> dict[str, Any]:
    """Print and return the numbers; `setting_overrides` change the checkpoint's sampler defaults (tests)."""
    loaded = load_checkpoint(checkpoint, device="cpu", dtype="fp32")
    generator = Generator(loaded)
    settings = loaded.defaults.with_values(max_new_tokens=loaded.canvas_length, seed=seed, **setting_overrides)
    report: dict[str, Any] = {"checkpoint": str(loaded.path), "per_task": per_task, "seed": seed, "tasks": {}}
    all_steps: list[int] = []
    all_stops: list[bool] = []
    start = time.perf_counter()
    print(f"checkpoint {loaded.path}  ({per_task} prompts per task and source, sampler defaults, seed {seed})",
          file=out)
    for name, task, kind in SUITES:
        tallies = {"held-out": Tally(), "independent": Tally()}
        _score(generator, held_out_cases(task, kind, per_task, seed), settings, seed, tallies["held-out"])
        _score(generator, independent_cases(task, kind, per_task, seed), settings, seed + 1, tallies["independent"])
        steps = [s for t in tallies.values() for s in t.steps]
        stops = [s for t in tallies.values() for s in t.stops]
        all_steps += steps
        all_stops += stops
        entry: dict[str, Any] = {"mean_steps": sum(steps) / max(1, len(steps)),
                                 "adaptive_stop_rate": sum(stops) / max(1, len(stops))}
        for source, tally in tallies.items():
            entry[source] = {"correct": tally.correct, "total": tally.total,
                             "accuracy": tally.correct / max(1, tally.total)}
        report["tasks"][name] = entry
        held, fresh = tallies["held-out"], tallies["independent"]
        print(f"  {name:44s} held-out {held.correct:3d}/{held.total:<3d} independent {fresh.correct:3d}/"
              f"{fresh.total:<3d} steps/canvas {entry['mean_steps']:5.1f}  adaptive stop "
              f"{100 * entry['adaptive_stop_rate']:5.1f}%", file=out)
        for failure in held.failures + fresh.failures:
            print(f"      miss: {failure}", file=out)
    report["mean_steps"] = sum(all_steps) / max(1, len(all_steps))
    report["adaptive_stop_rate"] = sum(all_stops) / max(1, len(all_stops))
    print(f"  all canvases: mean denoising steps {report['mean_steps']:.1f} (of at most "
          f"{settings.max_denoising_steps}), adaptive stop fired on {100 * report['adaptive_stop_rate']:.1f}%",
          file=out)
    if locks:
        report["edits"] = {}
        tallies = run_edit_trials(generator, settings, locks, seed)
        for name, kind in EDIT_TRIALS:
            tally = tallies[kind]
            report["edits"][name] = {"correct": tally.correct, "total": tally.total,
                                     "accuracy": tally.correct / max(1, tally.total)}
            print(f"  {name:44s} {tally.correct:3d}/{tally.total:<3d} valid squares keeping the locks", file=out)
            for miss in tally.misses:
                print(f"      miss: {miss}", file=out)
    report["seconds"] = time.perf_counter() - start
    print(f"  evaluated in {report['seconds']:.0f} s\n\n{markdown_table(report)}", file=out)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluate a checkpoint on the demo tasks with the real sampler.")
    parser.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the shipped demo model)")
    parser.add_argument("--per-task", type=int, default=50, help="prompts per task and per source")
    parser.add_argument("--locks", type=int, default=50, help="trials of each editing kind (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    report = evaluate(args.checkpoint, args.per_task, args.locks, args.seed)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
