"""Query-plan regressions the query-parity property
(property_tests/test_query_parity.py) found, as plain tests.

Each is the shrunk reproduction: serializing one row and serializing several
rows through the plan must issue the same number of queries.
"""

from __future__ import annotations

import warnings

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django.db.models import Prefetch
from django.test.utils import CaptureQueriesContext

from djust.compiler.plan import KnownTargetsPrefetch, plan_queries
from djust.compiler.runtime import resolve_lookup
from djust.compiler.serializer import compile_serializer
from djust.compiler.tree import build_access_tree
from property_tests.fuzzapp.models import Comment, Item, Note, Owner, SpecialItem, Tag


def _compile(paths, mode="json"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return compile_serializer(Item, paths, mode=mode)


def _queries(serializer, rows) -> tuple[int, list]:
    with CaptureQueriesContext(connection) as queries:
        result = serializer.many(rows)
    return len(queries), result


@pytest.fixture
def noted_items(db):
    """Three items with one note each; every item has its own owner, whom
    Item.__str__ displays."""
    items = []
    for n in range(3):
        owner = Owner.objects.create(username=f"owner{n}")
        item = Item.objects.create(title=f"t{n}", owner=owner)
        item.tags.add(Tag.objects.create(name=f"tag{n}"))
        Note.objects.create(target=item, text=f"note{n}")
        items.append(item)
    return items


def _unoptimized(paths, items):
    """What the same serializer gives on rows it did not prepare."""
    serializer = _compile(paths)
    return [serializer(Item.objects.get(pk=item.pk)) for item in items]


def test_generic_target_displayed_below_an_index_costs_no_query_per_row(noted_items):
    # notes.all.0.target is an Item whose __str__ reads its owner: the
    # GenericForeignKey prefetch fetched bare Items, and str() of each one
    # loaded its owner with one query per row.
    paths = ["pk", "notes.all.0.target.pk", "notes.all.0.target"]
    serializer = _compile(paths)
    one, _ = _queries(serializer, Item.objects.filter(pk=noted_items[0].pk))
    several, result = _queries(serializer, Item.objects.all())
    # The rows, the notes, the targets (one content type): joins do the rest.
    assert (one, several) == (3, 3)
    assert result == _unoptimized(paths, noted_items)
    assert result[1]["notes"]["all"]["0"]["target"]["__str__"] == "t1 by owner1"


def test_relation_below_a_generic_target_is_prefetched_through_it(noted_items):
    paths = ["notes.all.*.target.tags.count", "notes.all.*.target.owner.username"]
    serializer = _compile(paths)
    one, _ = _queries(serializer, Item.objects.filter(pk=noted_items[0].pk))
    several, result = _queries(serializer, Item.objects.all())
    assert (one, several) == (4, 4)  # rows, notes, targets, the targets' tags
    assert result == _unoptimized(paths, noted_items)
    assert result[2]["notes"]["all"] == [{"target": {"owner": {"username": "owner2"},
                                                     "tags": {"count": 1}}}]


def test_generic_target_plan_types_the_paths_for_each_known_target():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        plan = plan_queries(build_access_tree(Note, ["target", "target.tags.count"]))
    (spec,) = plan.prefetches
    assert spec.lookup == "target" and spec.level is None
    # Item and its multi-table child both declare the GenericRelation.
    assert [level.model for level in spec.targets] == [Item, SpecialItem]
    item_level = spec.targets[0]
    assert item_level.select_related == ("owner",)  # Item.__str__ shows its owner
    assert [inner.lookup for inner in item_level.prefetches] == ["tags"]
    assert "as fuzzapp.Item:" in plan.explain()


def test_note_rows_display_their_targets_without_a_query_per_row(noted_items):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        serializer = compile_serializer(Note, ["target", "text"])
    one, _ = _queries(serializer, Note.objects.filter(pk=Note.objects.first().pk))
    several, result = _queries(serializer, Note.objects.all())
    assert (one, several) == (2, 2)
    assert [row["target"] for row in result] == ["t0 by owner0", "t1 by owner1", "t2 by owner2"]


def test_target_model_whose_content_type_is_not_cached_is_fetched_as_django_does(noted_items):
    # Handing Django a queryset costs a content-type query per target model
    # not seen yet, even when no row points at it: such models are left to
    # Django until their content type is known.
    special = SpecialItem.objects.create(title="s", owner=noted_items[0].owner)
    Note.objects.create(target=special, text="special note")
    expected = [str(note.target) for note in Note.objects.all()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        serializer = compile_serializer(Note, ["target"])
    ContentType.objects.clear_cache()
    cold, first = _queries(serializer, Note.objects.all())
    count, second = _queries(serializer, Note.objects.all())
    assert [row["target"] for row in first] == expected
    assert [row["target"] for row in second] == expected
    # Warm: the notes, the Item targets (owners joined), the SpecialItem target.
    assert count == 3
    assert cold > count  # content types, and the owners of the bare Item targets


def test_planned_generic_prefetch_drops_only_uncached_content_types(noted_items):
    ContentType.objects.clear_cache()
    ContentType.objects.get_for_model(Item)
    prefetch = KnownTargetsPrefetch(
        "target", [Item._base_manager.all(), SpecialItem._base_manager.all()]
    )
    with CaptureQueriesContext(connection) as queries:
        kept = prefetch.get_current_querysets(0)
    assert [queryset.model for queryset in kept] == [Item]
    assert len(queries) == 0


def test_users_own_generic_lookup_is_kept_as_given(noted_items):
    serializer = _compile(["notes.all.*.target"])
    rows = Item.objects.prefetch_related(Prefetch("notes"), "notes__target")
    one, _ = _queries(serializer, rows.filter(pk=noted_items[0].pk))
    several, result = _queries(serializer, rows)
    assert one == several
    assert [row["notes"]["all"] for row in result] == [
        [{"target": f"t{n} by owner{n}"}] for n in range(3)
    ]


def test_users_own_lookup_on_the_generic_key_wins_and_is_explained(noted_items):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        serializer = compile_serializer(Note, ["target"])
    rows = Note.objects.prefetch_related("target")
    assert "your own lookups use those rows" in serializer.plan.explain(rows)
    _, result = _queries(serializer, rows)
    assert [row["target"] for row in result] == [f"t{n} by owner{n}" for n in range(3)]


# -- the link back of prefetched rows ------------------------------------------


@pytest.fixture
def commented_specials(db):
    """Three SpecialItems with two comments each; every one has its own owner."""
    specials = []
    for n in range(3):
        owner = Owner.objects.create(username=f"owner{n}")
        special = SpecialItem.objects.create(title=f"s{n}", owner=owner, motto=f"motto{n}")
        for score in (1, 2):
            Comment.objects.create(item=special, text=f"c{n}.{score}", score=score)
        specials.append(special)
    return specials


def _compile_for(model, paths):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return compile_serializer(model, paths, mode="json")


def _per_row_and_all(serializer, queryset, first_pk):
    one, _ = _queries(serializer, queryset.filter(pk=first_pk))
    several, result = _queries(serializer, queryset)
    return one, several, result


@pytest.mark.parametrize(
    ("path", "pick"),
    [
        ("comments.all.*.item", lambda result: [c["item"] for c in result["comments"]["all"]]),
        ("comments.first.item", lambda result: [result["comments"]["first"]["item"]]),
        ("comments.last.item", lambda result: [result["comments"]["last"]["item"]]),
        ("comments.all.0.item", lambda result: [result["comments"]["all"]["0"]["item"]]),
    ],
    ids=["each", "first", "last", "index"],
)
def test_prefetched_rows_link_back_to_the_subclass_row_that_loaded_them(
        commented_specials, path, pick):
    # Live, each comment's ``item`` is the SpecialItem that prefetched it;
    # joining ``item`` inside the prefetch replaced it with a plain Item.
    serializer = _compile_for(SpecialItem, [path])
    one, several, result = _per_row_and_all(
        serializer, SpecialItem.objects.all(), commented_specials[0].pk)
    assert one == several == 2  # the rows, their comments
    shown = 2 if "*" in path else 1  # every comment, or the one picked
    assert [pick(row) for row in result] == [[f"special s{n}"] * shown for n in range(3)]


def test_prefetched_rows_link_back_reads_subclass_columns_on_the_parent_level(
        commented_specials):
    serializer = _compile_for(SpecialItem, ["comments.all.*.item.motto"])
    (comments,) = serializer.plan.prefetches
    assert comments.level.joins == ()
    assert "motto" in serializer.plan.root.columns
    one, several, result = _per_row_and_all(
        serializer, SpecialItem.objects.all(), commented_specials[0].pk)
    assert one == several == 2
    assert [row["comments"]["all"] for row in result] == [
        [{"item": {"motto": f"motto{n}"}}] * 2 for n in range(3)
    ]


def test_plain_parent_displayed_through_its_comments_joins_on_its_own_level(
        commented_specials):
    # Item.__str__ reads the owner: the join belongs to the prefetching rows.
    serializer = _compile_for(Item, ["comments.all.*.item"])
    assert serializer.plan.select_related == ("owner",)
    one, several, result = _per_row_and_all(
        serializer, Item.objects.all(), commented_specials[0].pk)
    assert one == several == 2
    assert [row["comments"]["all"] for row in result] == [
        [{"item": f"s{n} by owner{n}"}] * 2 for n in range(3)
    ]


def test_prefetched_rows_below_a_join_link_back_to_the_joined_row(commented_specials):
    serializer = _compile_for(Comment, ["item.specialitem.comments.all.*.item"])
    queryset = Comment.objects.all()
    live = [[str(c.item) for c in comment.item.specialitem.comments.all()]
            for comment in queryset]
    one, several, result = _per_row_and_all(serializer, queryset, queryset.first().pk)
    assert one == several == 2  # the comments with their joined rows, the prefetch
    assert [[c["item"] for c in row["item"]["specialitem"]["comments"]["all"]]
            for row in result] == live
    assert live[0] == ["special s0"] * 2


# -- first/last on related managers reached at run time -------------------------


def test_run_time_last_answers_from_prefetched_rows(noted_items):
    item = noted_items[0]
    item.tags.add(Tag.objects.create(name="zzz"), Tag.objects.create(name="aaa"))
    expected = {name: getattr(Item.objects.get(pk=item.pk).tags, name)() for name in
                ("first", "last")}
    loaded = Item.objects.prefetch_related("tags").get(pk=item.pk)
    with CaptureQueriesContext(connection) as queries:
        for name, row in expected.items():
            assert resolve_lookup(loaded.tags, name) == row
            assert resolve_lookup(loaded.tags.all(), name) == row
    assert len(queries) == 0
    assert expected["last"].name == "zzz"


def test_run_time_last_queries_when_the_rows_are_not_loaded(noted_items):
    item = Item.objects.get(pk=noted_items[0].pk)
    with CaptureQueriesContext(connection) as queries:
        assert resolve_lookup(item.tags, "last").name == "tag0"
    assert len(queries) == 1


def test_run_time_last_keeps_a_managers_own_method(noted_items):
    class Newest(models.Manager):
        def last(self):
            return "the manager's own"

    manager = Newest()
    manager.model = Tag
    assert resolve_lookup(manager, "last") == "the manager's own"


def test_inherited_columns_of_a_child_joined_from_its_parent_load_with_the_parent(
        commented_specials):
    # select_related("item__specialitem") fills the child's inherited fields
    # from the parent's columns: only("item__specialitem__title") loaded
    # nothing, and each title cost a query.
    serializer = _compile_for(Comment, ["item.specialitem.title", "item.specialitem.motto"])
    assert "item__title" in serializer.plan.only
    queryset = Comment.objects.all()
    one, several, result = _per_row_and_all(serializer, queryset, queryset.first().pk)
    assert one == several == 1
    assert [row["item"]["specialitem"] for row in result] == [
        {"title": c.item.specialitem.title, "motto": c.item.specialitem.motto}
        for c in queryset
    ]


# -- unordered relations ---------------------------------------------------------


def by_name(restaurants):
    """``restaurants`` with its ``all`` list sorted: the relation has no
    ordering, so two queries may list its rows differently."""
    return {**restaurants, "all": sorted(restaurants["all"], key=lambda row: row["name"])}


def test_unordered_relation_lists_its_rows_and_picks_by_pk_without_queries(db):
    from tests.testapp.models import Author, Restaurant

    for n in range(3):
        chef = Author.objects.create(name=f"chef{n}")
        # Names against pk order: a pick by the first or last row listed
        # would differ from Django's pick by pk only if rows were reordered.
        for name in ("b", "c", "a"):
            Restaurant.objects.create(name=f"{name}{n}", chef=chef)
    paths = ["restaurants.all.*.name", "restaurants.first.name", "restaurants.last.name"]
    serializer = _compile_for(Author, paths)
    queryset = Author.objects.all()
    live = [{"all": [{"name": r.name} for r in chef.restaurants.all()],
             "first": {"name": chef.restaurants.first().name},
             "last": {"name": chef.restaurants.last().name}} for chef in queryset]
    one, several, result = _per_row_and_all(serializer, queryset, queryset.first().pk)
    assert one == several == 2
    assert [by_name(row["restaurants"]) for row in result] == [by_name(row) for row in live]
    assert live[0]["first"] == {"name": "b0"} and live[0]["last"] == {"name": "a0"}
