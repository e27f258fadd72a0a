"""Generated serializers follow the template engine where a plain value
would not: the truth of a displayed row whose text is empty, and a
``VariableDoesNotExist`` raised inside a property or method."""

from __future__ import annotations

import json
import pickle
import warnings

import pytest
from django.template import Context, Engine
from django.template.base import VariableDoesNotExist

from djust.compiler import runtime
from djust.compiler.modes import plain
from djust.compiler.serializer import compile_tree
from djust.compiler.tree import build_access_tree
from examples.rentals.models import Property, Unit
from property_tests.fuzzapp.models import Item, Owner, Tag

INVALID = "INVALID"
ENGINE = Engine(string_if_invalid=INVALID)


def render(source: str, **context) -> str:
    return ENGINE.from_string(source).render(Context(context))


def serializer_for(model, paths, mode):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        tree = build_access_tree(model, paths)
    return compile_tree(model, tree, tuple(sorted(paths)), mode)


# -- TruthyText ------------------------------------------------------------


def test_truthy_text_is_true_and_otherwise_the_plain_string():
    text = runtime.TruthyText("")
    assert text and text == "" and len(text) == 0 and hash(text) == hash("")
    assert render("[{{ t }}]{% if t %}yes{% endif %}{{ t|default:'d' }}", t=text) == "[]yes"
    assert json.dumps(text) == '""'
    copy = pickle.loads(pickle.dumps(text))
    assert type(copy) is runtime.TruthyText and copy


def test_display_text_keeps_the_truth_of_the_object():
    class Blank:
        def __str__(self):
            return ""

    class EmptyBox:
        def __len__(self):
            return 0

        def __str__(self):
            return ""

    assert type(runtime.display_text(Blank())) is runtime.TruthyText
    assert type(runtime.display_text(EmptyBox())) is str  # falsy object: plain ""
    assert type(runtime.display_text(7)) is str
    assert runtime.encode_python([Blank()])[0] == "" and runtime.encode_python([Blank()])[0]


@pytest.fixture
def blank_rows(db):
    owner = Owner.objects.create(username="")
    item = Item.objects.create(title="Lamp", owner=owner, reviewer=owner)
    item.tags.add(Tag.objects.create(name=""))
    return Item.objects.get(pk=item.pk)


SOURCES = (
    "{% if item.reviewer %}reviewed{% endif %}",
    "{% if item.tags.first %}first{% endif %}",
    "{% for t in item.tags.all %}{% if t %}[{{ t }}]{% endif %}{% endfor %}",
    "{% if item.tags.all.0 %}indexed{% endif %}",
    "{% if item.owner|default:'' %}owned{% endif %}",
)


@pytest.mark.parametrize("source", SOURCES)
def test_rows_whose_text_is_empty_stay_true_in_python_mode(blank_rows, source):
    from djust.compiler import extract_template_variables

    paths = extract_template_variables(source)["item"]
    serialized = serializer_for(Item, paths, "python")(blank_rows)
    live = render(source, item=blank_rows)
    assert live.strip(), "the live rows are true: the source must show something"
    assert render(source, item=serialized) == live


def test_json_mode_keeps_the_plain_empty_string(blank_rows):
    serialized = serializer_for(Item, ["reviewer", "tags.all.*", "tags.first"], "json")(
        blank_rows)
    assert type(serialized["reviewer"]) is str and serialized["reviewer"] == ""
    assert [type(t) for t in serialized["tags"]["all"]] == [str]
    assert json.loads(json.dumps(serialized)) == serialized


# -- VariableDoesNotExist ----------------------------------------------------


def _raise_missing(self, *args):
    raise VariableDoesNotExist("Failed lookup for key [%s]", ("gone",))


@pytest.fixture
def vanishing(monkeypatch):
    """Unit gains a property and a method that raise VariableDoesNotExist
    (as code that renders a sub-template or resolves a Variable may)."""
    monkeypatch.setattr(Unit, "vanishing", property(_raise_missing), raising=False)
    monkeypatch.setattr(Unit, "vanishing_method", _raise_missing, raising=False)
    return Unit(number="4B", bedrooms=2, property=Property(name="Elm"))


@pytest.mark.parametrize("mode", ["json", "python"])
def test_variable_does_not_exist_inside_a_property_or_method_is_a_failed_lookup(
        vanishing, mode):
    paths = ["number", "vanishing", "vanishing.upper", "vanishing_method"]
    serializer = serializer_for(Unit, paths, mode)
    assert {node.kind.value for node in serializer.tree.children} == {
        "field", "property", "method"}
    serialized = serializer(vanishing)
    assert plain(serialized) == {"number": "4B"}
    source = ("{{ u.number }}|{{ u.vanishing }}|{{ u.vanishing.upper }}|"
              "{{ u.vanishing_method }}|{% if u.vanishing %}shown{% endif %}|"
              "{% for c in u.vanishing_method %}{{ c }}{% endfor %}")
    live = render(source, u=vanishing)
    assert live == f"4B|{INVALID}|{INVALID}|{INVALID}||"
    assert render(source, u=serialized) == live


