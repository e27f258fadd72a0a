"""Render parity in the idioms real templates use (issue #17's classes).

Each template renders three ways: by Django with the live objects (the
oracle), through a LiveView page (``LiveView.render_page``: extraction,
serialization of the context, render), and — where the context holds model
instances only — from ``compile_serializer(..., mode="python")`` output.
The HTML must be the same, or the same exception type must be raised.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.template import engines
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from djust.compiler import compile_serializer, extract_template_variables
from djust.live import LiveView
from tests.testapp.models import Depot, Gadget, Label

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    north, south = Depot.objects.create(code="N"), Depot.objects.create(code="S")
    red, blue = Label.objects.create(name="red"), Label.objects.create(name="blue")
    a = Gadget.objects.create(name="anvil", kind="saw", depot=north, manual="manuals/a.pdf",
                              data={"title": "Anvil", "n": [1, 2, 3], "x": None})
    b = Gadget.objects.create(name="bolt", data=[1, 2, 3])
    c = Gadget.objects.create(name="crank", kind="drill", depot=south, parent=a,
                              data={"title": "Crank"})
    d = Gadget.objects.create(name="dial", depot=north, parent=a)
    # Same content as ``a``, another row: never equal to it.
    twin = Gadget.objects.create(name="anvil", kind="saw", depot=north,
                                 manual="manuals/a.pdf", data=a.data)
    a.labels.add(red)
    c.labels.add(red, blue)
    return {"a": a, "b": b, "c": c, "d": d, "twin": twin, "north": north, "red": red}


def context_of(world) -> dict:
    """A fresh context: the live values a view would hold."""
    def fresh(gadget):
        return Gadget.objects.get(pk=gadget.pk)

    return {
        "gs": Gadget.objects.all(),
        "picked": [fresh(world["a"]), fresh(world["c"])],
        "selected": fresh(world["a"]),
        "bare": fresh(world["b"]),
        "twin": fresh(world["twin"]),
        "depot": Depot.objects.get(pk=world["north"].pk),
        "label": Label.objects.get(pk=world["red"].pk),
        "rows": Gadget.objects.values_list("name", "kind"),
        "drows": Gadget.objects.values("name", "kind"),
    }


def live_render(source: str, context: dict) -> str:
    return engines["django"].from_string(source).render(context)


def page_render(source: str, context: dict) -> str:
    view = type("IdiomPage", (LiveView,), {"template": source})()
    for name, value in context.items():
        setattr(view, name, value)
    page, _ = view.render_page(RequestFactory().get("/"))
    return page


def serializer_render(source: str, context: dict) -> str:
    extraction = extract_template_variables(source)
    serialized = {}
    for name, paths in extraction.items():
        value = context[name]
        serialized[name] = compile_serializer(type(value), list(paths), mode="python")(value)
    return live_render(source, serialized)


def outcome(render, source: str, context: dict):
    try:
        return "html", render(source, context)
    except Exception as error:  # the exception type is what must match
        return "raised", type(error).__name__


def assert_same(world, source: str, *, instances_only: bool = False) -> None:
    expected = outcome(live_render, source, context_of(world))
    assert outcome(page_render, source, context_of(world)) == expected, source
    if instances_only:
        assert outcome(serializer_render, source, context_of(world)) == expected, source


IDENTITY = [
    "{% for g in gs %}{% if g == selected %}*{% endif %}{% if g != selected %}-{% endif %}"
    "{% if g.depot == depot %}D{% endif %}{% if g in picked %}P{% endif %}"
    "{% if g not in picked %}N{% endif %}{% if label in g.labels.all %}L{% endif %}"
    "{% if g.parent == selected %}C{% endif %}{{ g.name }};{% endfor %}",
    "{% for g in gs %}{% ifchanged g.depot %}[{{ g.depot }}]{% endifchanged %}{{ g.name }}"
    "{% endfor %}",
]
INSTANCE_IDENTITY = [
    "{% if selected == twin %}same{% else %}differ{% endif %}"
    "{% if selected.depot == twin.depot %} depot{% endif %}",
    "{% for c in selected.children.all %}{% if c.parent == selected %}{{ c.name }}"
    "{% endif %}{% endfor %}",
]
UNPACKING = [
    "{% for k, v in selected.data.items %}{{ k }}={{ v }};{% endfor %}",
    "{% for a, b in selected.pairs %}{{ a }}:{{ b }};{% endfor %}",
    "{% for value, label in selected.KIND_CHOICES %}{{ value }}|{% endfor %}",
    "{% for k, v in selected.info.items %}{{ k }}={{ v }};{% endfor %}{{ selected.info.name }}",
    "{% for pair in selected.pairs %}{{ pair }}{% endfor %}{{ selected.pairs }}",
    "{{ selected.info }}|{{ selected.info|length }}|{{ selected.info.kind }}",
]
UNPACKING_ROWS = [
    "{% for n, k in rows %}{{ n }}/{{ k }};{% endfor %}",
    "{% for r in drows %}{% for k, v in r.items %}{{ k }}={{ v }},{% endfor %};{% endfor %}",
]
LAZINESS = [
    "{% for g in gs %}{% if g.manual %}<a href='{{ g.manual.url }}'>{% endif %}"
    "{% if g.depot %}{{ g.depot_code }}{% endif %}{% if g.name or g.loud %}ok{% endif %}"
    "{% if False %}{{ g.loud }}{{ g.depot_code }}{% endif %}[{{ g.quiet }}];{% endfor %}",
    "{% for g in gs %}{{ g.name }}{{ g.loud }}{% endfor %}",
    "{% for g in gs %}{{ g.depot_code }}{% endfor %}",
    "{% for g in gs %}{{ g.manual.url }}{% endfor %}",
]
INSTANCE_LAZINESS = [
    "{{ bare.name }}{% if bare.depot %}{{ bare.depot_code }}{% endif %}",
    "{{ bare.depot_code }}",
    "{{ selected.quiet|default:'hidden' }}",
    "{% if bare.manual %}{{ bare.manual.url }}{% else %}no manual{% endif %}",
]
SURFACE = [
    "{{ selected.items }}|{{ selected.keys }}|{{ selected.values }}|"
    "{% for k in selected.keys %}{{ k }}{% endfor %}|{{ selected.clear }}|{{ selected.name }}",
    "{{ selected.depot.items }}|{{ selected.depot.code }}",
]
COLLECTION_SURFACE = [
    "{{ picked.count }}|{{ picked.first }}|{{ picked.last }}|{{ picked.exists }}|"
    "{{ gs.count }}|{{ gs.first }}|{{ gs.last }}|{{ gs.exists }}",
    "{{ gs.pop }}|{{ gs.clear }}|{% for g in gs %}{{ g.name }}{% endfor %}",
]
QUERYSET_LOOKUPS = [
    "{% for g in gs.all %}{{ g.name }}{% endfor %}|{% for g in gs.reverse %}{{ g.name }}"
    "{% endfor %}|{{ gs.all.count }}|{{ gs.all|length }}|{{ gs.ordered }}",
    "{{ gs.reverse|length }}{% for g in gs %}{{ g.name }}{% endfor %}",
]
DISPLAY = [
    "{{ gs }}|{{ picked }}",
    "{{ selected.children.all }}|{{ selected.data|length }}|{{ selected.data.title }}",
    "{{ bare.data|length }}|{{ bare.data.title }}|{{ bare.data }}|{{ bare.data.1 }}",
]


# Idioms everyday templates use, none of them a class of the issue by itself.
EVERYDAY = [
    "{% for g in gs|dictsort:'name' %}{{ g.name }}{% endfor %}",
    "{% for g in gs|dictsortreversed:'kind' %}{{ g.name }}{% endfor %}",
    "{{ gs|join:', ' }}|{{ picked|join:'/' }}",
    "{% regroup gs by depot as groups %}{% for grp in groups %}[{{ grp.grouper }}:"
    "{% for x in grp.list %}{{ x.name }}{% endfor %}]{% endfor %}",
    "{% for g in gs %}{% firstof g.depot g.name %}{% cycle 'a' 'b' %}{{ forloop.counter }}"
    "{% endfor %}",
    "{% for g in gs %}{% if g.depot.code == 'N' %}n{% elif g.depot %}s{% else %}-{% endif %}"
    "{% endfor %}",
    "{% for g in gs %}{{ g.pk }}{{ g.id }}{{ g.depot_id }}{% if g.depot_id == depot.pk %}!"
    "{% endif %}{% endfor %}",
    "{% with first=gs.0 %}{{ first.name }}{{ first }}{% endwith %}{{ gs.1.name }}",
    "{{ gs|first }}|{{ gs|last }}|{{ gs|length }}|{{ gs|length_is:5 }}|{{ picked|first }}",
    "{% if gs %}yes{% endif %}{% if not picked %}no{% endif %}",
    "{% for g in gs %}{{ g.get_kind_display }}{{ g.kind|upper }}{% endfor %}",
    "{% for g in gs %}{{ g.labels.all|join:',' }}|{{ g.labels.count }}|"
    "{% for l in g.labels.all %}{{ l }}{% empty %}none{% endfor %};{% endfor %}",
    "{% for g in gs %}{{ g.children.all|length }}{% for c in g.children.all %}{{ c.name }}"
    "{{ c.parent.name }}{% endfor %}{% endfor %}",
    "{% for g in gs %}{{ g.data.title|default:'?' }}{{ g.data|length }}{% endfor %}",
    "{% for g in gs %}{{ g|stringformat:'s' }}{{ g.depot|default:'none' }}{% endfor %}",
    "{% for g in gs %}{% if g.parent %}{{ g.parent }} {{ g.parent.depot.code }}{% endif %}"
    "{% endfor %}",
    "{% for g in gs %}{% if g in selected.children.all %}C{% endif %}{% endfor %}",
    "{{ selected.children.all.0.name }}{{ selected.children.first.name }}"
    "{{ selected.children.count }}",
    "{% for g in gs %}{{ g.name|slice:':2' }}{{ g.manual }}{{ g.manual.name }}{% endfor %}",
    "{% for g in gs reversed %}{{ g.name }}{% endfor %}",
    "{% for g in picked %}{{ g.name }}{% if g == selected %}*{% endif %}{% endfor %}"
    "{{ picked.0.depot }}",
    "{{ selected.labels.all }}|{{ selected.depot }}|{{ selected }}",
    "{% for g in gs %}{% ifchanged %}{{ g.depot }}{% endifchanged %}{% endfor %}",
    "{% for g in gs %}{% if g.depot and g.depot.code %}{{ g.depot.code }}{% endif %}{% endfor %}",
    "{% for g in gs %}{{ g.data.n.1|default:'' }}{{ g.data.0 }}{% endfor %}",
]


@pytest.mark.parametrize("source", EVERYDAY)
def test_everyday_idioms_render_as_django(world, source):
    assert_same(world, source)


@pytest.mark.parametrize("source", IDENTITY + UNPACKING_ROWS + LAZINESS + COLLECTION_SURFACE
                         + QUERYSET_LOOKUPS + DISPLAY[:1])
def test_liveview_page_renders_as_django(world, source):
    assert_same(world, source)


@pytest.mark.parametrize("source", INSTANCE_IDENTITY + UNPACKING + INSTANCE_LAZINESS + SURFACE
                         + DISPLAY[1:])
def test_page_and_python_mode_render_as_django(world, source):
    assert_same(world, source, instances_only=True)


def test_two_rows_with_the_same_content_are_not_equal(world):
    serializer = compile_serializer(Gadget, ["name", "kind", "data"], mode="python")
    first, twin = serializer(world["a"]), serializer(world["twin"])
    assert first != twin and first == world["a"] and twin == world["twin"]
    assert world["a"] == first and hash(first) == hash(world["a"])
    assert first in [world["c"], world["a"]] and twin not in [world["a"]]


def test_many_never_raises_for_rows_django_renders(world):
    paths = ["name", "loud", "depot_code", "manual", "manual.url", "quiet"]
    rows = compile_serializer(Gadget, paths, mode="python").many(Gadget.objects.all())
    assert [row["name"] for row in rows] == sorted(g.name for g in Gadget.objects.all())
    for row in rows:
        with pytest.raises(ValueError):
            row.loud
    as_json = compile_serializer(Gadget, paths, mode="json").many(Gadget.objects.all())
    assert all("loud" not in row and "quiet" not in row for row in as_json)


def test_reading_a_derived_queryset_does_not_touch_the_rows(world):
    source = "{{ gs.reverse|length }}{% for g in gs %}{{ g.name }}{% endfor %}"
    with CaptureQueriesContext(connection) as live_queries:
        expected = live_render(source, context_of(world))
    with CaptureQueriesContext(connection) as page_queries:
        assert page_render(source, context_of(world)) == expected
    assert len(page_queries) <= len(live_queries)


@pytest.mark.parametrize("source", [
    "{% include inc %}",
    "{% include inc with extra='x' %}{{ selected.name }}",
    "{% if selected %}{% include inc %}{% endif %}",
])
def test_names_read_only_through_a_dynamic_include_reach_the_page(world, source):
    def context():
        return {**context_of(world), "inc": "idioms/headline.html", "headline": "Hello"}

    page = page_render(source, context())
    assert "<h1>Hello</h1>" in page and "anvil" in page
    assert page == live_render(source, context())


@pytest.mark.parametrize("source", [
    "{% if False %}{{ gs.get }}{% endif %}ok",
    "{{ gs.get }}",
    "{% if gs %}{{ gs.first.name }}{% endif %}{% if False %}{{ gs.get.name }}{% endif %}",
])
def test_a_queryset_lookup_that_raises_raises_only_where_read(world, source):
    assert_same(world, source)


@pytest.mark.parametrize("source", [
    "{{ gs.shown }}|{{ gs.lookups }}|{{ gs.raised }}|{{ gs.count }}",
    "{{ selected.info.text }}|{{ selected.info }}",
    "{{ selected.children.all.extras }}|{{ selected.children.all.count }}"
    "{% for c in selected.children.all %}{{ c.name }}{% endfor %}",
    "{{ selected.pairs.text }}{{ selected.pairs.0 }}{{ selected.pairs }}",
])
def test_the_containers_own_state_is_not_a_lookup(world, source):
    assert_same(world, source)


def test_values_rows_never_show_a_sensitive_column_on_the_page(world):
    from django.contrib.auth.models import User

    User.objects.create_user("ann", password="secret-pass")
    source = ("{% for u in users %}{{ u.username }}:{{ u.password }};{% endfor %}"
              "{% for n, p in pairs %}{{ n }}/{{ p }};{% endfor %}"
              "{% for r in named %}{{ r.username }}{{ r.password }};{% endfor %}")
    page = page_render(source, {
        "users": User.objects.values("username", "password"),
        "pairs": User.objects.values_list("username", "password"),
        "named": User.objects.values_list("username", "password", named=True)})
    assert "ann:;" in page and "ann/None;" in page and "annNone;" in page
    assert "pbkdf2" not in page and "secret" not in page
