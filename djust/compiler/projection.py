"""Serializing a QuerySet straight from ``values_list()`` rows.

When every path of a serializer ends in a column — a field, ``pk``, an
attname or ``get_FOO_display`` — reached through forward ForeignKey and
OneToOne steps, no model instance is needed to answer it: the typed tree
already says which column each key comes from. ``lower_projection`` then
builds a second function that takes the rows of
``queryset.values_list(*columns)`` and builds the same dicts the instance
serializer would, with the same leaf encoding. Building no model instances
is what makes the end-to-end path (query + serialize) faster than loading
rows and reading attributes.

A method or property whose code reads nothing from ``self`` but columns
(``introspect.row_code``) projects too: the function makes one blank
instance of the model per call, a *stand-in*, writes each row's columns
into its ``__dict__`` and runs the code on it, inside the same ``try`` as
the instance serializer. A silent failure is only known once the row's
dict literal is built, so it leaves ``MISSING`` there and a flag, and the
key is dropped after (``runtime.drop_missing``). ``fetch`` declines when
the queryset's rows are of another class or carry an annotation hiding a
name the code reads.

A to-many relation read as ``rel.all.*.<columns>`` and ``rel.count`` (a
reverse ForeignKey or a ManyToMany, from the queryset's own rows or from the
rows of such a relation) is a *level*: one more ``values_list()`` query, on
the queryset the related manager starts from, filtered by the parent keys
the way ``prefetch_related`` filters it, with the parent key as its first
column. ``fetch`` runs the queries, one per level as prefetching would; the
generated function groups each level's rows under their parent key, deepest
level first, and puts the groups in their parents' dicts.

A nullable forward relation adds its own column (the foreign key value) so
that a missing related row gives ``None``, exactly as ``lease.unit`` would.
Anything else — other methods and properties, a displayed model instance
or related manager, ``first``/``last``/``exists``, JSON keys, run-time
lookups, a to-many relation reached through a forward step or below a
ManyToMany — makes the tree not projectable, and ``lower_projection``
returns None.

    >>> from djust.compiler.tree import build_access_tree
    >>> from examples.rentals.models import Lease
    >>> tree = build_access_tree(Lease, ["unit.number", "get_status_display"])
    >>> module, namespace, spec = lower_projection(tree, "json", name="p")
    >>> spec.columns
    ('status', 'unit__number', 'unit')
"""

from __future__ import annotations

import ast
import datetime
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.db.models.query import ModelIterable, ValuesListIterable
from django.db.models.sql.constants import CURSOR

from djust.compiler import astbuild, introspect, lowering, modes, relations
from djust.compiler.astbuild import (
    NO_LOCATION,
    assign,
    call,
    dict_of,
    failure_try,
    identity,
    load,
    method,
    none_or,
)
from djust.compiler.nodes import Kind, Node, NodeVisitor
from djust.compiler.paths import STAR
from djust.compiler.relations import Relation, choice_labels, method_strategy, to_many_relation

ORM_SEPARATOR = "__"


def is_projectable(tree: Node) -> bool:
    """True when every path ends in a column reached through forward steps,
    or in the columns and count of to-many relations read as levels."""
    if tree.bare or not tree.children:
        return False
    return all(_projectable(child, tree.model, below_many=False) for child in tree.children)


# Template reads that run the model's code: on stand-ins (``row_code``).
_RUNS_CODE = (Kind.METHOD, Kind.PROPERTY)


def row_code(model, node: Node) -> introspect.RowCode | None:
    """How the method or property ``node`` of ``model`` runs on a stand-in
    fed each row's columns, or None when it needs a loaded instance.

        >>> from djust.compiler.tree import build_access_tree
        >>> from examples.rentals.models import Lease
        >>> tree = build_access_tree(Lease, ["days_until_expiration", "delete"])
        >>> [row_code(Lease, node) is not None for node in tree.children]
        [True, False]
    """
    if node.children or model is None:
        return None
    name = node.field or node.segment
    if node.kind is Kind.METHOD:
        if node.facts.static or method_strategy(model, name) != "call":
            return None
        return introspect.row_code(model, name, "method")
    if node.kind is Kind.PROPERTY:
        return introspect.row_code(model, name,
                                   "cached_property" if node.facts.cached else "property")
    return None


