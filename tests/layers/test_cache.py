"""The bounded cache behind the OGC API's pages (layers/cache.py): least recently used out first, by bytes; a key
being computed is computed once for everyone asking, its error reaches them all, and a wait is bounded."""

from __future__ import annotations

import threading

import pytest

from geodata.errors import QueryTooSlow
from layers.cache import Cache


def test_the_least_recently_used_go_first_when_the_bytes_run_out():
    cache = Cache(lambda: 100)
    for key in "abc":
        cache.get(key, lambda key=key: (key * 40, 40), wait_s=1)
    assert len(cache) == 2 and cache.bytes == 80 and cache.stats.evicted == 1  # "a" made room for "c"
    cache.get("b", lambda: ("recomputed", 40), wait_s=1)  # a hit: "b" is now the most recent
    cache.get("d", lambda: ("d" * 40, 40), wait_s=1)
    assert cache.get("b", lambda: ("recomputed", 40), wait_s=1) == "b" * 40
    assert cache.get("c", lambda: ("c again", 40), wait_s=1) == "c again"  # "c" had gone
    assert cache.stats.computed == 5 and cache.stats.hits == 2


def test_a_value_larger_than_the_cache_is_answered_and_not_kept():
    cache = Cache(lambda: 10)
    assert cache.get("big", lambda: ("x" * 11, 11), wait_s=1) == "x" * 11
    assert len(cache) == 0 and cache.bytes == 0
    off = Cache(lambda: 0)
    assert [off.get("k", lambda: (n, 1), wait_s=1) for n in (1, 2)] == [1, 2]


def test_many_asking_at_once_for_a_missing_key_compute_it_once():
    cache, started, release = Cache(lambda: 1 << 20), threading.Event(), threading.Event()
    calls, answers = [], []

    def compute():
        calls.append(1)
        started.set()
        release.wait(10)
        return "answer", 6

    def ask():
        answers.append(cache.get("k", compute, wait_s=30))

    leader = threading.Thread(target=ask)
    leader.start()
    assert started.wait(10)  # the first asker is computing
    others = [threading.Thread(target=ask) for _ in range(7)]
    for thread in others:
        thread.start()
    while cache.stats.shared < 7:  # each of the seven found it being computed and waits
        threading.Event().wait(0.01)
    release.set()
    for thread in [leader, *others]:
        thread.join(10)
    assert calls == [1] and answers == ["answer"] * 8
    assert cache.stats.computed == 1 and cache.stats.shared == 7


def test_an_error_reaches_every_waiter_and_is_not_kept():
    cache, started, release = Cache(lambda: 1 << 20), threading.Event(), threading.Event()
    errors = []

    def fail():
        started.set()
        release.wait(10)
        raise ValueError("no such layer")

    def ask():
        try:
            cache.get("k", fail, wait_s=30)
        except ValueError as error:
            errors.append(str(error))

    threads = [threading.Thread(target=ask)]
    threads[0].start()
    assert started.wait(10)
    threads.append(threading.Thread(target=ask))
    threads[1].start()
    while cache.stats.shared < 1:
        threading.Event().wait(0.01)
    release.set()
    for thread in threads:
        thread.join(10)
    assert errors == ["no such layer"] * 2 and len(cache) == 0
    assert cache.get("k", lambda: ("fine now", 8), wait_s=1) == "fine now"


def test_a_waiter_gives_up_after_its_bound_with_a_message():
    cache, started, release = Cache(lambda: 1 << 20), threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(10)
        return "late", 4

    leader = threading.Thread(target=lambda: cache.get("k", slow, wait_s=30))
    leader.start()
    assert started.wait(10)
    try:
        with pytest.raises(QueryTooSlow, match="still being computed for another request"):
            cache.get("k", slow, wait_s=0.01)
    finally:
        release.set()
        leader.join(10)
    assert cache.get("k", slow, wait_s=1) == "late"


def test_a_limit_lowered_since_is_kept_at_the_next_computation():
    limit = [100]
    cache = Cache(lambda: limit[0])
    cache.get("a", lambda: ("a", 60), wait_s=1)
    limit[0] = 50
    cache.get("b", lambda: ("b", 40), wait_s=1)
    assert len(cache) == 1 and cache.bytes == 40 and cache.stats.evicted == 1
    limit[0] = 0
    cache.get("c", lambda: ("c", 1), wait_s=1)
    assert len(cache) == 0 and cache.bytes == 0
