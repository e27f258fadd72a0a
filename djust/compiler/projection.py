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
import builtins
import datetime
import functools
import operator
import re
from dataclasses import dataclass, field

from django.core.exceptions import EmptyResultSet
from django.db.models import QuerySet
from django.db.models.query import ModelIterable, ValuesListIterable
from django.db.models.sql.constants import CURSOR

from djust.compiler import astbuild, introspect, jsontext, lowering, modes, relations
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
    # Columns given as their JSON text (JSON mode).
    text: tuple[Text, ...] = ()


@dataclass(frozen=True)
class Projection:
    """The queryset's ``values_list()`` columns and the levels below it.

    ``runs``: the names a stand-in of the queryset's own rows (of exactly
    ``model``) reads through the class; ``code``: what runs on stand-ins,
    for ``explain()``; ``text``: the columns the function takes as their
    JSON text (``read_rows``, ``text_rows``).
    """

    columns: tuple[str, ...]
    levels: tuple[Level, ...] = ()
    model: type | None = None
    runs: frozenset[str] = frozenset()
    code: tuple[str, ...] = ()
    text: tuple[Text, ...] = ()


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
    fetched: list[list[tuple]] = [read_rows(queryset.values_list(*spec.columns), spec.text)]
    models = [queryset.model, *(level.model for level in spec.levels)]
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
        fetched.append(level_rows(start, level, unique, models[level.parent]._meta.pk))
    return fetched


# A level filtered by this many parent keys or more has its SQL written from
# Django's own SQL for two of them (``_many_keys_rows``).
MANY_KEYS = 64


def level_rows(start: QuerySet, level: Level, keys: set, key_field) -> list[tuple]:
    """``read_rows`` of ``start.filter(<lookup>__in=keys).values_list(
    *columns)``: ``keys`` are the parents' primary keys (``key_field``'s
    values), a set without None."""
    keyed = f"{level.lookup}__in"
    if len(keys) >= MANY_KEYS and set(map(type, keys)) == {int}:
        rows = _many_keys_rows(start, keyed, level, list(keys), key_field)
        if rows is not None:
            return rows
    return read_rows(start.filter(**{keyed: keys}).values_list(*level.columns), level.text)


_PLACEHOLDER = re.compile(r"%%|%s")


def _many_keys_rows(start: QuerySet, keyed: str, level: Level, keys: list,
                    key_field) -> list[tuple] | None:
    """The rows of the level's query for many int keys, read as ``read_rows``
    reads them, or None to let Django write the query.

    Django's ``In`` lookup prepares each key through several calls and
    writes ``IN (%s, %s, ...)``: one placeholder and one parameter per key
    (None and repeats dropped: there are none), each parameter
    ``key_field.get_db_prep_value(key, connection, prepared=True)``, the
    rest of the query the same whatever their number. Its SQL and
    parameters for the first two keys then say where the list goes: the two
    keys' parameters, found next to each other at exactly one place, their
    placeholders written ``(%s, %s)``. Put every key there and it is
    Django's query for all of them, run on the same kind of cursor: the
    same query, counted once (the tests compare the SQL with Django's).
    On PostgreSQL ``IN (%s, %s)`` becomes ``= ANY(%s::bigint[])`` with one
    parameter, the keys' array text: the same rows (``IN`` is ``= ANY``),
    without psycopg's parsing of a placeholder and writing of a parameter
    per key, which at 10,000 keys cost more than the query itself.
    """
    two = start.filter(**{keyed: keys[:2]}).values_list(*level.columns)
    compiler = two.query.get_compiler(two.db)
    connection = compiler.connection
    if connection.ops.max_in_list_size() is not None:
        return None  # Django splits long lists (Oracle)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:
        return None
    spots = [match for match in _PLACEHOLDER.finditer(sql) if match.group() == "%s"]
    if len(spots) != len(params):
        return None
    written = list(map(functools.partial(key_field.get_db_prep_value, connection=connection,
                                         prepared=True), keys))
    pair = [(type(value), value) for value in written[:2]]
    found = [at for at in range(1, len(params))
             if [(type(value), value) for value in params[at - 1:at + 1]] == pair]
    if len(found) != 1:
        return None
    first, second = spots[found[0] - 1], spots[found[0]]
    if sql[first.start() - 1:second.end() + 1] != "(%s, %s)":
        return None
    before, after = sql[:first.start() - 1], sql[second.end() + 1:]
    if (connection.vendor == "postgresql" and before.endswith(" IN ")
            and set(map(type, written)) == {int}):
        # One parameter, the array's text: the driver then reads one
        # placeholder and writes one value, not one per key, each through
        # its own regular expression (``x IN (1, 2)`` is ``x = ANY('{1,2}')``).
        sql = f"{before[:-4]} = ANY(%s::bigint[]){after}"
        params = [*params[:found[0] - 1], "{" + ",".join(map(str, written)) + "}",
                  *params[found[0] + 1:]]
    else:
        sql = f"{before}({', '.join(['%s'] * len(keys))}){after}"
        params = [*params[:found[0] - 1], *written, *params[found[0] + 1:]]
    return _run(compiler, sql, params, level.text)


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