class _Projectable(NodeVisitor):
    """Whether a node is answered from columns (``visit(node, model,
    below_many, forward)``): reached below a ManyToMany or through a
    forward step, to-many relations keep the instance path."""

    def visit_sensitive(self, node: Node, model, below_many: bool, forward: bool) -> bool:
        return True

    def visit_method(self, node: Node, model, below_many: bool, forward: bool) -> bool:
        return row_code(model, node) is not None

    visit_property = visit_method

    def visit_field(self, node: Node, model, below_many: bool, forward: bool) -> bool:
        return not node.children

    visit_display = visit_field

    def visit_forward(self, node: Node, model, below_many: bool, forward: bool) -> bool:
        return not node.bare and all(self.visit(child, node.model, below_many, True)
                                     for child in node.children)

    def visit_to_many(self, node: Node, model, below_many: bool, forward: bool) -> bool:
        # Reached through a forward step, many rows would share one parent
        # row and so one list; below a ManyToMany, one row appears under
        # several parents. Both keep the instance path.
        if node.bare or forward or below_many:
            return False
        relation = to_many_relation(model, node.segment)
        if relation is None or relation.model is not node.model:
            return False
        return all(_projectable_rows(child, relation) for child in node.children)

    def visit_unknown(self, node: Node, model, below_many: bool, forward: bool) -> bool:
        return False

    visit_reverse_one = visit_generic_fk = visit_key = visit_index = visit_unknown
    visit_each = visit_all = visit_aggregate = visit_pick = visit_unknown


_PROJECTABLE = _Projectable()


def _projectable(node: Node, model, *, below_many: bool) -> bool:
    return _PROJECTABLE.visit(node, model, below_many, False)


def _projectable_rows(node: Node, relation: Relation) -> bool:
    if node.kind is Kind.SENSITIVE or node.segment.startswith("_"):
        return True  # no key is generated for it
    if node.kind is Kind.AGGREGATE:
        return node.segment == "count" and not node.children
    if node.kind is not Kind.ALL or node.bare:
        return False
    if [child.segment for child in node.children] != [STAR]:
        return False
    each = node.children[0]
    return not each.bare and all(
        _projectable(child, relation.model, below_many=relation.many_to_many)
        for child in each.children)


def yields_instances(queryset: QuerySet) -> bool:
    """False for ``values()``/``values_list()`` querysets: their rows are plain data."""
    return queryset._iterable_class is ModelIterable


def names_set_on_rows(queryset: QuerySet) -> set[str]:
    """The attributes loading ``queryset`` sets on each row besides its
    fields: annotations and ``extra()`` selects. One may hide a method."""
    query = queryset.query
    return set(query.annotation_select) | set(query.extra_select)


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


# ------------------------------------------------------------ the queries


@dataclass(frozen=True)
class Level:
    """One to-many relation's query: ``related_queryset(model)`` filtered by
    ``<lookup>__in`` the parent keys, ``values_list(*columns)``, the first
    column being ``lookup`` (the parent key). ``parent`` is the index of the
    parent's rows (0: the queryset's own), ``key`` the parent key's column in
    them."""

    model: type
    lookup: str
    columns: tuple[str, ...]
    parent: int
    key: int
    # Names a stand-in of this level's own rows reads through the class.
    runs: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Projection:
    """The queryset's ``values_list()`` columns and the levels below it.

    ``runs``: the names a stand-in of the queryset's own rows (of exactly
    ``model``) reads through the class; ``code``: what runs on stand-ins,
    for ``explain()``.
    """

    columns: tuple[str, ...]
    levels: tuple[Level, ...] = ()
    model: type | None = None
    runs: frozenset[str] = frozenset()
    code: tuple[str, ...] = ()


