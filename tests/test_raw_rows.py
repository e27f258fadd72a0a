"""``projection.read_rows``: ``values_list()`` rows read on the compiler's
cursor equal Django's own, per field type and backend (SQLite and, with
``DJUST_TEST_DB=postgres``, PostgreSQL), in the same number of queries;
``from_db_value`` and converters this module does not know run as Django
runs them."""

from __future__ import annotations

import datetime
import decimal
import uuid
import zoneinfo

import pytest
from django.conf import settings
from django.db import connection, models
from django.db.models import ExpressionWrapper, F
from django.test.utils import CaptureQueriesContext, override_settings

from djust.compiler import compile_serializer
from djust.compiler.projection import column_reader, read_rows
from property_tests.fuzzapp import models as fz

pytestmark = pytest.mark.django_db

# Every concrete column of Item: each field type Django converts or not.
COLUMNS = ("id", "title", "body", "slug", "email", "url", "nickname", "small", "positive",
           "positive_small", "positive_big", "big", "count", "ratio", "price", "precise",
           "whole", "flag", "maybe", "day", "moment", "clock", "span", "token", "data",
           "attachment", "picture", "ip", "status", "level", "owner", "reviewer",
           "owner__username", "reviewer__email")


def _items(aware: bool):
    owner = fz.Owner.objects.create(username="Zoë 😀")
    zone = datetime.timezone(datetime.timedelta(hours=5, minutes=45))
    moment = datetime.datetime(2024, 2, 29, 23, 59, 59, 999999)
    full = dict(
        title="ünï <b>", body="x" * 300, slug="s-1", email="a@example.com", url="https://e.com",
        nickname="ñ", small=-(2**15), positive=2**31 - 1, positive_small=2**15 - 1,
        positive_big=2**63 - 1, big=-(2**63), count=-(2**31), ratio=-1.5e-300,
        price=decimal.Decimal("-9999999999.99"), precise=decimal.Decimal("12345.0000000001"),
        whole=decimal.Decimal("99999"), flag=True, maybe=False, day=datetime.date(1, 1, 1),
        moment=moment.replace(tzinfo=zone) if aware else moment,
        clock=datetime.time(23, 59, 59, 1), span=datetime.timedelta(days=-999_999, microseconds=1),
        token=uuid.UUID(int=2**128 - 1), data={"a": [1, 2.5, None, "é"]},
        attachment="attachments/a b.txt", picture="pictures/p.png", ip="::ffff:1.2.3.4",
        status="live", level=2, owner=owner, reviewer=owner,
    )
    fz.Item.objects.create(**full)
    empty = {key: None for key in ("nickname", "count", "ratio", "precise", "maybe", "day",
                                   "moment", "clock", "span", "data", "ip", "level")}
    fz.Item.objects.create(**{**full, **empty, "reviewer": None, "price": decimal.Decimal("0.10"),
                              "whole": decimal.Decimal("0"), "flag": False})


@pytest.mark.parametrize(("use_tz", "zone"), [
    (True, "UTC"), (True, "Asia/Kathmandu"), (False, "UTC"), (False, "America/St_Johns"),
])
def test_every_field_type_reads_as_django_reads_it(use_tz, zone):
    with override_settings(USE_TZ=use_tz, TIME_ZONE=zone):
        _items(aware=use_tz)
        queryset = fz.Item.objects.order_by("id").values_list(*COLUMNS)
        expected = list(queryset.all())
        with CaptureQueriesContext(connection) as queries:
            rows = read_rows(queryset.all())
        assert len(queries) == 1
        assert rows == expected
        # Same types too: 1 == True and Decimal("1") == 1, but JSON differs.
        assert [[type(v) for v in row] for row in rows] == [
            [type(v) for v in row] for row in expected]
        assert [[getattr(v, "tzinfo", None) for v in row] for row in rows] == [
            [getattr(v, "tzinfo", None) for v in row] for row in expected]
        assert [[str(v) for v in row] for row in rows] == [
            [str(v) for v in row] for row in expected]


