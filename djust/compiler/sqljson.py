"""JSON built by the database: one query returning a QuerySet's JSON text.

``json_text(serializer, queryset)`` asks the database itself to write what
``json.dumps(serializer.many(queryset), cls=DjangoJSONEncoder)`` writes,
for the trees it can express:

- columns (fields, ``pk``, a FK's attname) of the field classes whose JSON
  the database can write exactly as ``DjangoJSONEncoder`` does (text,
  integers, booleans, floats, decimals, dates, datetimes, times, durations,
  UUIDs, JSON, file names, IP addresses);
- ``get_FOO_display`` of fixed choices (a ``CASE`` over the labels, in the
  language active for the call);
- forward ForeignKey / OneToOne steps (a join; ``null`` when a nullable
  relation has no row);
- to-many relations (reverse ForeignKey, ManyToMany) read as
  ``rel.all.*.<...>``, ``rel.count`` and ``rel.exists``, at any depth: the
  related rows aggregated into a JSON array, in the order the related
  manager's queryset gives them (what ``prefetch_related`` reads).

PostgreSQL writes each row's JSON *text* by concatenation (``||`` of the
literal keys and punctuation and each value's text: ``to_json(col)::text``
for strings, dates and UUIDs, ``to_char`` for datetimes, casts for numbers),
about twice as fast as ``json_build_object``; each to-many level is read
once for all its parents (restricted to the parents' keys unless the level
above holds every row of its table, grouped by parent key into array texts
with ``string_agg``, joined to the level above),
not once per parent row, except below a nullable forward step, where it is
a correlated subquery. SQLite writes each row with ``json_object``, to-many
levels with ``json_group_array`` over the ordered related rows in correlated
subqueries. The queryset keeps its filters, ordering and slicing: the row
objects are an annotation of the queryset itself, and the rows' texts, in
the queryset's order, are joined into the array text.

Leaves are written as ``modes.JSON`` writes them (``DjangoJSONEncoder``):
datetimes cut (not rounded) to milliseconds with ``Z`` for UTC, ISO 8601
durations (``duration_iso_string``), Decimals as ``str()`` of the value
Django reads (SQLite: its 15-digit rounding and ``decimal_places``
quantizing; ``str()``'s scientific notation below 1e-6), UUIDs hyphenated,
integral floats with their ``.0`` (so ``json.loads`` gives a float), SQLite's
0/1 as ``false``/``true``.

Anything else (methods, properties, displayed instances, generic
relations, ``first``/``last``, indexes, JSON keys, run-time lookups, field
classes not listed, python mode, other databases) makes ``json_text``
return None, and ``describe(serializer)`` says which path forces the Python
path and why; ``queryset_refusal`` says why a given queryset is refused.

    >>> from djust.compiler import compile_serializer
    >>> from examples.rentals.models import Lease
    >>> print(describe(compile_serializer(Lease, ["tenant.user.email", "days_until_expiration"])))
    the Python path: days_until_expiration is a method: the database cannot run it
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import weakref

from django.db import OperationalError, connections, models
from django.db.models import Exists, F, OuterRef, Subquery, TextField
from django.db.models.expressions import Expression, Func
from django.db.models.query import ModelIterable

from djust.compiler import relations
from djust.compiler.nodes import Kind, Node
from djust.compiler.paths import STAR

logger = logging.getLogger("djust.serializer")

# The backends whose JSON functions are used.
VENDORS = ("postgresql", "sqlite")
# PostgreSQL functions take at most 100 arguments: 50 key/value pairs.
MAX_KEYS = 50
# A slice no queryset reaches: it keeps the ORDER BY of a related rows'
# subquery, which Django drops from unsliced subqueries.
_ALL_ROWS = 2**62
ANNOTATION = "_djust_json"

_TEXT = (models.CharField, models.TextField, models.EmailField, models.SlugField,
         models.URLField, models.FilePathField)
_INTEGERS = (models.AutoField, models.BigAutoField, models.SmallAutoField,
             models.IntegerField, models.BigIntegerField, models.SmallIntegerField,
             models.PositiveIntegerField, models.PositiveBigIntegerField,
             models.PositiveSmallIntegerField)
# Exact classes only: a subclass may convert what it reads (``from_db_value``).
_LEAF_KINDS: dict[type, str] = {
    **dict.fromkeys(_TEXT, "text"),
    **dict.fromkeys(_INTEGERS, "integer"),
    models.GenericIPAddressField: "ip",
    models.BooleanField: "boolean",
    models.FloatField: "float",
    models.DecimalField: "decimal",
    models.DateField: "date",
    models.DateTimeField: "datetime",
    models.TimeField: "time",
    models.DurationField: "duration",
    models.UUIDField: "uuid",
    models.JSONField: "json",
    models.FileField: "file",
    models.ImageField: "file",
}
# Fields whose choices display as a CASE over str or int keys.
_DISPLAY_KINDS = {"text": str, "integer": int}


class Refusal(Exception):
    """A path the database cannot express: ``path`` and why."""

    def __init__(self, path: tuple[str, ...], reason: str) -> None:
        self.path = ".".join(path) or "<the row itself>"
        self.reason = reason
        super().__init__(f"{self.path} {reason}")


# ------------------------------------------------------------ the tree check


def _concrete(model_field):
    """The field whose value a column holds (a FK's target, through chains)."""
    while model_field.is_relation and (model_field.many_to_one or model_field.one_to_one):
        model_field = model_field.target_field
    return model_field


def _leaf_kind(model_field, path) -> str:
    kind = _LEAF_KINDS.get(type(model_field))
    if kind is None:
        raise Refusal(path, f"is a {type(model_field).__name__}: no database JSON encoding "
                            "is known to match DjangoJSONEncoder for it")
    if kind == "json" and model_field.decoder is not None:
        raise Refusal(path, "is a JSONField with its own decoder")
    return kind


def _choices(model, node: Node, path) -> tuple[models.Field, str]:
    model_field = model._meta.get_field(node.field)
    if relations.display_table(model, node.segment) is None:
        raise Refusal(path, "is not Django's own get_FOO_display over fixed choices")
    kind = _LEAF_KINDS.get(type(model_field))
    wanted = _DISPLAY_KINDS.get(kind)
    if wanted is None:
        raise Refusal(path, f"displays the choices of a {type(model_field).__name__}")
    for key in dict(model_field.flatchoices):
        if key is not None and type(key) is not wanted:
            raise Refusal(path, f"has a choice key {key!r} that is not a {wanted.__name__}")
    return model_field, kind


class _Checker:
    """Raise ``Refusal`` for the first path the database cannot express."""

    def object(self, node: Node, model, path) -> None:
        if node.bare:
            raise Refusal(path, "is displayed (its __str__): the database cannot run it")
        shown = [child for child in node.children if child.kind is not Kind.SENSITIVE]
        if len(shown) > MAX_KEYS:
            raise Refusal(path, f"has {len(shown)} keys; one JSON object takes {MAX_KEYS}")
        for child in shown:
            self.value(child, model, (*path, child.segment))

    def value(self, node: Node, model, path) -> None:
        kind = node.kind
        if kind is Kind.FIELD:
            if node.children:
                raise Refusal(path, "is looked into")
            _leaf_kind(_concrete(model._meta.get_field(node.field)), path)
        elif kind is Kind.DISPLAY:
            if node.children:
                raise Refusal(path, "is looked into")
            _choices(model, node, path)
        elif kind is Kind.FORWARD:
            self.object(node, node.model, path)
        elif kind is Kind.TO_MANY:
            self.to_many(node, model, path)
        elif kind in (Kind.METHOD, Kind.PROPERTY):
            raise Refusal(path, f"is a {kind.value}: the database cannot run it")
        elif kind is Kind.UNKNOWN:
            raise Refusal(path, f"is resolved at run time ({node.note})")
        else:
            raise Refusal(path, f"is a {kind.value} node, not expressed in SQL")

    def to_many(self, node: Node, model, path) -> None:
        if node.bare:
            raise Refusal(path, "is a related manager displayed as text")
        relation = relations.to_many_relation(model, node.segment)
        if relation is None or relation.model is not node.model:
            raise Refusal(path, "is a to-many relation not read by a plain lookup back "
                                "(generic, self-referential, to_field or hidden)")
        for child in node.children:
            here = (*path, child.segment)
            if child.kind is Kind.SENSITIVE:
                continue
            if child.kind is Kind.AGGREGATE:
                if child.children:
                    raise Refusal(here, "is looked into")
                continue
            if child.kind is not Kind.ALL or child.bare:
                raise Refusal(here, f"is a {child.kind.value} read on related rows")
            if [grand.segment for grand in child.children] != [STAR]:
                raise Refusal(here, "is read other than as '*' (an index, a lookup)")
            self.object(child.children[0], relation.model, (*here, STAR))


def tree_refusal(tree: Node) -> Refusal | None:
    """Why the database cannot build ``tree``'s JSON, or None."""
    try:
        _Checker().object(tree, tree.model, ())
    except Refusal as refusal:
        return refusal
    return None


_REFUSALS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def refusal(serializer) -> str | None:
    """Why ``serializer``'s paths keep the Python path, or None (kept per serializer)."""
    try:
        return _REFUSALS[serializer]
    except (KeyError, TypeError):
        pass
    if serializer.mode != "json":
        reason = f"the Python path: mode {serializer.mode!r} (the database writes JSON mode only)"
    else:
        found = tree_refusal(serializer.tree)
        reason = None if found is None else f"the Python path: {found}"
    with contextlib.suppress(TypeError):
        _REFUSALS[serializer] = reason
    return reason


def describe(serializer) -> str:
    """What ``json_text`` does for ``serializer``: for ``explain()``."""
    reason = refusal(serializer)
    if reason is not None:
        return reason
    levels = sum(1 for _, node in serializer.tree.walk() if node.kind is Kind.TO_MANY)
    return ("JSON built by the database in one query (PostgreSQL: the text concatenated, "
            f"{levels} to-many level(s) each read once, grouped by parent key and joined; "
            "SQLite: json_object, to-many levels as json_group_array correlated subqueries)")


def queryset_refusal(serializer, queryset) -> str | None:
    """Why ``json_text`` refuses ``queryset`` for ``serializer``, or None."""
    reason = refusal(serializer)
    if reason is not None:
        return reason
    query = queryset.query
    connection = connections[queryset.db]
    if connection.vendor not in VENDORS:
        return f"the Python path: database {connection.vendor} (JSON built on {VENDORS} only)"
    if connection.settings_dict.get("TIME_ZONE"):
        return "the Python path: the database has its own TIME_ZONE setting"
    if connection.vendor == "postgresql" and connection.timezone_name != "UTC" and _use_tz():
        return "the Python path: the connection's time zone is not UTC"
    if queryset.model is not serializer.model:
        return (f"the Python path: a QuerySet of {queryset.model._meta.label}, not "
                f"{serializer.model._meta.label}")
    if queryset._iterable_class is not ModelIterable or queryset._fields is not None:
        return "the Python path: the QuerySet yields values()/values_list() rows"
    if query.combinator:
        return f"the Python path: a {query.combinator}() QuerySet"
    if query.distinct:
        return "the Python path: a distinct() QuerySet"
    if query.group_by is not None:
        return "the Python path: the QuerySet groups its rows (an aggregate annotation)"
    if queryset._prefetch_related_lookups:
        return "the Python path: the QuerySet prefetches (its Prefetch querysets decide the rows)"
    return None


def _use_tz() -> bool:
    from django.conf import settings

    return settings.USE_TZ


# ------------------------------------------------------------ SQL pieces

_PLACEHOLDER = re.compile(r"\{(\d+)\}")


class _Raw(Expression):
    """SQL text written as it is (a literal built here, never user input)."""

    def __init__(self, sql: str) -> None:
        super().__init__(output_field=TextField())
        self.sql = sql

    def as_sql(self, compiler, connection):
        return self.sql, []

    def get_group_by_cols(self):
        return []


class _SQL(Func):
    """A SQL template whose ``{i}`` stand for the compiled expressions
    (each may appear more than once: its SQL and parameters repeat)."""

    def __init__(self, template: str, *expressions) -> None:
        super().__init__(*expressions, output_field=TextField())
        self.sql_template = template

    def as_sql(self, compiler, connection, **extra_context):
        compiled = [compiler.compile(expression) for expression in self.get_source_expressions()]
        parts: list[str] = []
        params: list = []
        position = 0
        for match in _PLACEHOLDER.finditer(self.sql_template):
            parts.append(self.sql_template[position:match.start()])
            sql, more = compiled[int(match.group(1))]
            parts.append(sql)
            params.extend(more)
            position = match.end()
        parts.append(self.sql_template[position:])
        return "".join(parts), params


class _Rows(Subquery):
    """A subquery wrapped in a template where ``%(subquery)s`` is its SQL."""

    def __init__(self, queryset, template: str) -> None:
        super().__init__(queryset, output_field=TextField())
        self.wrapping = template

    def as_sql(self, compiler, connection, template=None, **extra_context):
        return super().as_sql(compiler, connection, template=self.wrapping, **extra_context)


def _literal(text: str) -> _Raw:
    """A SQL string literal (``%`` doubled: the query runs with parameters)."""
    if "\x00" in text:
        raise ValueError("a NUL character cannot be written in a SQL literal")
    return _Raw("'" + text.replace("'", "''").replace("%", "%%") + "'")


# ------------------------------------------------------------ per backend


class _Backend:
    """One database's spelling of each piece."""

    vendor = ""

    def __init__(self, connection) -> None:
        self.connection = connection
        self.aliases = 0

    def alias(self) -> str:
        self.aliases += 1
        return f"_djust_d{self.aliases}"

    # Datetimes: the zone the values are read in, and whether they are aware.
    def timezone_name(self) -> str:
        return self.connection.timezone_name

    # SQLite's json_object takes SQL values: a text is a string, a number a
    # number, NULL null; PostgreSQL's text writing overrides these.
    null = "NULL"

    def string(self, column) -> Expression:
        return column

    def number(self, column) -> Expression:
        return column

    def quoted(self, text) -> Expression:
        return text

    def count(self, counted) -> Expression:
        return counted


class _Postgres(_Backend):
    """PostgreSQL writes JSON *text* by concatenation (``||``): every value
    is the text of one JSON value, never NULL (``'null'`` instead), objects
    are their literal keys and punctuation around the values. It is about
    twice as fast as ``json_build_object``, which looks up each argument's
    type output function again for every row."""

    vendor = "postgresql"
    null = "'null'"

    def string(self, column) -> Expression:
        # to_json writes a text as a JSON string (escapes included), a date
        # or a uuid in ISO form whatever the DateStyle.
        return _SQL("COALESCE(to_json({0})::text, 'null')", column)

    def quoted(self, text) -> Expression:
        # Text made here of digits, signs, ':', '-', '.', 'P', 'T', ...: no escape needed.
        return _SQL("COALESCE('\"' || {0} || '\"', 'null')", text)

    def number(self, column) -> Expression:
        return _SQL("COALESCE(({0})::text, 'null')", column)

    def nullable(self, present, expression) -> Expression:
        return _SQL("CASE WHEN {0} IS NULL THEN 'null' ELSE {1} END", present, expression)

    def array(self, rows) -> Expression:
        # The rows come ordered from their subquery, which string_agg keeps.
        alias = self.alias()
        return _Rows(rows, f"(SELECT COALESCE('[' || string_agg({alias}.\"{ANNOTATION}\", ',') "
                           f"|| ']', '[]') FROM (%(subquery)s) {alias})")

    def json_literal(self, value) -> Expression:
        return _literal(json.dumps(value))

    def json_scalar(self, column) -> Expression:
        return self.string(column)

    def boolean(self, column) -> Expression:
        return _SQL("CASE WHEN {0} THEN 'true' WHEN NOT {0} THEN 'false' ELSE 'null' END", column)

    def truth(self, condition) -> Expression:
        return _SQL("CASE WHEN {0} THEN 'true' ELSE 'false' END", condition)

    def count(self, counted) -> Expression:
        return _SQL("({0})::text", counted)

    def float(self, column) -> Expression:
        # float8out writes the shortest text that reads back; an integral
        # value below 1e15 has no '.', which json.loads would read as an int.
        return _SQL("CASE WHEN {0} IS NULL THEN 'null' WHEN {0} = trunc({0}) AND "
                    "abs({0}) < 1e15 THEN ({0})::text || '.0' ELSE to_json({0})::text END",
                    column)

    def decimal_text(self, column, places: int) -> Expression:
        # numeric(p, s) writes exactly s places, as str() of the Decimal read.
        return _SQL("({0})::text", column)

    def decimal_abs_text(self, column, places: int) -> Expression:
        return _SQL("(abs({0}))::text", column)

    def date(self, column) -> Expression:
        return self.string(column)

    def datetime(self, column, aware: bool) -> Expression:
        # to_char's MS cuts to milliseconds, as DjangoJSONEncoder does; the
        # fraction is left out when the microseconds are 0, as isoformat()
        # does. In a to_char pattern a backslash-quote writes a '"'.
        local = _SQL("({0} AT TIME ZONE {1})", column, _literal(self.timezone_name()))
        quote = '\\"'
        zone = '"Z"' if aware else ""
        whole = f"'{quote}YYYY-MM-DD\"T\"HH24:MI:SS{zone}{quote}'"
        cut = f"'{quote}YYYY-MM-DD\"T\"HH24:MI:SS.MS{zone}{quote}'"
        return _SQL(
            "CASE WHEN {0} IS NULL THEN 'null' "
            "WHEN mod(date_part('microseconds', {0})::int, 1000000) = 0 "
            f"THEN to_char({{0}}, {whole}) ELSE to_char({{0}}, {cut}) END", local)

    def time_text(self, column) -> Expression:
        return _SQL("({0})::text", column)

    def microseconds(self, column) -> Expression:
        return _SQL("(EXTRACT(epoch FROM {0}) * 1000000)::bigint", column)

    def pad(self, number, width: int) -> Expression:
        return _SQL(f"lpad(({{0}})::text, {width}, '0')", number)

    def to_text(self, number) -> Expression:
        return _SQL("({0})::text", number)

    def uuid(self, column) -> Expression:
        return self.string(column)

    def json(self, column) -> Expression:
        return _SQL("COALESCE(({0})::text, 'null')", column)

    def ip(self, column) -> Expression:
        return self.string(column)


class _SQLite(_Backend):
    vendor = "sqlite"

    def object(self, pairs) -> Expression:
        template = "json_object(" + ", ".join(
            f"{{{2 * i}}}, {{{2 * i + 1}}}" for i in range(len(pairs))) + ")"
        return _SQL(template, *[part for key, value in pairs for part in (_literal(key), value)])

    def row(self, expression) -> Expression:
        return expression

    def nullable(self, present, expression) -> Expression:
        return _SQL("CASE WHEN {0} IS NULL THEN NULL ELSE {1} END", present, expression)

    def array(self, rows) -> Expression:
        # A subquery's value loses its JSON subtype: json() gives it back.
        alias = self.alias()
        return _SQL("json({0})", _Rows(
            rows, f"(SELECT COALESCE(json_group_array(json({alias}.\"{ANNOTATION}\")), '[]') "
                  f"FROM (%(subquery)s) {alias})"))

    def json_literal(self, value) -> Expression:
        return _SQL("json({0})", _literal(json.dumps(value)))

    def json_scalar(self, column) -> Expression:
        return _SQL("json_quote({0})", column)

    def boolean(self, column) -> Expression:
        return _SQL("json(CASE WHEN {0} IS NULL THEN NULL WHEN {0} THEN 'true' "
                    "ELSE 'false' END)", column)

    def truth(self, condition) -> Expression:
        return _SQL("json(CASE WHEN {0} THEN 'true' ELSE 'false' END)", condition)

    def float(self, column) -> Expression:
        # 18 significant digits read back to the same double (17 do not,
        # through SQLite's printf, for large exponents); '!' keeps the '.0'.
        return _SQL("CASE WHEN {0} IS NULL THEN NULL ELSE json(printf('%%!.18g', {0})) END",
                    column)

    def _rounded(self, column) -> Expression:
        # Django reads a decimal column's REAL rounded to 15 significant digits.
        return _SQL("CAST(printf('%%!.15g', {0}) AS REAL)", column)

    def decimal_text(self, column, places: int) -> Expression:
        return _SQL(f"printf('%%.{places}f', {{0}})", self._rounded(column))

    def decimal_abs_text(self, column, places: int) -> Expression:
        return _SQL(f"printf('%%.{places}f', abs({{0}}))", self._rounded(column))

    def date(self, column) -> Expression:
        return column

    def datetime(self, column, aware: bool) -> Expression:
        zone = "'Z'" if aware else "''"
        # Django writes str(naive datetime): 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
        return _SQL(
            "CASE WHEN {0} IS NULL THEN NULL ELSE substr({0}, 1, 10) || 'T' || "
            "substr({0}, 12, 8) || CASE WHEN length({0}) > 19 AND substr({0}, 21, 6) "
            f"<> '000000' THEN '.' || substr({{0}}, 21, 3) ELSE '' END || {zone} END", column)

    def time_text(self, column) -> Expression:
        return column

    def microseconds(self, column) -> Expression:
        return column

    def pad(self, number, width: int) -> Expression:
        return _SQL(f"printf('%%0{width}d', {{0}})", number)

    def to_text(self, number) -> Expression:
        return _SQL("CAST({0} AS TEXT)", number)

    def uuid(self, column) -> Expression:
        return _SQL("lower(substr({0}, 1, 8) || '-' || substr({0}, 9, 4) || '-' || "
                    "substr({0}, 13, 4) || '-' || substr({0}, 17, 4) || '-' || "
                    "substr({0}, 21, 12))", column)

    def json(self, column) -> Expression:
        return _SQL("json({0})", column)

    def ip(self, column) -> Expression:
        return column


_BACKENDS = {"postgresql": _Postgres, "sqlite": _SQLite}


# ------------------------------------------------------------ leaves


def _decimal(backend: _Backend, column, places: int) -> Expression:
    """``str()`` of the Decimal Django reads: fixed point with ``places``
    digits, scientific (``1.000E-7``, ``0E-10``) below 1e-6 as str() writes
    a Decimal whose adjusted exponent is below -6."""
    fixed = backend.decimal_text(column, places)
    if places < 7:
        return _SQL("CASE WHEN {0} IS NULL THEN NULL ELSE {1} END", column, fixed)
    # The digits after '0.' without their leading zeros: the coefficient.
    digits = _SQL("ltrim(substr({0}, 3), '0')", backend.decimal_abs_text(column, places))
    exponent = backend.to_text(_SQL(f"{places} - length({{0}}) + 1", digits))
    scientific = _SQL(
        "CASE WHEN {0} = '' THEN " + f"'0E-{places}'" + " ELSE "
        "(CASE WHEN {1} < 0 THEN '-' ELSE '' END) || substr({0}, 1, 1) || "
        "(CASE WHEN length({0}) > 1 THEN '.' || substr({0}, 2) ELSE '' END) || 'E-' || {2} END",
        digits, column, exponent)
    return _SQL("CASE WHEN {0} IS NULL THEN NULL WHEN abs({0}) < 0.000001 THEN {2} "
                "ELSE {1} END", column, fixed, scientific)


def _time(backend: _Backend, column) -> Expression:
    text = backend.time_text(column)
    return _SQL("CASE WHEN {0} IS NULL THEN NULL ELSE substr({0}, 1, 8) || "
                "CASE WHEN length({0}) > 8 THEN '.' || substr({0} || '000', 10, 3) "
                "ELSE '' END END", text)


def _duration(backend: _Backend, column) -> Expression:
    """``duration_iso_string`` of the timedelta read, from its microseconds."""
    total = backend.microseconds(column)
    whole = _SQL("abs({0})", total)
    day = 86_400_000_000
    parts = {
        "days": _SQL(f"({{0}} / {day})", whole),
        "hours": backend.pad(_SQL("(({0} / 3600000000) %% 24)", whole), 2),
        "minutes": backend.pad(_SQL("(({0} / 60000000) %% 60)", whole), 2),
        "seconds": backend.pad(_SQL("(({0} / 1000000) %% 60)", whole), 2),
        "micro": backend.pad(_SQL("({0} %% 1000000)", whole), 6),
    }
    return _SQL(
        "CASE WHEN {0} IS NULL THEN NULL ELSE "
        "(CASE WHEN {1} < 0 THEN '-' ELSE '' END) || 'P' || {2} || 'DT' || {3} || 'H' || "
        "{4} || 'M' || {5} || "
        "(CASE WHEN ({6} %% 1000000) <> 0 THEN '.' || {7} ELSE '' END) || 'S' END",
        column, total, backend.to_text(parts["days"]), parts["hours"], parts["minutes"],
        parts["seconds"], whole, parts["micro"])


def _leaf(backend: _Backend, model_field, column) -> Expression:
    kind = _LEAF_KINDS[type(model_field)]
    if kind == "text":
        return backend.string(column)
    if kind == "integer":
        return backend.number(column)
    if kind == "ip":
        return backend.ip(column)
    if kind == "file":
        # str() of a FieldFile is its name ('' for none).
        return backend.string(_SQL("COALESCE({0}, '')", column))
    if kind == "boolean":
        return backend.boolean(column)
    if kind == "float":
        return backend.float(column)
    if kind == "decimal":
        return backend.quoted(_decimal(backend, column, model_field.decimal_places))
    if kind == "date":
        return backend.date(column)
    if kind == "datetime":
        return backend.datetime(column, aware=_use_tz())
    if kind == "time":
        return backend.quoted(_time(backend, column))
    if kind == "duration":
        return backend.quoted(_duration(backend, column))
    if kind == "uuid":
        return backend.uuid(column)
    return backend.json(column)


def _display(backend: _Backend, model_field, kind: str, column) -> Expression:
    """``get_FOO_display()``: the label, or the value itself outside the choices."""
    labels = relations.choice_labels(model_field)
    expressions = [column]
    branches = []
    for value, label in labels.items():
        shown = backend.json_literal(label)
        expressions.append(shown)
        here = len(expressions) - 1
        if value is None:
            branches.insert(0, f"WHEN {{0}} IS NULL THEN {{{here}}}")
            continue
        key = _literal(value) if kind == "text" else _Raw(str(int(value)))
        expressions.append(key)
        branches.append(f"WHEN {{0}} = {{{len(expressions) - 1}}} THEN {{{here}}}")
    if not any(value is None for value in labels):
        branches.insert(0, f"WHEN {{0}} IS NULL THEN {backend.null}")
    expressions.append(backend.json_scalar(column))
    template = "CASE " + " ".join(branches) + f" ELSE {{{len(expressions) - 1}}} END"
    case = _SQL(template, *expressions)
    return _SQL("json({0})", case) if backend.vendor == "sqlite" else case


# ------------------------------------------------------------ the objects


class _Builder:
    """SQLite: one expression per value, objects by ``json_object``, to-many
    levels as correlated subqueries."""

    def __init__(self, backend: _Backend) -> None:
        self.backend = backend

    def object(self, node: Node, model, prefix: tuple[str, ...]) -> Expression:
        pairs = [(child.segment, self.value(child, model, prefix))
                 for child in node.children if child.kind is not Kind.SENSITIVE]
        return self.backend.object(pairs)

    def value(self, node: Node, model, prefix: tuple[str, ...]):
        lookup = "__".join((*prefix, node.field or node.segment))
        if node.kind is Kind.FIELD:
            model_field = _concrete(model._meta.get_field(node.field))
            return _leaf(self.backend, model_field, F(lookup))
        if node.kind is Kind.DISPLAY:
            model_field, kind = _choices(model, node, ())
            return _display(self.backend, model_field, kind, F(lookup))
        if node.kind is Kind.FORWARD:
            return self.forward(node, prefix, lookup)
        return self.to_many(node, model, prefix)

    def forward(self, node: Node, prefix: tuple[str, ...], lookup: str):
        inner = self.object(node, node.model, (*prefix, node.field))
        return self.backend.nullable(F(lookup), inner) if node.nullable else inner

    def aggregate(self, child: Node, rows) -> Expression:
        if child.segment == "count":
            counted = rows.order_by().values("pk")
            alias = self.backend.alias()
            return self.backend.count(_Rows(counted,
                                            f"(SELECT COUNT(*) FROM (%(subquery)s) {alias})"))
        return self.backend.truth(Exists(rows))

    def correlated(self, child: Node, relation, rows) -> Expression:
        """The related rows' array as a subquery run once per parent row."""
        each = child.children[0]
        objects = rows.annotate(**{ANNOTATION: self.whole(each, relation.model)}).values(
            ANNOTATION)[:_ALL_ROWS]
        return self.backend.array(objects)

    def whole(self, node: Node, model) -> Expression:
        return self.object(node, model, ())

    def to_many(self, node: Node, model, prefix: tuple[str, ...]):
        relation = relations.to_many_relation(model, node.segment)
        parent = OuterRef("__".join((*prefix, "pk")))
        pairs = []
        for child in node.children:
            if child.kind is Kind.SENSITIVE:
                continue
            rows = relations.related_queryset(relation.model).filter(**{relation.lookup: parent})
            if child.kind is Kind.AGGREGATE:
                pairs.append((child.segment, self.aggregate(child, rows)))
            else:
                pairs.append((child.segment, self.array(child, relation, rows, prefix)))
        return self.backend.object(pairs)

    def array(self, child: Node, relation, rows, prefix):
        return self.correlated(child, relation, rows)


class _Hole:
    """Where a to-many level's array text goes: read from the level's
    grouped rows, joined on the parent's key (``key``: its lookup)."""

    def __init__(self, child: Node, relation, key: str, count_of: _Hole | None = None) -> None:
        self.child = child
        self.relation = relation
        self.key = key
        # A ``count`` or ``exists`` read beside the rows: the number of rows
        # grouped there (none for a parent without rows).
        self.count_of = count_of


def _concat(pieces) -> Expression:
    """One text expression of pieces (literal JSON text or expressions)."""
    parts: list = []
    for piece in pieces:
        if isinstance(piece, str) and parts and isinstance(parts[-1], str):
            parts[-1] += piece
        else:
            parts.append(piece)
    expressions = [_literal(part) if isinstance(part, str) else part for part in parts]
    if len(expressions) == 1:
        return expressions[0]
    return _SQL(" || ".join(f"{{{i}}}" for i in range(len(expressions))), *expressions)


class _TextBuilder(_Builder):
    """PostgreSQL: a value is a list of pieces concatenated into its JSON
    text: literal text (keys, punctuation), text expressions, and holes
    where a to-many level's array is joined in (``_Hole``) when
    ``self.holes``; else the arrays are correlated subqueries."""

    def __init__(self, backend: _Backend, holes: bool) -> None:
        super().__init__(backend)
        self.holes = holes

    def object(self, node: Node, model, prefix: tuple[str, ...]) -> list:
        pieces: list = ["{"]
        for child in node.children:
            if child.kind is Kind.SENSITIVE:
                continue
            pieces.append(("," if len(pieces) > 1 else "") + json.dumps(child.segment) + ":")
            value = self.value(child, model, prefix)
            pieces.extend(value if isinstance(value, list) else [value])
        pieces.append("}")
        return pieces

    def forward(self, node: Node, prefix: tuple[str, ...], lookup: str):
        if not node.nullable:
            return self.object(node, node.model, (*prefix, node.field))
        # A CASE cannot hold a hole: below a nullable step, correlated arrays.
        inner = _TextBuilder(self.backend, holes=False).object(node, node.model,
                                                               (*prefix, node.field))
        return self.backend.nullable(F(lookup), _concat(inner))

    def whole(self, node: Node, model) -> Expression:
        return _concat(_TextBuilder(self.backend, holes=False).object(node, model, ()))

    def to_many(self, node: Node, model, prefix: tuple[str, ...]) -> list:
        relation = relations.to_many_relation(model, node.segment)
        parent = OuterRef("__".join((*prefix, "pk")))
        key = "__".join((*prefix, "pk"))
        rows_hole = None
        if self.holes:
            for child in node.children:
                if child.kind is Kind.ALL:
                    rows_hole = _Hole(child, relation, key)
        pieces: list = ["{"]
        for child in node.children:
            if child.kind is Kind.SENSITIVE:
                continue
            pieces.append(("," if len(pieces) > 1 else "") + json.dumps(child.segment) + ":")
            if rows_hole is not None and child.kind is Kind.AGGREGATE:
                pieces.append(_Hole(child, relation, key, count_of=rows_hole))
            elif child.kind is Kind.AGGREGATE:
                rows = relations.related_queryset(relation.model).filter(
                    **{relation.lookup: parent})
                pieces.append(self.aggregate(child, rows))
            elif self.holes:
                pieces.append(rows_hole)
            else:
                rows = relations.related_queryset(relation.model).filter(
                    **{relation.lookup: parent})
                pieces.append(self.correlated(child, relation, rows))
        pieces.append("}")
        return pieces


# ------------------------------------------------------------ grouped levels
#
# PostgreSQL reads each to-many level once for all its parents, instead of
# once per parent row: a level's rows (restricted to the parents' keys the
# level above holds) come ordered by parent key, then by their related
# manager's ordering (every row of the table when the level above holds all
# of its own), and are grouped by parent key into array texts, which
# the level above joins on its key. ``string_agg`` keeps the order of the
# rows of its sorted subquery (PostgreSQL's documented way to order an
# aggregate's input, safe when that query level only groups, as here;
# ``string_agg(... ORDER BY ...)`` would sort every group apart). A level
# with levels below it is first a CTE numbering its rows in that order, so
# that the joins can be sorted back to it. The top level is the queryset
# itself, with its filters, ordering and slicing, numbered the same way; its
# rows are read in that order.


def _ordering(queryset) -> list:
    """The ordering ``queryset`` applies (explicit, else its model's)."""
    query = queryset.query
    if query.order_by:
        return list(query.order_by)
    if query.default_ordering:
        return list(query.get_meta().ordering or ())
    return []


class _Levels:
    def __init__(self, backend: _Backend, using: str) -> None:
        self.backend = backend
        self.using = using
        self.ctes: list[tuple[str, str, list]] = []

    def compile(self, queryset, pieces: list, keyed: bool):
        """``queryset``'s rows as the text segments between the holes and
        the holes' keys: (sql, params, segment indexes, holes)."""
        segments: list[list] = [[]]
        holes: list[_Hole] = []
        for piece in pieces:
            if isinstance(piece, _Hole):
                holes.append(piece)
                segments.append([])
            else:
                segments[-1].append(piece)
        names = {f"_djust_s{i}": _concat(segment) for i, segment in enumerate(segments)
                 if segment}
        names.update({f"_djust_h{i}": F(hole.key) for i, hole in enumerate(holes)
                      if hole.count_of is None})
        queryset = queryset.annotate(**names).values_list(
            *(["_djust_k"] if keyed else []), *names)
        sql, params = queryset.query.get_compiler(using=self.using).as_sql()
        present = [i for i, segment in enumerate(segments) if segment]
        return sql, list(params), present, holes

    def rows(self, queryset, pieces: list, cte: str, keyed: bool, whole: bool):
        """Add ``cte``: the rows of ``queryset`` (already in the order
        wanted), numbered; return the joins (over alias ``x``) bringing the
        holes' arrays in and the text expression of a row. Raises
        EmptyResultSet when the queryset can match no row."""
        from django.core.exceptions import EmptyResultSet

        sql, params, present, holes = self.compile(queryset, pieces, keyed)
        self.ctes.append((cte, f"SELECT x.*, row_number() OVER () AS \"_djust_o\" "
                               f"FROM ({sql}) x", params))
        joins = []
        values = {}
        for i, hole in enumerate(holes):
            if hole.count_of is not None:
                continue
            try:
                grouped = self.level(hole, cte, f"_djust_h{i}", whole)
            except EmptyResultSet:
                # The related manager's queryset matches no row: every array is empty.
                values[id(hole)] = None
                continue
            values[id(hole)] = f"g{i}"
            joins.append(f'LEFT JOIN "{grouped}" g{i} ON g{i}."_djust_k" = x."_djust_h{i}"')
        text = []
        for i in range(len(holes) + 1):
            if i in present:
                text.append(f'x."_djust_s{i}"')
            if i == len(holes):
                break
            hole = holes[i]
            if hole.count_of is None:
                alias = values[id(hole)]
                text.append(f"COALESCE({alias}.\"_djust_j\", '[]')" if alias else "'[]'")
            elif hole.child.segment == "count":
                alias = values[id(hole.count_of)]
                text.append(f"COALESCE({alias}.\"_djust_n\", 0)::text" if alias else "'0'")
            else:
                alias = values[id(hole.count_of)]
                text.append(f"CASE WHEN {alias}.\"_djust_n\" IS NULL THEN 'false' ELSE 'true' END"
                            if alias else "'false'")
        return " ".join(joins), " || ".join(text) or "''"

    def level(self, hole: _Hole, parent_cte: str, parent_column: str, whole: bool) -> str:
        """Add the CTE of ``hole``'s array texts keyed by parent: its name.
        ``whole``: the parent level holds every row of its table, so every
        related row may be grouped (no parent's key left out to filter on)."""
        from django.db.models.expressions import RawSQL

        relation = hole.relation
        each = hole.child.children[0]
        rows = relations.related_queryset(relation.model)
        complete = whole and not rows.query.where
        rows = rows.annotate(_djust_k=F(relation.lookup))
        if not whole:
            rows = rows.filter(_djust_k__in=RawSQL(
                f'SELECT "{parent_column}" FROM "{parent_cte}"', ()))
        rows = rows.order_by("_djust_k", *_ordering(rows))
        pieces = _TextBuilder(self.backend, holes=True).object(each, relation.model, ())
        alias = self.backend.alias()
        grouped = f"{alias}_g"
        if not any(isinstance(piece, _Hole) for piece in pieces):
            sql, params, _, _ = self.compile(rows, pieces, keyed=True)
            self.ctes.append((grouped, (
                "SELECT x.\"_djust_k\", '[' || string_agg(x.\"_djust_s0\", ',') || ']' "
                "AS \"_djust_j\", count(*) AS \"_djust_n\" "
                f"FROM ({sql}) x GROUP BY x.\"_djust_k\""), params))
            return grouped
        joins, text = self.rows(rows, pieces, alias, keyed=True, whole=complete)
        self.ctes.append((grouped, (
            "SELECT y.\"_djust_k\", '[' || string_agg(y.\"_djust_t\", ',') || ']' "
            "AS \"_djust_j\", count(*) AS \"_djust_n\" "
            f"FROM (SELECT x.\"_djust_k\", {text} AS \"_djust_t\" "
            f"FROM \"{alias}\" x {joins} ORDER BY x.\"_djust_k\", x.\"_djust_o\") y "
            "GROUP BY y.\"_djust_k\""), []))
        return grouped


# ------------------------------------------------------------ the query


def compile_query(serializer, queryset) -> tuple[str, tuple] | None:
    """``(sql, params)`` of the one query whose rows are the row objects'
    JSON texts, in the queryset's order; None when refused; ``("", ())``
    when the queryset can match no row (no query is needed)."""
    from django.core.exceptions import EmptyResultSet

    if queryset_refusal(serializer, queryset) is not None:
        return None
    connection = connections[queryset.db]
    backend = _BACKENDS[connection.vendor](connection)
    if backend.vendor == "postgresql":
        pieces = _TextBuilder(backend, holes=True).object(serializer.tree, serializer.model, ())
        if any(isinstance(piece, _Hole) for piece in pieces):
            levels = _Levels(backend, queryset.db)
            try:
                query = queryset.query
                whole = not query.where and not query.low_mark and query.high_mark is None
                joins, text = levels.rows(queryset, pieces, "_djust_top", keyed=False,
                                          whole=whole)
            except EmptyResultSet:
                return "", ()
            with_sql = ", ".join(f'"{name}" AS ({sql})' for name, sql, _ in levels.ctes)
            params = [param for _, _, more in levels.ctes for param in more]
            return (f'WITH {with_sql} SELECT {text} FROM "_djust_top" x {joins} '
                    f'ORDER BY x."_djust_o"', tuple(params))
        row = _concat(pieces)
    else:
        row = backend.row(_Builder(backend).object(serializer.tree, serializer.model, ()))
    rows = queryset.annotate(**{ANNOTATION: row}).values_list(ANNOTATION, flat=True)
    try:
        sql, params = rows.query.get_compiler(using=queryset.db).as_sql()
    except EmptyResultSet:
        return "", ()
    return sql, tuple(params)


def _label(serializer) -> str:
    return f"{serializer.model._meta.label} {list(serializer.paths)!r}"


def json_text(serializer, queryset) -> str | None:
    """The JSON array text of ``serializer.many(queryset)`` written by the
    database in one query, or None when the paths or the queryset need the
    Python path (``queryset_refusal`` says why).

    ``json.loads`` of it equals ``json.loads(json.dumps(serializer.many(queryset),
    cls=DjangoJSONEncoder))``.
    """
    compiled = compile_query(serializer, queryset)
    if compiled is None:
        return None
    sql, params = compiled
    if not sql:
        return "[]"
    connection = connections[queryset.db]
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            texts = [text for (text,) in cursor.fetchall()]
    except OperationalError as exc:
        # SQLite refuses a statement too deep for its parser when it
        # prepares it, which leaves any transaction as it was: the Python
        # path writes the same text. (PostgreSQL would abort the transaction,
        # so its errors are left to the caller, as Django's own are.)
        if connection.vendor != "sqlite":
            raise
        logger.info("djust: %s: SQLite could not build the JSON (%s); the Python path "
                    "writes it", _label(serializer), exc)
        return None
    return "[" + ",".join(texts) + "]"