def fetch(queryset: QuerySet, spec: Projection) -> list[list[tuple]] | None:
    """The rows the projection function takes: the queryset's, then each
    level's; None when a related manager's own queryset cannot be read as
    ``values_list()`` rows, or when the queryset repeats a row that has
    levels (a join in its filters), whose groups its copies would share.

    One query per level, as ``prefetch_related`` makes; a level whose parents
    have no key runs none.
    """
    # A related manager whose own queryset is distinct, sliced, combined or
    # prefetching would not give the same rows as values_list(): instances.
    starts = [relations.related_queryset(level.model) for level in spec.levels]
    if not all(queryset_accepts_projection(start) and not start.query.is_sliced
               for start in starts):
        return None
    # Code written for the model's own rows runs on them only, and not where
    # an annotation would hide what it reads.
    if spec.runs and (queryset.model is not spec.model or names_set_on_rows(queryset) & spec.runs):
        return None
    if any(level.runs & names_set_on_rows(start)
           for level, start in zip(spec.levels, starts, strict=True)):
        return None
    fetched: list[list[tuple]] = [read_rows(queryset.values_list(*spec.columns))]
    for level, start in zip(spec.levels, starts, strict=True):
        parents = fetched[level.parent]
        keys = [row[level.key] for row in parents]
        unique = set(keys)
        if level.parent == 0 and len(unique) != len(keys):
            return None
        unique.discard(None)
        if not unique:
            fetched.append([])
            continue
        rows = start.filter(**{f"{level.lookup}__in": unique})
        fetched.append(read_rows(rows.values_list(*level.columns)))
    return fetched


# ------------------------------------------------------------ raw rows
#
# ``list(queryset.values_list(...))`` runs ``SQLCompiler.results_iter``: the
# rows fetched 100 at a time, then, when any column has a converter, every
# row copied to a list, each converter called through a generic loop, and
# the row copied back to a tuple. ``read_rows`` runs the same SQL on the
# same compiler (the same cursor, so the same query count), fetches all rows
# at once and applies, per column, exactly the converters Django's
# ``get_converters`` lists, in its order. A column without converters is
# left as the driver gave it, as Django leaves it. A converter whose source
# is known (``_KNOWN``) runs as an equivalent function that makes the same
# calls without the generic loop; any other (``from_db_value``, a backend or
# field this module does not know) is called as Django calls it.


def _sqlite_date(ops, convert, converter, expression):
    """SQLite's ``convert_datefield_value`` (Django 5.2 and 6.1): a date as
    it is (the driver parses declared ``date`` columns itself); other values
    are ``parse_date(value)``, whose first step is ``date.fromisoformat``;
    when that fails, Django's own function."""
    from_text = datetime.date.fromisoformat
    date = datetime.date

    def date_value(value):
        if value.__class__ is date:
            return value
        if value.__class__ is str:
            try:
                return from_text(value)
            except ValueError:
                pass
        return convert(value)

    return date_value


def _sqlite_datetime(ops, convert, converter, expression):
    """SQLite's ``convert_datetimefield_value``: a datetime (the driver's
    parse) or ``parse_datetime(value)`` (first ``datetime.fromisoformat``),
    then, with ``USE_TZ``, ``make_aware`` in the connection's zone when
    naive, which is ``replace(tzinfo=zone)``. The setting and the zone are
    read once per query instead of once per value; ``fromisoformat`` and
    the driver give a fixed-offset zone or none, so ``tzinfo is None`` is
    ``not is_aware``; any other value takes Django's own function."""
    from django.conf import settings

    from_text = datetime.datetime.fromisoformat
    moment = datetime.datetime
    zone = ops.connection.timezone if settings.USE_TZ else None

    def datetime_value(value):
        if value.__class__ is str:
            try:
                value = from_text(value)
            except ValueError:
                return convert(value)
        elif value.__class__ is not moment:
            return convert(value)
        if zone is not None and value.tzinfo is None:
            return value.replace(tzinfo=zone)
        if zone is not None and value.utcoffset() is None:
            return convert(value)
        return value

    return datetime_value


def _sqlite_decimal(ops, convert, converter, expression):
    """SQLite's decimal converter for a column: ``create(value).quantize(
    quantize_value, context=field.context)``, ``create`` being the closure's
    ``create_decimal`` (Django 5.2) or ``ops._create_decimal`` (6.1); the
    quantum and the create function are the closure's own objects, and the
    field's ``context`` a cached property, read once."""
    cells = dict(zip(converter.__code__.co_freevars,
                     (cell.cell_contents for cell in converter.__closure__ or ()),
                     strict=True))
    if "quantize_value" not in cells:
        return None
    if set(cells) == {"create_decimal", "quantize_value"}:
        create = cells["create_decimal"]
    elif set(cells) == {"self", "quantize_value"} and cells["self"] is ops:
        create = type(ops)._create_decimal
    else:
        return None
    quantum = cells["quantize_value"]
    context = expression.output_field.context

    def decimal_value(value):
        if value is not None:
            return create(value).quantize(quantum, context=context)
        return None

    return decimal_value


