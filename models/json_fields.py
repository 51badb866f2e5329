"""Strict reading of untrusted JSON: every value is checked for its type and range, and errors say where."""

from __future__ import annotations

import math
from typing import Any


class FieldError(ValueError):
    """A value in a file is missing, of the wrong type or out of range; the message names it."""


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
