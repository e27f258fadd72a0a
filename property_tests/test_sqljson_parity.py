"""JSON built by the database says what the Python path says.

For generated worlds of the fuzz schema (every field type, aware and naive
datetimes in several time zones, decimals of several shapes, any finite
float, JSON documents) and path sets drawn from what the database can
express (columns, choices displays, forward steps, to-many rows, counts and
``exists``, up to three levels deep, below nullable forward steps too),
over querysets filtered, sliced, reordered or matching nothing,
``sqljson.json_text`` after ``json.loads`` must equal
``json.loads(json.dumps(serializer.many(queryset), cls=DjangoJSONEncoder))``
with the same JSON types (``1`` is not ``1.0``, ``true`` is not ``1``), on
SQLite and on PostgreSQL (``DJUST_TEST_DB=postgres``).
"""

from __future__ import annotations

import datetime
import decimal
import functools
import json
import warnings

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from hypothesis import assume, given
from hypothesis import strategies as st

from djust.compiler import sqljson
from djust.compiler.nodes import Kind
from djust.compiler.tree import build_access_tree
from property_tests import strategies as S
from property_tests.fuzzapp import models as fz
from property_tests.rendering import world_of
from property_tests.test_json_parity import compile_quietly
from tests.test_sqljson import strict

ROOTS = ("Item", "Owner", "Comment", "Tag", "Group", "Membership", "SpecialItem")


def _tree(model, paths):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_access_tree(model, paths)


def _user_model():
    from django.contrib.auth import get_user_model

    return get_user_model()


def _model(name):
    return S.MODELS.get(name) or _user_model()


def _expressed(model: str, path: str) -> bool:
    tree = _tree(_model(model), [path])
    return (sqljson.tree_refusal(tree) is None
            and tree.children[0].kind is not Kind.SENSITIVE)


@functools.cache
def leaves(model: str) -> tuple[str, ...]:
    return tuple(leaf for leaf in S.GRAMMAR[model].leaves if _expressed(model, leaf))


@functools.cache
def objects(model: str) -> tuple[tuple[str, str], ...]:
    return tuple((name, target) for name, target in S.GRAMMAR[model].objects
                 if leaves(target) and _expressed(model, f"{name}.{leaves(target)[0]}"))


@functools.cache
def managers(model: str) -> tuple[tuple[str, str], ...]:
    return tuple((name, target) for name, target in S.GRAMMAR[model].managers
                 if leaves(target) and _expressed(model, f"{name}.count"))


@st.composite
def expressed_path(draw, model: str, depth: int = 2) -> str:
    shapes = ["leaf", "leaf"] + ["object"] * bool(depth and objects(model))
    shapes += ["rows", "count", "exists"] * bool(depth and managers(model))
    shape = draw(st.sampled_from(shapes))
    if shape == "leaf":
        return draw(st.sampled_from(leaves(model)))
    if shape == "object":
        name, target = draw(st.sampled_from(objects(model)))
        return f"{name}.{draw(expressed_path(target, depth - 1))}"
    name, target = draw(st.sampled_from(managers(model)))
    if shape in ("count", "exists"):
        return f"{name}.{shape}"
    return f"{name}.all.*.{draw(expressed_path(target, depth - 1))}"


@pytest.fixture(scope="module")
def grammar():
    """The expressed grammar, worked out before Hypothesis draws from it."""
    return {model: (leaves(model), objects(model), managers(model)) for model in S.GRAMMAR}


def assert_parity(model, paths, queryset) -> None:
    serializer = compile_quietly(model, paths, "json")
    assume(sqljson.refusal(serializer) is None)
    assert sqljson.queryset_refusal(serializer, queryset) is None
    expected = json.loads(json.dumps(serializer.many(queryset), cls=DjangoJSONEncoder))
    text = sqljson.json_text(serializer, queryset)
    if text is not None:
        strict(json.loads(text), expected)
    # None here means the database refused the query (too large for it);
    # the serializer's json() then writes the text through the Python path.
    strict(json.loads(serializer.json(queryset)), expected)
    # The Python path writes json.dumps's own text, byte for byte.
    assert serializer.json(queryset, in_database=False) == json.dumps(
        serializer.many(queryset), cls=DjangoJSONEncoder)