# vendor -> {name of the ops method: the equivalent's maker}: the methods
# read in Django 5.2 and 6.1's SQLite backend. A bound method of the
# connection's own ``ops``, or the closure ``get_decimalfield_converter``
# returns, and only when the ops class does not override them.
_KNOWN = {
    "sqlite": {
        "convert_datefield_value": _sqlite_date,
        "convert_datetimefield_value": _sqlite_datetime,
        "get_decimalfield_converter": _sqlite_decimal,
    },
}
_DECIMAL_CLOSURE = "DatabaseOperations.get_decimalfield_converter.<locals>.converter"


def _known(connection, converter):
    """The maker of ``converter``'s equivalent, or None."""
    known = _KNOWN.get(connection.vendor)
    if not known:
        return None
    ops = connection.ops
    if getattr(converter, "__self__", None) is ops:
        name = converter.__name__
    elif getattr(converter, "__qualname__", None) == _DECIMAL_CLOSURE:
        name = "get_decimalfield_converter"
    else:
        return None
    if name not in known:
        return None
    from django.db.backends.sqlite3.operations import DatabaseOperations

    # A subclass overriding the method: its own code, called as Django calls it.
    if getattr(type(ops), name) is not getattr(DatabaseOperations, name):
        return None
    if name == "get_decimalfield_converter" and (
            converter.__module__ != DatabaseOperations.__module__):
        return None
    return known[name]


def column_reader(connection, converters, expression):
    """One column's converters (``SQLCompiler.get_converters``) as one
    function of the value, equal to calling them in turn as
    ``apply_converters`` does."""

    def convert(value):
        for converter in converters:
            value = converter(value, expression, connection)
        return value

    if len(converters) == 1:
        only = converters[0]
        maker = _known(connection, only)
        if maker is not None:
            reader = maker(connection.ops, lambda value: only(value, expression, connection),
                           only, expression)
            if reader is not None:
                return reader
    return convert


_CONVERTING: dict[tuple[int, tuple[int, ...]], object] = {}


def _converting(width: int, positions: tuple[int, ...]):
    """``convert(rows, f_i, ...)``: the rows with column i passed through f_i
    (None left as None only where the converter leaves it)."""
    key = (width, positions)
    function = _CONVERTING.get(key)
    if function is None:
        names = [f"c{i}" for i in range(width)]
        items = [f"f{i}({name})" if i in positions else name for i, name in enumerate(names)]
        arguments = ", ".join(f"f{i}" for i in positions)
        source = (f"def convert(rows, {arguments}):\n"
                  f"    return [({', '.join(items)},) for ({', '.join(names)},) in rows]\n")
        namespace: dict = {}
        exec(compile(source, f"<djust row converter {width} {positions}>", "exec"), namespace)
        function = _CONVERTING[key] = namespace["convert"]
    return function


def read_rows(queryset: QuerySet) -> list[tuple]:
    """``list(queryset)`` for a ``values_list()`` queryset (not flat, not
    named), read on its compiler's cursor: the same SQL, the same values.

        >>> from examples.rentals.models import Unit
        >>> read_rows(Unit.objects.none().values_list("number"))
        []
    """
    if queryset._iterable_class is not ValuesListIterable or queryset._result_cache is not None:
        return list(queryset)
    compiler = queryset.query.get_compiler(queryset.db)
    cursor = compiler.execute_sql(CURSOR)
    if cursor is None:  # EmptyResultSet: no query, as Django runs none
        return []
    try:
        rows = cursor.fetchall()
    finally:
        cursor.close()
    width = compiler.col_count
    if compiler.has_extra_select:
        rows = [row[:width] for row in rows]
    fields = [selected[0] for selected in compiler.select[:width]]
    if compiler.has_composite_fields(fields):
        # Composite keys: Django's own conversion of the rows just fetched.
        return list(compiler.results_iter(results=[rows], tuple_expected=True))
    converters = compiler.get_converters(fields)
    if not converters or not rows:
        return rows
    connection = compiler.connection
    positions = tuple(sorted(converters))
    readers = [column_reader(connection, *converters[position]) for position in positions]
    return _converting(width, positions)(rows, *readers)


