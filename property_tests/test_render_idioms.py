"""Idiom parity (issue #17): a page renders as Django renders the live objects.

The oracle is always Django's template engine rendering the LIVE objects of
the context: the HTML it produces, or the type of the exception it raises.
Templates come from property_tests/idioms.py, one idiom class at a time
(identity, unpacking, laziness, method surface, QuerySet lookups on the
context value, display, to_attr/union), so that each class shows its own
counterexample.

Three properties:

- ``test_page_class_N``: the page djust renders exactly as a LiveView does
  (``extract_template_variables`` → ``serialize_context`` → render the same
  template from what it returned) equals the live rendering, HTML or
  exception type.
- ``test_serializer_class_N``: the same through ``compile_serializer``
  directly, one serializer per context name (``.many`` for collections),
  on templates whose collections are only iterated.
- ``test_queries_constant_in_n``: for ``to_attr`` and ``union`` QuerySets,
  djust issues as many queries for a world as for the same world doubled,
  and no more than Django does rendering the live doubled world.

Each class test's ``@example`` cases include the counterexamples hypothesis
found before the fix (the code at 01966bf failed every class): they stay as
regressions.

    pytest property_tests/test_render_idioms.py -k class_3
"""

from __future__ import annotations

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from hypothesis import example, given, settings

from property_tests import idioms as I
from property_tests.rendering import render
from property_tests.test_json_parity import compile_quietly


def outcome(produce) -> tuple[str, str]:
    """``("html", text)`` or ``("raises", exception type name)``."""
    try:
        return "html", produce()
    except Exception as exc:
        return "raises", type(exc).__name__


def djust_page(source: str, context: dict) -> str:
    """What a LiveView renders (djust/live.py ``render_page``)."""
    from djust.compiler import extract_template_variables
    from djust.context import serialize_context

    extraction = extract_template_variables(source)
    serialized = serialize_context(extraction, context, template="t")
    return render(source, dict(serialized))


def element_paths(paths) -> list[str]:
    return sorted({p[2:] if p.startswith("*.") else "" for p in paths if p.split(".")[0] == "*"})


def direct_page(source: str, context: dict) -> str:
    """The page rendered from serializers compiled directly, per context name."""
    from djust.compiler import extract_template_variables

    extraction = extract_template_variables(source)
    serialized = {}
    for name, paths in extraction.items():
        value = context[name]
        if isinstance(value, models.Model):
            serialized[name] = compile_quietly(type(value), list(paths), "python")(value)
        elif isinstance(value, models.QuerySet) or (isinstance(value, list) and value):
            model = value.model if isinstance(value, models.QuerySet) else type(value[0])
            serializer = compile_quietly(model, element_paths(paths), "python")
            serialized[name] = serializer.many(value)
        else:
            serialized[name] = value
    return render(source, serialized)


def check_page(case, through=djust_page) -> None:
    world, shape, source = case
    with I.rows_of(world) as pks:
        expected = outcome(lambda: render(source, I.live_context(pks, world, shape)))
        got = outcome(lambda: through(source, I.live_context(pks, world, shape)))
    assert got == expected, source


# ---------------------------------------------------------------- examples
#
# Counterexamples on 01966bf, the code before the fixes. "found": the one
# hypothesis shrank to; the others are the idioms issue #17 lists, on a world
# where each of them has something to show. "still on cd80a12": what
# hypothesis found once the first fixes had landed (8949940, cd80a12).

ONE_ROW = I.world(I.gadget())
TWINS = I.world(*[I.gadget()] * 4)
RICH = I.world(
    I.gadget("a", 1, depot=0, data={"title": "T", "a": 1}, labels=(0,)),
    I.gadget("a", 1, data=["p", "q"], parent=0),
    I.gadget("<c>", 2, depot=0, manual=I.MANUAL, parent=0, labels=(0, 1)),
    labels=("red", "blue"), picked=(2,), g=0, selected=1,
)


def each_row(body: str) -> str:
    return I.loop("row", "gs", body)


