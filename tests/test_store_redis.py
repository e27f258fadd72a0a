"""The Redis backend against a real redis-server, and its faults.

``run.py test`` starts a throwaway server (scripts/redisserver.py) and sets
``DJUST_TEST_REDIS_URL``. Under CI a missing server is a failure; on a
developer's machine these tests skip and say how to run them. The
stop/restart test starts its own server on its own port.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import uuid
from pathlib import Path

import pytest

from djust import store
from examples.rentals.models import Unit

ROOT = Path(__file__).resolve().parent.parent
UNIT_PATHS = ("number", "property.name", "bedrooms")


def missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run these tests: see run.py test)")
    pytest.skip(f"{reason}: run `python3 run.py test`, or "
                "`python scripts/redisserver.py <pytest command>`")


def redis_server_module():
    # scripts/ is not a package; its modules import each other by name.
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    import redisserver

    return redisserver


@pytest.fixture(scope="module")
def redis_py():
    try:
        import redis
    except ImportError:
        missing("redis-py is not installed (pip install 'djust[redis]')")
    return redis


@pytest.fixture
def redis_url(redis_py):
    url = os.environ.get("DJUST_TEST_REDIS_URL")
    if not url:
        missing("DJUST_TEST_REDIS_URL is not set")
    return url


@pytest.fixture
def backend(redis_url):
    # A prefix per test: tests share the server and must not see each other.
    backend = store.RedisBackend(redis_url, timeout=0.5, prefix=f"djust-test-{uuid.uuid4().hex}",
                                 ttl=300)
    yield backend
    backend.clear()
    backend.close()


@pytest.fixture
def closing():
    """Backends a test builds, closed at its end (no socket left to the collector)."""
    opened: list = []
    yield opened.append
    for backend in opened:
        backend.close()


@pytest.fixture
def own_server(redis_py):
    module = redis_server_module()
    binary = module.find_binary()
    if binary is None:
        missing("redis-server is not installed (apt-get install redis-server)")
    server = module.Server(binary)
    server.start()
    yield server
    server.remove()


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "djust.store" and r.levelno >= logging.WARNING]


def test_redis_backend_round_trip(backend):
    key = "x:" + "ab" * 32
    assert backend.get(key) is None
    backend.set(key, b"\x00entry\xff")
    assert backend.get(key) == b"\x00entry\xff"
    backend.set("m:" + "cd" * 32, b"m")
    assert dict(backend.scan("m")) == {"m:" + "cd" * 32: b"m"}
    assert backend.stats() == {"extractions": 1, "serializers": 0, "manifest": 1, "bytes": 8}
    ttl = backend.client.ttl(backend.prefix + key)
    assert 0 < ttl <= 300
    backend.delete(key)
    assert backend.get(key) is None
    assert backend.clear() == 1


def test_workers_share_serializers_through_redis(backend, closing):
    first_worker = store.Store(backend)
    compiled = store.compile_shared(first_worker, Unit, UNIT_PATHS, "json")
    other = store.RedisBackend(backend.url, timeout=0.5, prefix=backend.prefix.split(":v")[0],
                               ttl=300)
    closing(other)
    second_worker = store.Store(other)
    loaded = store.compile_shared(second_worker, Unit, UNIT_PATHS, "json")
    assert second_worker.counters["hits"] == 1 and second_worker.counters["misses"] == 0
    assert loaded.source == compiled.source
    unit = Unit(number="3C", bedrooms=2)
    assert loaded(unit) == compiled(unit)


def test_tampered_redis_entry_is_rebuilt(backend, caplog):
    shared = store.Store(backend)
    store.compile_shared(shared, Unit, UNIT_PATHS, "json")
    (key,) = [k for k, _ in backend.scan("s")]
    blob = backend.get(key)
    backend.set(key, blob.replace(b":", b";", 1))
    rebuilt = store.compile_shared(store.Store(backend), Unit, UNIT_PATHS, "json")
    assert rebuilt(Unit(number="1", bedrooms=4)) == {"number": "1", "bedrooms": 4}
    assert any("ignoring serializers entry" in m for m in warnings_of(caplog))
    assert store.decode_entry("s", key.partition(":")[2], backend.get(key))


def test_redis_stopped_mid_run_serves_locally_and_recovers(own_server, caplog, closing):
    clock_now = [0.0]
    backend = store.RedisBackend(own_server.url, timeout=0.05, prefix="djust-fault", ttl=60)
    closing(backend)
    shared = store.Store(backend, retry_interval=5, warn_interval=60,
                         clock=lambda: clock_now[0])
    store.compile_shared(shared, Unit, ("number",), "json")
    assert shared.counters["writes"] == 2

    own_server.stop()
    while_down = store.compile_shared(shared, Unit, ("bedrooms",), "json")
    assert while_down(Unit(bedrooms=3)) == {"bedrooms": 3}
    store.compile_shared(shared, Unit, ("number", "bedrooms"), "json")
    # One failed read and one failed write; then both are skipped until the
    # retry interval has passed, and a single warning was logged.
    assert shared.counters["errors"] == 2 and shared.counters["skipped"] == 2
    assert len([m for m in warnings_of(caplog) if "failed" in m]) == 1

    own_server.start()  # same port, empty (no persistence)
    clock_now[0] += 5
    again = store.compile_shared(shared, Unit, ("bedrooms",), "json")
    assert again(Unit(bedrooms=1)) == {"bedrooms": 1}
    assert any("work again" in m for m in warnings_of(caplog))
    assert shared.counters["writes"] == 4  # serializer + manifest record, stored again
    assert store.Store(backend).get("s", store.serializer_key(
        Unit, again.tree, ("bedrooms",), "json")) == store.serializer_payload(again)


def test_restarted_redis_is_used_without_a_failed_call(own_server, closing):
    backend = store.RedisBackend(own_server.url, timeout=0.5, prefix="djust-restart", ttl=60)
    closing(backend)
    shared = store.Store(backend)
    store.compile_shared(shared, Unit, ("number",), "json")
    own_server.stop()
    own_server.start()  # the pool still holds the connection to the old process
    store.compile_shared(shared, Unit, ("number",), "json")
    assert shared.counters["errors"] == 0
    assert shared.counters["writes"] == 4  # the restarted server was empty: stored again


def test_slow_redis_counts_as_down(redis_py, caplog, closing):
    # A socket that accepts connections and never answers: every call times out.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        backend = store.RedisBackend(url, timeout=0.05, prefix="djust", ttl=60)
        closing(backend)
        shared = store.Store(backend)
        serializer = store.compile_shared(shared, Unit, ("number",), "json")
        assert serializer(Unit(number="8")) == {"number": "8"}
        assert shared.counters["errors"] == 2 and shared.counters["hits"] == 0
        (warning,) = warnings_of(caplog)
        assert "Timeout" in warning


def test_configured_redis_store(settings, redis_url):
    store.reset()
    settings.DJUST = {"CACHE": {"BACKEND": "redis", "URL": redis_url, "TIMEOUT": 0.2,
                                "KEY_PREFIX": f"djust-test-{uuid.uuid4().hex}"}}
    try:
        shared = store.configured_store()
        assert isinstance(shared.backend, store.RedisBackend)
        assert shared.put("m", "ef" * 32, {"model": "rentals.Unit"})
        assert shared.get("m", "ef" * 32) == {"model": "rentals.Unit"}
        assert shared.clear() == 1
    finally:
        store.reset()
