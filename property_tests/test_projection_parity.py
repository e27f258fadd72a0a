"""Projection parity: ``many(queryset)`` read from ``values_list()`` rows,
methods and properties run on stand-ins, says what the reference says.

``test_json_parity`` draws any path; few of its path sets can be projected.
Here every path is drawn from what projects — columns, ``get_FOO_display``,
methods and properties whose code reads only columns, through forward
relations and to-many rows — so each example exercises the projection, and
the test checks it was the path taken.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import json
import warnings

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from hypothesis import assume, given
from hypothesis import strategies as st

from djust.compiler.nodes import Kind
from djust.compiler.projection import is_projectable
from djust.compiler.tree import build_access_tree
from property_tests import reference as ref
from property_tests import strategies as S
from property_tests.rendering import world_of
from property_tests.test_json_parity import assert_same_python, compile_quietly
from tests.test_projection import as_djangos_sql

ROOTS = ("Item", "Owner", "Comment", "Tag", "Group", "Membership")


def _tree(model, paths):
    with warnings.catch_warnings():
        # Sensitive names warn when typed; compile_quietly checks those warnings.
        warnings.simplefilter("ignore")
        return build_access_tree(model, paths)


def _projects(model: str, path: str) -> bool:
    tree = _tree(S.MODELS.get(model) or _user_model(), [path])
    # A sensitive name projects as nothing: test_json_parity covers it.
    return is_projectable(tree) and tree.children[0].kind is not Kind.SENSITIVE


def projectable(model, paths) -> bool:
    return is_projectable(_tree(model, paths))


def _runs_code(model: str, leaf: str) -> bool:
    tree = _tree(S.MODELS.get(model) or _user_model(), [leaf])
    return tree.children[0].kind in (Kind.METHOD, Kind.PROPERTY)


def _user_model():
    from django.contrib.auth import get_user_model

    return get_user_model()


@functools.cache
def leaves(model: str) -> tuple[str, ...]:
    """The grammar's leaves of ``model`` that project (loud failures left to
    test_json_parity: they end the whole call)."""
    return tuple(leaf for leaf in S.GRAMMAR[model].leaves
                 if not leaf.startswith("loud") and _projects(model, leaf))


@functools.cache
def code(model: str) -> tuple[str, ...]:
    """The leaves that run the model's code: drawn as often as all others."""
    return tuple(leaf for leaf in leaves(model) if _runs_code(model, leaf))


@functools.cache
def objects(model: str) -> tuple[tuple[str, str], ...]:
    grammar = S.GRAMMAR[model]
    return tuple((name, target) for name, target in grammar.objects
                 if leaves(target) and _projects(model, f"{name}.{leaves(target)[0]}"))


@functools.cache
def managers(model: str) -> tuple[tuple[str, str], ...]:
    grammar = S.GRAMMAR[model]
    return tuple((name, target) for name, target in grammar.managers
                 if leaves(target) and _projects(model, f"{name}.count"))


@st.composite
def projected_path(draw, model: str, depth: int = 2, forward_only: bool = False) -> str:
    shapes = ["leaf"] + ["code"] * bool(code(model)) + ["object"] * bool(depth and objects(model))
    if not forward_only:
        shapes += ["rows", "count"] * bool(depth and managers(model))
    shape = draw(st.sampled_from(shapes))
    if shape in ("leaf", "code"):
        return draw(st.sampled_from(leaves(model) if shape == "leaf" else code(model)))
    if shape == "object":
        name, target = draw(st.sampled_from(objects(model)))
        return f"{name}.{draw(projected_path(target, depth - 1, forward_only=True))}"
    name, target = draw(st.sampled_from(managers(model)))
    if shape == "count":
        return f"{name}.count"
    return f"{name}.all.*.{draw(projected_path(target, depth - 1))}"


@pytest.fixture(scope="module")
def grammar():
    """The projecting grammar, worked out before Hypothesis draws from it:
    a draw must not depend on what an earlier one computed."""
    return {model: (leaves(model), code(model), objects(model), managers(model))
            for model in S.GRAMMAR}


