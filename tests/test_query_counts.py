"""The plan makes every path query-free: the number of queries is the same
for 1, 10 and 100 rows and equals 1 + the number of prefetch lookups, and the
values equal what the unoptimized rows give.

Paths are resolved generically with Django's own lookup
(``Variable._resolve_lookup``), iterating ``*``; ``count``/``exists``/
``first``/``last`` on a relation are answered from its rows, as the
generated serializer does.
"""

from __future__ import annotations

import inspect
import warnings

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django.db.models import Prefetch
from django.template import Context, Engine, Template
from django.template.base import Variable, VariableDoesNotExist
from django.test.utils import CaptureQueriesContext

from djust.compiler.paths import split_path
from djust.compiler.plan import optimize_queryset, plan_queries
from djust.compiler.tree import build_access_tree
from examples.rentals.models import Lease, MaintenanceRequest, Property, Unit
from tests import factories
from tests.testapp import models as lib

INVALID = "<invalid>"
ABSENT = "<absent>"
ENGINE = Engine(string_if_invalid=INVALID)
SERVED = ("count", "exists", "first", "last")


def lookup(value, bit):
    context = Context({"v": value})
    context.template = Template("", engine=ENGINE)
    try:
        return Variable(f"v.{bit}")._resolve_lookup(context)
    except VariableDoesNotExist:
        return ABSENT


def display(value):
    # A bound method shown as is (do_not_call_in_templates) compares by identity.
    if isinstance(value, models.Model) or inspect.ismethod(value):
        return str(value)
    if isinstance(value, models.QuerySet):
        return [str(row) for row in value]
    return value


def from_rows(value, method):
    rows = list(value) if isinstance(value, models.QuerySet) else list(value.all())
    return {
        "count": len(rows),
        "exists": bool(rows),
        "first": rows[0] if rows else None,
        "last": rows[-1] if rows else None,
    }[method]


def resolve(value, segments, served):
    if value is None or (isinstance(value, str) and value in (ABSENT, INVALID)):
        return value
    if not segments:
        return display(value)
    head, rest = segments[0], segments[1:]
    if head == "*":
        return [resolve(item, rest, served) for item in value]
    relation = isinstance(value, models.Manager | models.QuerySet)
    if served and relation and head in SERVED:
        return resolve(from_rows(value, head), rest, served)
    return resolve(lookup(value, head), rest, served)


def resolve_all(rows, paths, served):
    return [{path: resolve(row, split_path(path), served) for path in paths} for row in rows]


LEASE_PATHS = [
    "property.name", "unit.number", "tenant.user.get_full_name", "tenant.user.email",
    "end_date", "monthly_rent", "get_status_display", "days_until_expiration",
]
PROPERTY_PATHS = ["name", "units.count", "occupancy_rate", "amenities.all.*.name"]
REQUEST_PATHS = [
    "title", "unit.property.name", "unit.number", "get_priority_display", "created_at",
]
BOOK_PATHS = [
    "", "title", "pk", "author_id", "publisher_id", "get_genre_display", "metadata.isbn",
    "metadata.editions.0.year", "is_long", "publisher_label", "publisher.name",
    "author.name", "author.biography.text", "author.initials", "author.book_total",
    "author.user.email", "author.profile.city", "tags.all.*.label", "tags.all",
    "chapters.all.*.title", "chapters.first.number", "chapters.last", "chapters.count",
    "comments.all.*.body", "comments.exists", "shops.all.*.name", "publisher.published_book",
]
AUTHOR_PATHS = [
    "", "initials", "book_total", "created_year", "shout", "quiet", "greet", "rename",
    "as_literal", "kind", "books.all.*.tags.all.*.label", "restaurants.first.name",
    "biography.text", "user.email", "profile.city", "dynamic",
]

# (model, paths, hand-counted queries: 1 + prefetch lookups)
CASES = {
    "rentals-leases": (Lease, LEASE_PATHS, 1),
    "rentals-properties": (Property, PROPERTY_PATHS, 3),  # + units, amenities
    "rentals-requests": (MaintenanceRequest, REQUEST_PATHS, 1),
    # + author__books (book_total), tags, chapters, comments, shops
    "books": (lib.Book, BOOK_PATHS, 6),
    "authors": (lib.Author, AUTHOR_PATHS, 4),  # + books, books__tags, restaurants
    "comments": (lib.Comment, ["body", "target.title", "content_type.model"], 2),
    "restaurants": (lib.Restaurant, ["", "place_ptr.name", "chef.name", "serves_pizza",
                                     "chef.biography.text", "pk"], 1),
    "tags": (lib.Tag, ["label", "pk", "books.all.*.title", "books.count"], 2),
    "publishers": (lib.Publisher, ["", "pk", "book_set.all.*.title", "book_set.last.title"], 2),
    "units": (Unit, ["number", "property", "leases.all.*.tenant", "maintenance_requests.exists"],
              3),
}


