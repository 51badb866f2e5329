"""Rewrite by instruction, as the demo model learns it: Ctrl+K's exact prompt on a passage of the demo's own answers.

A passage is a run of numbers from a list as the sort task writes it ("2 4 7 9" -> "4 7"), or whole rows of a 4x4
Latin square ("3412" or "3412\n2143"). Each instruction acts on every line of the passage separately: on a list
line the numbers are the space-separated items, on a Latin row each digit is a number ("Double each number" turns
"3412" into "6824"). The prompt is `models.work.rewriting.rewrite_prompt` over the whole answer text, as the app sends
it, so the model sees the passage's surroundings exactly as it will in the editor.
"""

from __future__ import annotations

import random

from models.checkpoint.demo_model import REWRITE_INSTRUCTIONS
from models.work.rewriting import rewrite_prompt

#: Report name of each instruction (the evaluation scores each one apart).
REWRITE_KINDS: tuple[str, ...] = ("reverse", "ascending", "descending", "replace", "double")


def _items(line: str) -> tuple[list[str], str]:
    """A line's numbers and how they are joined: space-separated items, or one digit each on a Latin row."""
    return (line.split(" "), " ") if " " in line else (list(line), "")


def apply_instruction(instruction: str, passage: str) -> str:
    """The rewritten passage: the instruction applied to each line of it."""
    words = instruction.split()
    out = []
    for line in passage.split("\n"):
        items, joiner = _items(line)
        if instruction == "Reverse":
            items = items[::-1]
        elif instruction == "Sort ascending":
            items = sorted(items, key=int)
        elif instruction == "Sort descending":
            items = sorted(items, key=int, reverse=True)
        elif instruction == "Double each number":
            items = [str(2 * int(item)) for item in items]
        elif len(words) == 4 and words[0] == "Replace" and words[2] == "with":
            items = [item.replace(words[1], words[3]) for item in items]
        else:
            raise ValueError(f"unknown instruction {instruction!r}")
        out.append(joiner.join(items))
    return "\n".join(out)


def instruction_kind(instruction: str) -> str:
    return "replace" if instruction.startswith("Replace ") else REWRITE_KINDS[REWRITE_INSTRUCTIONS.index(instruction)]


def number_list_passage(rng: random.Random) -> tuple[str, int, int]:
    """(text, start, end): a list of 3-7 digits (half the time sorted, as the sort task answers) and a run of it."""
    values = [str(rng.randrange(10)) for _ in range(rng.randint(3, 7))]
    if rng.random() < 0.5:
        values.sort()
    if rng.random() < 0.5:
        first, last = 0, len(values)
    else:
        length = rng.randint(2, len(values) - 1)
        first = rng.randint(0, len(values) - length)
        last = first + length
    start = sum(len(v) + 1 for v in values[:first])
    end = start + len(" ".join(values[first:last]))
    return " ".join(values), start, end


def latin_rows_passage(rng: random.Random, square_text: str) -> tuple[str, int, int]:
    """(text, start, end): a 4x4 Latin square's text and 1-4 whole rows of it (one row half the time)."""
    count = 1 if rng.random() < 0.5 else rng.randint(2, 4)
    first = rng.randint(0, 4 - count)
    start = first * 5  # each row is four digits and a newline
    return square_text, start, start + count * 5 - 1


def pick_instruction(rng: random.Random, passage: str) -> str:
    instruction = rng.choice(REWRITE_INSTRUCTIONS)
    if instruction.startswith("Replace "):
        digits = sorted({ch for ch in passage if ch.isdigit()})
        old = rng.choice(digits) if rng.random() < 0.9 else str(rng.randrange(10))
        new = rng.choice([str(d) for d in range(10) if str(d) != old])
        instruction = f"Replace {old} with {new}"
    return instruction


def rewrite_case(rng: random.Random, square_text: str, list_share: float = 0.5) -> tuple[str, str, str, str]:
    """(system, user, answer, kind) of one rewrite: a passage of a list (with probability `list_share`) or of a
    Latin square, an instruction."""
    text, start, end = number_list_passage(rng) if rng.random() < list_share else latin_rows_passage(rng, square_text)
    passage = text[start:end]
    instruction = pick_instruction(rng, passage)
    prompt = rewrite_prompt(instruction, text, start, end)
    return prompt.system, prompt.user, apply_instruction(instruction, passage), instruction_kind(instruction)
