"""Query plans: structure, introspection of code, merging, and refusals."""

from __future__ import annotations

import logging

import pytest
from django.db.models import Prefetch

from djust.compiler import plan as plan_module
from djust.compiler.introspect import Reads, attribute_reads
from djust.compiler.plan import (
    Decision,
    QueryPlan,
    cannot_apply,
    optimize_queryset,
    plan_queries,
    related_queryset,
)
from djust.compiler.tree import build_access_tree
from examples.rentals.models import Lease, Property, Tenant, Unit
from tests.testapp import models as lib


def plan_for(model, paths):
    return plan_queries(build_access_tree(model, paths))


def spec(plan, lookup):
    return next(item for item in plan.prefetches if item.lookup == lookup)


def test_joins_follow_forward_and_reverse_one_chains():
    plan = plan_for(lib.Book, ["author.biography.text", "publisher.name", "author.user.email"])
    assert plan.select_related == ("author", "author__biography", "author__user", "publisher")
    assert {"author", "author__biography__author", "author__biography__text", "publisher",
            "publisher__name", "author__user__email", "title"} - {"title"} <= set(plan.only)
    assert "title" not in plan.only and plan.prefetches == ()


def test_reverse_one_uses_the_query_name_and_prefetch_the_accessor():
    plan = plan_for(lib.Author, ["biography.text"])
    assert plan.select_related == ("biography",)
    assert plan.root.joins[0].attribute == "biography"


def test_to_many_prefetches_carry_their_own_level():
    plan = plan_for(lib.Author, ["books.all.*.publisher.name", "books.all.*.tags.all.*.label",
                                 "books.count"])
    books = spec(plan, "books")
    assert books.model is lib.Book
    assert books.level.select_related == ("publisher",)
    assert {"author", "publisher", "publisher__name"} <= set(books.level.only)
    assert [inner.lookup for inner in books.level.prefetches] == ["tags"]


def test_prefetch_through_a_join_is_named_by_attributes():
    plan = plan_for(Lease, ["property.units.count"])
    assert plan.select_related == ("property",)
    assert [item.lookup for item in plan.prefetches] == ["property__units"]


def test_generic_relations_and_foreign_keys():
    comments = plan_for(lib.Book, ["comments.all.*.body"])
    assert {"content_type", "object_id", "body"} <= set(spec(comments, "comments").level.only)
    target = plan_for(lib.Comment, ["target.title"])
    assert spec(target, "target").level is None
    assert {"content_type", "object_id"} <= set(target.only)


def test_generic_foreign_key_paths_are_planned_on_each_known_target():
    plan = plan_for(lib.Comment, ["target", "target.pages"])
    target = spec(plan, "target")
    assert [level.model for level in target.targets] == [lib.Book]
    (book,) = target.targets
    # Book.__str__ shows its author's name; the template reads pages.
    assert book.select_related == ("author",)
    assert {"title", "pages", "author__name"} <= set(book.only)
    assert "genre" not in book.only
    assert "GenericPrefetch('target')" in plan.explain()


def test_generic_foreign_key_without_known_targets_stays_a_plain_lookup():
    assert plan_module.generic_targets(lib.Comment, "content_type") == ()
    assert plan_module.generic_targets(lib.Book, "title") == ()


def test_str_reads_are_joined_so_display_costs_no_query():
    plan = plan_for(Lease, ["tenant"])
    assert plan.select_related == ("tenant", "tenant__user")
    assert {"tenant__user__first_name", "tenant__user__last_name",
            "tenant__user__username"} <= set(plan.only)


def test_default_str_reads_only_the_pk():
    assert plan_for(lib.Untitled, [""]).only == ("id",)


def test_opaque_code_stops_pruning_and_says_why():
    plan = plan_for(lib.Author, ["dynamic"])
    assert plan.only is None
    assert "reads self dynamically" in plan.root.unpruned
    assert any(d.action == "not pruned" for d in plan.decisions)


def test_property_reading_rows_prefetches_them_whole():
    plan = plan_for(Property, ["occupancy_rate"])
    units = spec(plan, "units")
    assert units.level.only is None and "whole Unit rows" in units.level.unpruned


def test_parent_link_loads_the_parent_columns_without_join():
    plan = plan_for(lib.Restaurant, ["place_ptr.name"])
    assert plan.select_related == ()
    assert {"name", "address", "id"} <= set(plan.only)


def test_refused_methods_read_nothing():
    plan = plan_for(lib.Author, ["rename", "greet"])
    assert plan.only == ("id",)
    assert {d.action for d in plan.decisions} == {"runtime lookup"}


def test_displayed_uncalled_method_reads_what_str_reads():
    # {{ a.as_literal }} shows str(bound method), which includes repr(a).
    plan = plan_for(lib.Author, ["as_literal"])
    assert plan.only == ("id", "name")
    assert "python" in {d.action for d in plan.decisions}


def test_sensitive_paths_are_not_loaded():
    with pytest.warns(UserWarning):
        plan = plan_for(lib.Author, ["api_token", "name"])
    assert "api_token" not in plan.only
    assert Decision("api_token", "sensitive", plan.decisions[0].reason) in plan.decisions