# ------------------------------------------------------------ lowering


@dataclass
class _Level:
    index: int
    names: list[str] = field(default_factory=list)
    # Per-row statements computing values before the row's dict.
    prelude: list[ast.stmt] = field(default_factory=list)
    # Set for levels below the queryset's rows.
    model: type | None = None
    lookup: str = ""
    parent: int = 0
    key: int = 0
    # Each row's value in its group: the row's dict, or None when only the
    # relation's count is read.
    item: ast.expr = field(default_factory=lambda: ast.Constant(None))
    # Key paths, from the row's dict, of values a silent failure leaves out.
    optional: list[tuple[str, ...]] = field(default_factory=list)
    # Names stand-ins of the level's own rows read through the class.
    runs: set[str] = field(default_factory=set)

    def add(self, lookup: str) -> str:
        """The row variable holding column ``lookup``."""
        if lookup not in self.names:
            self.names.append(lookup)
        return self.variable(self.names.index(lookup))

    # The projection's own names never end in "_<digits>": the lowerer's
    # locals (``units_3``, after a relation named "units") always do.
    def variable(self, position: int) -> str:
        return f"c{position}" if self.index == 0 else f"l{self.index}_c{position}"

    def groups(self) -> str:
        return f"groups{self.index}"

    def dropped(self) -> str:
        """The flag saying the row's dict holds a value to leave out."""
        return "dropped" if self.index == 0 else f"dropped{self.index}"


@dataclass
class _StandIn:
    name: str
    codes: dict[str, introspect.RowCode]
    # Where the statements running code on it go, once its columns are set.
    body: list[ast.stmt]
    # What runs on it, for explain().
    described: str


