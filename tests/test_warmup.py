"""``djust.warm_up()``: a worker does its first page's djust work at start-up.

How much time that saves is measured by ``benchmarks/bench_first_request.py``.
"""

from __future__ import annotations

import logging

import pytest
from django.test import Client
from django.urls import path

import djust
from djust import LiveView, store
from djust.compiler import extraction
from djust.compiler.cache import default_cache
from djust.warmup import live_view_templates
from examples.rentals.seed import seed
from examples.rentals.views import Dashboard
from tests.test_store_integration import forget_this_process, page_state


class Broken(LiveView):
    template_name = "nope/missing.html"


class Inline(LiveView):
    template = "<main dj-root>{% for l in leases %}{{ l.end_date }}{% endfor %}</main>"


urlpatterns = [
    path("dashboard/", Dashboard.as_view()),
    path("inline/", Inline.as_view()),
]


class BrokenURLconf:
    """A URLconf (Django accepts any object with ``urlpatterns``) with a broken page."""

    urlpatterns = [*urlpatterns, path("broken/", Broken.as_view())]


@pytest.mark.urls(__name__)
def test_warm_up_analyses_every_routed_live_view_template():
    forget_this_process()
    result = djust.warm_up()
    assert result.skipped == []
    assert result.templates == len(live_view_templates()) == 2
    assert result.serializers == 0  # no shared store, so no manifest
    assert extraction.cached_count() == 2


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_after_warm_up_the_first_page_compiles_and_reads_nothing(filesystem_store):
    seed(scale=0.02)
    # An earlier worker served the page: the store's manifest lists its serializers.
    before = Client().get("/dashboard/")
    manifest = len(list(filesystem_store.entries("m")))
    assert manifest >= 3
    forget_this_process()

    result = djust.warm_up()
    assert (result.templates, result.serializers, result.skipped) == (2, manifest, [])
    compiled = len(default_cache())
    counted = dict(filesystem_store.counters)

    first = Client().get("/dashboard/")

    spent = {name: filesystem_store.counters[name] - counted[name] for name in counted}
    assert all(value == 0 for value in spent.values()), spent
    assert len(default_cache()) == compiled
    assert page_state(first.content.decode()) == page_state(before.content.decode())


def test_a_broken_page_or_record_is_logged_and_skipped(filesystem_store, caplog, settings):
    settings.ROOT_URLCONF = BrokenURLconf
    # A key of the shape the store writes (the filesystem backend lists no other).
    filesystem_store.put("m", "f" * 64, {"model": "rentals.Gone", "paths": ["x"],
                                         "mode": "json"})
    caplog.set_level(logging.WARNING, logger="djust.warmup")
    result = djust.warm_up()
    assert result.templates == 2 and result.serializers == 0
    assert len(result.skipped) == 2
    assert "nope/missing.html: TemplateDoesNotExist" in result.skipped[0]
    assert "rentals.Gone" in result.skipped[1] and "LookupError" in result.skipped[1]
    assert [r.getMessage() for r in caplog.records] == [
        f"djust warm-up skipped {line}" for line in result.skipped]


class UnimportableURLconf:
    """A URLconf whose patterns fail to load, as a broken urls.py does."""

    @property
    def urlpatterns(self):
        raise ImportError("cannot import name 'views'")


def test_a_urlconf_or_store_that_fails_still_lets_the_worker_start(
        filesystem_store, settings, monkeypatch):
    settings.ROOT_URLCONF = UnimportableURLconf()

    def unreachable(kind):
        raise store.StoreError("connection refused")

    monkeypatch.setattr(filesystem_store, "entries", unreachable)
    result = djust.warm_up()
    assert (result.templates, result.serializers) == (0, 0)
    assert result.skipped == [
        "the URLconf's LiveViews: ImportError: cannot import name 'views'",
        "the store's manifest: StoreError: connection refused",
    ]