@pytest.mark.django_db
@given(spec=S.worlds(), data=st.data())
def test_projection_parity(grammar, spec, data):
    with world_of(spec):
        name = data.draw(st.sampled_from(ROOTS), label="root model")
        paths = data.draw(st.lists(projected_path(name), min_size=1, max_size=6), label="paths")
        model = S.MODELS[name]
        assume(projectable(model, paths))
        as_json = compile_quietly(model, paths, "json")
        as_python = compile_quietly(model, paths, "python")
        assert as_json.many(model.objects.all()) == ref.reference_many(model.objects.all(), paths)
        assert_same_python(as_python.many(model.objects.all()),
                           ref.reference_many(model.objects.all(), paths, mode="python"))
        # The projection was built and used: many() took no other path.
        assert as_json.projection and as_python.projection
        # json() in Python: the rows written straight to json.dumps's text,
        # byte for byte, unless a method or property may leave a key out.
        for queryset in (model.objects.all(), model.objects.order_by("-pk")[1:]):
            text = as_json.json(queryset, in_database=False)
            assert text == json.dumps(as_json.many(queryset), cls=DjangoJSONEncoder)
            assert json.loads(text) == json.loads(json.dumps(ref.reference_many(queryset, paths),
                                                             cls=DjangoJSONEncoder))
        # Written as text exactly when no code runs on stand-ins.
        assert bool(as_json.text_projection) is not bool(as_json.projection[1].code)


@pytest.mark.django_db
@given(spec=S.worlds(), data=st.data())
def test_many_keys_queries_are_djangos(grammar, spec, data):
    """A to-many level's query written from Django's SQL for two of its
    parent keys (``projection.MANY_KEYS``, lowered here to 1 so that every
    level takes it) is Django's own query for all the keys: the same SQL
    and parameters, so the same rows and output, the same query count."""
    from unittest import mock

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from djust.compiler import projection

    with world_of(spec):
        name = data.draw(st.sampled_from(ROOTS), label="root model")
        paths = data.draw(st.lists(projected_path(name), min_size=1, max_size=6), label="paths")
        model = S.MODELS[name]
        assume(projectable(model, paths))
        for mode in ("json", "python"):
            serializer = compile_quietly(model, paths, mode)
            runs = []
            for threshold in (10 ** 9, 1):
                with mock.patch.object(projection, "MANY_KEYS", threshold), \
                        CaptureQueriesContext(connection) as queries:
                    output = serializer.many(model.objects.all())
                runs.append((output, [as_djangos_sql(query["sql"])
                                      for query in queries.captured_queries]))
            (django_output, django_sql), (output, sql) = runs
            assert sql == django_sql
            if mode == "json":
                assert output == django_output
            else:
                assert_same_python(output, ref.reference_many(model.objects.all(), paths,
                                                              mode="python"))


# Every column of every fuzz model, for the raw-rows check below.
def _columns(model) -> tuple[str, ...]:
    return tuple(field.attname for field in model._meta.concrete_fields)


@pytest.mark.django_db
@given(spec=S.worlds(), data=st.data())
def test_raw_rows_parity(spec, data):
    """``read_rows`` (the projection's fetch) gives exactly Django's
    ``values_list()`` rows, value and type, for every column of every model,
    under each world's USE_TZ and TIME_ZONE: a converter skipped or replaced
    wrongly shows here before any serializer hides it."""
    from djust.compiler.projection import read_rows

    with world_of(spec):
        for name, model in S.MODELS.items():
            columns = _columns(model)
            if name == "Item":
                columns += ("owner__username", "reviewer__email", "specialitem__bonus",
                            "detail__weight", "comments__posted")
            queryset = model.objects.order_by("pk").values_list(*columns)
            expected = list(queryset.all())
            rows = read_rows(queryset.all())
            assert rows == expected, name
            assert [[(type(v), getattr(v, "tzinfo", None), str(v)) for v in row]
                    for row in rows] == [
                [(type(v), getattr(v, "tzinfo", None), str(v)) for v in row]
                for row in expected], name


# ------------------------------------------------------------ JSON text columns


