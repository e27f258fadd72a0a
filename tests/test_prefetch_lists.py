"""The serializer-only prefetch variant: ``QueryPlan.apply(..., lists=True)``.

Relations only the serializer's own paths read load into plain list
attributes (``_djust_<accessor>``); relations that ``__str__``, a property
or a method reads keep Django's prefetch cache, and ``apply()`` without the
variant is unchanged. The generated serializer gives the same output
whichever way the rows were loaded, with the same number of queries.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Prefetch
from django.test.utils import CaptureQueriesContext

from djust.compiler import compile_serializer
from djust.compiler.plan import plan_queries
from djust.compiler.relations import rows_read_as_list
from djust.compiler.runtime import first_row, last_row
from djust.compiler.tree import build_access_tree
from examples.rentals.models import Lease, Property, Unit
from tests import factories
from tests.testapp import models as lib

S3 = (
    "name",
    "units.count",
    "units.all.*.number",
    "amenities.all.*.name",
    "units.all.*.maintenance_requests.all.*.title",
    "units.all.*.maintenance_requests.all.*.status",
)


def spec(level, lookup):
    return next(s for s in level.prefetches if s.lookup == lookup)


def to_attrs(queryset) -> dict[str, str | None]:
    return {lookup.prefetch_through: lookup.to_attr
            for lookup in queryset._prefetch_related_lookups if isinstance(lookup, Prefetch)}


def counted(function):
    with CaptureQueriesContext(connection) as captured:
        result = function()
    return result, len(captured.captured_queries)


# ------------------------------------------------------------------ the plan


def test_relations_only_the_serializer_reads_are_listed_nested_levels_included():
    plan = plan_queries(build_access_tree(Property, S3))
    units = spec(plan.root, "units")
    assert units.listed
    assert spec(plan.root, "amenities").listed
    assert spec(units.level, "maintenance_requests").listed


def test_a_relation_a_property_reads_keeps_the_manager_cache():
    # Property.occupancy_rate iterates self.units.all().
    plan = plan_queries(build_access_tree(Property, ["occupancy_rate", "units.count",
                                                     "amenities.all.*.name"]))
    assert not spec(plan.root, "units").listed
    assert spec(plan.root, "amenities").listed


def test_a_relation_read_other_than_as_rows_is_not_listed():
    tree = build_access_tree(Property, ["units.all.none", "amenities.all.*.name"])
    assert not rows_read_as_list(tree.child("units"))
    plan = plan_queries(tree)
    assert not spec(plan.root, "units").listed


def test_a_relation_of_a_row_whose_code_djust_cannot_follow_is_not_listed():
    # Author.dynamic reads an attribute named by data: anything may be read.
    plan = plan_queries(build_access_tree(lib.Author, ["dynamic", "books.all.*.title"]))
    assert not spec(plan.root, "books").listed
    plain = plan_queries(build_access_tree(lib.Author, ["books.all.*.title"]))
    assert spec(plain.root, "books").listed


def test_explain_says_which_relations_many_loads_as_lists():
    text = plan_queries(build_access_tree(Property, ["occupancy_rate", "units.count",
                                                     "amenities.all.*.name"])).explain()
    assert "a plain list in _djust_amenities" in text
    assert "_djust_units" not in text


def test_apply_is_unchanged_and_the_variant_names_list_attributes():
    plan = plan_queries(build_access_tree(Property, S3))
    plain = plan.apply(Property.objects.all())
    assert set(to_attrs(plain).values()) == {None}
    listed = plan.apply(Property.objects.all(), lists=True)
    assert to_attrs(listed) == {"units": "_djust_units", "amenities": "_djust_amenities"}
    inner = next(p.queryset for p in listed._prefetch_related_lookups
                 if p.prefetch_through == "units")
    assert to_attrs(inner) == {"maintenance_requests": "_djust_maintenance_requests"}


def test_the_users_own_lookups_on_a_relation_keep_its_manager_cache():
    plan = plan_queries(build_access_tree(Property, S3))
    merged = plan.apply(Property.objects.prefetch_related("units__leases"), lists=True)
    attrs = to_attrs(merged)
    assert attrs["units"] is None
    assert attrs["amenities"] == "_djust_amenities"


# ------------------------------------------------------------- the output


@pytest.mark.django_db
def test_many_loads_lists_and_matches_the_plain_plan_row_for_row(monkeypatch):
    factories.rentals(6)
    serializer = compile_serializer(Property, S3)
    projected, projected_queries = counted(lambda: serializer.many(Property.objects.all()))
    # These paths project (projection.py); without that, many() loads lists.
    monkeypatch.setattr(serializer, "projection", False)
    listed, listed_queries = counted(lambda: serializer.many(Property.objects.all()))
    plain, plain_queries = counted(
        lambda: [serializer(row) for row in serializer.plan.apply(Property.objects.all())])
    unplanned = [serializer(row) for row in Property.objects.all()]
    assert projected == listed == plain == unplanned
    assert projected_queries == listed_queries == plain_queries == 4
    assert [len(row["units"]["all"]) for row in listed] == [2] * 6


@pytest.mark.django_db
def test_listed_rows_carry_lists_and_no_manager_cache():
    factories.rentals(2)
    plan = plan_queries(build_access_tree(Property, S3))
    rows = list(plan.apply(Property.objects.all(), lists=True))
    first = rows[0]
    assert type(first._djust_units) is list
    assert "units" not in getattr(first, "_prefetched_objects_cache", {})
    assert type(first._djust_units[0]._djust_maintenance_requests) is list


@pytest.mark.django_db
def test_count_exists_first_last_and_index_answer_from_the_list_without_queries():
    factories.rentals(4)
    paths = ("units.count", "units.exists", "units.first.number", "units.last.number",
             "units.all.0.number", "amenities.all.*.name", "amenities.first.name")
    serializer = compile_serializer(Property, paths)
    rows = list(serializer.plan.apply(Property.objects.all(), lists=True))
    served, queries = counted(lambda: [serializer(row) for row in rows])
    assert queries == 0
    live = [serializer(row) for row in Property.objects.all()]
    assert served == live
    for row, prop in zip(served, Property.objects.all(), strict=True):
        assert row["units"]["count"] == prop.units.count()
        assert row["units"]["first"]["number"] == prop.units.first().number
        assert row["units"]["last"]["number"] == prop.units.last().number


@pytest.mark.django_db
def test_unordered_relations_pick_first_and_last_by_pk_from_the_list():
    factories.library(6)
    paths = ("name", "restaurants.first.name", "restaurants.last.name",
             "restaurants.count", "restaurants.exists")
    serializer = compile_serializer(lib.Author, paths)
    assert spec(serializer.plan.root, "restaurants").listed
    listed = serializer.many(lib.Author.objects.all())
    live = [serializer(row) for row in lib.Author.objects.all()]
    assert listed == live
    chefs = [row for row in listed if row["restaurants"]["exists"]]
    assert chefs and all(row["restaurants"]["count"] == 1 for row in chefs)


def test_first_and_last_of_a_list_follow_order_or_pk():
    rows = [Unit(pk=3, number="c"), Unit(pk=1, number="a"), Unit(pk=2, number="b")]
    assert first_row(rows, False).pk == 1
    assert last_row(rows, False).pk == 3
    assert first_row(rows, True).pk == 3
    assert last_row(rows, True).pk == 2


@pytest.mark.django_db
def test_python_mode_and_code_read_relations_stay_equal():
    factories.rentals(3)
    paths = ("occupancy_rate", "units.count", "units.all.*.number", "amenities.all")
    serializer = compile_serializer(Property, paths, mode="python")
    listed, listed_queries = counted(lambda: serializer.many(Property.objects.all()))
    live = [serializer(row) for row in Property.objects.all()]
    assert listed == live
    # units (read by occupancy_rate) from the cache, amenities listed: no
    # query per row.
    assert listed_queries == 3


@pytest.mark.django_db
def test_a_serializer_on_rows_loaded_without_the_variant_stays_correct():
    factories.library(3)
    paths = ("title", "chapters.all.*.number", "chapters.count", "tags.all.*.label")
    serializer = compile_serializer(lib.Book, paths)
    listed = serializer.many(lib.Book.objects.all())
    user_prefetched = [serializer(row) for row in lib.Book.objects.prefetch_related(
        "chapters", "tags")]
    instances = serializer.many(list(lib.Book.objects.all()))
    assert listed == user_prefetched == instances
    # The related manager (PublishedManager) hides drafts: so do the lists.
    assert [row["chapters"]["count"] for row in listed] == [
        book.chapters.count() for book in lib.Book.objects.all()] == [2, 2, 2]


@pytest.mark.django_db
def test_generic_and_through_relations_and_back_links_stay_equal_and_query_free():
    factories.library(4)
    paths = ("title", "comments.all.*.body", "comments.count", "shops.all.*.name",
             "chapters.all.*.book.title", "chapters.last.number")
    serializer = compile_serializer(lib.Book, paths)
    assert all(spec(serializer.plan.root, lookup).listed
               for lookup in ("comments", "shops", "chapters"))
    listed, queries = counted(lambda: serializer.many(lib.Book.objects.all()))
    assert listed == [serializer(row) for row in lib.Book.objects.all()]
    # Books, comments, shops, chapters: the chapters' link back to their book
    # is the prefetching row, as with the manager cache.
    assert queries == 4
    assert {row["comments"]["count"] for row in listed} == {1}


@pytest.mark.django_db
def test_a_relation_of_a_joined_row_is_listed_on_that_row():
    factories.rentals(4)
    paths = ("reference", "property.units.count", "property.units.all.*.number")
    serializer = compile_serializer(Lease, paths)
    listed_qs = serializer.plan.apply(Lease.objects.all(), lists=True)
    assert to_attrs(listed_qs) == {"property__units": "_djust_units"}
    rows = list(listed_qs)
    assert type(rows[0].property._djust_units) is list
    assert serializer.many(Lease.objects.all()) == [
        serializer(row) for row in Lease.objects.all()]


@pytest.mark.django_db
def test_apply_to_instances_accepts_the_variant():
    factories.rentals(3)
    plan = plan_queries(build_access_tree(Property, S3))
    rows = plan.apply_to_instances(list(Property.objects.all()), lists=True)
    assert all(type(row._djust_units) is list for row in rows)
    kept = plan.apply_to_instances(list(Property.objects.all()))
    assert all("units" in row._prefetched_objects_cache for row in kept)


@pytest.mark.django_db
def test_relations_below_a_generic_foreign_key_keep_the_manager_cache():
    factories.library(3)
    serializer = compile_serializer(lib.Comment, ["body", "target.chapters.all.*.number"])
    (book_level,) = spec(serializer.plan.root, "target").targets
    assert not spec(book_level, "chapters").listed
    assert serializer.many(lib.Comment.objects.all()) == [
        serializer(row) for row in lib.Comment.objects.all()]
