"""Strict reading of untrusted JSON (session files, frames and bodies from the network).

`loads_bounded` parses with bounds: Python's `json.loads` takes numbers of any size (a 400-digit integer overflows
every later float conversion, and one of over 4,300 digits raises a ValueError that is not a JSONDecodeError) and
nests as deep as the interpreter's recursion allows. `Fields` then checks every value for its type and range, and
its errors say where.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_JSON_DEPTH = 32  # legitimate JSON here goes about 7 deep (a frame's history turn's image, a run's arrays)
INT_LIMIT = 2**63  # integers must lie in [-2^63, 2^63): seeds are the largest whole numbers any of it carries
_MAX_INT_CHARS = 21  # a sign and 20 digits: longer integer literals are refused before they are converted


class JsonLimitError(ValueError):
    """JSON that is malformed or over a bound; the message says which."""


class NotJson(JsonLimitError):
    """Bytes that are not UTF-8 JSON at all."""


def _bounded_int(text: str) -> int:
    if len(text) > _MAX_INT_CHARS:
        raise JsonLimitError(
            f"a number has {len(text.lstrip('-'))} digits; whole numbers must lie within ±2^63 (at most 19 digits)"
        )
    value = int(text)
    if not -INT_LIMIT <= value < INT_LIMIT:
        raise JsonLimitError(f"the number {value} is out of range; whole numbers must lie within ±2^63")
    return value


def loads_bounded(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value of `data`; JsonLimitError for invalid JSON, an integer beyond ±2^63, or nesting deeper than
    `max_depth` (objects and arrays)."""
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray, memoryview)) else data
        value = json.loads(text, parse_int=_bounded_int)
    except JsonLimitError:
        raise
    except RecursionError as error:
        raise JsonLimitError(f"the JSON nests deeper than {max_depth} levels") from error
    except (UnicodeDecodeError, ValueError) as error:  # JSONDecodeError is a ValueError
        raise NotJson(f"not valid UTF-8 JSON ({error})") from error
    check_depth(value, max_depth)
    return value


def check_depth(value: Any, max_depth: int = MAX_JSON_DEPTH) -> None:
    """JsonLimitError if lists and dicts in `value` nest deeper than `max_depth`; walked without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > max_depth:
            raise JsonLimitError(f"the JSON nests deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in children)


class FieldError(ValueError):
    """A value in a file is missing, of the wrong type or out of range; the message names it."""


def shown(value: Any, limit: int = 60) -> str:
    """A value quoted in a message: its repr, cut to `limit` characters; an integer too long to print is named by
    its size (str() refuses more than 4,300 digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        return f"a number of about {int(value.bit_length() * 0.30103) + 1} digits"
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]}"


class Fields:
    """A JSON object read strictly; `where` is its path in the file, for messages ("runs[2].settings")."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise FieldError(f"{where} must be an object")
        self.data, self.where = data, where

    def _get(self, key: str, optional: bool) -> Any:
        if key not in self.data:
            if optional:
                return None
            raise FieldError(f"{self.where}.{key} is missing")
        return self.data[key]

    def integer(self, key: str, low: int = 0, high: int = 2**31 - 1, optional: bool = False) -> int | None:
        value = self._get(key, optional)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise FieldError(f"{self.where}.{key} must be a whole number from {low} to {high}")
        return value

    def number(self, key: str, optional: bool = False) -> float | None:
        value = self._get(key, optional)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise FieldError(f"{self.where}.{key} must be a finite number")
        return float(value)

    def text(self, key: str, optional: bool = False, limit: int = 10_000_000) -> str:
        value = self._get(key, optional)
        if value is None and optional:
            return ""
        if not isinstance(value, str) or len(value) > limit:
            raise FieldError(f"{self.where}.{key} must be text")
        return value

    def flag(self, key: str, optional: bool = False) -> bool:
        value = self._get(key, optional)
        if value is None and optional:
            return False
        if not isinstance(value, bool):
            raise FieldError(f"{self.where}.{key} must be true or false")
        return value

    def obj(self, key: str, optional: bool = False) -> Fields | None:
        value = self._get(key, optional)
        if value is None and optional:
            return None
        return Fields(value, f"{self.where}.{key}")

    def items(self, key: str, optional: bool = False, limit: int = 1_000_000) -> list[Any]:
        value = self._get(key, optional)
        if value is None and optional:
            return []
        if not isinstance(value, list) or len(value) > limit:
            raise FieldError(f"{self.where}.{key} must be a list")
        return value

    def objects(self, key: str, optional: bool = False) -> list[Fields]:
        return [Fields(item, f"{self.where}.{key}[{i}]") for i, item in enumerate(self.items(key, optional))]

    def integers(self, key: str, low: int = 0, high: int = 2**31 - 1, optional: bool = False) -> list[int]:
        values = self.items(key, optional)
        if any(isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high for v in values):
            raise FieldError(f"{self.where}.{key} must hold whole numbers from {low} to {high}")
        return values

    def span(self, key: str, high: int, optional: bool = True) -> tuple[int, int] | None:
        value = self._get(key, optional)
        if value is None:
            return None
        whole = isinstance(value, list) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value)
        if not whole or not 0 <= value[0] < value[1] <= high:
            raise FieldError(f"{self.where}.{key} must be [start, end] with 0 <= start < end <= {high}")
        return value[0], value[1]
