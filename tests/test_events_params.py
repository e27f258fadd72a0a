"""Event parameters are converted to their annotations or refused (issue #18, item 10)."""

from __future__ import annotations

import json
import re
import typing
from decimal import Decimal
from typing import Any, Optional

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import path

from djust import LiveView, event_handler

pytestmark = pytest.mark.django_db

CALLS: list[tuple[str, dict]] = []


class Params(LiveView):
    template = "<main dj-root>{{ seen }}</main>"

    def mount(self, request):
        self.seen = ""

    def _record(self, name, **params):
        CALLS.append((name, params))
        self.seen = name

    @event_handler
    def scalars(self, s: str = "", i: int = 0, f: float = 0.0, b: bool = False,
                d: Decimal = Decimal(0)):
        self._record("scalars", s=s, i=i, f=f, b=b, d=d)

    @event_handler
    def optional(self, n: int | None = 0, m: Optional[float] = 0.0,  # noqa: UP045
                 t: typing.Union[str, None] = ""):  # noqa: UP007
        self._record("optional", n=n, m=m, t=t)

    @event_handler
    def sequences(self, ids: list[int] = (), names: tuple[str, ...] = (),
                  pair: tuple[int, bool] = (0, False), nested: list[list[Decimal]] = (),
                  maybe: list[int | None] = ()):
        self._record("sequences", ids=ids, names=names, pair=pair, nested=nested, maybe=maybe)

    @event_handler
    def anything(self, raw, value: Any = None):
        self._record("anything", raw=raw, value=value)

    @event_handler
    def extra(self, first: int, **rest: bool):
        self._record("extra", first=first, rest=rest)


urlpatterns = [path("params/", Params.as_view())]


@pytest.fixture
def page():
    CALLS.clear()
    client = Client(enforce_csrf_checks=True)
    content = client.get("/params/").content.decode()
    view_id = re.search(r'data-djust-id="([^"]+)"', content).group(1)
    token = re.search(r'data-djust-csrf="([^"]+)"', content).group(1)

    def post(event, params=None, *, body=None):
        if body is None:
            body = json.dumps({"id": view_id, "event": event, "params": params or {}})
        return client.post("/params/", data=body, content_type="application/json",
                           headers={"X-CSRFToken": token})

    post.view_id = view_id
    return post


def _called(post, event, params):
    response = post(event, params)
    assert response.status_code == 200, response.content
    assert CALLS[-1][0] == event
    return CALLS[-1][1]


def _refused(post, event, params=None, *, body=None, message=""):
    before = len(CALLS)
    response = post(event, params, body=body)
    assert response.status_code == 400, response.content
    assert message in response.content.decode()
    assert len(CALLS) == before  # the handler never ran
    return response


@pytest.mark.urls(__name__)
def test_scalars_are_converted(page):
    got = _called(page, "scalars", {"s": "x", "i": "-12", "f": "2.5", "b": "on", "d": "1.10"})
    assert got == {"s": "x", "i": -12, "f": 2.5, "b": True, "d": Decimal("1.10")}
    assert type(got["i"]) is int and type(got["d"]) is Decimal
    got = _called(page, "scalars", {"i": 7, "f": 3, "b": False, "d": 0.5})
    assert (got["i"], got["f"], got["b"], got["d"]) == (7, 3.0, False, Decimal("0.5"))
    assert type(got["f"]) is float


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(("params", "message"), [
    ({"s": 3}, "'s' must be a string"),
    ({"i": "3.5"}, "'i' must be int"),
    ({"i": "3_000"}, "'i' must be int"),
    ({"i": True}, "'i' must be int"),
    ({"i": 2.0}, "'i' must be int"),
    ({"i": {"$gt": ""}}, "'i' must be int"),
    ({"f": "nan"}, "'f' must be a finite float"),
    ({"f": "-Infinity"}, "'f' must be a finite float"),
    ({"f": [1]}, "'f' must be a finite float"),
    ({"b": "maybe"}, "'b' must be bool"),
    ({"b": {}}, "'b' must be bool"),
    ({"d": "NaN"}, "'d' must be a finite Decimal"),
    ({"d": "Infinity"}, "'d' must be a finite Decimal"),
    ({"d": True}, "'d' must be a finite Decimal"),
])
def test_scalars_refuse_what_they_cannot_be(page, params, message):
    _refused(page, "scalars", params, message=message)


@pytest.mark.urls(__name__)
def test_optional_accepts_null_only_as_none(page):
    got = _called(page, "optional", {"n": None, "m": None, "t": None})
    assert got == {"n": None, "m": None, "t": None}
    got = _called(page, "optional", {"n": "4", "m": "0.25", "t": "x"})
    assert got == {"n": 4, "m": 0.25, "t": "x"}


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("params", [
    {"n": {"$gt": ""}}, {"n": ""}, {"n": "null"}, {"n": [1]}, {"m": "inf"}, {"t": 5},
])
def test_optional_refuses_anything_else(page, params):
    _refused(page, "optional", params, message="must be")