def _text_columns(model, columns) -> tuple:
    """Every date, datetime and decimal column among ``columns`` as a
    ``Text``: strict (None encoded) for a non-null field of the model itself."""
    from djust.compiler.projection import Text, text_kind

    found = []
    for position, column in enumerate(columns):
        if "__" in column:
            continue
        kind = text_kind(type(model._meta.get_field(column)))
        if kind is not None:
            found.append(Text(position, kind, strict=not model._meta.get_field(column).null))
    return tuple(found)


def _django_text(value):
    """DjangoJSONEncoder's text for a date, datetime or decimal."""
    from django.core.serializers.json import DjangoJSONEncoder

    return None if value is None else DjangoJSONEncoder().default(value)


@pytest.mark.django_db
@given(spec=S.worlds())
def test_text_columns_parity(spec):
    """``read_rows`` with ``text`` columns (JSON mode's dates, datetimes
    and decimals written straight from the driver's values) gives
    DjangoJSONEncoder's text of Django's own ``values_list()`` values, for
    every such column of every model, under each world's USE_TZ and
    TIME_ZONE; ``text_rows`` on Django's rows gives the same rows."""
    from djust.compiler.projection import read_rows, text_rows

    with world_of(spec):
        for model in S.MODELS.values():
            columns = _columns(model)
            text = _text_columns(model, columns)
            if not text:
                continue
            queryset = model.objects.order_by("pk").values_list(*columns)
            expected = list(queryset.all())
            rows = read_rows(queryset.all(), text)
            assert rows == text_rows(expected, text)
            at = {column.position for column in text}
            for row, django_row in zip(rows, expected, strict=True):
                for position, (value, django_value) in enumerate(
                        zip(row, django_row, strict=True)):
                    if position in at:
                        assert value == _django_text(django_value), columns[position]
                        assert value is None or type(value) is str
                    else:
                        assert (type(value), value) == (type(django_value), django_value)


class _SQLite:
    """The parts of a SQLite connection ``projection`` reads, around one
    ``DatabaseOperations``: the short ways are checked on every backend."""

    vendor = "sqlite"

    def __init__(self, zone):
        from django.db.backends.sqlite3.base import DatabaseOperations

        self.ops = DatabaseOperations(self)
        self.timezone = zone


def _read_one(connection, converter, expression, value, text):
    """``value`` through the generated read pass (one column) and through
    Django's converter then the JSON mode's encoding: (outcome, outcome),
    an outcome being ("text", text) or ("raised", exception class)."""
    from djust.compiler import projection

    template, arguments = projection._column_expression(
        connection, [converter], expression, text)
    convert = projection._converting(1, ((0, template, len(arguments)),))

    def outcome(function):
        try:
            return "text", function()
        except Exception as error:  # the exception is compared
            return "raised", type(error)

    def exact():
        converted = converter(value, expression, connection)
        if converted is None and not text.strict:
            return None
        return projection._encoder(text.kind)(converted)

    return outcome(lambda: convert([(value,)], *arguments)[0][0]), outcome(exact), template


def _decimal_values(max_digits: int, places: int):
    stored = st.decimals(min_value=-(10 ** (max_digits - places)),
                         max_value=10 ** (max_digits - places), places=places,
                         allow_nan=False, allow_infinity=False).map(float)
    return st.one_of(stored, st.floats(), st.integers(-(10 ** 17), 10 ** 17),
                     st.sampled_from([0.0, -0.0, 1.015, 0.125, 2.675, 1e15, 999999999999.995,
                                      10 ** 15, 10 ** 16 + 1, 2 ** 53 + 1, None]))


@given(data=st.data(), max_digits=st.integers(1, 20), strict=st.booleans())
def test_decimal_text_is_the_converter_then_str(data, max_digits, strict):
    """SQLite's decimal column as text: for any float or int the driver
    can give (values a field stores, any float, big ints, ties), the read
    pass writes exactly ``str()`` of what Django's converter makes, or
    raises what it raises."""
    from django.db import models
    from django.db.models.expressions import Col

    from djust.compiler.projection import Text

    places = data.draw(st.integers(0, min(max_digits, 8)), label="decimal_places")
    field = models.DecimalField(max_digits=max_digits, decimal_places=places)
    expression = Col("t", field)
    connection = _SQLite(zone=None)
    converter = connection.ops.get_decimalfield_converter(expression)
    value = data.draw(_decimal_values(max_digits, places), label="value")
    ours, django, template = _read_one(connection, converter, expression, value,
                                       Text(0, "decimal", strict))
    assert ours == django
    # The short way is written for the fields it covers.
    assert ("%" in template) is (places <= 6 and min(max_digits, 15) >= places)


