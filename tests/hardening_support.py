"""Shared by the hardening tests: fuzz settings per profile, a checkpoint copy with a chosen chat template, and
strategies for JSON of any shape (every type in every field, any nesting, numbers of any size)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from hypothesis import Phase, settings
from hypothesis import strategies as st


def fuzz(examples: int, shrink: bool = True) -> settings:
    """`examples` fixed examples in the suite ("ci"); 20x as many fresh ones with HYPOTHESIS_PROFILE=thorough.
    `shrink=False` where each failing example waits out a timeout: shrinking would take many minutes."""
    phases = tuple(Phase) if shrink else tuple(p for p in Phase if p is not Phase.shrink)
    if os.environ.get("HYPOTHESIS_PROFILE") == "thorough":
        return settings(settings.get_profile("thorough"), max_examples=20 * examples, phases=phases)
    return settings(settings.get_profile("ci"), max_examples=examples, phases=phases)


def with_template(checkpoint: Path, target: Path, template: str) -> Path:
    """A copy of `checkpoint` whose chat template is `template`."""
    shutil.copytree(checkpoint, target)
    (target / "chat_template.jinja").write_text(template, encoding="utf-8")
    return target


# ------------------------------------------------------------------------------------------ JSON of any shape


class BigInt(int):
    """An integer written as its digits, whatever their number (Python's str() refuses over 4,300 digits)."""

    digits: str

    def __new__(cls, digits: str) -> BigInt:
        value = super().__new__(cls, 0)
        value.digits = digits
        return value

    def __repr__(self) -> str:
        return f"BigInt({len(self.digits)} digits)"


class Nested:
    """A list nested `depth` deep around `leaf`, written out without recursion (json.dumps would overflow)."""

    def __init__(self, depth: int, leaf: Any = 0) -> None:
        self.depth, self.leaf = depth, leaf

    def __repr__(self) -> str:
        return f"Nested({self.depth})"


def json_text(value: Any) -> str:
    """JSON text of `value` (dicts, lists, str, numbers, bool, None, BigInt, Nested); non-finite floats as Python
    writes them (NaN, Infinity), as a sloppy peer might."""
    if isinstance(value, BigInt):
        return value.digits
    if isinstance(value, Nested):
        return "[" * value.depth + json_text(value.leaf) + "]" * value.depth
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{json_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(json_text(v) for v in value) + "]"
    return json.dumps(value)


def numbers() -> st.SearchStrategy:
    """Numbers of any size: small, at every power-of-two edge, thousands of digits, and every float."""
    return st.one_of(
        st.integers(),
        st.sampled_from([2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**400, -(10**400)]),
        st.integers(1, 6000).map(lambda n: BigInt("9" * n)),
        st.integers(1, 6000).map(lambda n: BigInt("-1" + "0" * n)),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([BigInt("1e400"), BigInt("-1e400"), BigInt("1" + "0" * 400 + ".5")]),
    )


def json_values() -> st.SearchStrategy:
    """Any JSON value: every type, any nesting (up to thousands of levels), numbers of any size."""
    leaves = st.one_of(st.none(), st.booleans(), numbers(), st.text(max_size=20))
    trees = st.recursive(
        leaves,
        lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children,
                                                                                   max_size=4)),
        max_leaves=12,
    )
    deep = st.one_of(st.integers(1, 40), st.integers(40, 3000)).map(Nested)  # around the parser's limit, and far
    return st.one_of(trees, trees, trees, deep)  # one in four deeply nested


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a field in a JSON value (keys and list indices), the value itself first."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def replaced(value: Any, path: tuple, new: Any) -> Any:
    """A copy of `value` with the field at `path` set to `new` (a missing last key is added)."""
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    child = value.get(path[0]) if isinstance(value, dict) else value[path[0]]
    copy[path[0]] = replaced(child, path[1:], new)
    return copy


@st.composite
def mutated(draw, template: Any) -> Any:
    """`template` with one field (any, the whole included) set to any JSON value, or one unknown field added."""
    if isinstance(template, dict) and draw(st.integers(0, 7)) == 0:
        return {**template, draw(st.text(min_size=1, max_size=8)): draw(json_values())}
    path = draw(st.sampled_from(paths(template)))
    return replaced(template, path, draw(json_values()))