class _Projector(NodeVisitor):
    def __init__(self, mode: modes.Mode) -> None:
        self.lowerer = lowering.Lowerer(mode)
        self.mode = mode
        self.levels = [_Level(0)]
        # Choice maps, by the helper name the generated code reads them from.
        self.choices: dict[str, object] = {}
        # Statements run once per call, before the rows: stand-ins made.
        self.setup: list[ast.stmt] = []
        self.stand_ins: list[_StandIn] = []
        # How many functions are called directly on stand-ins.
        self.functions = 0

    def mapping(self, node: Node, model, prefix: tuple[str, ...], level: _Level,
                keys: tuple[str, ...] = (), guard: tuple[str, ...] = ()) -> ast.expr:
        """The dict of ``node``'s children; ``keys`` leads to it from the
        row's dict, and ``guard`` lists the columns that are None when a
        nullable relation on the way has no row."""
        pairs: list[tuple[str, ast.expr]] = []
        stand_in = None
        for child in node.children:
            if child.kind is Kind.SENSITIVE:
                continue
            here = (*keys, child.segment)
            if child.kind in _RUNS_CODE:
                stand_in = stand_in or self.stand_in(node, model, prefix, level, guard)
                pairs.append((child.segment, self.run(child, stand_in, level, here)))
            else:
                pairs.append((child.segment, self.value(child, model, prefix, level, here, guard)))
        if not self.mode.renders:
            return dict_of(pairs)
        # Python mode: a row compared as the instance would be, by its
        # concrete model and primary key.
        pk = level.add(ORM_SEPARATOR.join((*prefix, "pk")))
        concrete = model._meta.concrete_model
        return call(self.lowerer.helper("_model_row"), dict_of(pairs),
                    self.lowerer.constant("model", ("model", concrete._meta.label), concrete),
                    load(pk))

    def value(self, node: Node, model, prefix: tuple[str, ...], level: _Level,
              keys: tuple[str, ...] = (), guard: tuple[str, ...] = ()) -> ast.expr:
        """The expression of ``node``'s value, read from its level's row."""
        return self.visit(node, model, prefix, level, keys, guard)

    # One method per kind that projects (``NodeVisitor``; see _Projectable),
    # each given (node, model, prefix, level, keys, guard).

    def visit_forward(self, node: Node, model, prefix: tuple[str, ...], level: _Level,
                      keys: tuple[str, ...], guard: tuple[str, ...]) -> ast.expr:
        below = (*prefix, node.field or node.segment)
        lookup = ORM_SEPARATOR.join(below)
        inner = self.mapping(node, node.model, below, level, keys,
                             (*guard, lookup) if node.nullable else guard)
        if not node.nullable:
            return inner
        present = level.add(lookup)
        return none_or(present, inner)

    def visit_to_many(self, node: Node, model, prefix: tuple[str, ...], level: _Level,
                      keys: tuple[str, ...], guard: tuple[str, ...]) -> ast.expr:
        return self.to_many(node, model, prefix, level)

    def visit_display(self, node: Node, model, prefix: tuple[str, ...], level: _Level,
                      keys: tuple[str, ...], guard: tuple[str, ...]) -> ast.expr:
        column = level.add(ORM_SEPARATOR.join((*prefix, node.field or node.segment)))
        return self.display(model._meta.get_field(node.field), column, level)

    def visit_field(self, node: Node, model, prefix: tuple[str, ...], level: _Level,
                    keys: tuple[str, ...], guard: tuple[str, ...]) -> ast.expr:
        column = level.add(ORM_SEPARATOR.join((*prefix, node.field or node.segment)))
        converter = self.lowerer.field_converter(node.field_class)
        if converter is None:
            return load(column)
        if not node.nullable:
            return converter(load(column))
        return none_or(column, converter(load(column)))

    def to_many(self, node: Node, model, prefix: tuple[str, ...], level: _Level) -> ast.expr:
        relation = to_many_relation(model, node.segment)
        key_column = ORM_SEPARATOR.join((*prefix, "pk"))
        key = level.add(key_column)
        child = _Level(len(self.levels), model=relation.model, lookup=relation.lookup,
                       parent=level.index, key=level.names.index(key_column))
        self.levels.append(child)
        child.add(relation.lookup)
        rows = self.lowerer.local(node.segment)
        # The group of this row, or a list of its own: never one shared.
        found = method(load(child.groups()), "get", load(key))
        level.prelude.append(assign(rows, ast.BoolOp(
            op=ast.Or(), values=[found, ast.List(elts=[], ctx=ast.Load())])))
        pairs: list[tuple[str, ast.expr]] = []
        for below in node.children:
            if below.kind is Kind.SENSITIVE or below.segment.startswith("_"):
                continue
            if below.kind is Kind.AGGREGATE:
                pairs.append((below.segment, call(load("len"),
                                                  load(rows))))
            elif below.kind is Kind.ALL:
                each = below.children[0]
                child.item = self.mapping(each, relation.model, (), child)
                pairs.append((below.segment, load(rows)))
        return dict_of(pairs)

    def stand_in(self, node: Node, model, prefix: tuple[str, ...], level: _Level,
                 guard: tuple[str, ...]) -> _StandIn:
        """The stand-in for ``node``'s row (``prefix`` from the level's
        rows), made once per call; each row first writes into its
        ``__dict__`` every column its methods and properties read."""
        codes = {child.segment: row_code(model, child)
                 for child in node.children if child.kind in _RUNS_CODE}
        columns: dict[str, str] = {}
        for code in codes.values():
            columns.update(code.columns)
        name = f"stand_in{len(self.stand_ins) + 1}"
        fields = f"{name}_fields"
        made = call(self.lowerer.helper("_blank"),
                    self.lowerer.constant("model", ("model", model._meta.label), model))
        self.setup += [assign(name, made), assign(
            fields, ast.Attribute(value=load(name), attr="__dict__", ctx=ast.Load()))]
        writes = [
            ast.Assign(targets=[ast.Subscript(value=load(fields),
                                              slice=ast.Constant(attname), ctx=ast.Store())],
                       value=load(level.add(ORM_SEPARATOR.join((*prefix, lookup)))),
                       **NO_LOCATION)
            for attname, lookup in sorted(columns.items())]
        if guard:
            # No related row: its code must not run (the template sees None).
            present = [identity(load(level.add(column)), ast.Constant(None),
                                negate=True)
                       for column in guard]
            test = present[0] if len(present) == 1 else ast.BoolOp(op=ast.And(), values=present)
            block = ast.If(test=test, body=writes, orelse=[])
            level.prelude.append(block)
            body = block.body
        else:
            level.prelude += writes
            body = level.prelude
        if not prefix:
            level.runs.update(codes)
            for code in codes.values():
                level.runs.update(code.members)
                level.runs.update(attname for attname, _ in code.columns)
        stand_in = _StandIn(name, codes, body, _describe(model, prefix, level, node, codes))
        self.stand_ins.append(stand_in)
        return stand_in

    def run(self, node: Node, stand_in: _StandIn, level: _Level,
            keys: tuple[str, ...]) -> ast.expr:
        """Statements running ``node``'s method or property on the stand-in
        as the template would; the name of its encoded value, or of MISSING
        when an exception templates hide left it out."""
        value = self.lowerer.local(node.segment)
        shown = self.lowerer.local("shown")
        on = load(stand_in.name)
        if node.kind is Kind.METHOD:
            acquire = [assign(value, method(on, node.segment))]
        elif node.facts.cached:
            self.functions += 1
            function = self.lowerer.own_global(f"_function_{self.functions}",
                                               stand_in.codes[node.segment].function)
            acquire = [assign(value, call(function, on))]
        else:
            acquire = [assign(value, astbuild.attribute(on, node.segment))]
        if node.kind is Kind.PROPERTY:
            acquire.append(ast.If(
                test=call(load("callable"), load(value)),
                body=[assign(value, call(self.lowerer.helper("_call"),
                                                             load(value)))],
                orelse=[]))
        prelude, expr = self.lowerer.value(node, value)
        store: list[ast.stmt] = [*prelude, assign(shown, expr)]
        left_out = [assign(shown, self.lowerer.helper("_MISSING")),
                    assign(level.dropped(), ast.Constant(True))]
        if node.kind is Kind.PROPERTY:
            missing = identity(load(value), self.lowerer.helper("_MISSING"))
            store = [ast.If(test=missing, body=left_out, orelse=store)]
        # What raised: python mode keeps the exception for the row to raise
        # when the template reaches the key; JSON leaves the key out.
        if self.mode.renders:
            failed = [assign(shown, call(self.lowerer.helper("_captured"))),
                      assign(level.dropped(), ast.Constant(True))]
        else:
            failed = [ast.Expr(call(self.lowerer.helper("_skip"))), *left_out]
        stand_in.body.append(failure_try(acquire, store, failed))
        level.optional.append(keys)
        return load(shown)

    def display(self, model_field, column: str, level: _Level) -> ast.expr:
        helper = f"_choices_{len(self.choices)}"
        self.choices[helper] = model_field
        shown = self.lowerer.local("shown")
        labels = load(helper)
        from_table = assign(shown, ast.Subscript(
            value=labels, slice=load(column), ctx=ast.Load()))
        # Outside the choices (KeyError) or unhashable (TypeError): Django's rule.
        by_rule = assign(shown, call(
            self.lowerer.helper("_display"), labels, load(column)))
        level.prelude.append(ast.Try(
            body=[from_table],
            handlers=[ast.ExceptHandler(type=load("Exception"), name=None,
                                        body=[by_rule])],
            orelse=[], finalbody=[]))
        if self.mode.renders:
            return load(shown)
        return self.lowerer.plain_or_encoded(shown)