def _decimal_parts(ops, converter, expression):
    """``(create, quantum, context)`` of SQLite's decimal converter for a
    column: it returns ``create(value).quantize(quantum, context=context)``,
    ``create`` being the closure's ``create_decimal`` (Django 5.2) or
    ``ops._create_decimal`` (6.1); the quantum and the create function are
    the closure's own objects, and the field's ``context`` a cached
    property, read once. None for any other closure."""
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
    return create, cells["quantize_value"], expression.output_field.context


def _sqlite_decimal(ops, convert, converter, expression):
    """SQLite's decimal converter for a column (``_decimal_parts``), the
    same calls without the generic loop."""
    parts = _decimal_parts(ops, converter, expression)
    if parts is None:
        return None
    create, quantum, context = parts

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
    from django.db.backends.sqlite3.base import DatabaseOperations

    # A subclass overriding the method: its own code, called as Django calls it.
    if getattr(type(ops), name) is not getattr(DatabaseOperations, name):
        return None
    if name == "get_decimalfield_converter" and (
            converter.__module__ != DatabaseOperations.__module__):
        return None
    return known[name]


def _known_only(connection, converters):
    """The maker of the equivalent of a column's one known converter, or None."""
    return _known(connection, converters[0]) if len(converters) == 1 else None


def column_reader(connection, converters, expression):
    """One column's converters (``SQLCompiler.get_converters``) as one
    function of the value, equal to calling them in turn as
    ``apply_converters`` does."""

    def convert(value):
        for converter in converters:
            value = converter(value, expression, connection)
        return value

    maker = _known_only(connection, converters)
    if maker is not None:
        only = converters[0]
        reader = maker(connection.ops, lambda value: only(value, expression, connection),
                       only, expression)
        if reader is not None:
            return reader
    return convert


# ------------------------------------------------------------ JSON text columns
#
# In JSON mode a column read only as a date, datetime or decimal field's
# value is given to the projection function as its JSON text (``Text``): the
# column's converters and the mode's encoding in one step, written where it
# is provably equal without the Python object in between. A column any other
# code reads (a stand-in's method, a choices table, a relation's key) keeps
# its Python value.

# Field classes (exactly these: a subclass may convert and encode its own
# way) whose JSON-mode values a column may carry as text.
_TEXT_KINDS = {"DateField": "date", "DateTimeField": "datetime", "DecimalField": "decimal"}


@dataclass(frozen=True)
class Text:
    """Column ``position`` of a level's rows arrives as JSON text: the
    ``kind`` field's encoding (``modes.JSON``) of the converted value.
    ``strict``: a None is encoded too, as the function did for a non-null
    field; otherwise it stays None, as for a nullable one."""

    position: int
    kind: str
    strict: bool = False


