"""Shared by the hardening tests: fuzz settings per profile, a checkpoint copy with a chosen chat template."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hypothesis import settings


def fuzz(examples: int) -> settings:
    """`examples` fixed examples in the suite ("ci"); 20x as many fresh ones with HYPOTHESIS_PROFILE=thorough."""
    if os.environ.get("HYPOTHESIS_PROFILE") == "thorough":
        return settings(settings.get_profile("thorough"), max_examples=20 * examples)
    return settings(settings.get_profile("ci"), max_examples=examples)


def with_template(checkpoint: Path, target: Path, template: str) -> Path:
    """A copy of `checkpoint` whose chat template is `template`."""
    shutil.copytree(checkpoint, target)
    (target / "chat_template.jinja").write_text(template, encoding="utf-8")
    return target
