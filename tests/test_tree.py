"""Typed access trees: every node kind, against the test schema."""

from __future__ import annotations

import threading
import warnings

import pytest
from django.contrib.auth.models import User
from django.db import models

from djust.compiler.nodes import Kind, MethodFacts, Node
from djust.compiler.sensitive import SensitiveFieldWarning, forget_warnings
from djust.compiler.tree import InvalidPathError, build_access_tree, build_read_tree
from examples.rentals.models import Lease, Property, Tenant
from tests.testapp import models as lib


def node_at(tree, path):
    node = tree
    for segment in path.split("."):
        node = node.child(segment)
        assert node is not None, f"no node for {segment!r} in {path!r}"
    return node


def kind_at(model, path):
    return node_at(build_access_tree(model, [path]), path).kind


@pytest.fixture(autouse=True)
def fresh_warnings():
    forget_warnings()
    yield
    forget_warnings()


def test_root_children_are_sorted_and_bare_marks_path_ends():
    tree = build_access_tree(lib.Book, ["title", "author.name", "author", ""])
    assert tree.kind is Kind.ROOT and tree.model is lib.Book and tree.bare
    assert [child.segment for child in tree.children] == ["author", "title"]
    author = tree.child("author")
    assert author.bare and author.child("name").bare


def test_trees_compare_structurally_and_ignore_path_order():
    first = build_access_tree(lib.Book, ["title", "author.name"])
    second = build_access_tree(lib.Book, ["author.name", "title", "title"])
    assert first == second
    assert first != build_access_tree(lib.Book, ["title"])


def test_concrete_fields_carry_class_and_nullability():
    tree = build_access_tree(lib.Book, ["title", "pages", "genre"])
    title, pages = tree.child("title"), tree.child("pages")
    assert (title.kind, title.field_class, title.nullable) == (Kind.FIELD, models.CharField,
                                                               False)
    assert (pages.field_class, pages.nullable) == (models.IntegerField, True)
    assert title.facts.attname == "title"


@pytest.mark.parametrize(
    ("model", "field_class"),
    [(lib.Book, models.BigAutoField), (lib.Tag, models.UUIDField),
     (lib.Publisher, models.CharField), (lib.Restaurant, models.BigAutoField)],
)
def test_pk_is_a_value_leaf_of_the_real_pk_class(model, field_class):
    pk = build_access_tree(model, ["pk"]).child("pk")
    assert pk.kind is Kind.FIELD and pk.facts.pk is True
    assert pk.field_class is field_class
    assert pk.field == model._meta.pk.name


def test_multi_table_pk_is_the_parent_link():
    pk = build_access_tree(lib.Restaurant, ["pk"]).child("pk")
    assert pk.field == "place_ptr" and pk.facts.attname == "place_ptr_id"


def test_fk_attname_is_a_field_of_the_target_pk_class():
    tree = build_access_tree(lib.Book, ["author_id", "publisher_id"])
    assert tree.child("author_id").field_class is models.BigAutoField
    publisher = tree.child("publisher_id")
    assert (publisher.kind, publisher.field_class, publisher.nullable) == (
        Kind.FIELD, models.CharField, True)
    assert publisher.facts.attname == "publisher_id" and publisher.field == "publisher"


def test_forward_relations():
    tree = build_access_tree(lib.Book, ["author.name", "publisher.name"])
    author, publisher = tree.child("author"), tree.child("publisher")
    assert (author.kind, author.model, author.nullable) == (Kind.FORWARD, lib.Author, False)
    assert (publisher.model, publisher.nullable) == (lib.Publisher, True)
    assert author.facts.query_name == "author" and author.facts.parent_link is False


def test_reverse_one_to_one_and_parent_link():
    tree = build_access_tree(lib.Author, ["biography.text"])
    biography = tree.child("biography")
    assert (biography.kind, biography.model) == (Kind.REVERSE_ONE, lib.Biography)
    assert biography.facts.remote_field == "author"
    link = build_access_tree(lib.Restaurant, ["place_ptr.name"]).child("place_ptr")
    assert link.kind is Kind.FORWARD and link.facts.parent_link is True
    assert kind_at(lib.Place, "restaurant.serves_pizza") is Kind.FIELD