def text_kind(field_class) -> str | None:
    """'date', 'datetime' or 'decimal' for the field classes whose columns
    may arrive as text, else None."""
    from django.db import models

    kind = _TEXT_KINDS.get(getattr(field_class, "__name__", None))
    if kind is None or getattr(models, field_class.__name__) is not field_class:
        return None
    return kind


def _encoder(kind: str):
    """The JSON mode's encoding of a ``kind`` field's value, as generated
    code writes it (``modes.JSON``)."""
    from django.db import models

    from djust.compiler import runtime

    leaf = modes.JSON.field_leaf(getattr(models, {v: k for k, v in _TEXT_KINDS.items()}[kind]))
    if leaf.how == "method":
        name = leaf.name
        return lambda value: getattr(value, name)()
    if leaf.how == "builtin":
        return getattr(builtins, leaf.name)
    return runtime.HELPERS[leaf.name]


# Rounding modes that give the nearest value: a decimal of 15 significant
# digits or fewer is recovered from the nearest double by any of them.
_NEAREST = frozenset({"ROUND_HALF_EVEN", "ROUND_HALF_UP", "ROUND_HALF_DOWN"})
# Signals that may be trapped: none is raised on the values the short way takes.
_HARMLESS_TRAPS = frozenset({"InvalidOperation", "DivisionByZero", "Overflow",
                             "FloatOperation"})


def _plain_context(context) -> bool:
    import decimal

    trapped = {signal.__name__ for signal, on in context.traps.items() if on}
    return (isinstance(context, decimal.Context) and context.rounding in _NEAREST
            and trapped <= _HARMLESS_TRAPS and not context.clamp
            and context.Emax >= 16 and context.Emin <= -16)


def _decimal_text_format(ops, converter, expression):
    """``(format, bound)`` when SQLite's decimal converter, then ``str``,
    gives ``format % value`` for a float or int ``value`` with ``-bound <
    value < bound`` and ``float(format % value) == value``; else None.

    Why: ``format`` is ``"%.<p>f"`` for the field's ``p`` decimal places
    (``p <= 6``), and ``bound`` ``10 ** (min(max_digits, 15) - p)``. The
    text ``s = format % value`` is then a decimal ``D`` of at most 15
    significant digits whose nearest double is ``value``; rounding the
    double to 15 significant digits (``create``: a context of precision 15
    rounding to nearest) gives back ``D`` (a decimal of 15 digits or fewer
    survives the round trip through the nearest double), quantizing ``D``
    to ``p`` places is exact (no digit dropped but zeros, no more than
    ``max_digits`` digits, so no InvalidOperation) and ``str()`` of a
    decimal whose exponent is ``-p >= -6`` is fixed-point, the text ``s``
    (a negative zero included: ``-0.00``). Django 6.1 makes an int an exact
    Decimal, of at most 15 digits here, the same number.
    """
    import decimal

    from django.db.backends.sqlite3.base import DatabaseOperations

    parts = _decimal_parts(ops, converter, expression)
    if parts is None:
        return None
    create, quantum, context = parts
    sign, digits, exponent = quantum.as_tuple()
    if sign or digits != (1,) or not isinstance(exponent, int) or not -6 <= exponent <= 0:
        return None
    places = -exponent
    own = DatabaseOperations.__dict__.get("_create_decimal")
    if getattr(create, "__name__", None) == "create_decimal_from_float" and isinstance(
            getattr(create, "__self__", None), decimal.Context):
        creating = create.__self__  # Django 5.2: Context(prec=15).create_decimal_from_float
    elif isinstance(own, staticmethod) and create is own.__func__:
        creating = decimal.Context(prec=15)  # Django 6.1: a fresh context per value
    else:
        return None
    if creating.prec != 15 or not _plain_context(creating) or not _plain_context(context):
        return None
    width = min(context.prec, 15) - places
    if width < 0:
        return None
    return f"%.{places}f", 10 ** width