def test_plans_are_plain_comparable_data():
    assert plan_for(Lease, ["unit.number"]) == plan_for(Lease, ["unit.number", "unit.number"])
    assert plan_for(Lease, ["unit.number"]) != plan_for(Lease, ["unit.bedrooms"])
    assert isinstance(plan_for(Lease, ["unit"]), QueryPlan)


def test_explain_lists_every_path_with_its_reason():
    text = plan_for(Property, ["name", "units.count", "occupancy_rate", "nothing"]).explain()
    assert "prefetch units (rentals.Unit)" in text
    assert "units.count: from prefetch" in text
    assert "nothing: runtime lookup" in text
    assert "deferred: address" in text


def test_explain_with_a_queryset_reports_the_merge():
    plan = plan_for(Property, ["name"])
    text = plan.explain(Property.objects.defer("name"))
    assert "un-deferred name" in text
    assert "not applied: values()" in plan.explain(Property.objects.values("id"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "make",
    [
        lambda: Unit.objects.values("number"),
        lambda: Unit.objects.values_list("number", flat=True),
        lambda: Unit.objects.all().union(Unit.objects.all()),
        lambda: Unit.objects.raw("SELECT * FROM rentals_unit"),
    ],
)
def test_querysets_that_cannot_carry_a_plan_come_back_unchanged(make, caplog):
    queryset = make()
    with caplog.at_level(logging.DEBUG, logger="djust.compiler.plan"):
        assert optimize_queryset(queryset, ["property.name"]) is queryset
    assert cannot_apply(queryset)
    assert "not optimized" in caplog.text


def test_a_plan_refuses_rows_of_another_model():
    with pytest.raises(TypeError, match=r"rentals\.Lease"):
        plan_for(Lease, ["unit"]).apply(Unit.objects.all())


def test_plan_cache_is_keyed_by_normalized_paths():
    plan_module._cached_plan.cache_clear()
    optimize_queryset(Unit.objects.all(), ["number", "property.name"])
    optimize_queryset(Unit.objects.all(), ["property.name", "number", "number"])
    assert plan_module._cached_plan.cache_info().hits == 1


def test_user_prefetch_queryset_is_kept_and_extended():
    mine = Prefetch("units", queryset=Unit.objects.filter(bedrooms=2))
    queryset = plan_for(Property, ["units.all.*.number", "units.all.*.property.name"]).apply(
        Property.objects.prefetch_related(mine))
    lookups = queryset._prefetch_related_lookups
    assert len(lookups) == 1
    inner = lookups[0].queryset
    assert "bedrooms" in str(inner.query)
    assert inner.query.deferred_loading == ({"id", "number", "property"}, False)
    # Each unit's property is the row that prefetched it: read on the outer level.
    assert inner.query.select_related is False
    assert "name" in queryset.query.deferred_loading[0]


def test_related_queryset_uses_the_default_manager_class():
    assert "draft" in str(related_queryset(lib.Chapter).query)
    assert related_queryset(Unit).ordered


def test_prefetch_keeps_the_relations_own_order():
    built = plan_module._build_prefetch(spec(plan_for(lib.Shop, ["books.count"]), "books"),
                                        [], prune=True)
    assert built.queryset.ordered  # Book's Meta.ordering, as the live relation
    # Live, an unordered relation iterates unordered; first()/last() pick by
    # pk from the rows, so no ORDER BY is added for them either.
    restaurants = plan_module._build_prefetch(
        spec(plan_for(lib.Author, ["restaurants.first.name"]), "restaurants"), [], prune=True)
    assert not restaurants.queryset.ordered
    assert restaurants.queryset.query.order_by == ()


@pytest.mark.parametrize(
    ("model", "name", "reads"),
    [
        (Tenant, "__str__", Reads(("user.get_full_name", "user.username"))),
        (lib.Untitled, "__str__", Reads(("pk",))),
        (lib.Book, "__str__", Reads(("author.name", "title"))),
        (lib.Author, "created_year", Reads(("created.year",))),
        (lib.Author, "kind", Reads()),
        (lib.Book, "publisher_label", Reads(("publisher.name", "publisher_id"))),
        (Property, "occupancy_rate", Reads(("units.all",))),
    ],
)
def test_attribute_reads(model, name, reads):
    assert attribute_reads(model, name) == reads


def test_attribute_reads_follow_super():
    class Base:
        def label(self):
            return self.name

    class Child(Base):
        def label(self):
            return super().label() + self.suffix

    assert attribute_reads(Child, "label").paths == ("name", "suffix")


def test_attribute_reads_are_opaque_when_self_escapes():
    class Escaping:
        def passes_self(self):
            return format(self)

        def constant_getattr(self):
            return getattr(self, "name")  # noqa: B009 - the case under test

        def harmless(self):
            return type(self).__name__ + self.title

    assert "uses self itself" in attribute_reads(Escaping, "passes_self").opaque
    assert attribute_reads(Escaping, "constant_getattr").paths == ("name",)
    assert attribute_reads(Escaping, "harmless").paths == ("title",)
    assert "not defined in Python" in attribute_reads(Escaping, "missing").opaque
    assert attribute_reads(Escaping, "__str__") == Reads()