CLASS_1 = (
    (TWINS, "queryset", each_row(  # found
        "{% ifchanged row %}C{% else %}-{% endifchanged %}{{ row.rank }}")),
    (RICH, "queryset", each_row(I.yes_no("row == selected"))),
    (RICH, "queryset", each_row(I.yes_no("row.depot == depot"))),
    (RICH, "queryset", each_row(I.yes_no("row in picked") + "{{ row.name }}")),
    (RICH, "queryset", each_row(I.yes_no("label in row.labels.all"))),
    (RICH, "queryset", each_row(I.loop("ch", "row.children.all", I.yes_no("ch.parent == row")))),
    # still on cd80a12: two QuerySets never compare equal, two lists do.
    (TWINS, "queryset", each_row(
        "{% ifchanged row.labels.all %}C{% else %}-{% endifchanged %}{{ row.rank }}")),
)
CLASS_2 = (
    (ONE_ROW, "queryset", I.loop("a, b", "g.pairs", "{{ a }}={{ b }};")),  # found
    (RICH, "queryset", I.loop("k, v", "g.data.items", "{{ k }}={{ v }};")),
    (RICH, "queryset", I.loop("group, options", "g.KIND_CHOICES", "{{ group }}:"
                              + I.loop("value, text", "options", "{{ value }}/{{ text }},"))),
    (RICH, "values_list", I.loop("n, city", "gs", "{{ n }}-{{ city }};")),
    (RICH, "values", each_row(I.loop("k, v", "row.items", "{{ k }}={{ v }};"))),
    # still on cd80a12: the pairs display as lists.
    (ONE_ROW, "queryset", "{{ g.pairs }}|{{ g.pairs.1 }}|{{ g.KIND_CHOICES.0.1 }}"),
)
CLASS_3 = (
    (ONE_ROW, "queryset", "{% if g.manual %}[{{ g.manual.url }}]{% endif %}"),  # found
    (RICH, "queryset", each_row("{% if row.depot %}{{ row.depot_code }}{% endif %}")),
    (RICH, "queryset", I.yes_no("g.name or g.loud")),
    (RICH, "queryset", "{% if False %}{{ g.loud }}{% endif %}"),
)
CLASS_4 = (
    (ONE_ROW, "queryset", "[{{ g.items }}]{{ g.name }}"),  # found
    (I.world(I.gadget(), picked=(0,)), "queryset",  # found
     "[{{ picked.count }}]{{ picked|length }}" + I.loop("row", "picked", "{{ row }},")),
    (RICH, "queryset", "{{ g.clear }}{{ g.name }}"),
    (RICH, "queryset", "{{ g.keys }}|{{ g.values }}|{{ picked.first }}|{{ picked.exists }}"),
    # still on cd80a12: related rows both counted and iterated lose count.
    (ONE_ROW, "queryset", "[{{ g.children.all.count }}]{{ g.children.all|length }}"
     + I.loop("row", "g.children.all", "{{ row }},")),
)
CLASS_5 = (
    (ONE_ROW, "queryset", I.loop("row", "gs.all", "{{ row }},") + each_row("{{ row }};")),  # found
    (RICH, "queryset", "{{ gs.reverse|length }}" + each_row("{{ row.rank }}")),
    (RICH, "queryset", "{{ gs.ordered }}|{{ gs.all.count }}|{{ gs.all|length }}"),
)
CLASS_6 = (
    (ONE_ROW, "queryset", "{{ g.children.all }}"),  # found
    (RICH, "queryset", "{{ gs }}|{{ picked }}"),
    (RICH, "queryset", "{{ selected.data|length }} {{ selected.data.title }}"),
    (ONE_ROW, "queryset", "{{ g.pairs }}"),  # still on cd80a12
)
CLASS_7 = (
    (I.world(I.gadget(labels=(0,)), labels=("a",)), "to_attr",  # found
     each_row("{{ row.label_list }}")),
)
QUERIES = (
    (I.world(I.gadget(), I.gadget()), "union",  # found
     each_row(I.loop("x", "row.labels.all", "{{ x }},"))),
    (I.world(I.gadget(depot=0), I.gadget()), "union",  # found
     each_row("{{ row.depot.name }}")),
)
# Direct serializers: the same idioms, collections only iterated.
DIRECT_1 = (
    (ONE_ROW, "queryset", I.yes_no("g == selected") + "\n"  # found
     + I.loop("ch", "g.children.all", I.yes_no("ch.parent == g"))),
    (RICH, "queryset", each_row(I.yes_no("row.depot == depot"))),
)
DIRECT_2 = (*CLASS_2[:3], CLASS_2[-1])
DIRECT_6 = (CLASS_6[0], CLASS_6[2], CLASS_6[-1])
DIRECT_7 = (
    (I.world(I.gadget(labels=(0,)), labels=("a",)), "to_attr",  # found
     each_row("{{ row.label_list }}")),
)


