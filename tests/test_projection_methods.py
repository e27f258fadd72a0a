"""Methods and properties run on stand-ins in ``many()``'s projection.

A template read that runs the model's code (``days_until_expiration``, a
property, ``get_full_name``) no longer forces instances when that code
reads nothing but columns from ``self``: each row's columns are written
into one blank instance, reused, and the code runs on it. These tests hold
the analysis (``introspect.row_code``) to what it may accept, and
``many()`` to what the instance path answers.
"""

import contextlib
import datetime
import inspect
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, models
from django.db.models import Value
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext, isolate_apps
from django.utils.functional import cached_property

from djust.compiler import compile_serializer, introspect
from djust.compiler.projection import is_projectable
from djust.compiler.tree import build_access_tree
from examples.rentals.models import Lease, Property
from examples.rentals.seed import seed
from tests import factories
from tests.testapp.models import Author, Book, BookProxy, QuietFailure, Restaurant

S2 = ["property.name", "unit.number", "tenant.user.email", "monthly_rent", "start_date",
      "end_date", "get_status_display", "signed_at", "tenant.user.get_full_name",
      "days_until_expiration", "is_expiring_soon"]


def helper(value):
    return value


class PerInstance:
    def __get__(self, instance, owner=None):
        return id(instance)


with isolate_apps("tests.testapp"):
    class Parent(models.Model):
        name = models.CharField(max_length=10)

        class Meta:
            app_label = "testapp"

    class Shapes(models.Model):
        class Status(models.TextChoices):
            OPEN = "open", "Open"
            SHUT = "shut", "Shut"

        LIMIT = 3
        MUTABLE = []
        size = models.IntegerField()
        status = models.CharField(max_length=4, choices=Status.choices)
        parent = models.ForeignKey(Parent, null=True, on_delete=models.CASCADE)
        attachment = models.FileField()
        trace = models.CharField(max_length=10)

        class Meta:
            app_label = "testapp"

        # Accepted: columns, pk, attnames, constants, methods, properties.
        def doubled(self):
            return self.size * self.LIMIT

        def is_open(self):
            return self.status == self.Status.OPEN

        def key(self):
            return (self.pk, self.parent_id)

        def shown(self):
            return self.get_status_display().upper()

        def traced(self):
            return self.trace  # a column, though inspect.trace() reads frames

        @property
        def summary(self):
            return f"{self.doubled()} {self.ping()}"

        def ping(self):
            return 0 if self.size > 3 else self.pong()

        def pong(self):
            return self.ping() if self.size > 9 else 1

        # Refused: self stored to, handed on, kept, or read beyond columns.
        def stores(self):
            self.size = 1
            return 1

        def returns_self(self):
            return self

        def hands_on(self):
            return helper(self)

        def type_of(self):
            return type(self).__name__

        def with_super(self):
            return super().__str__()

        def closure(self):
            return (lambda: self.size)()

        def generator(self):
            yield self.size

        def frame(self):
            return locals()

        def frame_attribute(self):
            return inspect.stack()

        def keeps_method(self):
            return self.doubled

        def keeps_display(self):
            return self.get_status_display

        def relation(self):
            return self.parent.name

        def state(self):
            return self._state.adding

        def file(self):
            return self.attachment.name

        def mutable(self):
            return len(self.MUTABLE)

        def unknown(self):
            return self.nothing_here

        def calls_refused(self):
            return self.stores()

        @cached_property
        def cached(self):
            return self.size

        # A descriptor may keep state per instance: a reused stand-in would
        # carry it from one row to the next.
        tracker = PerInstance()

        def per_instance(self):
            return self.tracker

        def reads_cached(self):
            return self.cached

    class Built(models.Model):
        size = models.IntegerField()

        class Meta:
            app_label = "testapp"

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.size = 0

        def doubled(self):
            return self.size * 2


