"""The planner under every input shape (issue #19, item 3): what it plans,
what it leaves alone, and that it never fails a page Django renders."""

from __future__ import annotations

import logging

import pytest
from django.db import connection
from django.template import engines
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from djust.template import planning
from djust.template.planning import ContextPlanner, row_paths
from examples.rentals.models import Lease, Property, Tenant
from tests import factories
from tests.test_template_backend import DJANGO, DJUST

pytestmark = pytest.mark.django_db

ROWS = "{% for l in leases %}{{ l.tenant.user.email }}{{ l.property.name }};{% endfor %}"


def both(source: str, context_of) -> dict[str, tuple[str, int]]:
    """{backend: (html, queries)} for ``source`` over a fresh context each."""
    out = {}
    for backend in (DJANGO, DJUST):
        with override_settings(TEMPLATES=[{"NAME": "django", "BACKEND": backend}]):
            template = engines["django"].from_string(source)
            with CaptureQueriesContext(connection) as captured:
                html = template.render(context_of())
        out[backend] = (html, len(captured.captured_queries))
    assert out[DJUST][0] == out[DJANGO][0]
    return out


@pytest.fixture
def rentals():
    factories.rentals(6)


def test_rows_already_loaded_keep_their_rows_and_order(rentals):
    def context():
        leases = Lease.objects.order_by("-id")
        list(leases)
        return {"leases": leases}

    out = both(ROWS, context)
    # Django: one query per lease per relation; djust: a prefetch per relation.
    assert out[DJUST][1] <= 3 < out[DJANGO][1]


def test_a_list_of_instances_and_one_instance(rentals):
    out = both(ROWS + "{{ one.tenant.user.email }}{% for u in one.property.units.all %}"
               "{{ u.number }}{% endfor %}",
               lambda: {"leases": list(Lease.objects.all()), "one": Lease.objects.first()})
    assert out[DJUST][1] < out[DJANGO][1]


def test_values_and_mixed_lists_are_left_alone(rentals):
    source = ("{% for r in rows %}{{ r.status }}{% endfor %}"
              "{% for x in mixed %}{{ x.user.email }}{% endfor %}")

    def context():
        return {"rows": Lease.objects.values("status"),
                "mixed": [Tenant.objects.first(), Property.objects.first()]}

    out = both(source, context)
    assert out[DJUST][1] == out[DJANGO][1]


def test_a_union_is_loaded_then_completed(rentals):
    leases = Lease.objects.order_by()
    source = "{% for l in both %}{{ l.tenant.phone }}{{ l.property.name }}{% endfor %}"
    out = both(source, lambda: {
        "both": leases.filter(status="active").union(leases.filter(status="expired"))})
    assert out[DJUST][1] == 3 < out[DJANGO][1]


def test_a_queryset_only_counted_is_not_touched():
    queryset = Lease.objects.all()
    planner = ContextPlanner({"leases": ("count", "exists")}, label="t")
    context = {"leases": queryset}
    assert planner.plan(context) is context


def test_names_sharing_rows_get_one_plan_for_the_union(rentals):
    source = ("{% for l in a %}{{ l.tenant.phone }}{% endfor %}"
              "{% for l in b %}{{ l.property.city }}{% endfor %}")

    def context():
        shared = Lease.objects.all()
        return {"a": shared, "b": shared}

    out = both(source, context)
    # One query for both names: the rows are evaluated once, joined for both.
    assert out[DJUST][1] == 1


