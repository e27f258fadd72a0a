"""The run-time helpers against Django's own engine and encoder."""

import datetime
import decimal
import enum
import json
import uuid

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.template import Context, Engine
from django.template.base import Variable, VariableDoesNotExist
from django.utils.functional import lazy
from hypothesis import given
from hypothesis import strategies as st

from djust.compiler import runtime
from djust.compiler.modes import plain
from djust.compiler.runtime import MISSING, resolve_lookup
from examples.rentals.models import Amenity, Lease, Unit

_INVALID = object()
_ENGINE_TEMPLATE = Engine(string_if_invalid=_INVALID).from_string("")


def django_lookup(obj, bit):
    """What the template engine finds for ``root.<bit>`` (MISSING if invalid)."""
    context = Context({"root": obj})
    context.template = _ENGINE_TEMPLATE
    try:
        value = Variable(f"root.{bit}").resolve(context)
    except VariableDoesNotExist:
        return MISSING
    return MISSING if value is _INVALID else value


class Silent(Exception):
    silent_variable_failure = True


class Loud(Exception):
    pass


class Thing:
    label = "thing"
    items = (1, 2)

    def hello(self):
        return "hi"

    def needs(self, x):
        return x

    def broken(self):
        raise TypeError("inside")

    def delete(self):
        raise AssertionError("must never be called")

    delete.alters_data = True

    def kept(self):
        raise AssertionError("must never be called")

    kept.do_not_call_in_templates = True

    @property
    def silent(self):
        raise Silent

    @property
    def loud(self):
        raise Loud

    @property
    def attr_error(self):
        raise AttributeError("from inside a property")


CASES = [
    ({"a": 1}, "a"),
    ({"a": 1}, "b"),
    ({"items": 5}, "items"),
    ({}, "items"),
    ([10, 20], "1"),
    ([10, 20], "5"),
    ((1, 2), "count"),
    (Thing(), "label"),
    (Thing(), "hello"),
    (Thing(), "needs"),
    (Thing(), "delete"),
    (Thing(), "missing"),
    (Thing(), "silent"),
    ("abc", "upper"),
    (None, "x"),
    ({"0": "string key"}, "0"),
    ({0: "int key"}, "0"),
]


@pytest.mark.parametrize(("obj", "bit"), CASES)
def test_resolve_lookup_matches_django(obj, bit):
    assert resolve_lookup(obj, bit) == django_lookup(obj, bit)


def test_do_not_call_keeps_the_callable():
    thing = Thing()
    assert resolve_lookup(thing, "kept") == thing.kept
    assert django_lookup(thing, "kept") == thing.kept


def test_type_error_inside_a_zero_argument_callable_propagates():
    with pytest.raises(TypeError, match="inside"):
        resolve_lookup(Thing(), "broken")
    with pytest.raises(TypeError, match="inside"):
        django_lookup(Thing(), "broken")


@pytest.mark.parametrize("bit", ["loud", "attr_error"])
def test_loud_exceptions_propagate(bit):
    with pytest.raises((Loud, AttributeError)):
        resolve_lookup(Thing(), bit)


@pytest.mark.parametrize("bit", ["__class__", "_private", "__init__", ""])
def test_underscore_lookups_are_never_resolved(bit):
    assert resolve_lookup(Thing(), bit) is MISSING


def test_missing_is_a_falsy_singleton():
    assert not MISSING
    assert type(MISSING)() is MISSING
    assert repr(MISSING) == "MISSING"


class Level(enum.IntEnum):
    LOW = 1


