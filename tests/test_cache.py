"""The compiler's cache: bounded, single compilation per key, validity checks;
the serializer cache's schema-keyed entries."""

import threading
import warnings

import pytest
from django.db import models
from django.test.utils import isolate_apps

from djust.compiler import serializer as serializer_module
from djust.compiler.cache import LRUCache, schema_fingerprint
from djust.compiler.sensitive import SensitiveFieldWarning
from examples.rentals.models import Lease, Unit


def test_least_recently_used_entry_is_evicted():
    cache = LRUCache(maxsize=2)
    cache.get_or_compile("a", lambda: 1)
    cache.get_or_compile("b", lambda: 2)
    assert cache.get("a") == 1  # refreshes "a"
    cache.get_or_compile("c", lambda: 3)
    assert len(cache) == 2
    assert cache.get("b") is None
    assert cache.get("a") == 1 and cache.get("c") == 3


def test_concurrent_requests_compile_once():
    cache = LRUCache(maxsize=8)
    started = threading.Event()
    release = threading.Event()
    calls = []

    def compile_():
        calls.append(1)
        started.set()
        release.wait()
        return object()

    results = []
    owner = threading.Thread(target=lambda: results.append(cache.get_or_compile("k", compile_)))
    owner.start()
    started.wait()
    waiters = [
        threading.Thread(target=lambda: results.append(cache.get_or_compile("k", compile_)))
        for _ in range(4)
    ]
    for thread in waiters:
        thread.start()
    release.set()
    for thread in [owner, *waiters]:
        thread.join()
    assert len(calls) == 1
    assert len(results) == 5 and all(r is results[0] for r in results)
    assert cache.compilations == 1


def test_failed_compilation_is_not_cached():
    cache = LRUCache(maxsize=8)

    def fail():
        raise RuntimeError("bad")

    with pytest.raises(RuntimeError):
        cache.get_or_compile("k", fail)
    assert cache.get_or_compile("k", lambda: "ok") == "ok"


def test_fingerprint_is_stable_and_distinguishes_models():
    assert schema_fingerprint(Lease) == schema_fingerprint(Lease)
    assert schema_fingerprint(Lease) != schema_fingerprint(Unit)


@isolate_apps("tests.testapp")
def test_schema_change_gives_a_new_fingerprint():
    class Gadget(models.Model):
        name = models.CharField(max_length=10)

        class Meta:
            app_label = "testapp"

    class NullGadget(models.Model):
        name = models.CharField(max_length=10, null=True)

        class Meta:
            app_label = "testapp"

    before = schema_fingerprint(Gadget)
    Gadget.add_to_class("weight", models.IntegerField(default=0))
    assert schema_fingerprint(Gadget) != before
    # Same field names, one option differs.
    assert schema_fingerprint(NullGadget) != _renamed_fingerprint(Gadget, NullGadget)


def _renamed_fingerprint(first, second):
    # The label is part of the digest; compare what the options alone change.
    from djust.compiler import cache

    fields = [f for f in second._meta.get_fields(include_hidden=True) if f.name != "weight"]
    return cache._digest(second, [
        next(g for g in first._meta.get_fields() if g.name == f.name) for f in fields
    ], ())


def test_an_alias_finds_its_entry_only_with_the_same_stamp():
    cache = LRUCache(maxsize=4)
    cache.get_or_compile("key", lambda: "value")
    cache.remember(("as", "given"), "stamp-1", "key")
    assert cache.lookup(("as", "given"), "stamp-1") == "value"
    assert cache.lookup(("as", "given"), "stamp-2") is None
    assert cache.lookup(("never", "remembered"), "stamp-1") is None


def test_an_alias_of_an_evicted_or_cleared_entry_finds_nothing():
    cache = LRUCache(maxsize=1)
    cache.get_or_compile("a", lambda: 1)
    cache.remember("alias of a", "s", "a")
    cache.get_or_compile("b", lambda: 2)  # evicts "a"
    assert cache.lookup("alias of a", "s") is None
    cache.remember("alias of b", "s", "b")
    cache.clear()
    assert cache.lookup("alias of b", "s") is None


def test_an_alias_hit_refreshes_the_entry_recency():
    cache = LRUCache(maxsize=2)
    cache.get_or_compile("a", lambda: 1)
    cache.remember("alias of a", "s", "a")
    cache.get_or_compile("b", lambda: 2)
    assert cache.lookup("alias of a", "s") == 1
    cache.get_or_compile("c", lambda: 3)  # evicts the least recent: "b"
    assert cache.get("b") is None and cache.get("a") == 1


def test_aliases_stay_bounded():
    cache = LRUCache(maxsize=3)
    cache.get_or_compile("key", lambda: "value")
    for spelling in range(50):
        cache.remember(("spelling", spelling), "s", "key")
        assert len(cache._aliases) <= 6
    assert cache.lookup(("spelling", 49), "s") == "value"



