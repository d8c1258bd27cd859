"""The one keyed cache the nodes keep models and scenes in."""

from __future__ import annotations

import threading

import pytest

from nodes.model_cache import KeyedCache


def test_a_new_key_evicts_the_old_value_before_loading():
    events = []
    cache = KeyedCache(1, on_evict=lambda v: events.append(("evict", v)))

    def load(value):
        def run():
            events.append(("load", value))
            return value
        return run

    assert cache.get_or_load("a", load("A")) == "A"
    assert cache.get_or_load("a", load("other")) == "A"  # cached: no second load
    assert cache.get_or_load("b", load("B")) == "B"
    assert events == [("load", "A"), ("evict", "A"), ("load", "B")]  # the old model is gone first
    assert len(cache) == 1 and cache.get("a") is None


def test_bound_is_least_recently_used():
    evicted = []
    cache = KeyedCache(2, on_evict=evicted.append)
    cache.put("x", 1)
    cache.put("y", 2)
    assert cache.get("x") == 1  # x is now the most recent
    cache.put("z", 3)
    assert evicted == [2] and cache.get("y") is None and cache.get("x") == 1 and cache.get("z") == 3
    cache.clear()
    assert sorted(evicted) == [1, 2, 3] and len(cache) == 0


def test_a_failed_load_stores_nothing():
    cache = KeyedCache(1)

    def broken():
        raise ValueError("no such file")

    with pytest.raises(ValueError):
        cache.get_or_load("k", broken)
    assert len(cache) == 0 and cache.get_or_load("k", lambda: 7) == 7


def test_concurrent_callers_load_once():
    cache = KeyedCache(1)
    calls = []
    gate = threading.Event()

    def slow():
        calls.append(1)
        gate.wait(5)
        return object()

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_load("k", slow))) for _ in range(4)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and len({id(r) for r in results}) == 1


def test_bound_must_be_positive():
    with pytest.raises(ValueError, match="max_entries"):
        KeyedCache(0)
