"""The editing trials of the evaluation: what a user does to a Latin square in the editor, scored as a checker would.

- a square from scratch ("Write a 4x4 Latin square.", any valid square is right);
- fill around 1 lock, and around 2 locks: a valid square with one cell (or two) set to another digit and locked,
  every other position re-denoised (`Generator.fill_around`, Ctrl+Shift+F). Two locks never share a row or a column
  with the same digit, so a valid square keeping both always exists;
- re-denoise one whole row of a valid square (`Generator.rewrite` over the row's digits, Ctrl+R): the other rows
  fix its only solution.

A trial is right when the answer is a Latin square that keeps every locked digit. The squares come from
`models.training.independent` (numpy's RNG, its own backtracking), not from the training generator.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.engine.generator import Generation, Generator
from models.training.data import FREE_LATIN_PROMPT, is_latin, latin_solutions, latin_text, parse_latin
from models.training.independent import random_square
from models.work.events import GenerationResult
from models.work.prompts import Prompt

#: (report name, kind) of each trial, in the order the report prints them.
EDIT_TRIALS: tuple[tuple[str, str], ...] = (
    ("Latin square from scratch", "scratch"),
    ("fill around 1 lock", "fill-1"),
    ("fill around 2 locks", "fill-2"),
    ("re-denoise one row (Ctrl+R)", "row"),
)


@dataclass
class EditTally:
    correct: int = 0
    total: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, ok: bool, shown: str) -> None:
        self.correct += int(ok)
        self.total += 1
        if not ok and len(self.misses) < 2:
            self.misses.append(shown)


def _last(events: Iterable[Any]) -> GenerationResult:
    results = [e for e in events if isinstance(e, GenerationResult)]
    return results[-1]


def _valid_keeping(answer: str, kept: dict[int, int]) -> bool:
    cells = parse_latin(answer)
    return cells is not None and is_latin(cells) and all(cells[c] == d for c, d in kept.items())


def _digit_positions(generator: Generator, ids: np.ndarray) -> list[int]:
    """Token positions of the 16 cells (every digit is one token in the demo's vocabulary)."""
    digits = {generator.tokenizer.convert_tokens_to_ids(str(d)) for d in (1, 2, 3, 4)}
    positions = [i for i, token in enumerate(ids) if int(token) in digits]
    if len(positions) != 16:
        raise ValueError(f"expected the 16 cells of a square as single tokens, found {len(positions)}")
    return positions


def choose_locks(rng: np.random.Generator, cells: list[int], count: int) -> dict[int, int]:
    """`count` cells set to another digit, no two in one row or column with the same digit, some square fitting."""
    while True:
        chosen = [int(c) for c in rng.choice(16, size=count, replace=False)]
        kept = {c: int(rng.choice([d for d in (1, 2, 3, 4) if d != cells[c]])) for c in chosen}
        clash = any(a != b and kept[a] == kept[b] and (a // 4 == b // 4 or a % 4 == b % 4) for a in kept for b in kept)
        givens = [kept.get(c) for c in range(16)]
        if not clash and latin_solutions(givens):
            return kept


def run_edit_trials(generator: Generator, settings: Any, count: int, seed: int) -> dict[str, EditTally]:
    """`count` trials of each kind in EDIT_TRIALS, seeded; returns a tally per kind."""
    rng = np.random.default_rng([seed, 20261206])
    prompt = Prompt(user=FREE_LATIN_PROMPT)
    tallies = {kind: EditTally() for _, kind in EDIT_TRIALS}
    for trial in range(count):
        chosen = settings.with_values(seed=seed * 1000 + trial)
        answer = _last(generator.generate(prompt, chosen)).answer
        tallies["scratch"].add(_valid_keeping(answer, {}), repr(answer))
        for kind, lock_count in (("fill-1", 1), ("fill-2", 2)):
            cells = random_square(rng)
            kept = choose_locks(rng, cells, lock_count)
            generation = generator.from_text(prompt, latin_text(cells), chosen)
            ids = generation.token_ids.copy()
            positions = _digit_positions(generator, ids)
            for cell, digit in kept.items():
                ids[positions[cell]] = generator.tokenizer.convert_tokens_to_ids(str(digit))
            locks = [positions[cell] for cell in kept]
            answer = _last(generator.fill_around(generation.with_ids(ids), locks, chosen)).answer
            tallies[kind].add(_valid_keeping(answer, kept),
                              f"{latin_text(cells)!r} locked {kept} -> {answer!r}")
        cells = random_square(rng)
        row = int(rng.integers(0, 4))
        generation: Generation = generator.from_text(prompt, latin_text(cells), chosen)
        positions = _digit_positions(generator, generation.token_ids)
        span = (positions[row * 4], positions[row * 4 + 3] + 1)
        answer = _last(generator.rewrite(generation, span, (), chosen)).answer
        others = {c: cells[c] for c in range(16) if c // 4 != row}
        tallies["row"].add(_valid_keeping(answer, others), f"{latin_text(cells)!r} row {row} -> {answer!r}")
    return tallies