@pytest.mark.parametrize(
    ("model", "path", "relation", "target"),
    [
        (lib.Author, "books", "reverse_fk", lib.Book),
        (lib.Publisher, "book_set", "reverse_fk", lib.Book),
        (lib.Book, "tags", "m2m", lib.Tag),
        (lib.Tag, "books", "reverse_m2m", lib.Book),
        (lib.Shop, "books", "m2m", lib.Book),
        (lib.Book, "shops", "reverse_m2m", lib.Shop),
        (lib.Book, "comments", "generic_relation", lib.Comment),
        (lib.Book, "chapters", "reverse_fk", lib.Chapter),
    ],
)
def test_to_many_relations(model, path, relation, target):
    node = build_access_tree(model, [path]).child(path)
    assert (node.kind, node.model, node.facts.relation) == (Kind.TO_MANY, target, relation)


def test_through_model_is_recorded():
    assert build_access_tree(lib.Shop, ["books"]).child("books").facts.through == "testapp.Stock"


def test_related_query_name_is_not_an_attribute():
    node = build_access_tree(lib.Publisher, ["published_book.title"]).child("published_book")
    assert node.kind is Kind.UNKNOWN and "no attribute" in node.note
    assert node.child("title").kind is Kind.UNKNOWN
    book_set = build_access_tree(lib.Publisher, ["book_set"]).child("book_set")
    assert book_set.facts.query_name == "published_book"


def test_generic_foreign_key_and_below():
    target = build_access_tree(lib.Comment, ["target.title"]).child("target")
    assert (target.kind, target.model) == (Kind.GENERIC_FK, None)
    assert (target.facts.ct_field, target.facts.fk_field) == ("content_type", "object_id")
    assert target.child("title").kind is Kind.UNKNOWN


def test_manager_segments():
    tree = build_access_tree(lib.Book, [
        "chapters.all.*.title", "chapters.all.0.title", "chapters.count", "chapters.exists",
        "chapters.first.title", "chapters.last", "chapters.filter", "chapters.all.count",
        "chapters.all.first.number", "chapters.all.reverse", "chapters.0",
    ])
    chapters = tree.child("chapters")
    assert [(c.segment, c.kind) for c in chapters.children] == [
        ("0", Kind.UNKNOWN), ("all", Kind.ALL), ("count", Kind.AGGREGATE),
        ("exists", Kind.AGGREGATE), ("filter", Kind.UNKNOWN), ("first", Kind.PICK),
        ("last", Kind.PICK),
    ]
    rows = chapters.child("all")
    assert rows.model is lib.Chapter
    assert node_at(rows, "*").kind is Kind.EACH
    assert node_at(rows, "0").kind is Kind.INDEX and node_at(rows, "0").facts.index == 0
    assert node_at(rows, "0.title").kind is Kind.FIELD
    assert node_at(rows, "count").facts.method == "count"
    assert node_at(rows, "first.number").kind is Kind.FIELD
    assert node_at(rows, "reverse").kind is Kind.UNKNOWN
    assert node_at(chapters, "first").model is lib.Chapter


def test_display_for_fields_with_choices_only():
    tree = build_access_tree(lib.Book, ["get_genre_display", "get_title_display"])
    display = tree.child("get_genre_display")
    assert (display.kind, display.field, display.field_class) == (
        Kind.DISPLAY, "genre", models.CharField)
    assert tree.child("get_title_display").kind is Kind.UNKNOWN


def test_properties_and_cached_properties():
    tree = build_access_tree(lib.Author, ["initials.upper", "book_total", "created_year"])
    initials = tree.child("initials")
    assert initials.kind is Kind.PROPERTY and initials.facts.cached is False
    assert initials.child("upper").kind is Kind.UNKNOWN
    assert tree.child("book_total").facts.cached is True
    assert tree.child("created_year").kind is Kind.PROPERTY  # from the abstract base
    assert kind_at(lib.BookProxy, "shouted_title") is Kind.PROPERTY  # proxy
    assert kind_at(lib.BookProxy, "author.name") is Kind.FIELD


@pytest.mark.parametrize(
    ("path", "facts"),
    [
        ("shout", {"alters_data": False, "needs_arguments": False,
                   "do_not_call_in_templates": False}),
        ("rename", {"alters_data": True}),
        ("as_literal", {"do_not_call_in_templates": True}),
        ("greet", {"needs_arguments": True}),
        ("quiet", {"needs_arguments": False}),
        ("loud", {"needs_arguments": False}),
        ("kind", {"static": True, "needs_arguments": False}),
        ("save", {"alters_data": True}),
    ],
)
def test_methods_record_what_the_class_says(path, facts):
    node = build_access_tree(lib.Author, [path]).child(path)
    assert node.kind is Kind.METHOD
    assert {name: getattr(node.facts, name) for name in facts} == facts


