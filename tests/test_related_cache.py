"""To-one relations read from the instance's ``_state.fields_cache``.

Generated code reads the dict Django's own descriptor reads, for instances
of exactly the compiled model; a relation not loaded yet, a cached ``None``
and any other instance go through the attribute. Every test compares with
what the attribute itself gives.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models.fields.related_descriptors import ForwardManyToOneDescriptor
from django.test.utils import CaptureQueriesContext, isolate_apps

from djust.compiler import compile_serializer
from djust.compiler.relations import related_cache_key
from tests.testapp.models import (
    Author,
    Biography,
    Book,
    BookProxy,
    Comment,
    Publisher,
    Restaurant,
)


@pytest.fixture
def book(db):
    author = Author.objects.create(name="Ann")
    Biography.objects.create(author=author, text="Born.")
    publisher = Publisher.objects.create(name="Pub")
    return Book.objects.create(title="T", author=author, publisher=publisher)


@pytest.fixture
def descriptor_calls(monkeypatch):
    """How many times a forward relation's descriptor runs."""
    calls = []
    original = ForwardManyToOneDescriptor.__get__

    def counted(self, instance, cls=None):
        if instance is not None:
            calls.append(self.field.name)
        return original(self, instance, cls)

    monkeypatch.setattr(ForwardManyToOneDescriptor, "__get__", counted)
    return calls


def test_the_key_is_the_one_djangos_descriptor_uses():
    assert related_cache_key(Book, "author") == Book._meta.get_field("author").cache_name
    assert related_cache_key(Book, "publisher") == "publisher"
    assert related_cache_key(Author, "biography") == "biography"
    assert related_cache_key(Restaurant, "place_ptr") == "place_ptr"
    # Not a to-one relation read through Django's own descriptor.
    for model, name in [(Book, "tags"), (Book, "comments"), (Book, "title"),
                        (Comment, "target"), (Book, "is_long"), (Book, "missing")]:
        assert related_cache_key(model, name) is None, name
    assert related_cache_key(None, "author") is None


def test_joined_relations_skip_the_descriptor(book, descriptor_calls):
    serializer = compile_serializer(Book, ["author.name", "publisher.name", "title"])
    joined = Book.objects.select_related("author", "publisher").get(pk=book.pk)
    descriptor_calls.clear()
    with CaptureQueriesContext(connection) as queries:
        out = serializer(joined)
    assert out == {"author": {"name": "Ann"}, "publisher": {"name": "Pub"}, "title": "T"}
    assert descriptor_calls == [] and len(queries) == 0


def test_relations_not_loaded_yet_go_through_the_descriptor(book, descriptor_calls):
    serializer = compile_serializer(Book, ["author.name", "publisher.name"])
    plain = Book.objects.get(pk=book.pk)
    descriptor_calls.clear()
    with CaptureQueriesContext(connection) as queries:
        out = serializer(plain)
    assert out == {"author": {"name": "Ann"}, "publisher": {"name": "Pub"}}
    assert sorted(descriptor_calls) == ["author", "publisher"] and len(queries) == 2


def test_a_cached_none_the_relation_refuses_leaves_the_key_out(db):
    book = Book(title="T")
    book.author = None  # cached as None; the non-null relation refuses it
    with pytest.raises(Book.author.RelatedObjectDoesNotExist):
        book.author  # the descriptor is what is compared with
    assert compile_serializer(Book, ["author.name", "title"])(book) == {"title": "T"}


def test_a_cached_none_of_a_nullable_relation_is_none(db):
    book = Book(title="T", publisher=None)
    assert book.publisher is None
    assert compile_serializer(Book, ["publisher.name"])(book) == {"publisher": None}


def test_reverse_one_to_one_cached_and_missing(book):
    serializer = compile_serializer(Author, ["biography.text", "name"])
    loner = Author.objects.create(name="Bo")
    rows = list(Author.objects.select_related("biography").order_by("name"))
    # select_related caches None for the author with no biography: Django
    # raises for it, which templates hide.
    assert [serializer(row) for row in rows] == [
        {"biography": {"text": "Born."}, "name": "Ann"}, {"name": loner.name}]


def test_parent_link_and_inherited_rows(db):
    chef = Author.objects.create(name="Chef")
    Restaurant.objects.create(name="R", address="Main St", chef=chef)
    serializer = compile_serializer(Restaurant, ["chef.name", "place_ptr.address"])
    for row in (Restaurant.objects.get(), Restaurant.objects.select_related("chef").get()):
        assert serializer(row) == {"chef": {"name": "Chef"}, "place_ptr": {"address": "Main St"}}


def test_a_subclass_instance_goes_through_its_own_attribute(book, descriptor_calls):
    proxied = BookProxy.objects.select_related("author").get(pk=book.pk)
    descriptor_calls.clear()
    assert compile_serializer(Book, ["author.name"])(proxied) == {"author": {"name": "Ann"}}
    assert descriptor_calls == ["author"]


@isolate_apps("tests.testapp")
def test_a_subclass_overriding_the_relation_is_answered_by_the_override(book):
    stand_in = Author(name="Stand-in")

    class Ghostwritten(Book):
        class Meta:
            proxy = True
            app_label = "testapp"

        @property
        def author(self):
            return stand_in

    ghost = Ghostwritten(title="G")
    ghost._state.fields_cache["author"] = book.author
    assert compile_serializer(Book, ["author.name"])(ghost) == {"author": {"name": "Stand-in"}}