@given(value=st.one_of(st.none(), st.datetimes(), st.dates(),
                       st.datetimes(timezones=st.sampled_from(
                           [datetime.UTC, datetime.timezone(datetime.timedelta(hours=5))]))),
       zone=st.sampled_from(["UTC", "none", "Asia/Kathmandu"]), strict=st.booleans())
def test_datetime_text_is_the_converter_then_the_encoder(value, zone, strict):
    """SQLite's datetime column as text, the driver's naive datetime (with
    or without microseconds) or anything else, with USE_TZ off, on in UTC,
    on in another zone: DjangoJSONEncoder's text of Django's value."""
    import zoneinfo

    from django.db import models
    from django.db.models.expressions import Col
    from django.test.utils import override_settings

    from djust.compiler.projection import Text

    zones = {"UTC": datetime.UTC, "none": None,
             "Asia/Kathmandu": zoneinfo.ZoneInfo("Asia/Kathmandu")}
    connection = _SQLite(zone=zones[zone])
    expression = Col("t", models.DateTimeField())
    with override_settings(USE_TZ=zone != "none"):
        ours, django, template = _read_one(connection, connection.ops.convert_datetimefield_value,
                                           expression, value, Text(0, "datetime", strict))
    assert ours == django
    assert (":=" in template) is (zone != "Asia/Kathmandu")


@given(value=st.one_of(st.none(), st.dates(), st.datetimes()), strict=st.booleans(),
       known=st.booleans())
def test_date_text_is_the_converter_then_isoformat(value, strict, known):
    """A date column as text, SQLite's converter or none (PostgreSQL's)."""
    from django.db import models
    from django.db.models.expressions import Col

    from djust.compiler import projection
    from djust.compiler.projection import Text

    connection = _SQLite(zone=None)
    expression = Col("t", models.DateField())
    if known:
        ours, django, _ = _read_one(connection, connection.ops.convert_datefield_value,
                                    expression, value, Text(0, "date", strict))
        assert ours == django
    template, arguments = projection._column_expression(None, [], None,
                                                        Text(0, "date", strict))
    convert = projection._converting(1, ((0, template, len(arguments)),))
    if value is None and strict:
        with pytest.raises(AttributeError):
            convert([(value,)], *arguments)
    else:
        assert convert([(value,)], *arguments) == [
            (None if value is None else value.isoformat(),)]


# ------------------------------------------------------------ text written by the database

_EDGE_DATES = st.sampled_from([datetime.date(1, 1, 1), datetime.date(99, 3, 4),
                               datetime.date(999, 12, 31), datetime.date(9999, 12, 31)])
_EDGE_MOMENTS = st.sampled_from([
    datetime.datetime(1, 1, 2, 0, 0, 0), datetime.datetime(999, 5, 6, 7, 8, 9, 1),
    datetime.datetime(2026, 1, 2, 3, 4, 5, 999999), datetime.datetime(2026, 1, 2, 3, 4, 5, 999),
    datetime.datetime(2026, 1, 2, 3, 4, 5), datetime.datetime(9999, 12, 30, 23, 59, 59, 999999)])
_EDGE_PRICES = st.sampled_from([decimal.Decimal(text) for text in (
    "0", "-0.01", "0.10", "-9999999999.99", "9999999999.99", "1234567.5", "-1")])


