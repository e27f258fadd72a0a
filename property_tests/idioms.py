"""Worlds, context shapes and templates for the idiom properties (issue #17).

The render-parity property of test_render_parity.py draws plain lookups; the
templates here combine the idioms a page uses on top of them, one *class* at
a time, so that each class shows its own counterexample:

1. identity: rows compared with rows and context objects (``==``, ``!=``,
   ``in``, ``not in``, ``{% ifchanged %}``);
2. unpacking: ``{% for a, b in ... %}`` over dict items, a method returning
   pairs, grouped choices, ``values_list()`` and ``values()`` rows;
3. laziness: lookups that raise, guarded (``{% if %}``, ``and``/``or``,
   ``{% if False %}``) or not;
4. method surface: dict-method and list-method names as path segments, on
   rows and on collections;
5. QuerySet lookups on the context value (``all``, ``reverse``,
   ``ordered``...), followed by a loop over it;
6. display: collections and JSON values shown and looked into;
7. ``Prefetch(..., to_attr=...)`` and ``union()`` QuerySets in the context.

Each template reads the context names of :func:`live_context`: ``gs`` (the
collection, of the drawn :data:`SHAPES` shape), ``g`` and ``selected`` (rows,
``selected`` possibly the twin of another row: same content, other pk),
``picked`` (a list of rows), ``depot`` and ``label``.

    class_templates(1, "queryset").example()
    # '{% for row in gs %}{% if row == selected %}Y{% else %}N{% endif %}{% endfor %}'
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Prefetch
from hypothesis import strategies as st

from property_tests.fuzzapp import models as fz

# ---------------------------------------------------------------- worlds

# A tiny alphabet, so that rows with identical content are common.
NAMES = ("a", "b", "<c>")
CODES = ("D1", "D2")
JSON_KEYS = ("title", "a", "items", "keys", "0")
MANUAL = "manuals/m & n.txt"


@dataclass(frozen=True)
class GadgetSpec:
    name: str
    rank: int
    kind: str
    data: object
    manual: str
    depot: int | None
    parent: int | None
    labels: tuple[int, ...]


@dataclass(frozen=True)
class IdiomWorld:
    depots: tuple[tuple[str, str], ...]
    labels: tuple[str, ...]
    gadgets: tuple[GadgetSpec, ...]
    # Which rows ``g`` and ``selected`` are, which ones ``picked`` holds.
    g: int = 0
    selected: int = 0
    picked: tuple[int, ...] = ()

    def doubled(self) -> IdiomWorld:
        """The same rows twice over (relations of the copies point at copies),
        so that every prefetch finds rows in both worlds or in neither."""
        shift = len(self.gadgets)
        copies = tuple(
            GadgetSpec(**{**vars(spec), "parent": None if spec.parent is None
                          else spec.parent + shift})
            for spec in self.gadgets
        )
        return IdiomWorld(self.depots, self.labels, self.gadgets + copies, self.g,
                          self.selected, self.picked)


def gadget(name: str = "a", rank: int = 0, **fields) -> GadgetSpec:
    """A GadgetSpec with plain defaults, for explicit examples."""
    defaults = {"kind": "saw", "data": None, "manual": "", "depot": None, "parent": None,
                "labels": ()}
    return GadgetSpec(name=name, rank=rank, **{**defaults, **fields})


def world(*gadgets: GadgetSpec, labels=(), picked=(), g=0, selected=0,
          depots=(("D1", "a"),)) -> IdiomWorld:
    """An IdiomWorld for explicit examples: ``world(gadget(), gadget("b"))``."""
    return IdiomWorld(depots=tuple(depots), labels=tuple(labels), gadgets=tuple(gadgets),
                      g=g, selected=selected, picked=tuple(picked))


def json_values():
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(NAMES))
    return st.one_of(
        st.none(),
        st.dictionaries(st.sampled_from(JSON_KEYS), scalars, max_size=3),
        st.lists(scalars, max_size=3),
    )


KINDS = tuple(value for _, options in fz.Gadget.KIND_CHOICES for value, _ in options)


@st.composite
def gadget_specs(draw, index: int, n_depots: int, n_labels: int) -> GadgetSpec:
    return GadgetSpec(
        name=draw(st.sampled_from(NAMES)),
        rank=draw(st.integers(0, 2)),
        kind=draw(st.sampled_from(KINDS)),
        data=draw(json_values()),
        manual=draw(st.sampled_from(["", MANUAL])),
        depot=draw(st.one_of(st.none(), st.integers(0, n_depots - 1))),
        # Parents come earlier, so rows can be created in order.
        parent=draw(st.one_of(st.none(), st.integers(0, index - 1))) if index else None,
        labels=tuple(sorted(draw(st.sets(st.integers(0, n_labels - 1), max_size=n_labels))))
        if n_labels else (),
    )


@st.composite
def idiom_worlds(draw, min_gadgets: int = 1, max_gadgets: int = 4) -> IdiomWorld:
    depots = draw(st.lists(st.tuples(st.sampled_from(CODES), st.sampled_from(NAMES)),
                           min_size=1, max_size=2))
    labels = draw(st.lists(st.sampled_from(NAMES), max_size=3))
    n = draw(st.integers(min_gadgets, max_gadgets))
    gadgets = []
    for index in range(n):
        spec = draw(gadget_specs(index, len(depots), len(labels)))
        if index and draw(st.booleans()):
            # A twin: the same content as an earlier row, another primary key.
            twin = gadgets[draw(st.integers(0, index - 1))]
            spec = GadgetSpec(**{**vars(twin), "labels": twin.labels})
        gadgets.append(spec)
    rows = st.integers(0, n - 1)
    return IdiomWorld(
        depots=tuple(depots), labels=tuple(labels), gadgets=tuple(gadgets),
        g=draw(rows), selected=draw(rows),
        picked=tuple(sorted(draw(st.sets(rows, max_size=n)))),
    )


def build_idiom_world(spec: IdiomWorld) -> dict[str, list]:
    """Create the rows of ``spec``; returns their primary keys by model."""
    depots = [fz.Depot.objects.create(code=code, name=name) for code, name in spec.depots]
    labels = [fz.Label.objects.create(name=name) for name in spec.labels]
    gadgets: list = []
    for row in spec.gadgets:
        gadget = fz.Gadget.objects.create(
            name=row.name, rank=row.rank, kind=row.kind, data=row.data, manual=row.manual,
            depot=None if row.depot is None else depots[row.depot],
            parent=None if row.parent is None else gadgets[row.parent],
        )
        gadget.labels.set([labels[i] for i in row.labels])
        gadgets.append(gadget)
    return {"depots": [d.pk for d in depots], "labels": [x.pk for x in labels],
            "gadgets": [x.pk for x in gadgets]}


@contextlib.contextmanager
def rows_of(spec: IdiomWorld):
    """The rows of ``spec`` inside a savepoint that is rolled back afterwards."""
    with transaction.atomic():
        yield build_idiom_world(spec)
        transaction.set_rollback(True)


# ---------------------------------------------------------------- context shapes

# What ``gs`` is. "list" is a plain list of instances.
INSTANCE_SHAPES = ("queryset", "list", "union", "to_attr")
ROW_SHAPES = ("values", "values_list", "values_list_named")
SHAPES = INSTANCE_SHAPES + ROW_SHAPES
VALUES_FIELDS = ("name", "rank", "depot__code")


def collection(shape: str):
    """A fresh ``gs`` of ``shape`` over every Gadget row."""
    plain = fz.Gadget.objects.all()
    if shape == "queryset":
        return plain
    if shape == "list":
        return list(plain)
    if shape == "union":
        # Compound statements refuse the Meta ordering of their parts on
        # SQLite; the union itself is ordered.
        low = fz.Gadget.objects.order_by().filter(rank__lte=1)
        rest = fz.Gadget.objects.order_by().filter(rank__gt=1)
        return low.union(rest).order_by("rank", "id")
    if shape == "to_attr":
        return plain.prefetch_related(
            Prefetch("labels", queryset=fz.Label.objects.order_by("-name", "id"),
                     to_attr="label_list"),
            Prefetch("children", to_attr="kids"),
        )
    if shape == "values":
        return plain.values(*VALUES_FIELDS)
    if shape == "values_list":
        return plain.values_list("rank", "name")
    if shape == "values_list_named":
        return plain.values_list("rank", "name", named=True)
    raise ValueError(f"unknown shape {shape!r}")


def live_context(pks: dict[str, list], spec: IdiomWorld, shape: str) -> dict:
    """Fresh live objects for every name the templates read.

    Built anew for each rendering: a lookup such as ``{{ picked.pop }}``
    changes the value it is made on, as it would in a view.
    """
    gadgets = pks["gadgets"]
    label = fz.Label.objects.get(pk=pks["labels"][0]) if pks["labels"] else None
    picked = [fz.Gadget.objects.get(pk=gadgets[i]) for i in spec.picked]
    return {
        "gs": collection(shape),
        "g": fz.Gadget.objects.get(pk=gadgets[spec.g]),
        "selected": fz.Gadget.objects.get(pk=gadgets[spec.selected]),
        "picked": picked,
        "depot": fz.Depot.objects.get(pk=pks["depots"][0]),
        "label": label,
    }


# ---------------------------------------------------------------- template pieces

ROWS = ("g", "selected")
ROW_PATHS = ("name", "rank", "kind", "get_kind_display", "pk", "depot", "depot.code",
             "parent", "parent.name", "data", "manual", "nope")


def yes_no(condition: str) -> str:
    return f"{{% if {condition} %}}Y{{% else %}}N{{% endif %}}"


def loop(var: str, iterable: str, body: str) -> str:
    return f"{{% for {var} in {iterable} %}}{body}{{% endfor %}}"


@st.composite
def over_rows(draw, body, shape: str) -> str:
    """``body(x)`` for ``x`` a single row or each row of ``gs``/``picked``."""
    places = [*ROWS, "picked"]
    if shape in INSTANCE_SHAPES:
        places.append("gs")
    place = draw(st.sampled_from(places))
    if place in ROWS:
        return draw(body(place))
    return loop("row", place, draw(body("row")))


# 1. identity ------------------------------------------------------------

@st.composite
def comparison(draw, x: str) -> str:
    pairs = [
        (x, "selected"), (x, "g"), (f"{x}.depot", "depot"), (f"{x}.parent", "selected"),
        (f"{x}.parent", "g"), ("selected", x), (f"{x}.parent", f"{x}.parent"),
        (f"{x}.depot", "g.depot"),
    ]
    left, right = draw(st.sampled_from(pairs))
    op = draw(st.sampled_from(["==", "!="]))
    return yes_no(f"{left} {op} {right}")


@st.composite
def membership(draw, x: str) -> str:
    pairs = [(x, "picked"), ("label", f"{x}.labels.all"), (x, "g.children.all"),
             ("g", f"{x}.children.all"), ("selected", "picked"), (f"{x}.parent", "picked"),
             (x, "selected.children.all")]
    left, right = draw(st.sampled_from(pairs))
    op = draw(st.sampled_from(["in", "not in"]))
    return yes_no(f"{left} {op} {right}")


def children_point_back(x: str):
    return st.just(loop("ch", f"{x}.children.all", yes_no(f"ch.parent == {x}")))


@st.composite
def ifchanged(draw, _x: str) -> str:
    watched = draw(st.sampled_from(["row", "row.depot", "row.parent", "row.depot row.parent",
                                    "row.name", "row.labels.all"]))
    body = f"{{% ifchanged {watched} %}}C{{% else %}}-{{% endifchanged %}}{{{{ row.rank }}}}"
    iterable = draw(st.sampled_from(["gs", "picked"]))
    return loop("row", iterable, body)


def identity(draw, shape: str) -> str:
    kind = draw(st.sampled_from(["compare", "member", "children", "ifchanged"]))
    if kind == "ifchanged":
        return draw(ifchanged("row"))
    body = {"compare": comparison, "member": membership, "children": children_point_back}[kind]
    return draw(over_rows(body, shape))


# 2. unpacking ----------------------------------------------------------

@st.composite
def unpack_row(draw, x: str) -> str:
    return draw(st.sampled_from([
        loop("k, v", f"{x}.data.items", "{{ k }}={{ v }};"),
        loop("a, b", f"{x}.pairs", "{{ a }}={{ b }};"),
        loop("group, options", f"{x}.KIND_CHOICES",
             "{{ group }}:" + loop("value, text", "options", "{{ value }}/{{ text }},")),
        f"{{{{ {x}.pairs }}}}|{{{{ {x}.pairs.1 }}}}|{{{{ {x}.KIND_CHOICES.0.1 }}}}",
        loop("p", f"{x}.pairs", "{{ p }}{{ p.0 }}{{ p|length }}"),
        loop("k", f"{x}.data", "{{ k }},"),
    ]))


def unpack_collection(shape: str) -> list[str]:
    if shape == "values":
        return [loop("row", "gs", "{{ row }}" + loop("k, v", "row.items", "{{ k }}={{ v }};")),
                loop("row", "gs", "{{ row.name }}/{{ row.depot__code }}"),
                loop("k, v", "gs", "{{ k }}-{{ v }}")]
    if shape.startswith("values_list"):
        return [loop("n, city", "gs", "{{ n }}-{{ city }};"),
                loop("row", "gs", "{{ row }}|{{ row.0 }}|{{ row.name }}|{{ row|length }}"),
                "{{ gs.0 }}{{ gs|first }}"]
    return []


def unpacking(draw, shape: str) -> str:
    whole = unpack_collection(shape)
    if whole and draw(st.booleans()):
        return draw(st.sampled_from(whole))
    return draw(over_rows(unpack_row, shape))


# 3. laziness -----------------------------------------------------------

# (guard, lookup that may raise when the guard is false)
GUARDED = (
    ("{x}.manual", "{x}.manual.url"),
    ("{x}.depot", "{x}.depot_code"),
    ("{x}.parent", "{x}.parent.depot_code"),
    ("{x}.parent.depot", "{x}.parent.depot_code"),
    ("False", "{x}.loud"),
    ("{x}.rank > 5", "{x}.loud"),
    ("not {x}.name", "{x}.quiet"),
)
RISKY = ("{x}.manual.url", "{x}.depot_code", "{x}.loud", "{x}.quiet", "{x}.parent.depot_code",
         "{x}.manual.size")


@st.composite
def lazy_row(draw, x: str) -> str:
    kind = draw(st.sampled_from(["guarded", "short", "bare", "with", "filter", "if_bare"]))
    guard, risky = draw(st.sampled_from(GUARDED))
    guard, risky = guard.format(x=x), risky.format(x=x)
    any_risky = draw(st.sampled_from(RISKY)).format(x=x)
    if kind == "guarded":
        return f"{{% if {guard} %}}[{{{{ {risky} }}}}]{{% endif %}}"
    if kind == "short":
        safe = draw(st.sampled_from(["name", "rank", "depot", "manual", "nope"]))
        op = draw(st.sampled_from(["or", "and"]))
        return yes_no(f"{x}.{safe} {op} {any_risky}")
    if kind == "bare":
        return f"[{{{{ {any_risky} }}}}]"
    if kind == "with":
        return f"{{% if {guard} %}}{{% with v={risky} %}}{{{{ v }}}}{{% endwith %}}{{% endif %}}"
    if kind == "filter":
        return f'[{{{{ {any_risky}|default:"d" }}}}]'
    return yes_no(any_risky)


def laziness(draw, shape: str) -> str:
    return draw(over_rows(lazy_row, shape))


# 4. method surface ---------------------------------------------------------

DICT_METHODS = ("items", "keys", "values", "clear", "get", "copy", "pop", "popitem",
                "update", "setdefault", "fromkeys")
LIST_METHODS = ("count", "index", "append", "pop", "reverse", "sort", "clear", "copy")
QUERYSET_METHODS = ("count", "first", "last", "exists", "all", "ordered")


@st.composite
def methods_on_row(draw, x: str) -> str:
    target = draw(st.sampled_from([x, f"{x}.depot", f"{x}.parent"]))
    method = draw(st.sampled_from(DICT_METHODS + LIST_METHODS))
    after = draw(st.sampled_from(["name", "rank", "pk", "depot.name", ""]))
    shown = f"[{{{{ {target}.{method} }}}}]"
    if draw(st.booleans()):
        shown = loop("k", f"{target}.{method}", "{{ k }},")
    return shown + (f"{{{{ {x}.{after} }}}}" if after else f"{{{{ {x} }}}}")


@st.composite
def methods_on_collection(draw, shape: str) -> str:
    places = ["picked", "g.children.all", "g.labels.all", "gs"]
    place = draw(st.sampled_from(places))
    method = draw(st.sampled_from(LIST_METHODS + QUERYSET_METHODS))
    # A loop afterwards shows whether the lookup changed the value.
    return f"[{{{{ {place}.{method} }}}}]{{{{ {place}|length }}}}" + loop(
        "row", place, "{{ row }},")


def method_surface(draw, shape: str) -> str:
    if draw(st.booleans()):
        return draw(methods_on_collection(shape))
    return draw(over_rows(methods_on_row, shape))


# 5. QuerySet lookups on the context value ----------------------------------

COLLECTION_LOOKUPS = (
    loop("row", "gs.all", "{{ row }},"),
    loop("row", "gs.reverse", "{{ row }},"),
    "{{ gs.all.count }}",
    "{{ gs.all|length }}",
    "{{ gs.ordered }}",
    "{{ gs.reverse|length }}",
    "{{ gs.exists }}|{{ gs.count }}",
    "{{ gs.all.first }}|{{ gs.reverse.0 }}",
    "{{ gs.first }}|{{ gs.last }}",
    "{{ gs.none|length }}",
    "{% if gs.all %}Y{% endif %}",
)


def collection_lookups(draw, shape: str) -> str:
    lookup = draw(st.sampled_from(COLLECTION_LOOKUPS))
    # The loop afterwards shows a lookup that changed ``gs`` in place.
    return lookup + loop("row", "gs", "{{ row }};")


# 6. display ----------------------------------------------------------------

@st.composite
def display_row(draw, x: str) -> str:
    return draw(st.sampled_from([
        f"{{{{ {x}.children.all }}}}",
        f"{{{{ {x}.labels.all }}}}|{{{{ {x}.labels.all.0 }}}}",
        f"{{{{ {x}.data|length }}}} {{{{ {x}.data.title }}}}",
        f"{{{{ {x}.data }}}}|{{{{ {x}.data|length }}}}|{{{{ {x}.data.0 }}}}|{{{{ {x}.data.a }}}}",
        f"{{{{ {x}.depot }}}}/{{{{ {x}.depot.code }}}}",
        f"{{{{ {x}.parent }}}}|{{{{ {x}.parent.parent.name }}}}",
        f"{{{{ {x}.children.all|join:',' }}}}|{{{{ {x}.children.all.0.name }}}}",
        f"{{{{ {x}.pairs }}}}",
        f"{{% if {x}.data %}}{{{{ {x}.data|first }}}}{{% endif %}}",
    ]))


def display(draw, shape: str) -> str:
    whole = ["{{ gs }}", "{{ picked }}", "{{ gs }}{{ gs.0.name }}", "{{ picked }}|{{ picked.0 }}",
             "{{ gs|join:',' }}", "{{ gs|first }}|{{ gs|length }}"]
    if draw(st.booleans()):
        return draw(st.sampled_from(whole))
    return draw(over_rows(display_row, shape))


# 7. to_attr prefetches and combined QuerySets ----------------------------------

PREFETCHED_ROW = (
    loop("x", "row.label_list", "{{ x }},"),
    "{{ row.label_list|length }}",
    "{{ row.label_list }}",
    loop("k", "row.kids", "{{ k.name }}/{{ k.depot.code }},"),
    "{{ row.kids.0.name }}",
)
PLAIN_ROW = (
    "{{ row }}",
    "{{ row.depot.name }}",
    loop("x", "row.labels.all", "{{ x }},"),
    "{{ row.children.count }}",
    "{{ row.parent.name }}",
)


@st.composite
def prefetched(draw, shape: str) -> str:
    pieces = PLAIN_ROW + (PREFETCHED_ROW if shape == "to_attr" else ())
    body = "".join(draw(st.lists(st.sampled_from(pieces), min_size=1, max_size=3)))
    return loop("row", "gs", body)


def combined(draw, shape: str) -> str:
    text = draw(prefetched(shape))
    if draw(st.booleans()):
        text += draw(st.sampled_from(["{{ gs|length }}", "{{ gs.count }}", "{{ gs.0 }}"]))
    return text


# ---------------------------------------------------------------- classes

@dataclass(frozen=True)
class IdiomClass:
    number: int
    title: str
    shapes: tuple[str, ...]
    piece: object  # (draw, shape) -> template text


CLASSES = {
    1: IdiomClass(1, "identity", INSTANCE_SHAPES, identity),
    2: IdiomClass(2, "tuple unpacking", ("queryset", *ROW_SHAPES), unpacking),
    3: IdiomClass(3, "laziness", INSTANCE_SHAPES, laziness),
    4: IdiomClass(4, "method surface", INSTANCE_SHAPES, method_surface),
    5: IdiomClass(5, "queryset lookups on the context value", SHAPES, collection_lookups),
    6: IdiomClass(6, "display", INSTANCE_SHAPES, display),
    7: IdiomClass(7, "to_attr prefetches and union", ("to_attr", "union"), combined),
}


@st.composite
def class_templates(draw, number: int, shape: str) -> str:
    """A template of one to three pieces of class ``number`` for ``gs`` of ``shape``."""
    piece = CLASSES[number].piece
    parts = [piece(draw, shape) for _ in range(draw(st.integers(1, 3)))]
    return "\n".join(parts)


@st.composite
def class_cases(draw, number: int):
    """(world, shape, template) for one class."""
    shape = draw(st.sampled_from(CLASSES[number].shapes))
    return draw(idiom_worlds()), shape, draw(class_templates(number, shape))


@st.composite
def mixed_cases(draw):
    """(world, shape, template) mixing pieces of every class that fits the shape."""
    shape = draw(st.sampled_from(INSTANCE_SHAPES))
    numbers = [n for n, c in CLASSES.items() if shape in c.shapes]
    parts = [CLASSES[draw(st.sampled_from(numbers))].piece(draw, shape)
             for _ in range(draw(st.integers(1, 4)))]
    return draw(idiom_worlds()), shape, "\n".join(parts)


# ---------------------------------------------------------------- direct serializers

# The row-level pieces of each class: what a serializer compiled for one
# model answers by itself, without djust.context's collection wrapper.
DIRECT_PIECES = {
    1: (comparison, membership, children_point_back),
    2: (unpack_row,),
    3: (lazy_row,),
    4: (methods_on_row,),
    6: (display_row,),
}


@st.composite
def direct_cases(draw, number: int):
    """(world, shape, template) whose collections are only iterated.

    ``gs`` is a QuerySet or, for class 7, one of its QuerySet shapes.
    """
    if number == 7:
        shape = draw(st.sampled_from(CLASSES[7].shapes))
        return draw(idiom_worlds()), shape, draw(prefetched(shape))
    bodies = DIRECT_PIECES[number]
    parts = [draw(over_rows(draw(st.sampled_from(bodies)), "queryset"))
             for _ in range(draw(st.integers(1, 3)))]
    return draw(idiom_worlds()), "queryset", "\n".join(parts)


@st.composite
def query_cases(draw):
    """(world, shape, template) over ``to_attr`` and ``union`` collections
    only (the other context names cost the same in every world)."""
    shape = draw(st.sampled_from(CLASSES[7].shapes))
    return draw(idiom_worlds(min_gadgets=2)), shape, draw(prefetched(shape))