@pytest.mark.urls(__name__)
def test_sequences_are_converted_item_by_item(page):
    got = _called(page, "sequences", {
        "ids": ["1", 2], "names": ["a", "b"], "pair": ["3", "yes"],
        "nested": [["1.5"], [], [2]], "maybe": [None, "5"],
    })
    assert got == {"ids": [1, 2], "names": ("a", "b"), "pair": (3, True),
                   "nested": [[Decimal("1.5")], [], [Decimal(2)]], "maybe": [None, 5]}


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(("params", "message"), [
    ({"ids": "1,2"}, "'ids' must be a JSON array"),
    ({"ids": {"0": 1}}, "'ids' must be a JSON array"),
    ({"ids": [1, {"$gt": ""}]}, "'ids[1]' must be int"),
    ({"names": [1]}, "'names[0]' must be a string"),
    ({"pair": [1]}, "'pair' must be a JSON array of 2 items"),
    ({"nested": [["NaN"]]}, "'nested[0][0]' must be a finite Decimal"),
    ({"maybe": ["x"]}, "'maybe[0]' must be int"),
])
def test_sequences_refuse_bad_items(page, params, message):
    _refused(page, "sequences", params, message=message)


@pytest.mark.urls(__name__)
def test_any_and_unannotated_pass_json_values_through(page):
    got = _called(page, "anything", {"raw": {"$gt": ""}, "value": [1, None, "x"]})
    assert got == {"raw": {"$gt": ""}, "value": [1, None, "x"]}


@pytest.mark.urls(__name__)
def test_var_keyword_parameters_follow_their_annotation(page):
    got = _called(page, "extra", {"first": "1", "flag": "yes"})
    assert got == {"first": 1, "rest": {"flag": True}}
    _refused(page, "extra", {"first": "1", "flag": {"$ne": 1}}, message="'flag' must be bool")


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400"])
def test_non_finite_numbers_are_refused_anywhere(page, constant):
    body = f'{{"id": "{page.view_id}", "event": "anything", "params": {{"raw": {constant}}}}}'
    _refused(page, "anything", body=body, message="not JSON")


@pytest.mark.urls(__name__)
def test_deeply_nested_json_is_a_400(page):
    deep = "[" * 10_000 + "]" * 10_000
    body = f'{{"id": "{page.view_id}", "event": "anything", "params": {{"raw": {deep}}}}}'
    _refused(page, "anything", body=body, message="nested too deeply")
    deep_objects = '{"a": ' * 10_000 + "1" + "}" * 10_000
    body = f'{{"id": "{page.view_id}", "event": "anything", "params": {{"raw": {deep_objects}}}}}'
    _refused(page, "anything", body=body, message="nested too deeply")


@pytest.mark.urls(__name__)
def test_an_integer_too_long_to_read_is_a_400(page):
    body = f'{{"id": "{page.view_id}", "event": "anything", "params": {{"raw": {"9" * 5000}}}}}'
    _refused(page, "anything", body=body, message="not JSON")
    _refused(page, "scalars", {"i": "9" * 5000}, message="'i' must be int")


class Custom:
    pass


@pytest.mark.parametrize(("annotation", "shown"), [
    (dict[str, int], "dict[str, int]"),
    (Custom, "Custom"),
    (int | str, "int | str"),
    (list, "list"),
    (set[int], "set[int]"),
    (list[dict], "dict"),
    (typing.Literal["a"], "Literal"),
])
def test_unsupported_annotations_fail_when_the_class_is_defined(annotation, shown):
    def handler(self, count: int, bad=None):
        pass

    handler.__annotations__ = {"count": int, "bad": annotation}
    with pytest.raises(ImproperlyConfigured) as raised:
        type("BadView", (LiveView,), {"template": "<main dj-root></main>",
                                      "pick": event_handler(handler)})
    message = str(raised.value)
    assert "BadView.pick" in message and "'bad'" in message and shown in message


def test_an_inherited_handler_is_checked_in_every_subclass():
    class Base(LiveView):
        template = "<main dj-root></main>"

        @event_handler
        def pick(self, n: int):
            pass

    class Child(Base):
        pass

    assert set(Child._djust_handlers) == {"pick"}


def test_methods_that_are_not_handlers_are_not_checked():
    class Fine(LiveView):
        template = "<main dj-root></main>"

        def helper(self, data: dict[str, int]):
            pass

    assert Fine._djust_handlers == {}


def test_static_and_class_method_handlers_keep_their_first_parameter():
    class Methods(LiveView):
        template = "<main dj-root></main>"

        @staticmethod
        @event_handler
        def static(n: int):
            pass

        @classmethod
        @event_handler
        def klass(cls, flag: bool):
            pass

    assert set(Methods._djust_handlers["static"]) == {"n"}
    assert set(Methods._djust_handlers["klass"]) == {"flag"}