@pytest.mark.parametrize(("name", "kind", "columns"), [
    ("doubled", "method", [("size", "size")]),
    ("is_open", "method", [("status", "status")]),
    ("key", "method", [("id", "pk"), ("parent_id", "parent")]),
    ("shown", "method", [("status", "status")]),
    ("summary", "property", [("size", "size")]),
    ("cached", "cached_property", [("size", "size")]),
    ("mutable", "method", []),  # a class attribute, the same object for every row
    ("traced", "method", [("trace", "trace")]),
])
def test_code_reading_only_columns_runs_on_a_stand_in(name, kind, columns):
    code = introspect.row_code(Shapes, name, kind)
    assert code is not None and list(code.columns) == columns


@pytest.mark.parametrize("name", [
    "stores", "returns_self", "hands_on", "type_of", "with_super", "closure", "generator",
    "frame", "frame_attribute", "keeps_method", "keeps_display", "relation", "state", "file",
    "unknown", "calls_refused", "reads_cached", "per_instance",
])
def test_code_using_self_otherwise_needs_an_instance(name):
    assert introspect.row_code(Shapes, name, "method") is None


def test_rows_built_by_the_models_own_code_need_instances():
    assert introspect.builds_plain_rows(Shapes)
    assert not introspect.builds_plain_rows(Built)
    assert introspect.row_code(Built, "doubled", "method") is None
    assert introspect.row_code(Shapes, "doubled", "property") is None  # not a property
    assert introspect.row_code(Shapes, "summary", "method") is None    # not a method


def test_self_loads_reads_the_bytecode():
    def method(self, other):
        pair = (other, self.size)  # 3.13 pushes other and self in one instruction
        return pair, self.ping(1, k=2)

    def other_first(self, other):
        return (self, other)

    assert introspect.self_loads(method.__code__) == (("size", False), ("ping", True))
    assert introspect.self_loads(other_first.__code__) is None
    assert introspect.self_loads((lambda: 1).__code__) is None


@pytest.mark.parametrize(("model", "paths", "expected"), [
    (Lease, S2, True),
    (Book, ["title", "is_long", "over_limit"], True),
    (Book, ["publisher_label"], False),     # reads a relation
    (Author, ["book_total"], False),        # a cached_property counting a relation
    (Author, ["rename"], False),            # alters_data
    (Author, ["as_literal"], False),        # do_not_call_in_templates
    (Author, ["kind"], False),              # a staticmethod
    (Author, ["dynamic"], False),           # getattr(self, ...)
    (Author, ["name", "quiet", "shout", "initials", "created_year"], True),
])
def test_projectable_with_code(model, paths, expected):
    assert is_projectable(build_access_tree(model, paths)) is expected


@contextlib.contextmanager
def instances_built():
    """The classes of the model instances Django builds inside the block."""
    built = []

    def receiver(sender, **kwargs):
        built.append(sender)

    post_init.connect(receiver, weak=False)
    try:
        yield built
    finally:
        post_init.disconnect(receiver)


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["json", "python"])
def test_s2_runs_its_methods_without_loading_instances(mode):
    seed(scale=0.05)
    serializer = compile_serializer(Lease, S2, mode=mode)
    queryset = Lease.objects.order_by("id")
    expected = serializer.many(list(queryset))
    with instances_built() as built, CaptureQueriesContext(connection) as queries:
        rows = serializer.many(queryset)
    assert rows == expected
    assert built == [] and len(queries) == 1
    assert {type(row["days_until_expiration"]) for row in rows} == {int}
    assert any(row["is_expiring_soon"] for row in rows) and not all(
        row["is_expiring_soon"] for row in rows)
    assert "auth.User at tenant__user: get_full_name()" in serializer.explain()


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["json", "python"])
@pytest.mark.parametrize(("model", "paths"), [
    (Author, ["name", "quiet", "shout", "initials", "created_year", "user.get_full_name"]),
    (Author, ["name", "books.count", "books.all.*.is_long", "books.all.*.title",
              "books.all.*.over_limit"]),
    (Restaurant, ["name", "chef.shout", "chef.quiet", "chef.name"]),
    (Book, ["title", "author.quiet", "is_long", "get_genre_display"]),
])
def test_code_on_stand_ins_answers_as_instances_do(model, paths, mode):
    factories.library(6)
    serializer = compile_serializer(model, paths, mode=mode)
    assert serializer.build_projection()
    # By pk: Restaurant has no default ordering, and the two queries below
    # need not list its rows alike without one.
    expected = serializer.many(list(model.objects.order_by("pk")))
    with instances_built() as built:
        rows = serializer.many(model.objects.order_by("pk"))
    assert rows == expected and built == []