def test_a_failing_plan_leaves_the_rows_as_made_and_logs_once(rentals, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("planning broke")

    monkeypatch.setattr(planning, "live_plan", broken)
    planner = ContextPlanner({"leases": ("*.tenant.phone",)}, label="page.html")
    leases = Lease.objects.all()
    with caplog.at_level(logging.WARNING, logger="djust.template"):
        assert planner.plan({"leases": leases})["leases"] is leases
        planner.plan({"leases": Lease.objects.all()})
    warnings = [r for r in caplog.records if "planning broke" in r.getMessage()]
    assert len(warnings) == 1 and "page.html" in warnings[0].getMessage()


def test_a_relation_under_a_false_condition_costs_at_most_its_prefetch(rentals):
    """The documented bound: a relation the template reads only where a
    condition is false for every row is still prefetched, one query per
    relation level, never one per row."""
    source = ("{% for l in leases %}{% if l.status == 'none' %}"
              "{% for a in l.property.amenities.all %}{{ a }}{% endfor %}{% endif %}{% endfor %}")
    out = both(source, lambda: {"leases": Lease.objects.all()})
    assert out[DJANGO][1] == 1 and out[DJUST][1] <= 3


def test_nothing_evaluated_means_nothing_queried(rentals):
    source = "{% if show %}" + ROWS + "{% endif %}"
    out = both(source, lambda: {"show": False, "leases": Lease.objects.all()})
    assert out[DJUST][1] == out[DJANGO][1] == 0


def test_row_paths():
    assert row_paths(["*.a.b", "0.c", "last.d", "all.*.e", "count", ""]) == [
        "", "a.b", "c", "d", "e"]


def test_a_name_handed_to_a_tag_djust_cannot_analyse_is_left_unplanned(rentals, caplog):
    """The tag may read anything of ``leases``: planned rows could differ from
    what it expects (a to_attr list, a prefetched manager), so they stay as
    the view made them; ``others`` is still planned. Reported once."""
    source = ("{% load extraction_tags %}{% shout leases %}" + ROWS
              + "{% for l in others %}{{ l.tenant.phone }}{% endfor %}")
    with caplog.at_level(logging.INFO, logger="djust.template"):
        out = both(source, lambda: {"leases": Lease.objects.all(),
                                    "others": Lease.objects.all()})
    leases = Lease.objects.count()
    # Only others' per-row tenant loads go: leases keeps its 3 per row.
    assert out[DJANGO][1] > 3 * leases
    assert out[DJUST][1] == out[DJANGO][1] - leases
    reports = [r.getMessage() for r in caplog.records if "cannot analyse" in r.getMessage()]
    assert len(reports) == 1 and "left unplanned: leases" in reports[0]


@pytest.mark.skipif(not hasattr(Lease.objects.all(), "fetch_mode"),
                    reason="fetch modes are Django 6.1+")
def test_fetch_peers_loads_an_unplanned_names_relations_for_all_rows(rentals):
    source = "{% load extraction_tags %}{% shout leases %}" + ROWS
    counts = {}
    for peers in (False, True):
        with override_settings(DJUST={"FETCH_PEERS": peers}):
            counts[peers] = both(source, lambda: {"leases": Lease.objects.all()})[DJUST][1]
    leases = Lease.objects.count()
    # Without: the repr's slice, the rows, 3 loads per lease. With: one
    # query per relation for all the rows.
    assert counts[False] == 2 + 3 * leases
    assert counts[True] == 2 + 3


@pytest.mark.parametrize("source", [
    "{% for l in leases|slice:':3' %}{{ l.tenant.phone }}{% endfor %}",
    "{% for l in leases|dictsort:'end_date' %}{{ l.tenant.phone }}{% endfor %}",
    "{% regroup leases by status as groups %}{% for g in groups %}{{ g.grouper }}:"
    "{% for l in g.list %}{{ l.tenant.phone }}{% endfor %}{% endfor %}",
    "{% with first=leases|first %}{{ first.tenant.user.email }}{% endwith %}",
    "{% for l in leases reversed %}{{ l.unit.property.name|default:'-' }}{% endfor %}"
    "{{ leases|length }}",
    "{% for l in leases %}{% if l.unit and l.unit.property.city == 'Springfield' %}"
    "{{ l.unit.number }}{% endif %}{% ifchanged l.status %}{{ l.status }}{% endifchanged %}"
    "{% cycle 'a' 'b' %}{{ forloop.counter }}{% endfor %}",
    "{% for l in leases %}{% include 'row.html' with lease=l only %}{% endfor %}",
])
def test_real_template_idioms_render_the_same_in_fewer_queries(rentals, source):
    from django.template import engines as all_engines

    rows = {"row.html": "{{ lease.tenant.user.email }}|{{ lease.property }}"}
    out = {}
    for backend in (DJANGO, DJUST):
        templates = [{"NAME": "django", "BACKEND": backend, "OPTIONS": {
            "loaders": [("django.template.loaders.locmem.Loader", rows)]}}]
        with override_settings(TEMPLATES=templates):
            template = all_engines["django"].from_string(source)
            with CaptureQueriesContext(connection) as captured:
                html = template.render({"leases": Lease.objects.all()})
        out[backend] = (html, len(captured.captured_queries))
    assert out[DJUST][0] == out[DJANGO][0]
    assert out[DJUST][1] < out[DJANGO][1] or out[DJANGO][1] <= 2, out