def _describe(model, prefix: tuple[str, ...], level: _Level, node: Node,
              codes: dict[str, introspect.RowCode]) -> str:
    where = f" at {ORM_SEPARATOR.join(prefix)}" if prefix else ""
    rows = "" if level.index == 0 else f" (level {level.index})"
    names = ", ".join(f"{name}()" if node.child(name).kind is Kind.METHOD else name
                      for name in codes)
    return f"{model._meta.label}{where}{rows}: {names}"


def _drop_statements(level: _Level, appended_to: ast.expr,
                     lowerer: lowering.Lowerer) -> list[ast.stmt]:
    """After a row is appended to a list: leave out what failed silently in it."""
    if not level.optional:
        return []
    paths = ast.Tuple(elts=[ast.Tuple(elts=[ast.Constant(key) for key in path], ctx=ast.Load())
                            for path in level.optional], ctx=ast.Load())
    return [ast.If(test=load(level.dropped()), body=[
        ast.Expr(call(lowerer.helper("_drop"), appended_to, paths)),
        assign(level.dropped(), ast.Constant(False)),
    ], orelse=[])]


def _rows_target(level: _Level) -> ast.Tuple:
    # values_list() rows are tuples even for one column: always unpack.
    names = [ast.Name(id=level.variable(i), ctx=ast.Store()) for i in range(len(level.names))]
    return ast.Tuple(elts=names, ctx=ast.Store())