lazy_text = lazy(lambda: "lazy text", str)()
UTC = datetime.UTC
PLUS_TWO = datetime.timezone(datetime.timedelta(hours=2))
JSON_VALUES = [
    None, "s", 3, 2.5, True,
    datetime.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime.datetime(2024, 1, 2, 3, 4, 5, 1000, tzinfo=PLUS_TWO),
    datetime.datetime(2024, 1, 2, 3, 4, 5, 999),
    datetime.date(2024, 2, 29),
    datetime.time(9, 30, 1, 250000),
    datetime.time(9, 30),
    datetime.timedelta(days=2, hours=3, microseconds=7),
    datetime.timedelta(seconds=-1),
    decimal.Decimal("12.50"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    lazy_text,
    Level.LOW,
    Lease.Status.ACTIVE,
    {"nested": [1, (2, 3), {"d": datetime.date(2020, 1, 1)}], 2: "int", None: "x", False: 1},
    [decimal.Decimal("1.5"), uuid.UUID(int=5)],
]


@pytest.mark.parametrize("value", JSON_VALUES, ids=repr)
def test_encode_json_equals_the_django_encoder_round_trip(value):
    assert runtime.encode_json(value) == json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def test_encode_json_writes_str_for_what_the_encoder_refuses():
    unit = Unit(number="4B")
    assert runtime.encode_json(unit) == "Unit 4B"
    assert runtime.encode_json({"unit": unit}) == {"unit": "Unit 4B"}


def test_aware_time_is_refused_like_the_encoder():
    aware = datetime.time(9, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware times") as ours:
        runtime.encode_json(aware)
    with pytest.raises(ValueError) as django:
        json.dumps(aware, cls=DjangoJSONEncoder)
    assert str(ours.value) == str(django.value)


def test_unsupported_dict_keys_are_refused_like_json():
    with pytest.raises(TypeError, match="keys must be"):
        runtime.encode_json({(1, 2): "tuple key"})


def test_encode_python_keeps_values_and_shows_objects():
    when = datetime.datetime(2024, 1, 2, tzinfo=UTC)
    value = {"when": when, "rows": (Unit(number="1"), decimal.Decimal("2")), "lazy": lazy_text}
    encoded = runtime.encode_python(value)
    assert encoded["when"] is when
    assert plain(list(encoded["rows"])) == ["Unit 1", decimal.Decimal("2")]
    assert isinstance(encoded["rows"], tuple)
    assert encoded["rows"][0] == encoded["rows"][0] and str(encoded["rows"][0]) == "Unit 1"
    assert encoded["lazy"] is lazy_text


def test_displayed_renders_as_its_object():
    shown = runtime.Displayed({"__str__": "Ada", "phone": "555"})
    assert str(shown) == "Ada"
    assert Engine().from_string("{{ t }} {{ t.phone }}").render(Context({"t": shown})) == "Ada 555"


def test_rows_answer_both_iteration_and_keys_in_templates():
    rows = runtime.Rows(["a", "b"], {"count": 2})
    rendered = Engine().from_string(
        "{% for r in rows %}{{ r }}{% endfor %} {{ rows.count }} {{ rows.0 }}"
    ).render(Context({"rows": rows}))
    assert rendered == "ab 2 a"
    assert rows == ["a", "b"]


def _loaded(model, rows, *, ordered=True):
    queryset = model.objects.all() if ordered else model.objects.order_by()
    queryset._result_cache = list(rows)
    queryset._prefetch_done = True
    return queryset


def test_first_and_last_of_loaded_rows():
    # No django_db mark: any query would raise, so this also proves none runs.
    rows = [Amenity(id=3, name="b"), Amenity(id=1, name="c"), Amenity(id=2, name="a")]
    ordered = _loaded(Amenity, rows)
    assert ordered.ordered
    assert runtime.pick_first(ordered) is rows[0]
    assert runtime.pick_last(ordered) is rows[-1]
    unordered = _loaded(Amenity, rows, ordered=False)
    assert not unordered.ordered
    assert runtime.pick_first(unordered).pk == 1
    assert runtime.pick_last(unordered).pk == 3
    assert runtime.pick_first(_loaded(Amenity, [])) is None
    assert runtime.pick_last(_loaded(Amenity, [])) is None


def test_call_like_template_rules():
    assert runtime.call_like_template(Thing().hello) == "hi"
    assert runtime.call_like_template(Thing().needs) is MISSING
    assert runtime.call_like_template(Thing().delete) is MISSING
    assert runtime.call_like_template(len) is MISSING


_UTC = datetime.UTC


@pytest.mark.parametrize("value", [
    datetime.datetime(2024, 5, 1, 9, 31, 5, 258113, tzinfo=_UTC),
    datetime.datetime(2024, 5, 1, 9, 31, 5, tzinfo=_UTC),
    datetime.datetime(5, 5, 1, 9, 31, 5, 7, tzinfo=_UTC),
    datetime.datetime(2024, 5, 1, 9, 31, 5, 1),
    datetime.datetime(2024, 5, 1, 9, 31, 5),
    # Not UTC, but written with a +00:00 offset: DjangoJSONEncoder writes Z too.
    datetime.datetime(2024, 1, 1, 9, 31, 5, 500,
                      tzinfo=datetime.timezone(datetime.timedelta(0), "GMT")),
    datetime.datetime(2024, 7, 1, 9, 31, 5, 500,
                      tzinfo=datetime.timezone(datetime.timedelta(hours=5, seconds=30))),
    datetime.datetime(2024, 7, 1, 9, 31, 5,
                      tzinfo=datetime.timezone(datetime.timedelta(seconds=30))),
    datetime.datetime(2024, 7, 1, 9, 31, 5, 7,
                      tzinfo=datetime.timezone(datetime.timedelta(microseconds=30))),
    datetime.datetime(2024, 7, 1, 9, 31, 5, 7,
                      tzinfo=datetime.timezone(-datetime.timedelta(hours=3, minutes=30))),
])
def test_datetime_rule_is_django_json_encoders(value):
    assert runtime.encode_datetime(value) == DjangoJSONEncoder().default(value)


class Stamp(datetime.datetime):
    def isoformat(self, sep="T", timespec="auto"):
        return "stamp " + super().isoformat(sep, timespec)


@pytest.mark.parametrize("microsecond", [0, 7, 258113])
def test_datetime_subclass_keeps_its_own_isoformat(microsecond):
    value = Stamp(2024, 5, 1, 9, 31, 5, microsecond, tzinfo=_UTC)
    assert runtime.encode_datetime(value) == DjangoJSONEncoder().default(value)
    assert runtime.encode_datetime(value).startswith("stamp ")


@given(st.datetimes(timezones=st.sampled_from([_UTC, None])))
def test_any_utc_or_naive_datetime_is_written_as_django_writes_it(value):
    assert runtime.encode_datetime(value) == DjangoJSONEncoder().default(value)