# ------------------------------------------------------------ the read pass
#
# Each converted column is one expression of the driver's value ``{v}`` in
# a comprehension generated per shape of row (``_converting``), the
# arguments ``{a0}``, ``{a1}``... given per query; ``{t}`` names a
# temporary. A short way guarded by the value's exact class, else the exact
# reader (``column_reader`` or ``_text_reader``): no call where the class
# check settles it.


def _text_reader(convert, kind: str, strict: bool):
    """The converted value's JSON text: the mode's encoding, None kept as
    it is unless ``strict`` (what the function did with the value)."""
    encode = _encoder(kind)

    def text_value(value):
        value = convert(value)
        if value is None and not strict:
            return None
        return encode(value)

    return text_value


def _identity(value):
    return value


def _column_expression(connection, converters, expression, text: Text | None):
    """``(template, arguments)`` of one column's expression, or None for a
    column left as the driver gave it."""
    maker = _known_only(connection, converters) if converters else None
    if text is None:
        if not converters:
            return None
        reader = column_reader(connection, converters, expression)
        if maker is _sqlite_date:
            return "({v} if {v}.__class__ is {a0} else {a1}({v}))", (datetime.date, reader)
        if maker is _sqlite_datetime and reader.__name__ == "datetime_value":
            zone = _zone(connection)
            if zone is None:
                return ("({v} if {v}.__class__ is {a0} or {v} is None else {a1}({v}))",
                        (datetime.datetime, reader))
            return ("(None if {v} is None else {v}.replace(tzinfo={a0}) "
                    "if {v}.__class__ is {a1} and {v}.tzinfo is None else {a2}({v}))",
                    (zone, datetime.datetime, reader))
        if maker is _sqlite_decimal and reader.__name__ == "decimal_value":
            create, quantum, context = _decimal_parts(connection.ops, converters[0], expression)
            return ("(None if {v} is None else {a0}({v}).quantize({a1}, context={a2}))",
                    (create, quantum, context))
        return "{a0}({v})", (reader,)
    convert = column_reader(connection, converters, expression) if converters else _identity
    slow = _text_reader(convert, text.kind, text.strict)
    keep_none = "" if text.strict else "None if {v} is None else "
    if text.kind == "date" and (not converters or maker is _sqlite_date):
        # A date is left as it is by both; its text is isoformat().
        return "({v}.isoformat() if {v}.__class__ is {a0} else {a1}({v}))", (datetime.date, slow)
    if text.kind == "datetime" and maker is _sqlite_datetime:
        # The driver's naive datetime (Django's storage: UTC, or local time
        # without USE_TZ): made aware in UTC, DjangoJSONEncoder writes its
        # isoformat() cut to milliseconds, "+00:00" as "Z"; left naive, the
        # same text without "Z". Another zone: the exact way.
        zone = _zone(connection)
        if zone is datetime.UTC:
            suffix = " + 'Z'"
        elif zone is None:
            suffix = ""
        else:
            return "{a0}({v})", (slow,)
        return ("(" + keep_none + "({t}[:23]" + suffix + " if {v}.microsecond else {t}" + suffix
                + ") if {v}.__class__ is {a0} and {v}.tzinfo is None "
                "and ({t} := {v}.isoformat()) else {a1}({v}))", (datetime.datetime, slow))
    if text.kind == "decimal" and maker is _sqlite_decimal:
        shape = _decimal_text_format(connection.ops, converters[0], expression)
        if shape is None:
            return "{a0}({v})", (slow,)
        fmt, bound = shape
        return ("({t} if {v}.__class__ in {a0} and {a1} < {v} < {a2} "
                "and {a3}({t} := {a4} % {v}) == {v} else {a5}({v}))",
                ((float, int), -bound, bound, float, fmt, slow))
    if not converters:
        # No converter: the encoding alone, as the function wrote it.
        return "(" + keep_none + "{a0}({v}))", (_encoder(text.kind),)
    return "{a0}({v})", (slow,)


def _zone(connection):
    """The zone SQLite's converter makes naive datetimes aware in, or None
    (``_sqlite_datetime``)."""
    from django.conf import settings

    return connection.timezone if settings.USE_TZ else None