@pytest.mark.django_db
@given(day=st.one_of(st.none(), st.dates(), _EDGE_DATES),
       moment=st.one_of(st.none(), st.datetimes(datetime.datetime(1, 1, 2),
                                                datetime.datetime(9999, 12, 30)), _EDGE_MOMENTS),
       price=st.one_of(S.decimals(12, 2), _EDGE_PRICES),
       whole=st.one_of(S.decimals(5, 0), st.sampled_from([decimal.Decimal(0),
                                                          decimal.Decimal(-99999)])),
       bonus=S.decimals(8, 3, nullable=True),
       zone=st.sampled_from(["UTC", "none", "Asia/Kathmandu"]))
def test_database_text_is_djangos_text(day, moment, price, whole, bonus, zone):
    """The date, datetime and decimal columns as text, written by the
    database where ``read_rows`` asks it to (PostgreSQL with the connection
    in UTC; the exact way elsewhere): years below 1000 and 9999, datetimes
    with and without microseconds, negative, zero and large decimals and
    NULLs give DjangoJSONEncoder's text of Django's values, strict columns
    included; the query count is Django's."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext, override_settings

    from djust.compiler.projection import Text, read_rows, text_rows
    from property_tests.fuzzapp.models import Item, Owner, SpecialItem

    use_tz = zone != "none"
    if use_tz:
        moment = moment and moment.replace(tzinfo=datetime.UTC)
    settings = {"USE_TZ": use_tz, "TIME_ZONE": "UTC" if zone == "none" else zone}
    with override_settings(**settings), transaction.atomic():
        owner = Owner.objects.create(username="o")
        item = SpecialItem.objects.create(title="t", owner=owner, day=day, moment=moment,
                                          price=price, whole=whole, bonus=bonus)
        Item.objects.create(title="u", owner=owner)
        columns = ("day", "moment", "price", "whole", "specialitem__bonus", "pk")
        text = (Text(0, "date"), Text(1, "datetime"), Text(2, "decimal", strict=True),
                Text(3, "decimal", strict=True), Text(4, "decimal"))
        queryset = Item.objects.order_by("pk").values_list(*columns)
        expected = list(queryset.all())
        with CaptureQueriesContext(connection) as captured:
            rows = read_rows(queryset.all(), text)
        assert len(captured.captured_queries) == 1
        assert rows == text_rows(expected, text)
        assert rows[0][:5] == tuple(_django_text(value) for value in expected[0][:5])
        assert rows[0][5] == item.pk
        sql = captured.captured_queries[0]["sql"]
        in_database = connection.vendor == "postgresql"
        assert ("to_char" in sql) is in_database
        assert ("::text" in sql) is in_database
        assert ("AT TIME ZONE" in sql) is (in_database and use_tz)
        transaction.set_rollback(True)


@pytest.mark.django_db
@pytest.mark.parametrize("column", ["day", "moment"])
@pytest.mark.parametrize("stored", ["infinity", "-infinity", "0044-03-15 BC",
                                    "12000-01-01"])
def test_database_text_out_of_python_range_raises(column, stored):
    """A date or datetime Python cannot hold: the driver raises DataError on
    the exact path, the database raises it where it writes the text."""
    from django.db import DataError, connection, transaction

    from djust.compiler.projection import Text, read_rows
    from property_tests.fuzzapp.models import Item, Owner

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL stores what Python cannot hold")
    owner = Owner.objects.create(username="o")
    item = Item.objects.create(title="t", owner=owner)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Item._meta.db_table} SET {column} = %s WHERE id = %s",
                       [stored, item.pk])
    queryset = Item.objects.filter(pk=item.pk).values_list(column)
    for read in (list, lambda rows: read_rows(rows, (Text(0, "date" if column == "day"
                                                           else "datetime"),))):
        with pytest.raises(DataError), transaction.atomic():
            read(queryset.all())


_STORED = {
    "day": ["2026-01-02", "0099-03-04", "2026-1-2", "2026-02-29", "0000-01-01", "20260102",
            "2026-01-02 03:04:05", 12345, 1.5, "", "x"],
    "moment": ["2026-01-02 03:04:05", "2026-01-02 03:04:05.000000", "2026-01-02 03:04:05.5",
               "2026-01-02 03:04:05.999999", "2026-01-02T03:04:05", "2026-01-02 03:04:05+05:30",
               "2026-01-02 03:04:05.123456+00:00", "2026-01-02 24:00:00", "2026-01-02",
               "0001-01-01 00:00:00.000001", "9999-12-31 23:59:59.999999", 7, 2.5, "x"],
}


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["UTC", "none", "Asia/Kathmandu"])
@pytest.mark.parametrize(("column", "stored"), [(column, value) for column, values in
                                                _STORED.items() for value in values])
def test_sqlite_stored_text_of_any_form(column, stored, zone):
    """SQLite keeps whatever was written (other forms, invalid dates,
    numbers): the read pass's JSON text is the JSON mode's text of Django's
    value, or it raises what Django's way raises. (The read pass takes
    SQLite's driver values: ``_in_database`` says why.)"""
    from django.db import connection
    from django.test.utils import override_settings

    from djust.compiler.projection import Text, _encoder, read_rows
    from property_tests.fuzzapp.models import Item, Owner

    if connection.vendor != "sqlite":
        pytest.skip("SQLite stores any value in any column")
    settings = {"USE_TZ": zone != "none", "TIME_ZONE": "UTC" if zone == "none" else zone}
    with override_settings(**settings):
        owner = Owner.objects.create(username="o")
        item = Item.objects.create(title="t", owner=owner)
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {Item._meta.db_table} SET {column} = %s WHERE id = %s",
                           [stored, item.pk])
        queryset = Item.objects.filter(pk=item.pk).values_list(column)
        kind = "date" if column == "day" else "datetime"
        text = (Text(0, kind, strict=True),)

        def outcome(function):
            try:
                return "text", function()
            except Exception as error:  # the exception is compared
                return "raised", type(error)

        ours = outcome(lambda: read_rows(queryset.all(), text)[0][0])
        # Strict: a None (the driver's parse failing) is encoded too.
        django = outcome(lambda: _encoder(kind)(next(iter(queryset.all()))[0]))
        assert ours == django