def test_an_entry_its_check_refuses_is_compiled_again():
    cache = LRUCache(maxsize=4)
    checked = []

    def valid(value):
        checked.append(value)
        return value == "fresh"

    assert cache.get_or_compile("k", lambda: "stale", valid=valid) == "stale"
    assert checked == []  # a compilation is not checked
    assert cache.get_or_compile("k", lambda: "fresh", valid=valid) == "fresh"
    assert cache.get_or_compile("k", lambda: "never", valid=valid) == "fresh"
    assert checked == ["stale", "fresh"] and cache.compilations == 2 and len(cache) == 1


def test_a_size_read_at_each_use_follows_its_source():
    size = [2]
    cache = LRUCache(lambda: size[0])
    for key in "abc":
        cache.get_or_compile(key, lambda key=key: key)
    assert len(cache) == 2
    size[0] = 0
    assert cache.get_or_compile("c", lambda: "again") == "again"  # nothing is reused
    assert len(cache) == 0

@pytest.fixture
def fresh_cache(monkeypatch):
    """An empty process-wide serializer cache, restored afterwards."""
    from djust.compiler import cache as cache_module

    cache = LRUCache(maxsize=16)
    monkeypatch.setattr(cache_module, "_DEFAULT", cache)
    return cache


def test_reordered_paths_share_one_compilation(fresh_cache, monkeypatch):
    compiled = _count_compilations(monkeypatch)
    paths = ["bedrooms", "square_feet", "is_available"]
    first = serializer_module.compile_serializer(Unit, paths, mode="python")
    again = serializer_module.compile_serializer(Unit, list(reversed(paths)), mode="python")
    twice = serializer_module.compile_serializer(Unit, (p for p in paths), mode="python")
    assert first is again is twice
    assert compiled == [("bedrooms", "is_available", "square_feet")]
    assert len(fresh_cache) == 1


def test_a_settings_change_reaches_a_request_seen_before(fresh_cache, settings):
    paths = ["bedrooms", "is_available", "number", "property.city"]
    before = serializer_module.compile_serializer(Unit, paths)
    assert "number" in before(Unit(number="7", bedrooms=1))
    settings.DJUST = {"SENSITIVE_FIELDS": ["password", "number"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SensitiveFieldWarning)
        after = serializer_module.compile_serializer(Unit, paths)
    assert after is not before
    assert "number" not in after(Unit(number="7", bedrooms=1))


@isolate_apps("tests.testapp")
def test_a_schema_change_reaches_a_request_seen_before(fresh_cache):
    class Widget(models.Model):
        name = models.CharField(max_length=10)

        class Meta:
            app_label = "testapp"

    before = serializer_module.compile_serializer(Widget, ["name", "size"])
    assert "size" not in before(Widget(name="w"))
    Widget.add_to_class("size", models.IntegerField(default=3))
    after = serializer_module.compile_serializer(Widget, ["name", "size"])
    assert after is not before
    assert after(Widget(name="w")) == {"name": "w", "size": 3}


def test_concurrent_first_requests_compile_once(fresh_cache, monkeypatch):
    compiled = _count_compilations(monkeypatch)
    started = threading.Event()
    release = threading.Event()
    real = serializer_module._compile

    def slow_compile(model, normalized, mode):
        started.set()
        release.wait()
        return real(model, normalized, mode)

    monkeypatch.setattr(serializer_module, "_compile", slow_compile)
    paths = ["square_feet", "property.address", "property.built"]
    results = []

    def ask():
        results.append(serializer_module.compile_serializer(Unit, paths))

    owner = threading.Thread(target=ask)
    owner.start()
    assert started.wait(timeout=30), "the first request never started compiling"
    waiters = [threading.Thread(target=ask) for _ in range(4)]
    for thread in waiters:
        thread.start()
    release.set()
    for thread in [owner, *waiters]:
        thread.join()
    assert len(results) == 5 and all(result is results[0] for result in results)
    assert compiled == [("property.address", "property.built", "square_feet")]


def _count_compilations(monkeypatch) -> list:
    """Record the normalized paths of every compilation (the cache's misses)."""
    compiled = []
    real = serializer_module._compile

    def counting(model, normalized, mode):
        compiled.append(normalized)
        return real(model, normalized, mode)

    monkeypatch.setattr(serializer_module, "_compile", counting)
    return compiled


def test_a_hit_reads_no_settings_and_sorts_nothing(fresh_cache, monkeypatch):
    from djust import conf

    paths = ["number", "bedrooms", "property.name"]
    first = serializer_module.compile_serializer(Unit, paths)

    def forbidden(*args, **kwargs):
        raise AssertionError("the hit path must not derive the full key")

    monkeypatch.setattr(conf, "get", forbidden)
    monkeypatch.setattr(serializer_module, "normalize_paths", forbidden)
    assert serializer_module.compile_serializer(Unit, paths) is first
    assert serializer_module.compile_serializer(Unit, tuple(paths)) is first