_CONVERTING: dict[tuple, object] = {}


def _converting(width: int, templates: tuple[tuple[int, str, int], ...]):
    """``convert(rows, *arguments)``: the rows with column i written as its
    template (``(position, template, number of arguments)``)."""
    key = (width, templates)
    function = _CONVERTING.get(key)
    if function is None:
        names = [f"c{i}" for i in range(width)]
        items = list(names)
        arguments: list[str] = []
        for position, template, count in templates:
            own = [f"a{position}_{k}" for k in range(count)]
            arguments += own
            items[position] = template.format(
                v=names[position], t=f"t{position}",
                **{f"a{k}": name for k, name in enumerate(own)})
        source = (f"def convert(rows, {', '.join(arguments)}):\n"
                  f"    return [({', '.join(items)},) for ({', '.join(names)},) in rows]\n")
        namespace: dict = {}
        exec(compile(source, f"<djust row converter {width} {len(_CONVERTING)}>", "exec"),
             namespace)
        function = _CONVERTING[key] = namespace["convert"]
    return function


def _convert_rows(rows: list[tuple], width: int, expressions: dict) -> list[tuple]:
    if not expressions or not rows:
        return rows
    templates = tuple((position, template, len(arguments))
                      for position, (template, arguments) in sorted(expressions.items()))
    arguments = [argument for _, (_, own) in sorted(expressions.items()) for argument in own]
    return _converting(width, templates)(rows, *arguments)


def text_rows(rows: list[tuple], text: tuple[Text, ...] = ()) -> list[tuple]:
    """Rows Django already converted (``values_list()``'s), with the
    ``text`` columns written as their JSON text, as ``read_rows`` gives
    them: what the JSON-mode projection function takes."""
    if not text or not rows:
        return rows
    width = len(rows[0])
    expressions = {column.position: _column_expression(None, [], None, column)
                   for column in text}
    return _convert_rows(rows, width, expressions)


def read_rows(queryset: QuerySet, text: tuple[Text, ...] = ()) -> list[tuple]:
    """``list(queryset)`` for a ``values_list()`` queryset (not flat, not
    named), read on its compiler's cursor: the same SQL, the same values;
    the ``text`` columns as their JSON text (``text_rows``).

        >>> from examples.rentals.models import Unit
        >>> read_rows(Unit.objects.none().values_list("number"))
        []
    """
    if queryset._iterable_class is not ValuesListIterable or queryset._result_cache is not None:
        return text_rows(list(queryset), text)
    compiler = queryset.query.get_compiler(queryset.db)
    if _in_database(compiler.connection, text):
        try:
            sql, params = compiler.as_sql()
            if not sql:
                raise EmptyResultSet
        except EmptyResultSet:
            return []  # no query, as Django runs none
        return _run(compiler, sql, params, text)
    cursor = compiler.execute_sql(CURSOR)
    if cursor is None:  # EmptyResultSet: no query, as Django runs none
        return []
    try:
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return _converted(compiler, rows, text)


# ------------------------------------------------------------ text written by the database
#
# On PostgreSQL the driver parses each date, timestamp and numeric into a
# Python object that the read pass then writes back as text. Where the
# database's own text is provably DjangoJSONEncoder's, the SELECT asks for
# it instead: the same query otherwise (the same FROM, WHERE, ORDER BY and
# parameters, the select list's other columns as Django wrote them), run
# on the same cursor, so the same query count. PostgreSQL has no converter
# for these fields (Django's backend lists none), so the driver's value is
# Django's value:
#
# - a date: ``to_char(d, 'YYYY-MM-DD')``, which pads the year to four digits
#   as ``date.isoformat()`` does;
# - a timestamptz, with USE_TZ on and the connection in UTC (the value then
#   comes as an aware datetime of offset 0): ``to_char`` of the instant in
#   UTC, with ``.MS`` (milliseconds, cut as the encoder cuts) when the
#   fraction is not 0, and ``Z``;
# - a numeric of a DecimalField with at most 6 decimal places: ``::text``.
#   The column is ``numeric(max_digits, decimal_places)``, every stored
#   value has that scale, and ``str(Decimal(t))`` is ``t`` for the plain
#   notation PostgreSQL writes when the exponent is at least -6 (and for
#   'NaN', 'Infinity', '-Infinity').
#
# A date or datetime Python cannot hold (before year 1, after 9999,
# infinity) makes the driver raise DataError on the exact path; here the
# database raises it, casting a text that is no date. Otherwise NULL stays
# NULL; a NULL in a strict column (what the function encodes too) sends
# the rows through the exact expression.