def test_other_errors_inside_a_property_raise_where_the_template_reads_them(monkeypatch):
    def loud(self):
        raise LookupError("a real bug")

    monkeypatch.setattr(Unit, "loud", property(loud), raising=False)
    unit = Unit(number="1")
    row = serializer_for(Unit, ["loud", "number"], "python")(unit)
    for source in ("{{ u.loud }}", "{{ u.number }}{{ u.loud }}"):
        with pytest.raises(LookupError):
            render(source, u=unit)
        with pytest.raises(LookupError):
            render(source, u=row)
    # Behind a guard the template never reaches it: both render.
    guarded = "{% if u.number == '2' %}{{ u.loud }}{% endif %}{{ u.number }}"
    assert render(guarded, u=row) == render(guarded, u=unit) == "1"
    # JSON has no template: the key is left out.
    assert serializer_for(Unit, ["loud", "number"], "json")(unit) == {"number": "1"}


# -- sensitive names reached at run time --------------------------------------


def test_run_time_lookups_refuse_sensitive_names_on_rows(settings):
    owner = Owner(username="ann", email="a@example.com", password="md5$x", ssn="123")
    assert runtime.resolve_lookup(owner, "password") is runtime.MISSING
    assert runtime.resolve_lookup(owner, "ssn") is runtime.MISSING  # djust_sensitive_fields
    assert runtime.resolve_lookup(owner, "email") == "a@example.com"
    settings.DJUST = {"SENSITIVE_FIELDS": ["email"]}
    assert runtime.resolve_lookup(owner, "email") is runtime.MISSING
    assert runtime.resolve_lookup(owner, "password") is runtime.MISSING
    # A mapping has no model: the names refused on every model are refused
    # as its keys (issue #18), a model's own list is not.
    assert runtime.resolve_lookup({"password": "p"}, "password") is runtime.MISSING
    assert runtime.resolve_lookup({"email": "e"}, "email") is runtime.MISSING
    assert runtime.resolve_lookup({"ssn": "1"}, "ssn") == "1"


def test_sensitive_fields_below_a_generic_target_are_never_emitted(db):
    from djust.compiler.sensitive import SensitiveFieldWarning, forget_warnings
    from djust.compiler.serializer import compile_serializer
    from property_tests.fuzzapp.models import Note

    owner = Owner.objects.create(username="ann", password="md5$x", ssn="123")
    Note.objects.create(target=Item.objects.create(title="Lamp", owner=owner), text="n")
    forget_warnings()
    paths = ["target.owner.password", "target.owner.ssn", "target.owner.username"]
    with pytest.warns(SensitiveFieldWarning):
        serializer = compile_serializer(Note, paths)
    (item_level, *_) = serializer.plan.prefetches[0].targets
    assert not {"owner__password", "owner__ssn"} & set(item_level.columns)
    assert serializer.many(Note.objects.all()) == [{"target": {"owner": {"username": "ann"}}}]


# -- values typed only at run time, displayed and read by index -----------------


@pytest.fixture
def listed(db):
    from property_tests.fuzzapp.models import Note

    owner = Owner.objects.create(username="ann")
    item = Item.objects.create(title="Lamp", owner=owner, data=[1, {"a": 2}])
    item.tags.add(Tag.objects.create(name="red"))
    Note.objects.create(target=item, text="n")
    return Item.objects.get(pk=item.pk)


LISTED_SOURCES = (
    "{{ item.data }}|{{ item.data.1.a }}|{{ item.data|length }}",
    "{{ item.data }}|{{ item.data.0 }}|{% if item.data %}y{% endif %}",
    "{{ item.summary.flags }}|{{ item.summary.flags.0 }}",
    "{% for n in item.notes.all %}{{ n.target.tags.all|length }}"
    "{{ n.target.tags.all.0.name }}{% endfor %}",
)


@pytest.mark.parametrize("source", LISTED_SOURCES)
def test_lists_known_only_at_run_time_render_as_the_live_value(listed, source):
    from djust.compiler import extract_template_variables

    paths = extract_template_variables(source)["item"]
    serialized = serializer_for(Item, paths, "python")(listed)
    assert render(source, item=serialized) == render(source, item=listed)


def test_lists_known_only_at_run_time_are_lists_of_their_elements_in_json(listed):
    from property_tests.fuzzapp.models import Note

    serializer = serializer_for(Item, ["data", "data.1.a", "title", "title.0"], "json")
    # A list displayed and read by index is its elements (the element read
    # into also carries its text); a string read by index stays a mapping.
    assert serializer(listed) == {
        "data": [1, {"a": 2, "__str__": "{'a': 2}"}],
        "title": {"0": "L", "__str__": "Lamp"},
    }
    notes = serializer_for(Note, ["target.tags.all", "target.tags.all.0"], "json")
    assert notes(Note.objects.get()) == {"target": {"tags": {"all": ["red"]}}}
