"""JSON parity: compiled serializers say what the independent reference says.

For generated rows and path sets, ``compile_serializer(model, paths)`` must
give, for every row, exactly ``reference_json(row, paths)`` — called row by
row, through ``.many(queryset)`` (the query plan applied) and through
``.many(list)`` (the plan applied to loaded rows). Python mode must give
exactly ``reference_python(row, paths)``: the same structure, the same
values of the same types (a ``str`` where the reference has a ``str``, not
a ``SafeString``), and dicts carrying ``"__str__"`` whose ``str()`` is it;
python mode's rows (docs/serialization.md, "Rows") are compared through the
values they hold (``row_values``) and their ``str()``.
"""

from __future__ import annotations

import warnings

import pytest
from django.test.utils import override_settings
from hypothesis import assume, given
from hypothesis import strategies as st

from djust.compiler.modes import Row, row_values
from property_tests import reference as ref
from property_tests import strategies as S
from property_tests.fuzzapp import models as fz
from property_tests.rendering import render, template_for_path, world_of

ROOT_MODELS = ("Item", "SpecialItem", "Owner", "Comment", "Group", "Membership", "Note")


def compile_quietly(model, paths, mode):
    """Compile, tolerating only the warning djust gives for sensitive reads."""
    from djust.compiler import compile_serializer

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        serializer = compile_serializer(model, paths, mode=mode)
    for warning in caught:
        assert type(warning.category).__name__ and "Sensitive" in warning.category.__name__, (
            f"unexpected warning while compiling {paths}: {warning.message}"
        )
    return serializer