_OUT_OF_RANGE = "CAST('out of range ' || {c}::text AS date)::text"
_PG_DATE = ("(CASE WHEN {c} < '0001-01-01' OR {c} >= '10000-01-01' THEN "
            + _OUT_OF_RANGE + " ELSE to_char({c}, 'YYYY-MM-DD') END)")
_PG_DATETIME = (
    "(CASE WHEN {u} < '0001-01-01' OR {u} >= '10000-01-01' THEN "
    + _OUT_OF_RANGE.format(c="{u}") + " WHEN date_trunc('second', {u}) = {u} THEN "
    "to_char({u}, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
    "ELSE to_char({u}, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') END)")
_PG_DECIMAL = "{c}::text"
# Most decimal places whose values str() writes in plain notation.
_PLAIN_PLACES = 6


def _utc(connection) -> bool:
    """USE_TZ on and the connection's zone UTC: timestamptz values come as
    aware datetimes of offset 0."""
    from django.conf import settings

    zone = connection.timezone if settings.USE_TZ else None
    return zone is datetime.UTC or (zone is not None and str(zone) in ("UTC", "Etc/UTC"))


def _in_database(connection, text: tuple[Text, ...]) -> bool:
    """PostgreSQL only. On SQLite the validation a stored text needs before
    it can stand for the encoder's (its form, a real date: the Julian day
    round trip) costs more in SQL than the driver's parse it saves."""
    return bool(text) and connection.vendor == "postgresql"


def _database_expression(connection, expression, text: Text, column_sql: str,
                         converters) -> str | None:
    """The SQL writing ``column_sql`` (the Col ``expression``, its
    ``converters`` none) as its JSON text, or None to read it the exact
    way."""
    from django.db import models
    from django.db.models.expressions import Col

    if not isinstance(expression, Col) or "%" in column_sql:
        return None
    if converters:
        return None
    target = type(expression.output_field)
    if text.kind == "date" and target is models.DateField:
        return _PG_DATE.format(c=column_sql)
    if text.kind == "datetime" and target is models.DateTimeField and _utc(connection):
        return _PG_DATETIME.format(u=f"({column_sql} AT TIME ZONE 'UTC')")
    if (text.kind == "decimal" and target is models.DecimalField
            and 0 <= expression.output_field.decimal_places <= _PLAIN_PLACES):
        return _PG_DECIMAL.format(c=column_sql)
    return None


def _run(compiler, sql: str, params, text: tuple[Text, ...]) -> list[tuple]:
    """The rows of ``sql`` (``compiler``'s, after ``as_sql()``) as
    ``read_rows`` gives them; the ``text`` columns the database can write
    rewritten in its select list (``_rewritten``)."""
    written: dict[int, Text] = {}
    if _in_database(compiler.connection, text):
        sql, written = _rewritten(compiler, sql, text)
    cursor = compiler.connection.cursor()
    try:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    if not written:
        return _converted(compiler, rows, text)
    rest = tuple(column for column in text if column.position not in written)
    strict = [position for position, column in written.items() if column.strict]
    read = {}
    if rows and any(None in map(operator.itemgetter(position), rows) for position in strict):
        # A NULL the function would have encoded: the exact expression.
        read = {position: ("({v} if {v} is not None else {a0}({v}))",
                           (_text_reader(_identity, written[position].kind, True),))
                for position in strict}
    return _converted(compiler, rows, rest, skip=frozenset(written), read=read)