# Columns the text function writes by their usual class (str, int), or
# through the encoder (floats, booleans, dates...): SQLite keeps any value
# in any of them.
_ANY_VALUE_COLUMNS = ("title", "nickname", "status", "count", "small", "big", "level", "ratio",
                      "flag", "maybe", "price", "day", "moment", "ip")
_ANY_VALUE_PATHS = [*_ANY_VALUE_COLUMNS, "get_status_display", "get_level_display", "pk",
                    "owner.username", "tags.count"]


@pytest.mark.django_db
@given(stored=st.lists(st.tuples(
    st.sampled_from(_ANY_VALUE_COLUMNS),
    st.one_of(st.text(max_size=8), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False),
              st.booleans(), st.just("live"), st.just("2026-01-02"), st.sampled_from([1, 2]))),
    min_size=1, max_size=4),
    paths=st.lists(st.sampled_from(_ANY_VALUE_PATHS), min_size=1, max_size=5, unique=True))
def test_text_of_any_stored_value(stored, paths):
    """SQLite keeps what it is given in any column: whatever a row holds,
    ``json(queryset, in_database=False)`` (the rows written straight to
    text, each value by its class) is ``json.dumps(many())``'s text, or
    raises what it raises."""
    from django.db import connection

    from property_tests.fuzzapp.models import Item, Owner

    if connection.vendor != "sqlite":
        pytest.skip("SQLite keeps a value of any type in any column; PostgreSQL refuses it")
    owner = Owner.objects.create(username="o")
    items = [Item.objects.create(title="t", owner=owner) for _ in range(2)]
    with connection.cursor() as cursor:
        for column, value in stored:
            cursor.execute(f"UPDATE {Item._meta.db_table} SET {column} = %s WHERE id = %s",
                           [value, items[0].pk])
    serializer = compile_quietly(Item, paths, "json")
    assert serializer.build_text_projection()

    def outcome(function):
        try:
            return "text", function()
        except Exception as error:  # the exception's class is compared
            return "raised", type(error)

    queryset = Item.objects.all()
    assert outcome(lambda: serializer.json(queryset, in_database=False)) == outcome(
        lambda: json.dumps(serializer.many(queryset), cls=DjangoJSONEncoder))
