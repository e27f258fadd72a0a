"""``serializer.json(queryset)`` (issue #20): the JSON text, built by the
database in one query where it can express the paths, else by ``many()``
and ``json.dumps``; both read the same after ``json.loads``."""

from __future__ import annotations

import json

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test.utils import CaptureQueriesContext

from djust.compiler import compile_serializer
from examples.rentals.models import Lease, Property
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def rentals():
    factories.rentals(5)


def python_path(serializer, queryset) -> object:
    return json.loads(json.dumps(serializer.many(queryset), cls=DjangoJSONEncoder))


def test_the_database_writes_what_many_writes_in_one_query():
    serializer = compile_serializer(Lease, ["tenant.user.email", "monthly_rent", "end_date",
                                            "get_status_display", "property.amenities.all.*.name"])
    queryset = Lease.objects.filter(status="active").order_by("-end_date")
    with CaptureQueriesContext(connection) as captured:
        text = serializer.json(queryset)
    assert len(captured.captured_queries) == 1
    assert json.loads(text) == python_path(serializer, queryset)
    assert "the database" in serializer.explain().split("json(queryset):")[1]


def test_a_method_keeps_the_python_path_and_explain_says_why():
    serializer = compile_serializer(Lease, ["days_until_expiration", "tenant.phone"])
    queryset = Lease.objects.all()
    assert json.loads(serializer.json(queryset)) == python_path(serializer, queryset)
    assert "days_until_expiration is a method" in serializer.explain()


def test_lists_of_instances_and_python_mode():
    serializer = compile_serializer(Property, ["name", "units.count"])
    rows = list(Property.objects.all())
    assert json.loads(serializer.json(rows)) == python_path(serializer, rows)
    with pytest.raises(TypeError, match="mode='json'"):
        compile_serializer(Property, ["name"], mode="python").json(Property.objects.all())


def test_stream_is_a_method_and_its_chunk_follows_the_levels():
    from djust.compiler.streaming import DEFAULT_CHUNK_SIZE, LEVELS_CHUNK_SIZE, default_chunk_size

    flat = compile_serializer(Lease, ["tenant.phone", "end_date"])
    nested = compile_serializer(Property, ["name", "units.all.*.number"])
    assert default_chunk_size(flat) == DEFAULT_CHUNK_SIZE
    assert default_chunk_size(nested) == LEVELS_CHUNK_SIZE
    for serializer, queryset in ((flat, Lease.objects.all()), (nested, Property.objects.all())):
        assert "".join(serializer.stream(queryset)) == json.dumps(
            serializer.many(queryset), cls=DjangoJSONEncoder)


def test_a_query_sqlite_cannot_parse_falls_back_to_the_python_path(monkeypatch):
    """Hypothesis found path sets whose query overflows SQLite's parser
    stack: json() then writes the text through many(), in the same
    transaction, which SQLite leaves untouched."""
    from django.db import OperationalError

    from djust.compiler import sqljson

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL aborts the transaction: its errors reach the caller")
    serializer = compile_serializer(Lease, ["tenant.user.email", "end_date"])
    queryset = Lease.objects.all()
    def overflowing(serializer, queryset):
        return "SELECT " + "(" * 2000 + "1" + ")" * 2000, ()

    monkeypatch.setattr(sqljson, "compile_query", overflowing)
    with pytest.raises(OperationalError):
        connection.cursor().execute("SELECT " + "(" * 2000 + "1" + ")" * 2000)
    assert sqljson.json_text(serializer, queryset) is None
    assert json.loads(serializer.json(queryset)) == python_path(serializer, queryset)
