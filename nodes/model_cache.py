"""One keyed, bounded, thread-safe cache for everything the nodes keep between runs.

The loaded pipeline, SAM and Depth-Anything each live in a :class:`KeyedCache` of one entry (a
new key releases the old model before the new one loads, so two never share the memory); the
editors' scenes for the live preview live in one of a few entries.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class KeyedCache:
    """At most ``max_entries`` values by key, least recently used out first.

    ``on_evict(value)`` runs for every value that leaves the cache (eviction or :meth:`clear`),
    outside the lock.
    """

    def __init__(self, max_entries: int = 1, on_evict: Callable[[Any], None] | None = None):
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.max_entries = int(max_entries)
        self._on_evict = on_evict
        self._lock = threading.RLock()
        self._load_lock = threading.Lock()
        self._items: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable) -> Any | None:
        """The value stored under ``key`` (now the most recent), or None."""
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Hashable, value: Any) -> None:
        """Store ``value`` under ``key``; the oldest entries beyond the bound are evicted."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            dropped = self._trim(self.max_entries)
        self._evict(dropped)

    def get_or_load(self, key: Hashable, load: Callable[[], Any]) -> Any:
        """The value under ``key``; else make room (evicting first), ``load()`` and store it.

        Loads run one at a time; a failed load stores nothing.
        """
        with self._load_lock:
            found = self.get(key)
            if found is not None:
                return found
            with self._lock:
                dropped = self._trim(self.max_entries - 1)
            self._evict(dropped)
            value = load()
            self.put(key, value)
            return value

    def clear(self) -> None:
        """Drop every entry (``on_evict`` runs for each)."""
        with self._lock:
            dropped = self._trim(0)
        self._evict(dropped)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def _trim(self, keep: int) -> list:
        dropped = []
        while len(self._items) > max(keep, 0):
            dropped.append(self._items.popitem(last=False)[1])
        return dropped

    def _evict(self, values: list) -> None:
        if self._on_evict is not None:
            for value in values:
                self._on_evict(value)
