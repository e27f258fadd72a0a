"""The serializer cache: bounded, single compilation per key, schema-keyed."""

import threading

import pytest
from django.db import models
from django.test.utils import isolate_apps

from djust.compiler.cache import SerializerCache, schema_fingerprint
from djust.compiler.serializer import cache_key
from examples.rentals.models import Lease, Unit


def test_least_recently_used_entry_is_evicted():
    cache = SerializerCache(maxsize=2)
    cache.get_or_compile("a", lambda: 1)
    cache.get_or_compile("b", lambda: 2)
    assert cache.get("a") == 1  # refreshes "a"
    cache.get_or_compile("c", lambda: 3)
    assert len(cache) == 2
    assert cache.get("b") is None
    assert cache.get("a") == 1 and cache.get("c") == 3


def test_concurrent_requests_compile_once():
    cache = SerializerCache(maxsize=8)
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
    cache = SerializerCache(maxsize=8)

    def fail():
        raise RuntimeError("bad")

    with pytest.raises(RuntimeError):
        cache.get_or_compile("k", fail)
    assert cache.get_or_compile("k", lambda: "ok") == "ok"


def test_fingerprint_is_stable_and_distinguishes_models():
    assert schema_fingerprint(Lease) == schema_fingerprint(Lease)
    assert schema_fingerprint(Lease) != schema_fingerprint(Unit)


@isolate_apps("tests.testapp")
def test_schema_change_gives_a_new_key():
    class Gadget(models.Model):
        name = models.CharField(max_length=10)

        class Meta:
            app_label = "testapp"

    class NullGadget(models.Model):
        name = models.CharField(max_length=10, null=True)

        class Meta:
            app_label = "testapp"

    before = cache_key(Gadget, ("name",), "json")
    Gadget.add_to_class("weight", models.IntegerField(default=0))
    assert cache_key(Gadget, ("name",), "json") != before
    # Same field names, one option differs.
    assert schema_fingerprint(NullGadget) != _renamed_fingerprint(Gadget, NullGadget)


def _renamed_fingerprint(first, second):
    # The label is part of the digest; compare what the options alone change.
    from djust.compiler import cache

    fields = [f for f in second._meta.get_fields(include_hidden=True) if f.name != "weight"]
    return cache._digest(second, [
        next(g for g in first._meta.get_fields() if g.name == f.name) for f in fields
    ], ())


def test_settings_are_part_of_the_key(settings):
    plain = cache_key(Unit, ("number",), "json")
    settings.DJUST = {"SENSITIVE_FIELDS": ["password", "number"]}
    assert cache_key(Unit, ("number",), "json") != plain
    assert cache_key(Unit, ("number",), "python") != cache_key(Unit, ("number",), "json")
