"""The demo prompts the trained model handles well, and the small images they use (resources/demo-images).

    python -m models.training.demo          # rewrites resources/demo_prompts.json and resources/demo-images/*.png
    python -m models.training.demo --check  # runs every demo prompt on the shipped model, seeds 0-2

Each JSON entry is {"title", "prompt", "system"?, "image"?}; "image" is a file name under resources/demo-images.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import resources
from models.training.data import FREE_LATIN_PROMPT, SHAPE_QUESTIONS, draw_shape, is_latin, parse_latin
from models.work.rewriting import rewrite_prompt

#: (file name, shape, colour) of the shipped images, drawn from a fixed seed.
DEMO_IMAGES: tuple[tuple[str, str, str], ...] = (
    ("red-circle.png", "circle", "red"),
    ("blue-triangle.png", "triangle", "blue"),
    ("green-cross.png", "cross", "green"),
    ("yellow-square.png", "square", "yellow"),
)
LATIN_PUZZLE = "Complete the Latin square:\n12_4\n_41_\n4_21\n21_3"  # one solution
SQUARE = "1234\n3412\n2143\n4321"  # the answer text a rewrite works on, as the app sends it
SORTED = "1 3 4 6 8 9"


@dataclass(frozen=True)
class DemoPrompt:
    title: str
    prompt: str
    answer: str | None  # the right answer; None: any Latin square
    system: str = ""
    image: str = ""

    def entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"title": self.title, "prompt": self.prompt}
        if self.system:
            entry["system"] = self.system
        if self.image:
            entry["image"] = self.image
        return entry


def _rewrite(title: str, instruction: str, text: str, start: int, end: int, answer: str) -> DemoPrompt:
    """What Ctrl+K sends for text[start:end]: shown as a plain prompt, so the menu can demonstrate it too."""
    prompt = rewrite_prompt(instruction, text, start, end)
    return DemoPrompt(title, prompt.user, answer, system=prompt.system)


DEMO_PROMPTS: tuple[DemoPrompt, ...] = (
    DemoPrompt("Largest number (stops early)", "Largest of 3 8 1 6 2?", "8"),
    DemoPrompt("Smallest number (stops early)", "Smallest of 7 4 9 5?", "4"),
    DemoPrompt("Sort five numbers", "Sort 4 9 2 7 5", "2 4 5 7 9"),
    DemoPrompt("Sort seven numbers", "Sort 8 1 6 3 9 1 4", "1 1 3 4 6 8 9"),
    DemoPrompt("Latin square puzzle: fill in the blanks", LATIN_PUZZLE, "1234\n3412\n4321\n2143"),
    DemoPrompt("Latin square from scratch", FREE_LATIN_PROMPT, None),
    DemoPrompt("Colour of a drawn shape", SHAPE_QUESTIONS["colour"], "blue", image="blue-triangle.png"),
    DemoPrompt("Name the shape", SHAPE_QUESTIONS["shape"], "cross", image="green-cross.png"),
    DemoPrompt("Describe the picture", SHAPE_QUESTIONS["both"], "A red circle.", image="red-circle.png"),
    _rewrite('Ctrl+K\'s prompt: "Reverse" the second row of a square', "Reverse", SQUARE, 5, 9, "2143"),
    _rewrite('Ctrl+K\'s prompt: "Sort descending" a whole list', "Sort descending", SORTED, 0, len(SORTED),
             "9 8 6 4 3 1"),
    _rewrite('Ctrl+K\'s prompt: "Replace 3 with 7" in two rows', "Replace 3 with 7", SQUARE, 10, 19, "2147\n4721"),
)


def write_demo_resources(root: Path = resources.ROOT) -> Path:
    """Draw the images and write demo_prompts.json; return the JSON file."""
    images = root / "demo-images"
    images.mkdir(parents=True, exist_ok=True)
    for index, (name, shape, colour) in enumerate(DEMO_IMAGES):
        draw_shape(shape, colour, random.Random(f"demo-image:{index}")).save(images / name, optimize=True)
    target = root / "demo_prompts.json"
    target.write_text(json.dumps([p.entry() for p in DEMO_PROMPTS], indent=2) + "\n", encoding="utf-8")
    return target


def check(checkpoint: Path | None = None, seeds: tuple[int, ...] = (0, 1, 2), out: Any = sys.stdout) -> int:
    """Run each demo prompt on the checkpoint with its sampler defaults; print the answers; return the misses."""
    from PIL import Image

    from models.checkpoint.loading import load_checkpoint
    from models.engine.generator import Generator
    from models.work.events import GenerationResult
    from models.work.prompts import Prompt

    loaded = load_checkpoint(checkpoint, device="cpu", dtype="fp32")
    generator = Generator(loaded)
    misses = 0
    for demo in DEMO_PROMPTS:
        images = (Image.open(resources.DEMO_IMAGES / demo.image).convert("RGB"),) if demo.image else ()
        prompt = Prompt(user=demo.prompt, system=demo.system, images=images)
        for seed in seeds:
            result = [e for e in generator.generate(prompt, loaded.defaults.with_values(seed=seed))
                      if isinstance(e, GenerationResult)][-1]
            if demo.answer is None:
                cells = parse_latin(result.answer)
                ok = cells is not None and is_latin(cells)
            else:
                ok = result.answer == demo.answer
            misses += not ok
            print(f"{'ok  ' if ok else 'MISS'} seed {seed} {sum(result.canvas_steps):2d} steps  {demo.title}: "
                  f"{result.answer!r}", file=out)
    return misses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the demo prompts and pictures, or check them on a model.")
    parser.add_argument("--check", action="store_true", help="run each demo prompt on the model instead")
    parser.add_argument("--checkpoint", type=Path, default=None, help="with --check: the model (default: the demo)")
    args = parser.parse_args(argv)
    if args.check:
        return 1 if check(args.checkpoint) else 0
    print(write_demo_resources())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
