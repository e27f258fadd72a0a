"""The output modes own the leaf rules: every encoder asks them."""

import datetime
import decimal
import json
import uuid

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.functional import lazy

from djust.compiler import modes
from djust.compiler.serializer import check_mode
from djust.context import StateEncoder

LEAVES = [
    datetime.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC),
    datetime.datetime(2024, 1, 2, 3, 4, 5),
    datetime.date(2024, 5, 1),
    datetime.time(9, 30, 0, 123456),
    datetime.timedelta(days=1, seconds=5),
    decimal.Decimal("2.50"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    lazy(lambda: "Active", str)(),
]


@pytest.mark.parametrize("value", LEAVES, ids=lambda value: type(value).__name__)
def test_the_json_leaf_rule_is_django_json_encoders(value):
    assert modes.json_leaf(value) == DjangoJSONEncoder().default(value)
    assert modes.JSON.encode(value) == modes.json_leaf(value)


def test_the_state_encoder_asks_the_json_mode():
    class Shown:
        def __str__(self):
            return "shown"

    state = {"leaves": LEAVES, "other": Shown()}
    written = json.loads(json.dumps(state, cls=StateEncoder))
    assert written == modes.JSON.encode(state)
    assert written["other"] == "shown"


def test_modes_are_named_at_the_boundary():
    assert modes.named("json") is modes.JSON and modes.named(modes.PYTHON) is modes.PYTHON
    assert check_mode("python") == "python"
    for bad in ("xml", None, ["json"]):
        with pytest.raises(ValueError, match="unknown serializer mode"):
            modes.named(bad)


def test_each_mode_says_how_typed_fields_are_written():
    from django.db import models

    assert modes.JSON.field_leaf(models.DateTimeField) == modes.Leaf("helper", "_dt")
    assert modes.JSON.field_leaf(models.CharField) is None
    assert modes.PYTHON.field_leaf(models.DateTimeField) is None
    assert modes.PYTHON.field_leaf(models.JSONField) == modes.ENCODE
