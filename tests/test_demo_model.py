"""What the demo model knows: every shipped demo prompt is inside it, and the prompts a new user tried are not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from models.checkpoint.demo_model import REWRITE_INSTRUCTIONS, outside_demo
from models.work.prompts import Prompt, Turn
from models.work.rewriting import rewrite_prompt

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
PICTURE = Image.new("RGB", (32, 32), "red")


def test_every_shipped_demo_prompt_is_one_of_its_tasks():
    for entry in json.loads((RESOURCES / "demo_prompts.json").read_text(encoding="utf-8")):
        images = (PICTURE,) if entry.get("image") else ()
        assert outside_demo(Prompt(user=entry["prompt"], system=entry.get("system", ""), images=images)) is None, \
            entry["title"]


@pytest.mark.parametrize("instruction", [*REWRITE_INSTRUCTIONS, "Replace 1 with 9"])
def test_its_rewrite_instructions_are_known(instruction):
    assert outside_demo(rewrite_prompt(instruction, "1234\n3412", 0, 4)) is None


@pytest.mark.parametrize(("prompt", "reason"), [
    (Prompt(user="Hello, how are you?"), "not one of its tasks"),
    (Prompt(user="Smallest of 7 4 9 5?", history=(Turn("Sort 3 1 2", "1 2 3"),)), "earlier turns"),
    (Prompt(user="Describe the picture."), "add an image"),
    (Prompt(user="What is this?", images=(PICTURE,)), "about a picture"),
    (rewrite_prompt("Make it shorter", "1 2 3", 0, 5), "word for word"),
    (Prompt(user="Sort 1 2 3 4 5 6 7 8 9"), "not one of its tasks"),  # it learned lists of 3-7 digits
])
def test_prompts_outside_it_say_why(prompt, reason):
    assert reason in outside_demo(prompt)
