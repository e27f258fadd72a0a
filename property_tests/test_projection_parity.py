"""Projection parity: ``many(queryset)`` read from ``values_list()`` rows,
methods and properties run on stand-ins, says what the reference says.

``test_json_parity`` draws any path; few of its path sets can be projected.
Here every path is drawn from what projects — columns, ``get_FOO_display``,
methods and properties whose code reads only columns, through forward
relations and to-many rows — so each example exercises the projection, and
the test checks it was the path taken.
"""

from __future__ import annotations

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
