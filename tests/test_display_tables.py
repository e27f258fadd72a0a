"""``get_FOO_display`` read from a table built at compile time.

The generated code answers from the table only for instances of exactly the
compiled model and only for values the table holds; everything else is
Django's own method. Each test compares with what that method returns.
"""

from __future__ import annotations

import itertools

import pytest
from django.db import models
from django.test.utils import isolate_apps
from django.utils.functional import lazy

from djust.compiler import compile_serializer
from djust.compiler.modes import plain
from djust.compiler.relations import display_table
from examples.rentals.models import Lease
from tests.testapp.models import Book, BookProxy


def serialize(model, paths, obj, mode="json"):
    return compile_serializer(model, paths, mode=mode)(obj)


@pytest.mark.parametrize("mode", ["json", "python"])
@pytest.mark.parametrize("value", [*Lease.Status.values, "not-a-choice", "", None, 7])
def test_values_in_and_out_of_the_choices_match_django(value, mode):
    lease = Lease(status=value)
    out = serialize(Lease, ["get_status_display"], lease, mode)
    expected = lease.get_status_display()
    assert out["get_status_display"] == expected
    assert type(out["get_status_display"]) is type(expected)


def test_unhashable_value_is_left_to_django():
    lease = Lease(status=["active"])
    out = serialize(Lease, ["get_status_display"], lease, "python")
    assert out["get_status_display"] == lease.get_status_display() == "['active']"


def test_the_table_is_used_for_the_compiled_model_only():
    serializer = compile_serializer(Lease, ["get_status_display"])
    scope = serializer.__globals__
    tables = [value for name, value in scope.items() if name.startswith("_display_")]
    models = [value for name, value in scope.items() if name.startswith("_model_")]
    assert tables == [dict(Lease.Status.choices)] and models == [Lease]
    assert "obj.get_status_display()" in serializer.source


@isolate_apps("tests.testapp")
def test_a_subclass_override_is_called():
    calls = []

    class Shouting(BookProxy):
        class Meta:
            proxy = True
            app_label = "testapp"

        def get_genre_display(self):
            calls.append(self.genre)
            return "LOUD"

    out = serialize(Book, ["get_genre_display"], Shouting(genre=Book.Genre.NOVEL))
    assert out == {"get_genre_display": "LOUD"} and calls == [Book.Genre.NOVEL]
    # The compiled model's own instances still read the table.
    book = Book(genre=Book.Genre.NOVEL)
    assert serialize(Book, ["get_genre_display"], book) == {
        "get_genre_display": book.get_genre_display()}


@isolate_apps("tests.testapp")
def test_callable_choices_are_read_on_every_call():
    labels = iter(["First", "Second"])

    def choices():
        return [("a", next(labels))]

    class Gauge(models.Model):
        kind = models.CharField(max_length=1, choices=choices)

        class Meta:
            app_label = "testapp"

    assert display_table(Gauge, "get_kind_display") is None
    serializer = compile_serializer(Gauge, ["get_kind_display"])
    assert not any(name.startswith(("_display_", "_model_")) for name in serializer.__globals__)
    assert serializer(Gauge(kind="a")) == {"get_kind_display": "First"}
    assert serializer(Gauge(kind="a")) == {"get_kind_display": "Second"}


@isolate_apps("tests.testapp")
def test_lazy_labels_are_resolved_on_every_call():
    counter = itertools.count()
    label = lazy(lambda: f"label {next(counter)}", str)()

    class Dial(models.Model):
        kind = models.CharField(max_length=1, choices=[("a", label), ("b", "plain")])

        class Meta:
            app_label = "testapp"

    serializer = compile_serializer(Dial, ["get_kind_display"], mode="python")
    assert "_label(" in serializer.source
    first = serializer(Dial(kind="a"))["get_kind_display"]
    second = serializer(Dial(kind="a"))["get_kind_display"]
    assert type(first) is str and first != second
    assert plain(serializer(Dial(kind="b"))) == {"get_kind_display": "plain"}


@isolate_apps("tests.testapp")
def test_grouped_and_non_string_choices_match_django():
    class Dial(models.Model):
        size = models.IntegerField(null=True, choices=[
            ("Small", [(1, "one"), (2, "two")]), (3, "three"), (None, "unknown")])

        class Meta:
            app_label = "testapp"

    for value in (1, 2, 3, None, 4):
        dial = Dial(size=value)
        assert serialize(Dial, ["get_size_display"], dial) == {
            "get_size_display": dial.get_size_display()}


@isolate_apps("tests.testapp")
def test_an_overridden_get_field_display_keeps_the_method():
    class Odd(models.Model):
        kind = models.CharField(max_length=1, choices=[("a", "A")])

        class Meta:
            app_label = "testapp"

        def _get_FIELD_display(self, field):
            return "odd"

    assert display_table(Odd, "get_kind_display") is None
    assert serialize(Odd, ["get_kind_display"], Odd(kind="a")) == {"get_kind_display": "odd"}