def test_json_field_children_are_keys_and_indexes():
    tree = build_access_tree(lib.Book, ["metadata.editions.0.year", "metadata.isbn",
                                        "metadata.editions.*.year", "title.upper"])
    metadata = tree.child("metadata")
    assert metadata.field_class is models.JSONField
    assert node_at(metadata, "isbn").kind is Kind.KEY
    assert node_at(metadata, "editions.0").kind is Kind.INDEX
    assert node_at(metadata, "editions.0.year").kind is Kind.KEY
    assert node_at(metadata, "editions.*").kind is Kind.EACH
    assert node_at(tree, "title.upper").kind is Kind.UNKNOWN


@pytest.mark.parametrize("path", ["_state", "0", "-1", "*", "nonexistent", "objects",
                                  "get_next_by_created", "Genre"])
def test_segments_the_class_does_not_settle_are_unknown(path):
    node = build_access_tree(lib.Book, [f"{path}.below"]).child(path)
    assert node.kind is Kind.UNKNOWN and node.note
    assert node.child("below").kind is Kind.UNKNOWN


def test_custom_default_manager_relation_is_still_to_many():
    node = build_access_tree(lib.Book, ["chapters.all"]).child("chapters")
    assert node.model._default_manager.__class__ is lib.PublishedManager


def test_sensitive_fields_have_no_children_and_warn_once():
    with pytest.warns(SensitiveFieldWarning) as caught:
        tree = build_access_tree(lib.Author, ["api_token.upper", "user.password"])
    messages = sorted(str(warning.message) for warning in caught)
    assert len(messages) == 2
    assert "testapp.Author" in messages[0] and "api_token" in messages[0]
    assert "auth.User.password" in messages[1]
    assert tree.child("api_token").kind is Kind.SENSITIVE
    assert tree.child("api_token").children == ()
    assert node_at(tree, "user.password").kind is Kind.SENSITIVE
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_access_tree(lib.Author, ["api_token", "user.password"])  # no second warning


def test_session_hash_and_settings_list_are_sensitive(settings):
    settings.DJUST = {"SENSITIVE_FIELDS": ["password", "phone"]}
    with pytest.warns(SensitiveFieldWarning) as caught:
        tree = build_access_tree(Lease, ["tenant.phone", "tenant.user.get_session_auth_hash"])
    assert node_at(tree, "tenant.phone").kind is Kind.SENSITIVE
    assert node_at(tree, "tenant.user.get_session_auth_hash").kind is Kind.SENSITIVE
    assert len(caught) == 2
    assert "rentals.Lease" in str(caught[0].message)


def test_sensitive_warning_is_once_across_threads(monkeypatch):
    emitted = []
    monkeypatch.setattr(warnings, "warn", lambda message, *args, **kw: emitted.append(message))
    start = threading.Barrier(8)

    def build():
        start.wait()
        build_access_tree(User, ["password"])

    threads = [threading.Thread(target=build) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(emitted) == 1 and "auth.User" in emitted[0]


def test_read_trees_type_sensitive_names_as_fields():
    tree = build_read_tree(Tenant, ["user.password"])
    assert node_at(tree, "user.password").kind is Kind.FIELD


def test_malformed_paths_and_non_models_are_rejected():
    with pytest.raises(InvalidPathError, match=r"testapp\.Book.*'title\.'"):
        build_access_tree(lib.Book, ["title."])
    with pytest.raises(TypeError, match="model class"):
        build_access_tree(object, ["x"])


def test_dump_is_readable_and_deterministic():
    dump = build_access_tree(lib.Book, ["publisher.name", "tags.count"]).dump()
    assert dump.splitlines() == [
        "<root>: root testapp.Book",
        "  publisher: forward testapp.Publisher nullable",
        "    name: field CharField bare",
        "  tags: to_many testapp.Tag",
        "    count: aggregate testapp.Tag bare",
    ]


def test_node_facts_are_declared_per_kind():
    units = build_access_tree(Property, ["units.count"]).child("units")
    assert units.facts.relation == "reverse_fk"
    with pytest.raises(AttributeError):
        units.facts.relaton  # a typo is an error, not None
    with pytest.raises(TypeError, match="to_many node takes ToManyFacts"):
        Node("units", Kind.TO_MANY, facts=MethodFacts())
    # Facts a hand-built node does not give keep their defaults.
    assert Node("x", Kind.METHOD).facts == MethodFacts()
