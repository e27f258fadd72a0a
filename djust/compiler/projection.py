"""Serializing a QuerySet straight from ``values_list()`` rows.

When every path of a serializer ends in a column — a field, ``pk``, an
attname or ``get_FOO_display`` — reached through forward ForeignKey and
OneToOne steps only, no model instance is needed to answer it: the typed
tree already says which column each key comes from. ``lower_projection``
then builds a second function that takes the rows of
``queryset.values_list(*columns)`` and builds the same dicts the instance
serializer would, with the same leaf encoding. Building no model instances
is what makes the end-to-end path (query + serialize) faster than loading
rows and reading attributes.

A nullable forward relation adds its own column (the foreign key value) so
that a missing related row gives ``None``, exactly as ``lease.unit`` would.
Anything else — methods, properties, reverse or to-many relations, a
displayed model instance, JSON keys, run-time lookups — makes the tree not
projectable, and ``lower_projection`` returns None.

    >>> from djust.compiler.tree import build_access_tree
    >>> from examples.rentals.models import Lease
    >>> tree = build_access_tree(Lease, ["unit.number", "get_status_display"])
    >>> module, namespace, columns = lower_projection(tree, "json", name="p")
    >>> columns
    ('status', 'unit__number', 'unit')
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from django.db.models import QuerySet
from django.db.models.query import ModelIterable
from django.utils.encoding import force_str
from django.utils.hashable import make_hashable

from djust.compiler import lowering
from djust.compiler.nodes import Kind, Node

ORM_SEPARATOR = "__"


def display_choice(choices: dict, value):
    """What ``get_FOO_display()`` returns for ``value``: Django's own rule."""
    return force_str(choices.get(make_hashable(value), value), strings_only=True)


def is_projectable(tree: Node) -> bool:
    """True when every path ends in a column reached through forward steps."""
    if tree.bare or not tree.children:
        return False
    return all(_projectable(child) for child in tree.children)


def _projectable(node: Node) -> bool:
    if node.kind is Kind.SENSITIVE:
        return True
    if node.kind in (Kind.FIELD, Kind.DISPLAY):
        return not node.children
    if node.kind is Kind.FORWARD:
        return not node.bare and all(_projectable(child) for child in node.children)
    return False


def yields_instances(queryset: QuerySet) -> bool:
    """False for ``values()``/``values_list()`` querysets: their rows are plain data."""
    return queryset._iterable_class is ModelIterable


def queryset_accepts_projection(queryset: QuerySet) -> bool:
    """``values_list()`` gives the same rows as the queryset itself.

    Not so for querysets that already return dicts or tuples, for set
    operations, for ``distinct()`` (it would apply to the projected
    columns), and where the user asked for prefetching or a different
    iterable class.
    """
    query = queryset.query
    return (
        yields_instances(queryset)
        and queryset._fields is None
        and not query.combinator
        and not query.distinct
        and not queryset._prefetch_related_lookups
    )


@dataclass
class _Columns:
    names: list[str]

    def add(self, lookup: str) -> str:
        """The row variable holding column ``lookup``."""
        if lookup not in self.names:
            self.names.append(lookup)
        return f"c{self.names.index(lookup)}"


class _Projector:
    def __init__(self, mode: str) -> None:
        self.lowerer = lowering._Lowerer(mode)
        self.mode = mode
        self.columns = _Columns([])
        # Choice maps, by the helper name the generated code reads them from.
        self.choices: dict[str, object] = {}
        # Per-row statements computing display values before the dict.
        self.row_prelude: list[ast.stmt] = []

    def mapping(self, node: Node, model, prefix: tuple[str, ...]) -> ast.expr:
        pairs: list[tuple[str, ast.expr]] = []
        for child in node.children:
            if child.kind is Kind.SENSITIVE:
                continue
            pairs.append((child.segment, self.value(child, model, prefix)))
        return lowering._dict(pairs)

    def value(self, node: Node, model, prefix: tuple[str, ...]) -> ast.expr:
        if node.kind is Kind.FORWARD:
            below = (*prefix, node.field or node.segment)
            inner = self.mapping(node, node.model, below)
            if not node.nullable:
                return inner
            present = self.columns.add(ORM_SEPARATOR.join(below))
            return lowering._none_or(present, inner)
        column = self.columns.add(ORM_SEPARATOR.join((*prefix, node.field or node.segment)))
        if node.kind is Kind.DISPLAY:
            return self.display(model._meta.get_field(node.field), column)
        converter = self.lowerer.field_converter(node.field_class)
        if converter is None:
            return lowering._name(column)
        if not node.nullable:
            return converter(lowering._name(column))
        return lowering._none_or(column, converter(lowering._name(column)))

    def display(self, model_field, column: str) -> ast.expr:
        helper = f"_choices_{len(self.choices)}"
        self.choices[helper] = model_field
        shown = self.lowerer.local("shown")
        self.row_prelude.append(lowering._assign(shown, lowering._call(
            self.lowerer.helper("_display"), lowering._name(helper), lowering._name(column))))
        if self.mode == "python":
            return lowering._name(shown)
        return self.lowerer.plain_or_encoded(shown)


def lower_projection(tree: Node, mode: str, *, name: str):
    """``(ast.Module, namespace, columns)`` of ``name(rows) -> list``, or None
    when the tree needs model instances."""
    if not is_projectable(tree):
        return None
    projector = _Projector(mode)
    row_dict = projector.mapping(tree, tree.model, ())
    columns = tuple(projector.columns.names)
    if not columns:
        return None
    targets = [ast.Name(id=f"c{i}", ctx=ast.Store()) for i in range(len(columns))]
    # values_list() rows are tuples even for one column: always unpack.
    target = ast.Tuple(elts=targets, ctx=ast.Store())
    body: list[ast.stmt] = [ast.Expr(ast.Constant(
        f"Serialize {tree.model._meta.label} rows of values_list{columns!r}."))]
    # Choice labels may be lazy translations: resolved once per call, in the
    # language active for it, as get_FOO_display() would.
    for helper in projector.choices:
        body.append(lowering._assign(helper, lowering._call(
            projector.lowerer.helper("_choice_map"), ast.Constant(helper))))
    if projector.row_prelude:
        body.append(lowering._assign("out", ast.List(elts=[], ctx=ast.Load())))
        append = ast.Expr(lowering._method(lowering._name("out"), "append", row_dict))
        body.append(ast.For(target=target, iter=lowering._name("rows"),
                            body=[*projector.row_prelude, append], orelse=[],
                            type_comment=None, **lowering._NO_LOCATION))
        body.append(ast.Return(value=lowering._name("out")))
    else:
        body.append(ast.Return(value=ast.ListComp(
            elt=row_dict,
            generators=[ast.comprehension(target=target, iter=lowering._name("rows"), ifs=[],
                                          is_async=0)],
        )))
    function = ast.FunctionDef(
        name=name,
        args=ast.arguments(posonlyargs=[], args=[ast.arg(arg="rows")], vararg=None,
                           kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]),
        body=body, decorator_list=[], returns=None, type_comment=None,
        **lowering._NO_LOCATION,
        **({"type_params": []} if "type_params" in ast.FunctionDef._fields else {}),
    )
    namespace = projector.lowerer.namespace()
    namespace["_display"] = display_choice
    fields = dict(projector.choices)
    namespace["_choice_map"] = lambda helper: dict(make_hashable(fields[helper].flatchoices))
    return ast.Module(body=[function], type_ignores=[]), namespace, columns
