"""``serializer.json(queryset, in_database=False)`` and ``stream()``: rows
written straight to JSON text by the projection's text function
(``jsontext``), byte for byte ``json.dumps(many(), cls=DjangoJSONEncoder)``."""

from __future__ import annotations

import datetime
import decimal
import json
import linecache
import math
import uuid

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test.utils import CaptureQueriesContext

from djust.compiler import compile_serializer, jsontext
from djust.compiler.cache import default_cache
from djust.compiler.streaming import stream
from examples.rentals.models import Lease, Property, Unit
from property_tests.fuzzapp.models import Item, Owner
from tests import factories

pytestmark = pytest.mark.django_db

S1 = ["property.name", "unit.number", "tenant.user.email", "monthly_rent", "start_date",
      "end_date", "get_status_display", "signed_at"]
S3 = ["name", "units.count", "units.all.*.number", "units.all.*.maintenance_requests.all.*.title",
      "units.all.*.maintenance_requests.all.*.status", "amenities.all.*.name"]
ITEM = ["title", "body", "nickname", "small", "positive_big", "big", "count", "ratio", "price",
        "precise", "whole", "flag", "maybe", "day", "moment", "clock", "span", "token", "data",
        "ip", "status", "get_status_display", "level", "get_level_display", "owner.username",
        "attachment", "picture",
        "reviewer.email", "tags.count", "pk", "owner_id"]
# The same leaves one to-many level down.
OWNER = ["username", "items.count", *(f"items.all.*.{path}" for path in ITEM
                                      if "." not in path)]


def dumps(serializer, queryset) -> str:
    return json.dumps(serializer.many(queryset), cls=DjangoJSONEncoder)


def written(serializer, queryset) -> str:
    text = serializer.json(queryset, in_database=False)
    assert text == dumps(serializer, queryset)
    assert text == "".join(stream(serializer, queryset, chunk_size=2))
    return text


@pytest.fixture
def rentals():
    factories.rentals(7)


@pytest.mark.parametrize(("model", "paths"), [(Lease, S1), (Property, S3)])
def test_rows_are_written_as_json_dumps_writes_them(rentals, model, paths):
    serializer = compile_serializer(model, paths)
    for queryset in (model.objects.all(), model.objects.order_by("-pk")[1:4],
                     model.objects.filter(pk__lt=0), model.objects.none()):
        written(serializer, queryset)
    function, _ = serializer.text_projection
    # One format per row, no dict and no encoder call for the common values.
    assert "json.dumps" not in function.source and "{'" not in function.source
    assert function.source.count(" % (") >= 1


def test_the_same_queries_as_many(rentals):
    serializer = compile_serializer(Property, S3)
    with CaptureQueriesContext(connection) as python:
        serializer.json(Property.objects.all(), in_database=False)
    with CaptureQueriesContext(connection) as rows:
        serializer.many(Property.objects.all())
    assert [q["sql"] for q in python.captured_queries] == [q["sql"] for q in rows.captured_queries]
    assert len(python.captured_queries) == 4


def test_a_nullable_forward_step_writes_null(rentals):
    lease = Lease.objects.first()
    lease.unit = None
    lease.save()
    serializer = compile_serializer(Lease, ["unit.number", "unit.property.name", "pk"])
    text = written(serializer, Lease.objects.all())
    assert '"unit": null' in text


def make_items(**values) -> list[Item]:
    owner = Owner.objects.create(username="ünï \"quoted\" \\ back %s %d %%", email="o@x.io")
    base = dict(title="t", owner=owner, token=uuid.UUID(int=7))
    return [Item.objects.create(**{**base, **one}) for one in values.get("rows", [{}])]


@pytest.mark.parametrize("row", [
    {},
    {"title": "quote \" back \\ nl \n tab \t soh \x01 bell \x07 é 中 😀 \u2028 %s %(x)s %%",
     "body": "</script><!--", "nickname": None},
    {"nickname": "", "count": -(2**31), "big": -(2**63), "positive_big": 2**63 - 1,
     "ratio": -0.0, "precise": decimal.Decimal("-0.0000000001"), "whole": decimal.Decimal("-0"),
     "flag": True, "maybe": False, "level": 2},
    {"ratio": 1e16, "price": decimal.Decimal("1234567890.12"), "maybe": None, "level": None,
     "day": datetime.date(1, 1, 1), "moment": datetime.datetime(9999, 12, 31, 23, 59, 59, 999999,
                                                                 tzinfo=datetime.UTC),
     "clock": datetime.time(0, 0, 0, 1), "span": datetime.timedelta(days=-1, microseconds=1),
     "attachment": "attachments/é \"q\".txt", "picture": "pictures/p.png",
     "data": {"k": [1, 2.5, None, True, "é"], "%s": {}}, "ip": "::ffff:1.2.3.4"},
    {"ratio": 5e-324, "status": "gone", "data": [], "count": 0},
])
def test_every_field_type(row):
    make_items(rows=[row, {}])
    serializer = compile_serializer(Item, ITEM)
    assert serializer.build_text_projection()
    text = written(serializer, Item.objects.all())
    assert json.loads(text)[0]["title"] == row.get("title", "t")
    owners = compile_serializer(Owner, OWNER)
    assert owners.build_text_projection()
    written(owners, Owner.objects.all())


