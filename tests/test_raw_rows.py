"""``projection.read_rows``: ``values_list()`` rows read on the compiler's
cursor equal Django's own, per field type and backend (SQLite and, with
``DJUST_TEST_DB=postgres``, PostgreSQL), in the same number of queries;
``from_db_value`` and converters this module does not know run as Django
runs them."""

from __future__ import annotations

import contextlib
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
from djust.compiler.projection import column_reader, read_rows, text_rows
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
        # JSON mode takes its date, datetime and decimal columns as text.
        expected = project(text_rows(list(queryset.values_list(*spec.columns)), spec.text))
        assert bool(spec.text) is (mode == "json")
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


# ------------------------------------------------------------ JSON text columns

TEXT_COLUMNS = ("price", "whole", "precise", "day", "moment")


def _text_of(columns):
    from djust.compiler.projection import Text, text_kind

    return tuple(Text(position, text_kind(type(fz.Item._meta.get_field(name))),
                      strict=not fz.Item._meta.get_field(name).null)
                 for position, name in enumerate(columns))


def _encoded(value):
    from django.core.serializers.json import DjangoJSONEncoder

    return None if value is None else DjangoJSONEncoder().default(value)


def _outcome(function):
    try:
        return "rows", function()
    except Exception as error:  # compared with Django's
        return "raised", type(error)


@contextlib.contextmanager
def _database_zone(name):
    """The connection's own TIME_ZONE (DATABASES), its cached zone cleared."""
    saved = connection.settings_dict.get("TIME_ZONE")
    connection.settings_dict["TIME_ZONE"] = name
    for cached in ("timezone", "timezone_name"):
        connection.__dict__.pop(cached, None)
    try:
        yield
    finally:
        connection.settings_dict["TIME_ZONE"] = saved
        for cached in ("timezone", "timezone_name"):
            connection.__dict__.pop(cached, None)


# What SQLite may hold in a decimal, datetime and date column: values a
# field stores, others raw SQL wrote (more places than the field's, ties,
# ints, huge values, datetimes with an offset or sub-millisecond parts).
ODD = [
    (1.015, 3, None, "2024-01-01 10:00:00", "2024-02-29"),
    (-0.0, -0.0, 0.1 + 0.2, "2024-01-01 10:00:00.000001", "0001-01-01"),
    (2.675, 99999, 12345.0000000001, "2024-01-01 10:00:00.5", "9999-12-31"),
    (5, 12.5, -1e-10, "2024-01-01 10:00:00+05:45", "2024-01-01"),
    (9999999999.995, 0, 3, "2024-06-30 23:59:59.999999", "2024-01-01"),
    (1e20, 0, None, "2024-01-01 10:00:00", "2024-01-01"),
]


@pytest.mark.parametrize("database_zone", [None, "Asia/Kathmandu"])
@pytest.mark.parametrize("use_tz", [True, False])
@pytest.mark.parametrize("odd", ODD)
def test_text_columns_are_django_values_encoded(use_tz, database_zone, odd):
    """``read_rows(..., text)`` gives DjangoJSONEncoder's text of Django's
    own values (or raises what Django raises), whatever the column holds,
    with USE_TZ on and off and the connection in UTC or another zone."""
    if connection.vendor != "sqlite" and (odd != ODD[0] or database_zone):
        pytest.skip("raw values and the connection's zone: SQLite's conversions")
    with override_settings(USE_TZ=use_tz), _database_zone(database_zone):
        _items(aware=use_tz)
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute(f"UPDATE {fz.Item._meta.db_table} SET price = %s, whole = %s, "
                               "precise = %s, moment = %s, day = %s", list(odd))
        queryset = fz.Item.objects.order_by("id").values_list(*TEXT_COLUMNS)
        text = _text_of(TEXT_COLUMNS)
        django = _outcome(lambda: list(queryset.all()))
        ours = _outcome(lambda: read_rows(queryset.all(), text))
        if django[0] == "raised":
            assert ours == django
            return
        assert ours == ("rows", [tuple(_encoded(value) for value in row) for row in django[1]])
        assert text_rows(django[1], text) == ours[1]


def test_text_columns_take_the_short_ways():
    """The columns of S1's kinds are written without their Python objects:
    the generated read pass checks the driver's class and formats it."""
    from djust.compiler import projection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's converters")
    queryset = fz.Item.objects.values_list("price", "day", "moment")
    compiler = queryset.query.get_compiler(queryset.db)
    compiler.as_sql()
    fields = [selected[0] for selected in compiler.select[:compiler.col_count]]
    converters = compiler.get_converters(fields)
    with override_settings(USE_TZ=True):
        templates = [projection._column_expression(connection, *converters[position], text)[0]
                     for position, text in enumerate(_text_of(("price", "day", "moment")))]
    assert "%" in templates[0] and "isoformat()" in templates[1]
    assert ":=" in templates[2] and "'Z'" in templates[2]