@pytest.mark.django_db
@given(spec=S.worlds(), data=st.data())
def test_sqljson_parity(grammar, spec, data):
    with world_of(spec):
        name = data.draw(st.sampled_from(ROOTS), label="root model")
        depth = data.draw(st.sampled_from([2, 2, 3]), label="depth")
        paths = data.draw(st.lists(expressed_path(name, depth), min_size=1, max_size=6),
                          label="paths")
        model = S.MODELS[name]
        queryset = data.draw(st.sampled_from([
            model.objects.all(), model.objects.order_by("-pk"), model.objects.all()[1:3],
            model.objects.filter(pk__gt=0).order_by("pk")[:2],
            # A query matching no row, and rows read from the end.
            model.objects.filter(pk__lt=0), model.objects.order_by("-pk")[1:],
        ]), label="queryset")
        assert_parity(model, paths, queryset)


# ------------------------------------------------------- widened leaf values

EDGE_FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**53), 2**53).map(float),
    st.sampled_from([0.0, -0.0, 1e15, 1e16, 123456789012345.0, 5e-324, 1.7976931348623157e308,
                     2.2250738585072014e-308, 0.1, 1 / 3]),
)


def edge_decimals(max_digits, places):
    tiny = st.integers(-999, 999).map(lambda n: decimal.Decimal(n).scaleb(-places))
    return st.one_of(S.decimals(max_digits, places), tiny, st.just(decimal.Decimal(0)))


EDGE_TIMES = st.one_of(
    st.times(),
    st.builds(datetime.time, st.integers(0, 23), st.integers(0, 59), st.integers(0, 59),
              st.sampled_from([0, 1, 999, 1000, 500000, 999999])),
)


@st.composite
def edge_items(draw, aware: bool):
    precise = 15 if connection.vendor == "sqlite" else 20
    moment = draw(S.datetimes(aware=aware))
    moment = moment.replace(microsecond=draw(st.sampled_from(
        [0, 1, 999, 1000, 123456, 999999, moment.microsecond])))
    return {
        "ratio": draw(st.one_of(st.none(), EDGE_FLOATS)),
        "price": draw(edge_decimals(12, 2)),
        "precise": draw(st.one_of(st.none(), edge_decimals(precise, 10))),
        "whole": draw(edge_decimals(5, 0)),
        "flag": draw(st.booleans()),
        "maybe": draw(st.one_of(st.none(), st.booleans())),
        "moment": moment,
        "clock": draw(st.one_of(st.none(), EDGE_TIMES)),
        "span": draw(st.one_of(st.none(), st.timedeltas(
            datetime.timedelta(days=-999_999), datetime.timedelta(days=999_999)),
            st.sampled_from([datetime.timedelta(0), datetime.timedelta(microseconds=-1),
                             datetime.timedelta(days=-1, seconds=86399)]))),
        "day": draw(st.one_of(st.none(), st.dates())),
        "data": draw(st.one_of(st.none(), S.json_values())),
        "count": draw(st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1))),
        "big": draw(st.integers(-(2**63), 2**63 - 1)),
    }


EDGE_PATHS = ["ratio", "price", "precise", "whole", "flag", "maybe", "moment", "clock", "span",
              "day", "data", "count", "big", "token", "pk", "get_level_display"]


@pytest.mark.django_db
@given(use_tz=st.booleans(), zone=st.sampled_from(S.ZONES), data=st.data())
def test_sqljson_leaf_edges(use_tz, zone, data):
    spec = S.WorldSpec(use_tz=use_tz, time_zone=zone, owners=(), tags=(), items=())
    with world_of(spec):
        owner = fz.Owner.objects.create(username="o")
        for fields in data.draw(st.lists(edge_items(use_tz), min_size=1, max_size=4),
                                label="items"):
            fz.Item.objects.create(title="t", owner=owner, **fields)
        fz.Owner.objects.create(username="none")
        assert_parity(fz.Item, EDGE_PATHS, fz.Item.objects.all())
        # The same leaves inside a to-many level (PostgreSQL joins it in
        # grouped by owner), beside its count, and an owner with no item.
        assert_parity(fz.Owner, ["username", "items.count",
                                 *(f"items.all.*.{path}" for path in EDGE_PATHS)],
                      fz.Owner.objects.all())