def _rewritten(compiler, sql: str, text: tuple[Text, ...]) -> tuple[str, dict[int, Text]]:
    """``sql`` with each ``text`` column the database writes replaced in the
    select list, and those columns by position; ``sql`` unchanged when its
    select list is not the one ``as_sql`` writes from ``compiler.select``."""
    query = compiler.query
    width = compiler.col_count
    if query.distinct or query.combinator or compiler.has_extra_select:
        return sql, {}
    selected = compiler.select[:width]
    fields = [expression for expression, _, _ in selected]
    if compiler.has_composite_fields(fields):
        return sql, {}
    converters = compiler.get_converters(fields)
    connection = compiler.connection
    quote = connection.ops.quote_name
    columns = [column_sql + (f" AS {quote(alias)}" if alias else "")
               for _, (column_sql, _), alias in selected]
    head = "SELECT " + ", ".join(columns)
    if not (sql.startswith(head + " ") or sql.startswith(head + ", ")):
        return sql, {}
    written: dict[int, Text] = {}
    for column in text:
        expression, (column_sql, column_params), alias = selected[column.position]
        if column_params:
            continue
        found = converters.get(column.position, ([], expression))[0]
        made = _database_expression(connection, expression, column, column_sql, found)
        if made is not None:
            columns[column.position] = made + (f" AS {quote(alias)}" if alias else "")
            written[column.position] = column
    if not written:
        return sql, {}
    return "SELECT " + ", ".join(columns) + sql[len(head):], written


def _converted(compiler, rows: list[tuple], text: tuple[Text, ...],
               skip: frozenset[int] = frozenset(), read: dict | None = None) -> list[tuple]:
    """The rows ``compiler``'s query fetched, as ``values_list()`` gives them;
    the columns at ``skip`` were written as JSON text by the database
    (``_rewritten``): taken as they are, or by the expressions of ``read``."""
    width = compiler.col_count
    if compiler.has_extra_select:
        rows = [row[:width] for row in rows]
    fields = [selected[0] for selected in compiler.select[:width]]
    if compiler.has_composite_fields(fields):
        # Composite keys: Django's own conversion of the rows just fetched.
        return text_rows(list(compiler.results_iter(results=[rows], tuple_expected=True)), text)
    if not rows:
        return rows
    converters = compiler.get_converters(fields)
    connection = compiler.connection
    as_text = {column.position: column for column in text}
    expressions = {}
    for position in sorted((set(converters) | set(as_text)) - skip):
        found, expression = converters.get(position, ([], fields[position]))
        made = _column_expression(connection, found, expression, as_text.get(position))
        if made is not None:
            expressions[position] = made
    expressions.update(read or {})
    return _convert_rows(rows, width, expressions)


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
    # Columns something reads as their Python value (not only as JSON text).
    raw: set[str] = field(default_factory=set)

    def add(self, lookup: str, raw: bool = True) -> str:
        """The row variable holding column ``lookup``; ``raw``: read as its
        Python value."""
        if lookup not in self.names:
            self.names.append(lookup)
        if raw:
            self.raw.add(lookup)
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
        # Field values a column's JSON text may stand for (JSON mode):
        # placeholder name -> (level, lookup, Text kind and strictness,
        # the expression encoding the Python value).
        self.texts: dict[str, tuple[_Level, str, Text, ast.expr]] = {}

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
        lookup = ORM_SEPARATOR.join((*prefix, node.field or node.segment))
        kind = None if self.mode.renders else text_kind(node.field_class)
        # A non-null field below a nullable relation is encoded only when
        # the relation's row exists: kept as a Python value.
        if kind is not None and (node.nullable or not guard):
            column = level.add(lookup, raw=False)
        else:
            kind = None
            column = level.add(lookup)
        converter = self.lowerer.field_converter(node.field_class)
        if converter is None:
            return jsontext.hint(load(column), *_usual_class(node.field_class, column))
        if not node.nullable:
            encoded = converter(load(column))
        else:
            encoded = none_or(column, converter(load(column)))
        if kind is None:
            return encoded
        # Decided once every use of the column is known (``_texts``).
        placeholder = f"text_placeholder{len(self.texts)}"
        self.texts[placeholder] = (level, lookup, Text(0, kind, strict=not node.nullable),
                                   encoded)
        return load(placeholder)

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
                pairs.append((below.segment, jsontext.hint(call(load("len"), load(rows)),
                                                           "int")))
            elif below.kind is Kind.ALL:
                each = below.children[0]
                child.item = self.mapping(each, relation.model, (), child)
                pairs.append((below.segment, jsontext.hint(load(rows), "rows")))
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
        return jsontext.hint(self.lowerer.plain_or_encoded(shown), "str", shown)


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


