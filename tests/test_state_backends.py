"""Where a LiveView's state lives: any Django cache, chosen by
``DJUST["STATE_CACHE"]`` — process memory (LocMemCache) for one process,
Redis (Django's RedisCache, against the suite's throwaway redis-server) or
the database cache for several. Over both transports the state is kept
between events, stored again after each one with a fresh expiry of
``STATE_TIMEOUT`` seconds, and an expired entry asks for a reload.
"""

from __future__ import annotations

import os
import time

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import path

from djust import LiveView, event_handler, state
from djust.testing import HttpTransport, LiveViewTestClient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls(__name__)]


class Tally(LiveView):
    template = "<main dj-root><b id='n'>{{ n }}</b></main>"

    def mount(self, request):
        self.n = 0

    @event_handler
    def add(self):
        self.n += 1


urlpatterns = [path("tally/", Tally.as_view())]


def redis_location() -> str:
    url = os.environ.get("DJUST_TEST_REDIS_URL")
    if not url:
        message = "DJUST_TEST_REDIS_URL is not set (python3 run.py test starts redis-server)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    pytest.importorskip("redis", reason="redis-py comes with the redis extra")
    return url


BACKENDS = {
    "process memory": lambda: {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                               "LOCATION": "djust-state-test"},
    "redis": lambda: {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                      "LOCATION": redis_location(), "KEY_PREFIX": f"djust-{time.time_ns()}"},
    "database": lambda: {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                         "LOCATION": "djust_state_test"},
}


@pytest.fixture(params=sorted(BACKENDS))
def state_cache(request):
    caches_setting = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
                      "states": BACKENDS[request.param]()}
    with override_settings(CACHES=caches_setting, DJUST={"STATE_CACHE": "states",
                                                         "STATE_TIMEOUT": 600}):
        if request.param == "database":
            call_command("createcachetable", "djust_state_test", verbosity=0)
        yield caches["states"], request.param
        caches["states"].clear()


def seconds_left(cache, backend: str, key: str) -> float:
    """The entry's remaining lifetime, read from the backend itself."""
    if backend == "redis":
        client = cache._cache.get_client(key)
        return client.ttl(cache.make_and_validate_key(key))
    if backend == "process memory":
        return cache._expire_info[cache.make_and_validate_key(key)] - time.time()
    from django.db import connection
    from django.utils import timezone

    table = connection.ops.quote_name("djust_state_test")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT expires FROM {table} WHERE cache_key = %s",
                       [cache.make_and_validate_key(key)])
        (expires,) = cursor.fetchone()
    # The database cache stores naive UTC on SQLite, aware on PostgreSQL.
    now = timezone.now() if timezone.is_aware(expires) else timezone.now().replace(tzinfo=None)
    return (expires - now).total_seconds()


@pytest.mark.parametrize("transport", ["http", "socket"])
def test_the_state_lives_in_the_chosen_cache_with_its_expiry(state_cache, transport):
    cache, backend = state_cache
    client = Client(enforce_csrf_checks=True)
    if transport == "socket":
        pytest.importorskip("channels", reason="channels comes with the live extra")
        from djust.testing import SocketTransport

        live = LiveViewTestClient(client, transport=SocketTransport(client))
    else:
        live = LiveViewTestClient(client)
    page = live.get("/tally/")
    key = state._key(Tally, page.view_id)
    assert cache.get(key) is not None                  # stored there, not elsewhere
    assert caches["default"].get(key) is None
    assert 590 <= seconds_left(cache, backend, key) <= 600
    # Each event stores the state again with a fresh expiry.
    cache.touch(key, 100)
    assert seconds_left(cache, backend, key) <= 100
    page = page.event("add").event("add")
    assert page.element("#n").text == "2"
    assert 590 <= seconds_left(cache, backend, key) <= 600
    # The POST carries on from the stored state, whichever transport left it.
    reply = HttpTransport(client).send(page, "add", {})
    assert reply.status == 200 and reply.state == {"n": 3}
    # An expired entry asks for a reload.
    refused = LiveViewTestClient(client).get("/tally/")
    cache.delete(state._key(Tally, refused.view_id))
    answer = refused.event("add", expect_error="expired")
    assert answer.status == 400
