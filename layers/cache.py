"""A bounded in-process cache of computed answers, each computed once however many ask for it at the same time.

Keys name everything an answer depends on — for the OGC API's pages (``layers/ogc/pages.py``): the collection,
the normalised query without its paging, the scope, the role and the data's version (``geodata/version.py``) —
so an entry is never shared between scopes or roles, and a load makes every older entry unreachable (the least
recently used go first when the cache is full). Values are stored with their size in bytes; the cache holds at
most ``max_bytes()`` of them, and a value larger than that is handed to its askers without being kept.

A key asked for while it is being computed is not computed again: the askers wait for the first one's answer
(or its error) for at most ``wait_s`` seconds, and past that are told to try again (``QueryTooSlow``, a 503).

Examples
--------
>>> cache = Cache(lambda: 1 << 20)
>>> cache.get(("answer", 1), lambda: ("forty-two", 9), wait_s=1.0)
'forty-two'
>>> cache.get(("answer", 1), lambda: ("never computed", 14), wait_s=1.0), cache.stats.computed, cache.stats.hits
('forty-two', 1, 1)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as WaitedTooLong
from dataclasses import dataclass
from typing import Any

from geodata.errors import QueryTooSlow


@dataclass
class CacheStats:
    """What a cache has done since it was made (or last cleared): tests and benchmarks read it."""

    computed: int = 0  # answers computed (a miss that ran its computation)
    hits: int = 0      # answers served from the cache
    shared: int = 0    # answers waited for while another request computed them
    evicted: int = 0   # entries dropped to make room


class Cache:
    """Values by key, least recently used dropped first beyond ``max_bytes()`` bytes (0: keep nothing)."""

    def __init__(self, max_bytes: Callable[[], int]):
        self.max_bytes = max_bytes
        self.stats = CacheStats()
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._computing: dict[Hashable, Future] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self.stats = CacheStats()

    def get(self, key: Hashable, compute: Callable[[], tuple[Any, int]], wait_s: float) -> Any:
        """The value of ``key``: kept, being computed by another request (waited for), or computed now.

        ``compute`` returns the value and its size in bytes; its errors reach every request that waited for it,
        and nothing is kept.
        """
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.stats.hits += 1
                return self._entries[key][0]
            computing = self._computing.get(key)
            if computing is None:
                computing = self._computing[key] = Future()
                leader = True
            else:
                self.stats.shared += 1
                leader = False
        if not leader:
            try:
                return computing.result(timeout=wait_s)
            except WaitedTooLong:
                raise QueryTooSlow(f"the same answer is still being computed for another request after {wait_s:g} s; "
                                   "ask again in a moment") from None
        try:
            value, size = compute()
        except BaseException as error:
            with self._lock:
                del self._computing[key]
            computing.set_exception(error)
            raise
        with self._lock:
            del self._computing[key]
            self.stats.computed += 1
            self._keep(key, value, size)
        computing.set_result(value)
        return value

    def _keep(self, key: Hashable, value: Any, size: int) -> None:
        limit = self.max_bytes()  # read each time: a smaller limit set since is kept from here on
        if size <= limit:
            self._entries[key] = (value, size)
            self._bytes += size
        while self._bytes > limit:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._bytes -= dropped
            self.stats.evicted += 1