def _rows_argument(level: _Level) -> str:
    return "rows" if level.index == 0 else f"rows{level.index}"


def _group_statements(level: _Level, lowerer: lowering.Lowerer) -> list[ast.stmt]:
    """Group a level's rows by their parent key (its first column)."""
    group = ast.Subscript(value=load(level.groups()),
                          slice=load(level.variable(0)), ctx=ast.Load())
    append = ast.Expr(method(group, "append", level.item))
    loop = ast.For(target=_rows_target(level), iter=load(_rows_argument(level)),
                   body=[*level.prelude, append, *_drop_statements(level, group, lowerer)],
                   orelse=[], type_comment=None, **NO_LOCATION)
    create = call(lowerer.helper("_Groups"), load("list"))
    return [assign(level.groups(), create), *_flag_statements(level), loop]


def _flag_statements(level: _Level) -> list[ast.stmt]:
    if not level.optional:
        return []
    return [assign(level.dropped(), ast.Constant(False))]


def _choice_map(fields: dict):
    return lambda helper: choice_labels(fields[helper])


def lower_projection(tree: Node, mode: str | modes.Mode, *, name: str):
    """``(ast.Module, namespace, Projection)`` of ``name(rows, rows_1, ...) ->
    list``, or None when the tree needs model instances."""
    if not is_projectable(tree):
        return None
    projector = _Projector(modes.named(mode))
    root = projector.levels[0]
    row_dict = projector.mapping(tree, tree.model, (), root)
    if not root.names and projector.stand_ins:
        root.add("pk")  # code reading no column still runs once per row
    if not root.names:
        return None
    columns = tuple(root.names)
    body: list[ast.stmt] = [ast.Expr(ast.Constant(
        f"Serialize {tree.model._meta.label} rows of values_list{columns!r}."))]
    # Choice labels may be lazy translations: turned into text once per
    # call, in the language active for it, as get_FOO_display() would.
    fields = dict(projector.choices)
    for helper in fields:
        choice_map = projector.lowerer.own_global("_choice_map", _choice_map(fields))
        body.append(assign(helper, call(choice_map, ast.Constant(helper))))
    body += projector.setup
    # A parent's dict reads its children's groups: deepest level first.
    for level in reversed(projector.levels[1:]):
        body += _group_statements(level, projector.lowerer)
    target = _rows_target(root)
    if root.prelude:
        body.append(assign("out", ast.List(elts=[], ctx=ast.Load())))
        body += _flag_statements(root)
        append = ast.Expr(method(load("out"), "append", row_dict))
        body.append(ast.For(target=target, iter=load("rows"),
                            body=[*root.prelude, append,
                                  *_drop_statements(root, load("out"), projector.lowerer)],
                            orelse=[], type_comment=None, **NO_LOCATION))
        body.append(ast.Return(value=load("out")))
    else:
        body.append(ast.Return(value=ast.ListComp(
            elt=row_dict,
            generators=[ast.comprehension(target=target, iter=load("rows"), ifs=[],
                                          is_async=0)],
        )))
    arguments = [_rows_argument(level) for level in projector.levels]
    function = astbuild.function(name, arguments, body)
    namespace = projector.lowerer.namespace()
    levels = tuple(
        Level(model=level.model, lookup=level.lookup, columns=tuple(level.names),
              parent=level.parent, key=level.key, runs=frozenset(level.runs))
        for level in projector.levels[1:])
    spec = Projection(columns, levels, model=tree.model, runs=frozenset(root.runs),
                      code=tuple(stand_in.described for stand_in in projector.stand_ins))
    return ast.Module(body=[function], type_ignores=[]), namespace, spec