def assert_same_python(got, expected, where="row"):
    """``got`` equals ``expected`` node by node, types and ``str()`` included.

    Plain ``==`` would accept ``Decimal("1.0")`` for ``Decimal("1.00")``,
    ``1`` for ``True`` and a ``SafeString`` for a ``str``, which render
    differently.
    """
    if isinstance(got, Row):
        assert_same_row(got, expected, where)
    elif isinstance(got, list | tuple) and is_index_dict(expected):
        # A run-time value read by index only stays a sequence in python
        # mode (docs/serialization.md): the elements read must match.
        for index, value in expected.items():
            assert_same_python(got[int(index)], value, f"{where}.{index}")
    elif isinstance(expected, dict):
        assert isinstance(got, dict), (where, got, expected)
        assert sorted(got) == sorted(expected), (where, got, expected)
        if ref.DISPLAY_KEY in expected:
            assert str(got) == str(expected), (where, got, expected)
        for key, value in expected.items():
            assert_same_python(got[key], value, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(got, list), (where, got, expected)
        if isinstance(expected, ref.ShownItems):
            assert str(got) == str(expected), (where, got, expected)
        assert len(got) == len(expected), (where, got, expected)
        for position, (mine, theirs) in enumerate(zip(got, expected, strict=True)):
            assert_same_python(mine, theirs, f"{where}.{position}")
    else:
        assert type(got) is type(expected), (where, got, expected)
        assert got == expected and str(got) == str(expected), (where, got, expected)


def is_index_dict(value) -> bool:
    # Empty too: no element the template reads by index exists.
    return type(value) is dict and all(key.isascii() and key.isdigit() for key in value)


def assert_same_row(got, expected, where):
    """A python-mode row (docs/serialization.md, "Rows") holds the values the
    reference has, and displays as the object does."""
    values = row_values(got)
    if isinstance(values, str):
        # Only displayed or compared: the row holds the object's text.
        if isinstance(expected, dict) and set(expected) == {ref.DISPLAY_KEY}:
            expected = expected[ref.DISPLAY_KEY]
        assert values == expected == str(got), (where, got, expected)
        return
    assert isinstance(expected, dict), (where, got, expected)
    assert sorted(values) == sorted(expected), (where, got, expected)
    if ref.DISPLAY_KEY in expected:
        assert str(got) == str(expected), (where, got, expected)
    for key, value in expected.items():
        assert_same_python(values[key], value, f"{where}.{key}")


def assert_parity(model, paths):
    expected = ref.reference_many(model.objects.all(), paths)
    as_json = compile_quietly(model, paths, "json")
    as_python = compile_quietly(model, paths, "python")
    assert [as_json(row) for row in model.objects.all()] == expected
    assert as_json.many(model.objects.all()) == expected
    assert as_json.many(list(model.objects.all())) == expected
    expected_python = ref.reference_many(model.objects.all(), paths, mode="python")
    assert_same_python(as_python.many(model.objects.all()), expected_python)
    assert_same_python(as_python.many(list(model.objects.all())), expected_python)
    assert_same_python([as_python(row) for row in model.objects.all()], expected_python)


@pytest.mark.django_db
@given(spec=S.worlds(), data=st.data())
def test_json_parity(spec, data):
    with world_of(spec):
        name = data.draw(st.sampled_from(ROOT_MODELS), label="root model")
        paths = data.draw(S.paths_for(name), label="paths")
        assume(not S.contains_star_with_named_sibling(paths))
        assert_parity(S.MODELS[name], paths)


@pytest.mark.django_db
@given(spec=S.worlds(max_items=2), data=st.data())
def test_json_parity_with_project_sensitive_fields(spec, data):
    with override_settings(DJUST={"SENSITIVE_FIELDS": ["email", "text"]}), world_of(spec):
        name = data.draw(st.sampled_from(("Item", "Owner", "Comment")), label="root model")
        paths = data.draw(S.paths_for(name), label="paths")
        assume(not S.contains_star_with_named_sibling(paths))
        assert_parity(S.MODELS[name], [*paths, "email", "owner.email"])


def keys_in(value) -> set[str]:
    """Every dict key at any depth of a JSON-mode value."""
    if isinstance(value, dict):
        return set(value).union(*map(keys_in, value.values()))
    if isinstance(value, list):
        return set().union(*map(keys_in, value))
    return set()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["loud_property", "loud_method", "comments.all.*.item.loud_method"]
)
def test_loud_failures_raise_where_django_evaluates_them(path):
    """docs/serialization.md, "When a lookup raises": python mode raises when
    (and only when) the template reads the name; JSON mode leaves it out."""
    owner = fz.Owner.objects.create(username="ann")
    item = fz.Item.objects.create(title="Lamp", owner=owner)
    fz.Comment.objects.create(item=item, text="hi")
    source = template_for_path("item", path)
    unread = f"{{% if False %}}{source}{{% endif %}}"
    with pytest.raises(fz.LoudFailure):
        render(source, {"item": item})
    with pytest.raises(fz.LoudFailure):
        ref.reference_json(item, [path])
    as_python = compile_quietly(fz.Item, [path], "python")
    for row in (as_python(item), *as_python.many(fz.Item.objects.all())):
        with pytest.raises(fz.LoudFailure):
            render(source, {"item": row})
        assert render(unread, {"item": row}) == render(unread, {"item": item})
    as_json = compile_quietly(fz.Item, [path], "json")
    failing = path.rsplit(".", 1)[-1]
    for value in (as_json(item), *as_json.many(fz.Item.objects.all())):
        assert failing not in keys_in(value), value


@pytest.mark.django_db
@pytest.mark.parametrize(("data", "paths"), [
    ({"a": 1, "b": 2}, ["target.data", "target.data.0", "target.data.1.b"]),
    ([], ["target.data", "target.data.title"]),
], ids=["dict-read-by-index", "list-read-by-key"])
def test_json_below_a_generic_foreign_key_is_kept_whole(data, paths):
    owner = fz.Owner.objects.create(username="ann")
    item = fz.Item.objects.create(title="Lamp", owner=owner, data=data)
    fz.Note.objects.create(target=item, text="n")
    note = fz.Note.objects.get()
    got = compile_quietly(fz.Note, paths, "python")(note)
    assert_same_python(got, ref.reference_python(note, paths))
    source = ("{{ n.target.data }}|{{ n.target.data|length }}|{{ n.target.data.0 }}|"
              "{% for x in n.target.data %}{{ x }}{% endfor %}")
    assert render(source, {"n": got}) == render(source, {"n": note})