def make_rows(model, n):
    if model._meta.app_label == "rentals":
        factories.rentals(n)
    else:
        factories.library(n)
    # Content types are cached per process; warm the cache so counts do not
    # depend on which test ran first.
    ContentType.objects.get_for_models(lib.Book, lib.Author)


@pytest.mark.django_db
@pytest.mark.parametrize("n", [1, 10, 100])
@pytest.mark.parametrize("case", sorted(CASES))
def test_query_count_is_constant_and_values_match(case, n):
    model, paths, expected = CASES[case]
    make_rows(model, n)
    # By pk: some models have no default ordering, and the optimized and the
    # live query need not list their rows alike without one.
    queryset = model._default_manager.order_by("pk")
    with CaptureQueriesContext(connection) as queries:
        rows = list(optimize_queryset(queryset.all(), paths))
        optimized = resolve_all(rows, paths, served=True)
    assert len(rows) > 0
    assert len(queries) == expected, "\n".join(q["sql"] for q in queries.captured_queries)
    live = resolve_all(list(queryset.all()), paths, served=False)
    assert optimized == live


@pytest.mark.django_db
@pytest.mark.parametrize("n", [3, 10])
def test_apply_to_instances_prefetches_the_join_chains(n):
    factories.rentals(n)
    plan = plan_queries(build_access_tree(Lease, LEASE_PATHS))
    rows = list(Lease.objects.all())
    with CaptureQueriesContext(connection) as queries:
        plan.apply_to_instances(rows)
        optimized = resolve_all(rows, LEASE_PATHS, served=True)
    # property, unit, tenant (joined with its user)
    assert len(queries) == 3
    assert optimized == resolve_all(list(Lease.objects.all()), LEASE_PATHS, served=False)


@pytest.mark.django_db
def test_apply_to_instances_skips_what_rows_already_loaded():
    factories.rentals(5)
    plan = plan_queries(build_access_tree(Lease, LEASE_PATHS))
    rows = list(Lease.objects.select_related("property", "unit", "tenant__user"))
    with CaptureQueriesContext(connection) as queries:
        plan.apply_to_instances(rows)
        resolve_all(rows, LEASE_PATHS, served=True)
    assert len(queries) == 0


def select_every_join(queryset):
    # Deprecated in Django 6.1, still supported: the plan must cope with it.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Calling select_related")
        return queryset.select_related()


USER_QUERYSETS = {
    "string-prefetch": (lambda: Property.objects.prefetch_related("units"), 3),
    "own-prefetch-queryset": (
        lambda: Property.objects.prefetch_related(
            Prefetch("units", queryset=Unit.objects.filter(bedrooms=1).only("id"))),
        3,
    ),
    "to-attr-prefetch": (
        lambda: Property.objects.prefetch_related(
            Prefetch("units", queryset=Unit.objects.all(), to_attr="unit_list")),
        4,
    ),
    "deeper-string": (lambda: Property.objects.prefetch_related("units__leases"), 4),
    "deferred-read-field": (lambda: Property.objects.defer("name", "address"), 3),
    "only-narrower": (lambda: Property.objects.only("city"), 3),
    "own-joins": (lambda: Property.objects.select_related("manager").only("manager__email"), 3),
    "all-joins": (lambda: select_every_join(Property.objects.all()), 3),
    "annotated-distinct": (
        lambda: Property.objects.annotate(n=models.Count("units")).order_by("-n", "name")
        .distinct(),
        3,
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", sorted(USER_QUERYSETS))
def test_plan_merges_with_what_the_queryset_already_does(case):
    factories.rentals(6)
    make_queryset, expected = USER_QUERYSETS[case]
    with CaptureQueriesContext(connection) as queries:
        rows = list(optimize_queryset(make_queryset(), PROPERTY_PATHS))
        optimized = resolve_all(rows, PROPERTY_PATHS, served=True)
    assert len(queries) == expected, "\n".join(q["sql"] for q in queries.captured_queries)
    live = resolve_all(list(make_queryset()), PROPERTY_PATHS, served=False)
    assert optimized == live


@pytest.mark.django_db
def test_lease_merges_with_own_select_related_and_defer():
    factories.rentals(4)

    def queryset():
        return Lease.objects.select_related("tenant").defer("tenant__phone", "end_date")

    with CaptureQueriesContext(connection) as queries:
        rows = list(optimize_queryset(queryset(), [*LEASE_PATHS, "tenant.phone"]))
        optimized = resolve_all(rows, [*LEASE_PATHS, "tenant.phone"], served=True)
    assert len(queries) == 1
    assert optimized == resolve_all(list(queryset()), [*LEASE_PATHS, "tenant.phone"], False)
