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
import functools
import warnings

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from djust.compiler.nodes import Kind
from djust.compiler.projection import is_projectable
from djust.compiler.tree import build_access_tree
from property_tests import reference as ref
from property_tests import strategies as S
from property_tests.rendering import world_of
from property_tests.test_json_parity import assert_same_python, compile_quietly

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
                runs.append((output, [query["sql"] for query in queries.captured_queries]))
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
