"""A least-recently-used cache with a fixed number of entries, safe to share between threads.

The views cache what they render per token (its text, its image); over a long session, or at a real vocabulary of
262,144 tokens, a cache without a bound is memory without end. Each cache here keeps at most `capacity` entries and
drops the one used longest ago. A lock, because the canvas views render on a worker thread while the GUI thread reads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"a cache needs room for at least one entry, not {capacity}")
        self.capacity = capacity
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> V:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return value

    def get_or_make(self, key: K, make: Callable[[K], V]) -> V:
        """The cached value, or `make(key)` cached (made outside the lock: two threads may both make it once)."""
        value = self.get(key)
        return self.put(key, make(key)) if value is None else value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries


__all__ = ["BoundedCache"]