class _Texts(ast.NodeTransformer):
    """Each placeholder of ``_Projector.texts`` made the column itself when
    the column arrives as text, else the expression encoding its value."""

    def __init__(self, chosen: dict[str, ast.expr]) -> None:
        self.chosen = chosen

    def visit_Name(self, node: ast.Name) -> ast.expr:
        return self.chosen.get(node.id, node)


def _texts(projector: _Projector) -> dict[int, tuple[Text, ...]]:
    """Which columns arrive as JSON text, per level index: those read only
    as the value of fields of one kind and strictness."""
    uses: dict[tuple[int, str], set[Text]] = {}
    for level, lookup, text, _ in projector.texts.values():
        uses.setdefault((level.index, lookup), set()).add(text)
    chosen: dict[tuple[int, str], Text] = {}
    for (index, lookup), texts in uses.items():
        level = projector.levels[index]
        if len(texts) == 1 and lookup not in level.raw:
            (text,) = texts
            chosen[index, lookup] = Text(level.names.index(lookup), text.kind, text.strict)
    return chosen


def _text_column(variable: str, text: Text) -> ast.expr:
    # A column arriving as its JSON text: a str, or None unless strict. The
    # text of a date, datetime or decimal holds nothing JSON escapes.
    return jsontext.hint(load(variable), "text" if text.strict else "nullable text", variable)


# Field classes whose columns usually arrive as a str or an int
# (``jsontext.HINT``: a hint, checked per value).
_STR_FIELDS = ("CharField", "TextField")
_INT_FIELDS = ("IntegerField", "AutoField", "SmallIntegerField", "BigIntegerField",
               "PositiveIntegerField", "PositiveSmallIntegerField", "PositiveBigIntegerField",
               "SmallAutoField", "BigAutoField")


def _usual_class(field_class, variable: str) -> tuple[str | None, str | None]:
    """``(kind, variable)`` for ``jsontext.hint``: what a column of
    ``field_class`` usually holds, read as it comes."""
    from django.db import models

    names = {klass.__name__ for klass in getattr(field_class, "__mro__", ())
             if getattr(models, klass.__name__, None) is klass}
    if names & set(_INT_FIELDS):
        return "int", variable
    if names & set(_STR_FIELDS):
        return "str", variable
    return None, None


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
    texts = _texts(projector)
    function = _Texts({
        placeholder: (_text_column(level.variable(texts[level.index, lookup].position),
                                   texts[level.index, lookup])
                      if (level.index, lookup) in texts else encoded)
        for placeholder, (level, lookup, _, encoded) in projector.texts.items()
    }).visit(function)
    text_of = {index: tuple(sorted((text for (at, _), text in texts.items() if at == index),
                                   key=lambda text: text.position))
               for index in range(len(projector.levels))}
    namespace = projector.lowerer.namespace()
    levels = tuple(
        Level(model=level.model, lookup=level.lookup, columns=tuple(level.names),
              parent=level.parent, key=level.key, runs=frozenset(level.runs),
              text=text_of[level.index])
        for level in projector.levels[1:])
    spec = Projection(columns, levels, model=tree.model, runs=frozenset(root.runs),
                      code=tuple(stand_in.described for stand_in in projector.stand_ins),
                      text=text_of[0])
    return ast.Module(body=[function], type_ignores=[]), namespace, spec
