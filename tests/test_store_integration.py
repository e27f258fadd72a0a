"""The shared store behind compile_serializer, extraction and LiveView pages."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from djust import store
from djust.compiler import compile_serializer
from djust.compiler import extraction as ex
from djust.compiler.cache import default_cache
from djust.compiler.extraction import (
    extract_template_variables,
    extract_template_variables_from_name,
)
from djust.compiler.modes import plain
from examples.rentals.models import Lease, Unit
from examples.rentals.seed import seed


def page_state(content: str) -> dict:
    """The browser state a LiveView page carries."""
    match = re.search(r'<script type="application/json" id="djust-state">(.*?)</script>',
                      content, re.S)
    assert match, "the page carries its state"
    return json.loads(match.group(1))


def forget_this_process() -> None:
    """What a new worker starts with: empty in-process caches."""
    ex.cache_clear()
    default_cache().clear()


@pytest.fixture
def shared(filesystem_store):
    return filesystem_store


def test_the_app_registers_the_configured_store_with_the_compiler():
    from djust.compiler import shared as compiler_shared

    assert compiler_shared.registered() is store.CONFIGURED


def test_compile_serializer_goes_through_the_store(shared):
    paths = ["property.name", "number", "bedrooms"]
    first = compile_serializer(Unit, paths, mode="python")
    assert shared.counters["misses"] == 1 and shared.counters["writes"] == 2
    assert compile_serializer(Unit, paths, mode="python") is first  # in-process hit
    assert shared.counters["misses"] == 1
    forget_this_process()
    second = compile_serializer(Unit, paths, mode="python")
    assert second is not first and second.source == first.source
    assert shared.counters["hits"] == 1
    unit = Unit(number="2B", bedrooms=3)
    assert plain(second(unit)) == plain(first(unit))


def test_extraction_by_name_goes_through_the_store(shared):
    first = extract_template_variables_from_name("rentals/dashboard.html")
    assert shared.counters["misses"] == 1
    forget_this_process()
    second = extract_template_variables_from_name("rentals/dashboard.html")
    assert second == first and shared.counters["hits"] == 1
    # Back in the in-process cache: the next call does not ask the store.
    extract_template_variables_from_name("rentals/dashboard.html")
    assert shared.counters["hits"] == 1


def test_extraction_from_source_goes_through_the_store(shared):
    source = "{% for l in leases %}{{ l.tenant.phone }}{% endfor %}{{ title }}"
    first = extract_template_variables(source, name="inline.html")
    forget_this_process()
    second = extract_template_variables(source, name="inline.html")
    assert second == first and shared.counters["hits"] == 1
    other = extract_template_variables(source + "{{ more }}", name="inline.html")
    assert "more" in other and shared.counters["misses"] == 2


def test_no_store_by_default(settings):
    store.reset()
    settings.DJUST = {}
    forget_this_process()
    compile_serializer(Unit, ["number"])
    assert store.configured_store() is None


@pytest.mark.django_db
def test_pages_from_a_warm_store_match_pages_from_a_cold_one(shared):
    seed(scale=0.02)
    cold = Client().get("/dashboard/").content.decode()
    writes = shared.counters["writes"]
    assert writes >= 4  # the template and its serializers
    forget_this_process()
    warm = Client().get("/dashboard/").content.decode()
    assert shared.counters["writes"] == writes  # everything came from the store
    assert page_state(warm) == page_state(cold)


@pytest.mark.django_db
def test_edited_template_takes_effect_with_a_store_in_debug(shared, settings, tmp_path):
    seed(scale=0.02)
    (tmp_path / "live").mkdir()
    page = tmp_path / "live" / "page.html"
    page.write_text('{% extends "live/base.html" %}{% block main %}{% for l in leases %}'
                    "<i>{{ l.monthly_rent }}</i>{% endfor %}{% endblock %}")
    base = tmp_path / "live" / "base.html"
    base.write_text("<main dj-root>{% block main %}{% endblock %}</main>")
    settings.DEBUG = True
    settings.TEMPLATES = [{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [tmp_path],
        "OPTIONS": {"loaders": ["django.template.loaders.filesystem.Loader"]},
    }]
    client = Client()
    assert "<i>" in client.get("/from-file/").content.decode()
    # An edit of the parent, which the stored extraction of page.html followed.
    base.write_text("<main dj-root>{% block main %}{% endblock %}"
                    "{% for l in leases %}<b>{{ l.tenant.phone }}</b>{% endfor %}</main>")
    forget_this_process()
    second = client.get("/from-file/").content.decode()
    phone = Lease.objects.order_by("id").first().tenant.phone
    assert f"<b>{phone}</b>" in second
    assert set(page_state(second)["leases"][0]) == {"monthly_rent", "tenant"}