def test_empty_and_impossible_querysets_run_what_django_runs():
    with CaptureQueriesContext(connection) as queries:
        assert read_rows(fz.Item.objects.filter(pk__in=[]).values_list("title")) == []
    assert len(queries) == 0
    assert read_rows(fz.Item.objects.values_list("title", "price")) == []


class Shout(models.CharField):
    def from_db_value(self, value, expression, connection):
        return None if value is None else value.upper() + "!"


class TenDecimal(models.DecimalField):
    """A field this module does not know: two converters (the backend's
    decimal one and its own), so Django's own calls."""

    def __init__(self):
        super().__init__(max_digits=12, decimal_places=2)

    def from_db_value(self, value, expression, connection):
        return None if value is None else value * 10


def test_from_db_value_is_kept_and_unknown_converters_fall_back():
    _items(aware=settings.USE_TZ)
    queryset = fz.Item.objects.annotate(
        shout=ExpressionWrapper(F("title"), output_field=Shout()),
        tenfold=ExpressionWrapper(F("price"), output_field=TenDecimal()),
    ).order_by("id").values_list("shout", "tenfold", "token")
    rows = read_rows(queryset.all())
    assert rows == list(queryset.all())
    assert rows[0][0] == "ÜNÏ <B>!"
    assert rows[1][1] == decimal.Decimal("1.00")
    compiler = queryset.query.get_compiler(queryset.db)
    compiler.as_sql()
    converters = compiler.get_converters([s[0] for s in compiler.select[:compiler.col_count]])
    # PostgreSQL gives UUIDs itself: no converter to call.
    for position in (0, 1, 2) if connection.vendor == "sqlite" else (0, 1):
        # Custom fields and SQLite's UUIDs: Django's converters, called in turn.
        assert column_reader(connection, *converters[position]).__name__ == "convert"


def test_an_overridden_backend_converter_is_called_as_django_calls_it(monkeypatch):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's converters are the ones replaced")
    _items(aware=settings.USE_TZ)
    ops_class = type(connection.ops)
    original = ops_class.convert_datefield_value

    def shifted(self, value, expression, conn):
        value = original(self, value, expression, conn)
        return value and value.replace(year=2000)

    monkeypatch.setattr(ops_class, "convert_datefield_value", shifted, raising=True)
    queryset = fz.Item.objects.exclude(day=None).values_list("day")
    assert read_rows(queryset.all()) == [(datetime.date(2000, 1, 1),)]


@pytest.mark.parametrize("mode", ["json", "python"])
def test_many_equals_values_list_rows_serialized(mode):
    """The serializer's many() through raw rows and through Django's
    values_list(): the same output, the same queries."""
    with override_settings(USE_TZ=True, TIME_ZONE="Pacific/Kiritimati"):
        _items(aware=True)
        paths = ["title", "price", "precise", "whole", "day", "moment", "clock", "span", "token",
                 "flag", "maybe", "data", "owner.username", "reviewer.email", "get_status_display",
                 "ratio", "big"]
        serializer = compile_serializer(fz.Item, paths, mode=mode)
        project, spec = serializer.build_projection()
        queryset = fz.Item.objects.order_by("id")
        expected = project(list(queryset.values_list(*spec.columns)))
        with CaptureQueriesContext(connection) as queries:
            assert serializer.many(queryset.all()) == expected
        assert len(queries) == 1


def test_zone_of_the_connection_is_read_per_query():
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL gives aware datetimes itself")
    _items(aware=True)
    for use_tz in (True, False):
        with override_settings(USE_TZ=use_tz):
            (moment,), _ = read_rows(fz.Item.objects.order_by("id").values_list("moment"))
            assert (moment.tzinfo is not None) is use_tz
            if use_tz:
                assert moment.tzinfo in (datetime.UTC, zoneinfo.ZoneInfo("UTC"))
