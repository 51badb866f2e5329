"""Task data the demo model learns, generated here from a seed (never stored): text puzzles and drawn shapes.

Each task makes the app's features meaningful:
- `extreme`: "Largest of 7 2 9?" -> "9". A one-token answer that converges within a canvas (the adaptive stop fires).
- `sort`: "Sort 7 2 9 4" -> "2 4 7 9". Every answer token depends on the whole prompt.
- `latin`: a 4x4 Latin square, from scratch or completed from givens. Its cells constrain one another across the
  canvas, so a locked cell should change the rest: the task behind the lock evaluation.
- `rewrite`: Ctrl+K's prompt (`models.work.rewriting.rewrite_prompt`) asking to reverse, sort, replace a digit in or
  double a passage of a number list or of a Latin square (see `models.training.rewrites`); the answer is the
  rewritten passage, which the app puts in the selection's place.
- `shape`: a drawn figure (centred, one size); the answer is its colour, its shape or both, so a dropped image
  changes the answer.

Held-out prompts: a fixed hash of the prompt text puts about one text prompt in 16 into the evaluation split;
training never yields them. Images differ only in shape, colour and a little colour jitter: an evaluation image is
new in its exact pixels, not in its layout (see `draw_shape`).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from models.checkpoint.demo_model import FREE_LATIN_PROMPT, SHAPE_QUESTIONS
from models.training.rewrites import rewrite_case

TEXT_TASKS: tuple[str, ...] = ("extreme", "sort", "latin", "rewrite")
IMAGE_TASKS: tuple[str, ...] = ("shape",)
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30), "green": (30, 170, 50), "blue": (30, 70, 220),
    "yellow": (240, 210, 20), "purple": (140, 40, 170), "orange": (245, 130, 20),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross")
IMAGE_SIZE = 384  # the size the processor scales a square image to at budget 70 (64 soft tokens)
FIGURE_MARGIN = 48  # one soft token: the figure covers the middle 6x6 of the 8x8 tokens


@dataclass(frozen=True)
class Example:
    task: str  # one of TEXT_TASKS or IMAGE_TASKS
    user: str  # the user's text
    answer: str  # the reply, without the end-of-turn
    image: Any = None  # a PIL image for image tasks
    kind: str = ""  # sub-kind for reporting: "largest", "colour", "free", "reverse", ...
    system: str = ""  # the system prompt (rewrites send one)


def held_out(prompt: str) -> bool:
    """Whether a text prompt belongs to the evaluation split (stable across runs and machines)."""
    return hashlib.sha1(prompt.encode()).digest()[0] % 16 == 0


def _numbers(rng: random.Random, low: int, high: int) -> list[int]:
    return [rng.randrange(10) for _ in range(rng.randint(low, high))]


def extreme_example(rng: random.Random) -> Example:
    values = _numbers(rng, 3, 7)
    kind = rng.choice(("largest", "smallest"))
    prompt = f"{kind.capitalize()} of {' '.join(map(str, values))}?"
    answer = str(max(values) if kind == "largest" else min(values))
    return Example("extreme", prompt, answer, kind=kind)


def sort_example(rng: random.Random) -> Example:
    values = _numbers(rng, 3, 7)
    return Example("sort", f"Sort {' '.join(map(str, values))}", " ".join(map(str, sorted(values))), kind="sort")


# ----------------------------------------------------------------------------------------------------------------
# Latin squares: all 576 of order 4, rows written as digits ("1234"), one row a line.

def _latin_squares() -> list[tuple[tuple[int, ...], ...]]:
    rows = list(itertools.permutations((1, 2, 3, 4)))
    squares = []
    for a, b, c, d in itertools.product(rows, repeat=4):
        grid = (a, b, c, d)
        if all(len({row[col] for row in grid}) == 4 for col in range(4)):
            squares.append(grid)
    return squares


LATIN_SQUARES = _latin_squares()
_LATIN_CELLS = [sum(square, ()) for square in LATIN_SQUARES]
_LATIN_ARRAY = np.array(_LATIN_CELLS, dtype=np.int8)  # (576, 16): one vectorised test per puzzle step


def latin_text(cells: list[int | None] | tuple[int, ...]) -> str:
    """16 cells (None for a blank) as four lines of digits, blanks as '_'."""
    chars = ["_" if cell is None else str(cell) for cell in cells]
    return "\n".join("".join(chars[row * 4:row * 4 + 4]) for row in range(4))


def parse_latin(text: str) -> list[int] | None:
    """The 16 cells of an answer, or None when it is not four lines of four digits."""
    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) != 4 or any(len(line) != 4 or not line.isdigit() for line in lines):
        return None
    return [int(ch) for line in lines for ch in line]


def is_latin(cells: list[int]) -> bool:
    rows = [cells[r * 4:r * 4 + 4] for r in range(4)]
    return all(sorted(row) == [1, 2, 3, 4] for row in rows) and all(
        sorted(row[c] for row in rows) == [1, 2, 3, 4] for c in range(4))


def latin_solutions(givens: list[int | None]) -> list[tuple[int, ...]]:
    """Every square that agrees with the givens (None: a blank), in LATIN_SQUARES order."""
    wanted = np.array([0 if g is None else g for g in givens], dtype=np.int8)
    fits = ((_LATIN_ARRAY == wanted) | (wanted == 0)).all(axis=1)
    return [_LATIN_CELLS[i] for i in np.flatnonzero(fits)]


FREE_LATIN_SHARE = 0.4  # squares from scratch: what "fill around a locked cell" asks for, with the lock given


def latin_example(rng: random.Random) -> Example:
    """Sometimes a square from scratch (any answer is right); else a puzzle with one solution."""
    cells = list(sum(rng.choice(LATIN_SQUARES), ()))
    if rng.random() < FREE_LATIN_SHARE:
        return Example("latin", FREE_LATIN_PROMPT, latin_text(cells), kind="free")
    givens: list[int | None] = list(cells)
    order = list(range(16))
    rng.shuffle(order)
    # Blank cells while the solution stays unique, up to a random number of blanks.
    target = rng.randint(4, 11)
    blanks = 0
    for position in order:
        if blanks >= target:
            break
        saved, givens[position] = givens[position], None
        if len(latin_solutions(givens)) == 1:
            blanks += 1
        else:
            givens[position] = saved
    prompt = "Complete the Latin square:\n" + latin_text(givens)
    return Example("latin", prompt, latin_text(cells), kind="puzzle")


# ----------------------------------------------------------------------------------------------------------------
# Drawn shapes

def draw_shape(shape: str, colour: str, rng: random.Random) -> Image.Image:
    """One filled figure, centred and 288 px wide, on a light background; colours vary a little.

    The figure's place and size are fixed on purpose. The demo's vision tower is trained from scratch on two CPU
    cores: with shapes at random places and sizes it learned colour but not shape (34%, near the 25% of chance,
    after 2000 steps). A centred figure that spans whole 48 px soft tokens (one pooled token per 3x3 patches of 16
    px) gives each shape its own pattern of covered tokens, which the model reads within a few hundred steps. The
    cross is a thin plus sign so that its pattern stays apart from the circle's.
    """
    background = tuple(rng.randint(225, 255) for _ in range(3))
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), background)
    draw = ImageDraw.Draw(image)
    x0 = y0 = FIGURE_MARGIN
    x1 = y1 = IMAGE_SIZE - FIGURE_MARGIN
    size = x1 - x0
    fill = tuple(max(0, min(255, c + rng.randint(-20, 20))) for c in COLOURS[colour])
    if shape == "circle":
        draw.ellipse((x0, y0, x1, y1), fill=fill)
    elif shape == "square":
        draw.rectangle((x0, y0, x1, y1), fill=fill)
    elif shape == "triangle":
        draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=fill)
    elif shape == "cross":
        bar = size * 2 // 5  # arms a fifth of the figure wide
        draw.rectangle((x0 + bar, y0, x1 - bar, y1), fill=fill)
        draw.rectangle((x0, y0 + bar, x1, y1 - bar), fill=fill)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return image


def shape_answer(question: str, shape: str, colour: str) -> str:
    return {"colour": colour, "shape": shape, "both": f"A {colour} {shape}."}[question]


def shape_example(rng: random.Random, question: str | None = None) -> Example:
    shape, colour = rng.choice(SHAPES), rng.choice(list(COLOURS))
    question = question or rng.choice(list(SHAPE_QUESTIONS))
    image = draw_shape(shape, colour, rng)
    return Example("shape", SHAPE_QUESTIONS[question], shape_answer(question, shape, colour), image=image,
                   kind=question)


def free_latin_example(rng: random.Random) -> Example:
    """A square from scratch only (the "free" task a training phase may draw on its own)."""
    return Example("latin", FREE_LATIN_PROMPT, latin_text(sum(rng.choice(LATIN_SQUARES), ())), kind="free")


def rewrite_example(rng: random.Random, list_share: float = 0.5) -> Example:
    """A rewrite of a passage from a number list (with probability `list_share`) or of a Latin square."""
    system, user, answer, kind = rewrite_case(rng, latin_text(sum(rng.choice(LATIN_SQUARES), ())), list_share)
    return Example("rewrite", user, answer, kind=kind, system=system)


def list_rewrite_example(rng: random.Random) -> Example:
    """A rewrite whose passage is four times in five from a number list (the "rewrite-lists" stream a training phase
    may draw its rewrite batches from: list rewrites are the ones the model gets wrong most)."""
    return rewrite_example(rng, list_share=0.8)


MAKERS = {"extreme": extreme_example, "sort": sort_example, "latin": latin_example, "rewrite": rewrite_example,
          "rewrite-lists": list_rewrite_example, "free": free_latin_example, "shape": shape_example}


def examples(task: str, seed: int, split: str = "train") -> Iterator[Example]:
    """An endless, seeded stream of one task's examples from one split ("train" or "eval")."""
    rng = random.Random(f"{task}:{seed}:{split}")
    make = MAKERS[task]
    while True:
        example = make(rng)
        if task in IMAGE_TASKS or example.kind == "free" or held_out(example.user) == (split == "eval"):
            yield example


@functools.lru_cache(maxsize=4)  # a pure function of its arguments; tests train several tiny models from one seed
def tokenizer_corpus(seed: int = 0, per_task: int = 300) -> str:
    """Text the demo tokenizer is trained on: the built-in corpus plus task prompts and answers, so task words
    (colours, shapes, "Largest", the rewrite prompt's words) become single tokens.

    Latin grids are left out: the trainer would merge runs of blanks ("__"), and a puzzle's cells would no longer
    sit at the same offsets in the prompt as in the answer.
    """
    from models.testing.tiny_checkpoint import CORPUS

    lines = [CORPUS]
    for task in TEXT_TASKS + IMAGE_TASKS:
        stream = examples(task, seed, "train")
        for _ in range(per_task if task in TEXT_TASKS else per_task // 3):
            example = next(stream)
            if task == "latin":
                lines.append(example.user.split("\n")[0])
            else:
                lines.append(f"{example.system}\n{example.user}\n{example.answer}".strip())
    return "\n".join(lines)