def test_floats_the_encoder_writes_as_names():
    rows = [{"ratio": math.inf}, {"ratio": -math.inf}]
    if connection.vendor == "postgresql":
        rows.append({"ratio": math.nan})  # SQLite stores a NaN as NULL
    make_items(rows=rows)
    serializer = compile_serializer(Item, ["ratio", "title"])
    text = written(serializer, Item.objects.all())
    assert "Infinity" in text and "-Infinity" in text
    assert ("NaN" in text) is (connection.vendor == "postgresql")


def test_values_of_another_type_than_the_column_are_written_by_the_encoder():
    """SQLite keeps what it is given in any column (a text in an integer
    column, a real in an integer one): each such value is written as the
    encoder writes it, the others as usual."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite keeps a value of any type in any column; PostgreSQL refuses it")
    items = make_items(rows=[{}, {}, {}])
    table = Item._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET count = %s, small = %s WHERE id = %s",
                       ["not a number", 1.5, items[0].pk])
        cursor.execute(f"UPDATE {table} SET count = %s, status = %s WHERE id = %s",
                       [12.25, 12, items[1].pk])
    serializer = compile_serializer(Item, ["count", "small", "status", "title",
                                           "get_status_display"])
    text = written(serializer, Item.objects.all())
    rows = json.loads(text)
    assert rows[0]["count"] == "not a number" and rows[0]["small"] == 1.5
    assert rows[1]["status"] == "12" and rows[1]["count"] == 12.25


def test_a_value_the_encoder_refuses_raises_as_many_does():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite keeps bytes in a text column; PostgreSQL refuses them")
    (item,) = make_items()
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Item._meta.db_table} SET title = %s WHERE id = %s",
                       [b"\x00bytes", item.pk])
    serializer = compile_serializer(Item, ["title"])
    with pytest.raises(TypeError, match="bytes"):
        dumps(serializer, Item.objects.all())
    with pytest.raises(TypeError, match="bytes"):
        serializer.json(Item.objects.all(), in_database=False)


def test_code_on_stand_ins_keeps_the_dicts(rentals):
    """A method may leave its key out of a row: no text function; json()
    writes json.dumps of many(), the same text."""
    serializer = compile_serializer(Lease, ["days_until_expiration", "tenant.phone"])
    assert serializer.build_text_projection() is False
    written(serializer, Lease.objects.all())
    assert serializer.text_projection is False


def test_querysets_many_reads_as_instances_keep_that_path(rentals):
    serializer = compile_serializer(Property, S3)
    # A join in the filters repeats the properties: many() reads instances.
    repeated = Property.objects.filter(units__bedrooms__gte=0)
    assert repeated.count() > Property.objects.count()
    with CaptureQueriesContext(connection) as python:
        assert serializer.json(repeated, in_database=False) == dumps(serializer, repeated)
    with CaptureQueriesContext(connection) as rows:
        serializer.many(repeated)
    assert len(python.captured_queries) == 2 * len(rows.captured_queries)
    prefetching = Property.objects.prefetch_related("units")
    assert serializer.json(prefetching, in_database=False) == dumps(serializer, prefetching)
    combined = Property.objects.filter(pk__lt=3).order_by().union(
        Property.objects.filter(pk__gt=4).order_by())
    assert json.loads(serializer.json(combined, in_database=False)) == json.loads(
        dumps(serializer, combined))


def test_the_text_function_is_named_and_released_with_its_serializer(rentals):
    serializer = compile_serializer(Unit, ["number", "property.name"])
    serializer.json(Unit.objects.all(), in_database=False)
    function, _ = serializer.text_projection
    filename = function.__code__.co_filename
    assert filename.endswith(" text>") and filename.startswith("<djust serializer rentals.Unit")
    assert linecache.getline(filename, 1).startswith("def write_rows(rows")
    default_cache().clear()
    assert filename not in linecache.cache


def test_json_value_is_the_encoders_text():
    for value in (None, True, False, 0, -1, 2**80, 1.5, float("nan"), "a\"\\é😀", [1, {"a": None}],
                  {"é": [True, 1.0]}, ()):
        assert jsontext.json_value(value) == json.dumps(value, cls=DjangoJSONEncoder)


@pytest.mark.parametrize(("model", "paths"), [
    # Levels keyed by UUIDs (Tag) and by ints, a custom related manager
    # (Chapter hides drafts), a ManyToMany through its table.
    ("Author", ["name", "books.count", "books.all.*.title", "books.all.*.chapters.all.*.title",
                "books.all.*.tags.all.*.label", "books.all.*.chapters.count"]),
    ("Tag", ["label", "books.all.*.title", "books.count", "pk"]),
    ("Shop", ["name", "books.all.*.title"]),
    # A nullable forward step to a char primary key, a JSON field, a
    # choices display, a nullable int; a sensitive field is never written.
    ("Book", ["title", "publisher.code", "publisher.name", "metadata", "get_genre_display",
              "pages", "author.name", "author.api_token", "shops.all.*.name",
              "chapters.all.*.number"]),
])
def test_other_schemas(model, paths):
    from django.apps import apps

    from djust.compiler.sensitive import SensitiveFieldWarning

    factories.library(4)
    model = apps.get_model("testapp", model)
    if "author.api_token" in paths:
        with pytest.warns(SensitiveFieldWarning, match="api_token"):
            serializer = compile_serializer(model, paths)
    else:
        serializer = compile_serializer(model, paths)
    assert serializer.build_text_projection()
    for queryset in (model.objects.all(), model.objects.order_by("-pk")[:2]):
        text = written(serializer, queryset)
    assert "api_token" not in text
