"""Evaluation prompts drawn independently of the training code: own generators, own RNG, own answers.

The held-out split (`data.examples(..., "eval")`) shares its generator with training, so a quirk of that
generator (how many blanks a puzzle really gets, how a passage is chosen) would be shared by the test too. Here every
task is written again from its definition in README ("The demo model"), with numpy's RNG instead of Python's:
- largest / smallest of 3-7 digits; sort 3-7 digits (lists may repeat digits);
- a 4x4 Latin square with 4-11 blanks (as "_") and exactly one completion;
- a filled circle, square, triangle (apex up) or plus-shaped cross, 288 px and centred on a 384 px light background,
  in one of six colours with a little jitter; asked its colour, its shape, or both ("A red circle.");
- rewrite by instruction in Ctrl+K's prompt (`models.work.rewriting.rewrite_prompt`, the one piece shared with training,
  because the app sends exactly that): a run of 2 or more numbers of a 3-7 digit list, or 1-4 whole rows of a Latin
  square, with the instruction applied to each line.
A short prompt drawn here may also occur in training (there are only 1000 lists of three digits): that is part of
what "independent" measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from models.work.prompts import Prompt
from models.work.rewriting import rewrite_prompt

PALETTE = {"red": (220, 30, 30), "green": (30, 170, 50), "blue": (30, 70, 220), "yellow": (240, 210, 20),
           "purple": (140, 40, 170), "orange": (245, 130, 20)}
FIGURES = ("circle", "square", "triangle", "cross")
QUESTIONS = {"colour": "What colour is the shape?", "shape": "What shape is it?", "both": "Describe the picture."}


@dataclass(frozen=True)
class Case:
    prompt: Prompt
    answer: str


def _digits(rng: np.random.Generator) -> list[int]:
    return [int(d) for d in rng.integers(0, 10, size=int(rng.integers(3, 8)))]


def extreme_case(rng: np.random.Generator) -> Case:
    values = _digits(rng)
    if rng.random() < 0.5:
        return Case(Prompt(user=f"Largest of {' '.join(map(str, values))}?"), str(max(values)))
    return Case(Prompt(user=f"Smallest of {' '.join(map(str, values))}?"), str(min(values)))


def sort_case(rng: np.random.Generator) -> Case:
    values = _digits(rng)
    return Case(Prompt(user="Sort " + " ".join(map(str, values))), " ".join(map(str, sorted(values))))


# ----------------------------------------------------------------------------------------------------------------
# Latin squares, by backtracking

def _candidates(grid: list[int], cell: int) -> set[int]:
    row, col = divmod(cell, 4)
    used = {grid[row * 4 + c] for c in range(4)} | {grid[r * 4 + col] for r in range(4)}
    return {1, 2, 3, 4} - used


def _solutions(grid: list[int], limit: int = 2) -> list[list[int]]:
    """Up to `limit` completions of a grid (0 = blank)."""
    if 0 not in grid:
        return [list(grid)]
    cell = grid.index(0)
    found: list[list[int]] = []
    for digit in sorted(_candidates(grid, cell)):
        grid[cell] = digit
        found += _solutions(grid, limit - len(found))
        grid[cell] = 0
        if len(found) >= limit:
            break
    return found


def random_square(rng: np.random.Generator) -> list[int]:
    """A random 4x4 Latin square, filled cell by cell with shuffled candidates and backtracking."""
    grid = [0] * 16

    def fill(cell: int) -> bool:
        if cell == 16:
            return True
        options = sorted(_candidates(grid, cell))
        for digit in rng.permutation(options) if options else []:
            grid[cell] = int(digit)
            if fill(cell + 1):
                return True
        grid[cell] = 0
        return False

    fill(0)
    return grid


def _grid_text(grid: list[int]) -> str:
    return "\n".join("".join("_" if v == 0 else str(v) for v in grid[r * 4:r * 4 + 4]) for r in range(4))


def latin_puzzle_case(rng: np.random.Generator) -> Case:
    """A square with 4-11 cells blanked at random, drawn again until exactly one completion remains."""
    blanks = int(rng.integers(4, 12))
    while True:
        solution = random_square(rng)
        puzzle = list(solution)
        for cell in rng.choice(16, size=blanks, replace=False):
            puzzle[int(cell)] = 0
        if len(_solutions(list(puzzle))) == 1:
            return Case(Prompt(user="Complete the Latin square:\n" + _grid_text(puzzle)), _grid_text(solution))


# ----------------------------------------------------------------------------------------------------------------
# Pictures, drawn with numpy masks

def draw_figure(rng: np.random.Generator, figure: str, colour: str) -> Image.Image:
    size, margin = 384, 48
    y, x = np.mgrid[0:size, 0:size] + 0.5
    low, high = margin, size - margin
    inside = (x >= low) & (x <= high) & (y >= low) & (y <= high)
    if figure == "circle":
        mask = (x - size / 2) ** 2 + (y - size / 2) ** 2 <= ((high - low) / 2) ** 2
    elif figure == "square":
        mask = inside
    elif figure == "triangle":  # apex at the top middle, base along the bottom
        half_width = (y - low) / (high - low) * (high - low) / 2
        mask = inside & (np.abs(x - size / 2) <= half_width)
    else:  # a plus sign whose arms are a fifth of the figure wide
        arm = (high - low) * 2 // 5
        mask = inside & (((x >= low + arm) & (x <= high - arm)) | ((y >= low + arm) & (y <= high - arm)))
    pixels = np.empty((size, size, 3), dtype=np.uint8)
    pixels[:] = rng.integers(225, 256, size=3)
    fill = np.clip(np.array(PALETTE[colour]) + rng.integers(-20, 21, size=3), 0, 255)
    pixels[mask] = fill
    return Image.fromarray(pixels, "RGB")


def picture_case(rng: np.random.Generator, question: str) -> Case:
    figure, colour = str(rng.choice(FIGURES)), str(rng.choice(list(PALETTE)))
    answer = {"colour": colour, "shape": figure, "both": f"A {colour} {figure}."}[question]
    return Case(Prompt(user=QUESTIONS[question], images=(draw_figure(rng, figure, colour),)), answer)


# ----------------------------------------------------------------------------------------------------------------
# Rewrites

def rewritten(kind: str, passage: str, old: str = "", new: str = "") -> str:
    """The passage after the instruction, line by line (a Latin row's digits are its numbers)."""
    lines = []
    for line in passage.splitlines():
        spaced = " " in line
        numbers = line.split() if spaced else list(line)
        if kind == "reverse":
            numbers.reverse()
        elif kind in ("ascending", "descending"):
            numbers.sort(key=int, reverse=kind == "descending")
        elif kind == "double":
            numbers = [str(int(n) * 2) for n in numbers]
        elif kind == "replace":
            numbers = [new if n == old else n for n in numbers]
        lines.append((" " if spaced else "").join(numbers))
    return "\n".join(lines)


INSTRUCTION = {"reverse": "Reverse", "ascending": "Sort ascending", "descending": "Sort descending",
               "double": "Double each number"}


def rewrite_case(rng: np.random.Generator, kind: str) -> Case:
    if rng.random() < 0.5:  # a list
        values = _digits(rng)
        if rng.random() < 0.5:
            values.sort()
        words = [str(v) for v in values]
        count = int(rng.integers(2, len(words) + 1))
        first = int(rng.integers(0, len(words) - count + 1))
        text = " ".join(words)
        start = len(" ".join(words[:first])) + (1 if first else 0)
        end = start + len(" ".join(words[first:first + count]))
    else:  # whole rows of a square
        text = _grid_text(random_square(rng))
        count = int(rng.integers(1, 5))
        first = int(rng.integers(0, 5 - count))
        start, end = 5 * first, 5 * (first + count) - 1
    passage = text[start:end]
    old = new = ""
    if kind == "replace":
        old = str(rng.choice(sorted(set(passage) - {" ", "\n"})))
        new = str(rng.choice([d for d in "0123456789" if d != old]))
        instruction = f"Replace {old} with {new}"
    else:
        instruction = INSTRUCTION[kind]
    return Case(rewrite_prompt(instruction, text, start, end), rewritten(kind, passage, old, new))


def independent_cases(task: str, kind: str | None, count: int, seed: int) -> list[Case]:
    """`count` cases of one suite (task and kind as in evaluate.SUITES), from numpy's RNG seeded by the suite."""
    rng = np.random.default_rng([seed, sum(map(ord, f"{task}/{kind}")), 20261126])
    make: Any = {
        "extreme": lambda: extreme_case(rng),
        "sort": lambda: sort_case(rng),
        "latin": lambda: latin_puzzle_case(rng),
        "shape": lambda: picture_case(rng, str(kind)),
        "rewrite": lambda: rewrite_case(rng, str(kind)),
    }[task]
    return [make() for _ in range(count)]