@pytest.mark.django_db
def test_failures_leave_their_key_out_in_json_and_raise_when_read_in_python(caplog):
    factories.library(3)
    quiet = compile_serializer(Restaurant, ["name", "chef.quiet", "chef.name"]).many(
        Restaurant.objects.all())
    chefs = [row["chef"] for row in quiet]
    # A restaurant without a chef shows None and runs no chef code; a chef
    # whose quiet() failed silently has no "quiet" key.
    assert None in chefs
    assert all(set(chef) == {"name"} for chef in chefs if chef is not None)
    assert any(chef is not None for chef in chefs)
    # JSON: a loud failure leaves its key out too, and is logged.
    with caplog.at_level("WARNING", logger="djust.serializer"):
        loud = compile_serializer(Author, ["loud", "name"]).many(Author.objects.all())
    assert loud and all(set(row) == {"name"} for row in loud)
    assert "ValueError" in caplog.text
    # Python mode: each row raises the exception when, and only when, the
    # template reads the key, as the live instance does.
    rows = compile_serializer(Author, ["loud", "name"], mode="python").many(
        Author.objects.all())
    assert all(row["name"] for row in rows)
    with pytest.raises(ValueError, match="templates let this escape"):
        rows[0].loud
    assert QuietFailure.silent_variable_failure


@pytest.mark.django_db
def test_code_reaches_the_model_as_it_is_now():
    seed(scale=0.02)
    serializer = compile_serializer(Lease, ["days_until_expiration"])
    assert serializer.build_projection()
    with mock.patch.object(Lease, "days_until_expiration", lambda self: self.end_date.year):
        rows = serializer.many(Lease.objects.order_by("id"))
    assert [row["days_until_expiration"] for row in rows] == [
        lease.end_date.year for lease in Lease.objects.order_by("id")]


@pytest.mark.django_db
def test_annotations_that_hide_what_code_reads_keep_instances():
    factories.library(4)
    serializer = compile_serializer(Book, ["title", "over_limit"])
    hidden = Book.objects.annotate(PAGE_LIMIT=Value(0))
    with instances_built() as built:
        rows = serializer.many(hidden)
    assert built and rows == serializer.many(list(hidden))
    assert any(row["over_limit"] for row in rows)
    # An annotation hiding nothing the code reads keeps the stand-ins.
    with instances_built() as built:
        rows = serializer.many(Book.objects.annotate(other=Value(0)))
    assert built == [] and rows == serializer.many(list(Book.objects.all()))


@pytest.mark.django_db
def test_code_runs_on_stand_ins_of_the_compiled_model_only():
    factories.library(3)
    serializer = compile_serializer(Book, ["title", "is_long"])
    with instances_built() as built:
        rows = serializer.many(BookProxy.objects.all())
    assert set(built) == {BookProxy}
    assert rows == serializer.many(list(Book.objects.all()))


@pytest.mark.django_db
def test_stand_ins_are_per_call_and_carry_nothing_over():
    seed(scale=0.02)
    user = get_user_model().objects.filter(tenant_profile__isnull=False).first()
    serializer = compile_serializer(Property, ["name", "leases.all.*.days_until_expiration",
                                               "leases.all.*.tenant.user.get_full_name"])
    first = serializer.many(Property.objects.order_by("id"))
    user.first_name = "Changed"
    user.save()
    Lease.objects.update(end_date=datetime.date.today())
    second = serializer.many(Property.objects.order_by("id"))
    assert second == serializer.many(list(Property.objects.order_by("id")))
    assert first != second
    days = {lease["days_until_expiration"] for row in second for lease in row["leases"]["all"]}
    assert days == {0}
