"""Answers kept as encoded JSON until something they show changes.

The board and the warnings list are what every open page polls. Each is built once per
version of what it shows (the desk's `version()`: changes made by this instance, counted
as they commit, and the newest audit id the push hub has seen, which covers changes made
by another instance sharing the database), then served as bytes.
"""

import threading
from collections import OrderedDict
from collections.abc import Hashable


class ResponseCache:
    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            body = self._entries.get(key)
            if body is None:
                self.misses += 1
                return None
            self.hits += 1
            self._entries.move_to_end(key)
            return body

    def put(self, key: Hashable, body: bytes) -> None:
        with self._lock:
            self._entries[key] = body
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
