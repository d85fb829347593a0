"""A small thread-safe LRU cache bounded by entries and by size: what anonymous requests can make
a worker remember stays fixed, whatever URLs they send."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class BoundedCache(Generic[V]):
    def __init__(
        self, max_entries: int, max_size: int | None = None, size: Callable[[V], int] = lambda _: 1
    ) -> None:
        self.max_entries, self.max_size, self._size_of = max_entries, max_size, size
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> V:
        size = self._size_of(value)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= self._size_of(old)
            if self.max_size is not None and size > self.max_size:
                return value  # larger than the whole cache: served, not kept
            self._entries[key] = value
            self._size += size
            while len(self._entries) > self.max_entries or (
                self.max_size is not None and self._size > self.max_size
            ):
                _, evicted = self._entries.popitem(last=False)
                self._size -= self._size_of(evicted)
            return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0

    def held_keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


class TtlMemo(Generic[V]):
    """Values computed at most once per `ttl_s` per key (a few keys: probes, lists)."""

    def __init__(self, ttl_s: float, max_entries: int = 64) -> None:
        self.ttl_s = ttl_s
        self._values: BoundedCache[tuple[float, V]] = BoundedCache(max_entries)

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        now = time.monotonic()
        held = self._values.get(key)
        if held is not None and now - held[0] < self.ttl_s:
            return held[1]
        value = compute()
        self._values.put(key, (now, value))
        return value