def examples(cases):
    """Decorate a ``case`` property with each of ``cases`` as an explicit example."""
    def decorate(test):
        for case in reversed(cases):
            test = example(case=case)(test)
        return test
    return decorate


def all_classes(*groups) -> tuple:
    """Two examples: every queryset-shaped case of ``groups`` on RICH, and
    every one on ONE_ROW or TWINS together on TWINS (ONE_ROW's row is
    TWINS' first)."""
    def together(worlds, on):
        sources = [source for group in groups for world, shape, source in group
                   if world in worlds and shape == "queryset"]
        return on, "queryset", "\n".join(sources)
    return together((RICH,), RICH), together((ONE_ROW, TWINS), TWINS)


# More examples than the profile's default: every example is cheap (a few
# rows in SQLite) and each class test looks at one narrow family of idioms.
MORE = settings(max_examples=max(60, settings().max_examples))


# ---------------------------------------------------------------- djust pages


@pytest.mark.django_db
@MORE
@given(case=I.class_cases(1))
@examples(CLASS_1)
def test_page_class_1(case):
    check_page(case)


@pytest.mark.django_db
@MORE
@given(case=I.class_cases(2))
@examples(CLASS_2)
def test_page_class_2(case):
    check_page(case)


@pytest.mark.django_db
@MORE
@given(case=I.class_cases(3))
@examples(CLASS_3)
def test_page_class_3(case):
    check_page(case)


@pytest.mark.django_db
@MORE
@given(case=I.class_cases(4))
@examples(CLASS_4)
def test_page_class_4(case):
    check_page(case)


@pytest.mark.django_db
@MORE
@given(case=I.class_cases(5))
@examples(CLASS_5)
def test_page_class_5(case):
    check_page(case)


@pytest.mark.django_db
@MORE
@given(case=I.class_cases(6))
@examples(CLASS_6)
def test_page_class_6(case):
    check_page(case)


@pytest.mark.django_db
@MORE
@given(case=I.class_cases(7))
@examples(CLASS_7)
def test_page_class_7(case):
    check_page(case)


@pytest.mark.django_db
@MORE
@given(case=I.mixed_cases())
@examples(all_classes(CLASS_1, CLASS_2, CLASS_3, CLASS_4, CLASS_5, CLASS_6))
def test_page_all_classes(case):
    check_page(case)


# ---------------------------------------------------------------- direct serializers


@pytest.mark.django_db
@MORE
@given(case=I.direct_cases(1))
@examples(DIRECT_1)
def test_serializer_class_1(case):
    check_page(case, direct_page)


@pytest.mark.django_db
@MORE
@given(case=I.direct_cases(2))
@examples(DIRECT_2)
def test_serializer_class_2(case):
    check_page(case, direct_page)


@pytest.mark.django_db
@MORE
@given(case=I.direct_cases(3))
@examples(CLASS_3)
def test_serializer_class_3(case):
    check_page(case, direct_page)


@pytest.mark.django_db
@MORE
@given(case=I.direct_cases(4))
@examples((CLASS_4[0], CLASS_4[2]))
def test_serializer_class_4(case):
    check_page(case, direct_page)


@pytest.mark.django_db
@MORE
@given(case=I.direct_cases(6))
@examples(DIRECT_6)
def test_serializer_class_6(case):
    check_page(case, direct_page)


@pytest.mark.django_db
@MORE
@given(case=I.direct_cases(7))
@examples(DIRECT_7)
def test_serializer_class_7(case):
    check_page(case, direct_page)


# ---------------------------------------------------------------- queries


def page_queries(world, shape: str, source: str, through) -> int:
    with I.rows_of(world) as pks:
        context = I.live_context(pks, world, shape)
        with CaptureQueriesContext(connection) as queries:
            through(source, context)
    return len(queries)


@pytest.mark.django_db
@MORE
@given(case=I.query_cases())
@examples(QUERIES)
def test_queries_constant_in_n(case):
    world, shape, source = case
    bigger = world.doubled()
    small = page_queries(world, shape, source, djust_page)
    large = page_queries(bigger, shape, source, djust_page)
    live = page_queries(bigger, shape, source, render)
    assert (small, large) == (large, large), source
    assert large <= live, source
