"""``compile_serializer``: model + template paths → a fast, verified serializer.

Stages: ``tree.build_access_tree`` types the paths against the model,
``plan.plan_queries`` derives the queries, ``lowering.lower`` builds the
function's AST and ``emit.build_function`` renders, compiles and verifies
it. Compiled serializers are cached (``cache.default_cache``).

``serializer.many`` on a QuerySet whose paths all end in columns (or in
methods and properties reading only columns), reached through forward
relations or read from to-many relations as ``all.*`` rows and ``count``,
loads no model instances: it reads ``values_list()`` rows into the same
dicts (``projection``).

    >>> from examples.rentals.models import Lease
    >>> serializer = compile_serializer(Lease, ["tenant.phone", "end_date"])
    >>> serializer.paths, serializer.mode
    (('end_date', 'tenant.phone'), 'json')
"""

from __future__ import annotations

import hashlib
import json
import logging
import types
from collections.abc import Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

import djust
from djust.compiler import (
    emit,
    jsontext,
    lowering,
    modes,
    projection,
    shared,
    sqljson,
    streaming,
)
from djust.compiler.cache import default_cache, schema_fingerprint
from djust.compiler.errors import too_complex_as_error
from djust.compiler.nodes import Node
from djust.compiler.paths import normalize_paths
from djust.compiler.plan import plan_queries
from djust.compiler.sensitive import sensitive_settings
from djust.compiler.tree import build_access_tree

logger = logging.getLogger("djust.serializer")


@runtime_checkable
class Serializer(Protocol):
    """What ``compile_serializer`` returns: the generated function itself,
    carrying the attributes and methods below (``make_serializer``).

    ``serializer(instance)`` runs the generated code directly. A wrapper
    object would need a Python-level ``__call__``, which CPython enters
    through C: a second frame that cost about a tenth of a small row.

        >>> from examples.rentals.models import Unit
        >>> isinstance(compile_serializer(Unit, ["number"]), Serializer)
        True
    """

    model: type
    paths: tuple[str, ...]
    mode: str
    tree: Node
    plan: Any
    source: str
    filename: str
    verification: Any

    def __call__(self, instance) -> dict: ...

    def many(self, rows: Iterable) -> list: ...

    def json(self, rows: Iterable, *, in_database: bool = True) -> str: ...

    def stream(self, rows: Iterable, chunk_size: int | None = None) -> Iterator[str]: ...

    def explain(self) -> str: ...


def make_serializer(function, *, model, paths, mode, tree, plan, source, filename,
                    verification) -> Serializer:
    """Give the generated ``function`` what a serializer answers; return it."""
    function.model = model
    function.paths = paths
    function.mode = mode
    function.tree = tree
    # A plan read back from a store learns its tree here: it plans it again
    # for a queryset's to_attr lists (``QueryPlan.through``).
    function.plan = plan if plan is None else plan.knowing(tree)
    function.source = source
    function.filename = filename
    function.verification = verification
    # (function, projection.Projection) reading values_list() rows, or False when the
    # paths need instances; built on the first QuerySet ``many`` sees.
    function.projection = None
    # The same, its function writing the JSON text (``jsontext``): built on
    # the first json() or stream() of a QuerySet.
    function.text_projection = None
    function.many = types.MethodType(many, function)
    function.json = types.MethodType(json_text, function)
    function.stream = types.MethodType(streaming.stream, function)
    function.explain = types.MethodType(explain, function)
    function.build_projection = types.MethodType(build_projection, function)
    function.build_text_projection = types.MethodType(build_text_projection, function)
    function.release_sources = types.MethodType(release_sources, function)
    return function


def release_sources(serializer, live=()) -> None:
    """Take ``serializer``'s generated sources (its function's and its
    projection's) out of ``linecache``: the serializer cache calls it when
    the serializer leaves (``cache.default_cache``), so linecache holds the
    sources of cached serializers only. ``live`` are the serializers still
    cached: one of them compiled under the same filename (other sensitive
    settings) gets its source registered again.
    """
    removed = emit.forget_source(serializer)
    for projected in _projections(serializer):
        if emit.forget_source(projected[0]):
            removed = True
    if not removed:
        return
    filename = serializer.filename
    for other in live:
        if getattr(other, "filename", None) == filename:
            emit.restore_source(other)
            for projected in _projections(other):
                emit.restore_source(projected[0])
            break


def _projections(serializer) -> list:
    """The projections built for ``serializer`` (dicts, text)."""
    return [projected for projected in (getattr(serializer, "projection", None),
                                        getattr(serializer, "text_projection", None))
            if projected]


def describe(serializer) -> str:
    """``<serializer rentals.Unit json ['number']>``: for messages and logs."""
    return (f"<serializer {serializer.model._meta.label} {serializer.mode} "
            f"{list(serializer.paths)!r}>")


def many(serializer, rows: Iterable) -> list:
    """``serializer.many(rows)``: serialize a QuerySet (as ``values_list()``
    rows when the paths allow it, else through ``plan.apply(...,
    lists=True)``), a combined one (``many_combined``) or instances (through
    ``plan.apply_to_instances``, which keeps the related managers' caches:
    the caller may render those rows live)."""
    from django.db.models.query import QuerySet

    if isinstance(rows, QuerySet):
        if not projection.yields_instances(rows):
            raise TypeError(
                f"{describe(serializer)}.many() needs model instances; this QuerySet of "
                f"{rows.model._meta.label} yields plain rows (values()/values_list())"
            )
        if rows.query.combinator:
            return many_combined(serializer, rows)
        projected = projection_of(serializer)
        if projected and projection.queryset_accepts_projection(rows):
            project, spec = projected
            fetched = projection.fetch(rows, spec)
            if fetched is not None:
                return project(*fetched)
        return many_instances(serializer, rows)
    instances = list(rows)
    if serializer.plan is not None and instances:
        serializer.plan.apply_to_instances(instances)
    return [serializer(row) for row in instances]


def many_instances(serializer, queryset) -> list:
    """``many()`` of a QuerySet read as model instances, through the plan."""
    if serializer.plan is not None:
        # The rows are ours and discarded once serialized: relations
        # only this serializer reads may load as plain lists.
        queryset = serializer.plan.apply(queryset, lists=True)
    return [serializer(row) for row in queryset]


def json_text(serializer, rows, *, in_database: bool = True) -> str:
    """``serializer.json(queryset)``: the JSON array text of
    ``serializer.many(queryset)``, written by the database in one query
    where it can express the paths (``sqljson``); else, or with
    ``in_database=False``, written in Python: from the ``values_list()``
    rows straight to text where ``many()`` would read such rows
    (``jsontext``: exactly ``json.dumps(serializer.many(queryset),
    cls=DjangoJSONEncoder)``), else ``json.dumps`` of ``many()``.
    ``explain()`` says which. ``json.loads`` of any is the same. JSON mode
    only.

        >>> from examples.rentals.models import Unit
        >>> compile_serializer(Unit, ["number"]).json(Unit.objects.none())
        '[]'
    """
    from django.core.serializers.json import DjangoJSONEncoder
    from django.db.models.query import QuerySet

    if serializer.mode != "json":
        raise TypeError(f"{describe(serializer)}.json() needs a serializer compiled with "
                        f"mode='json'")
    data = None
    if isinstance(rows, QuerySet):
        if in_database:
            text = sqljson.json_text(serializer, rows)
            if text is not None:
                return text
        if projection.queryset_accepts_projection(rows):
            projected = text_projection_of(serializer)
            if projected:
                write, spec = projected
                fetched = projection.fetch(rows, spec)
                if fetched is not None:
                    return jsontext.write_text(write, lambda: projection_of(serializer)[0],
                                               fetched)
                # Declined, as many() would decline it: not fetched twice.
                data = many_instances(serializer, rows)
    if data is None:
        data = many(serializer, rows)
    # Rows built fresh are never cyclic: the check would cost a tenth.
    return json.dumps(data, cls=DjangoJSONEncoder, check_circular=False)


def many_combined(serializer, queryset) -> list:
    """``many()`` of a ``union()``/``intersection()``/``difference()``.

    Django refuses ``select_related``/``prefetch_related``/``only`` on a
    combined query, so its rows are fetched as they are (the lookups of the
    querysets combined run as Django runs them) and the plan loads what the
    paths read for them afterwards, as for a list of instances: a constant
    number of queries, the same rows in the same order. Rows already fetched
    are the caller's: they are used as they are and keep their related
    managers' caches.

        >>> from examples.rentals.models import Unit
        >>> serializer = compile_serializer(Unit, ["number"])
        >>> many_combined(serializer, Unit.objects.none().union(Unit.objects.none()))
        []
    """
    fetched = queryset._result_cache is not None
    # A copy, when not fetched yet: the caller's QuerySet stays unevaluated.
    rows = list(queryset if fetched else queryset.all())
    lookups = queryset._prefetch_related_lookups
    if serializer.plan is not None and rows:
        # Plain lists only on rows nobody else sees, and none beside the
        # relations the QuerySet's own lookups loaded (they would load twice).
        serializer.plan.apply_to_instances(rows, lists=not (fetched or lookups),
                                           lookups=lookups)
    return [serializer(row) for row in rows]


def projection_of(serializer):
    """``build_projection``'s answer, built on first use and kept."""
    if serializer.projection is None:
        serializer.projection = build_projection(serializer)
    return serializer.projection


def text_projection_of(serializer):
    """``(function, projection.Projection)`` writing values_list() rows as
    the JSON text of ``many()`` (``jsontext``), or False; built on first
    use and kept."""
    if serializer.text_projection is None:
        serializer.text_projection = build_text_projection(serializer)
    return serializer.text_projection


def build_text_projection(serializer):
    """``text_projection_of``'s answer, built."""
    if serializer.mode != "json":
        return False
    lowered = projection.lower_projection(serializer.tree, serializer.mode, name="write_rows")
    if lowered is None:
        return False
    module, namespace, spec = lowered
    written = jsontext.lower_text(module, namespace)
    if written is None:
        return False
    module, namespace = written
    function, _, _ = emit.build_function(
        module, namespace, name="write_rows", filename=f"{serializer.filename[:-1]} text>")
    return function, spec


def build_projection(serializer):
    """``(function, projection.Projection)`` serializing values_list() rows
    (``projection.fetch`` gives the function its arguments), or False."""
    lowered = projection.lower_projection(serializer.tree, serializer.mode, name="project_rows")
    if lowered is None:
        return False
    module, namespace, spec = lowered
    function, _, _ = emit.build_function(
        module, namespace, name="project_rows", filename=f"{serializer.filename[:-1]} rows>")
    return function, spec


def explain(serializer) -> str:
    """The access tree, the query plan, how ``many()`` reads a QuerySet, the
    generated source and the verification report."""
    plan = serializer.plan.explain() if serializer.plan is not None else "(no query plan)"
    return "\n\n".join([
        f"serializer {serializer.filename} (mode {serializer.mode})",
        "access tree:\n" + serializer.tree.dump(),
        "query plan:\n" + plan,
        "many(queryset):\n" + describe_many(serializer),
        "json(queryset):\n  " + sqljson.describe(serializer),
        "in Python (json(queryset, in_database=False), stream()):\n  "
        + describe_text(serializer),
        "generated source:\n" + serializer.source.rstrip(),
        "verification: " + serializer.verification.report(),
    ])


def describe_text(serializer) -> str:
    """How a QuerySet's JSON text is written in Python.

        >>> from examples.rentals.models import Property
        >>> print(describe_text(compile_serializer(Property, ["name", "units.count"])))
        the values_list() rows of many(queryset) written straight to JSON text, a '%' format per row
    """
    if serializer.mode != "json":
        return "(python mode: no JSON text)"
    if text_projection_of(serializer):
        return ("the values_list() rows of many(queryset) written straight to JSON text, "
                "a '%' format per row")
    if projection_of(serializer):
        return ("json.dumps of many()'s dicts: code run on stand-ins may leave a key "
                "out of a row")
    return "json.dumps of many()'s dicts, built from model instances"


def describe_many(serializer) -> str:
    """Which queries ``many()`` runs on a plain QuerySet of the model.

        >>> from examples.rentals.models import Property
        >>> print(describe_many(compile_serializer(Property, ["name", "units.count"])))
          values_list() rows, no model instances:
          rentals.Property: values_list('name', 'pk')
          rentals.Unit where property__in the parent keys: values_list('property')
    """
    projected = projection_of(serializer)
    if not projected:
        return "  the query plan above, on model instances (a path needs them)"
    spec = projected[1]
    lines = ["  values_list() rows, no model instances:",
             f"  {serializer.model._meta.label}: values_list{_arguments(spec.columns)}"]
    for level in spec.levels:
        lines.append(f"  {level.model._meta.label} where {level.lookup}__in the parent keys: "
                     f"values_list{_arguments(level.columns)}")
    if spec.code:
        lines.append("  run per row on one blank instance per call, its columns written in:")
        lines += [f"  {described}" for described in spec.code]
    return "\n".join(lines)


def _arguments(columns: tuple[str, ...]) -> str:
    return "(" + ", ".join(repr(column) for column in columns) + ")"


def check_mode(mode: str) -> str:
    """The name of output mode ``mode``; ValueError for no mode.

        >>> check_mode("python")
        'python'
    """
    return modes.named(mode).name


def compile_serializer(model, paths: Iterable[str], *, mode: str = "json") -> Serializer:
    """Compile (or fetch from the cache) the serializer of ``model`` for ``paths``.

        >>> from examples.rentals.models import Unit
        >>> s = compile_serializer(Unit, ["property.name", "number"])
        >>> s.paths, s is compile_serializer(Unit, ["number", "property.name"])
        (('number', 'property.name'), True)
    """
    if not (type(mode) is str and mode in modes.MODES):  # the hit path skips the call
        mode = check_mode(mode)
    given = paths if type(paths) is tuple else tuple(paths)
    cache = default_cache()
    # The request as given, before sorting: a view asks with the same list
    # every time, and normalizing it costs as much as the lookup.
    alias = (model, given, mode)
    stamp = (schema_fingerprint(model), sensitive_settings())
    serializer = cache.lookup(alias, stamp)
    if serializer is not None:
        return serializer
    normalized = normalize_paths(given)
    key = _key(model, normalized, mode, stamp)
    serializer = cache.get_or_compile(key, lambda: _compile(model, normalized, mode))
    cache.remember(alias, stamp, key)
    return serializer


def _key(model, normalized: tuple[str, ...], mode: str, stamp: tuple) -> tuple:
    fingerprint, sensitive = stamp
    return (model, fingerprint, normalized, mode, sensitive, djust.__version__)


def _compile(model, normalized: tuple[str, ...], mode: str) -> Serializer:
    # Every stage recurses along the paths and the generated code nests a
    # block per level: an extreme template's paths fail here, as one error
    # the LiveView falls back on; nothing is cached or stored for them.
    with too_complex_as_error(model, normalized):
        tree = build_access_tree(model, normalized)
        store = shared.registered()
        if store is None:
            return build_serializer(model, tree, normalized, mode)
        # Another worker may have generated it already (``shared``).
        return store.serializer(model, tree, normalized, mode,
                                lambda: build_serializer(model, tree, normalized, mode))


def build_serializer(model, tree: Node, paths: tuple[str, ...], mode: str) -> Serializer:
    """Plan, lower, emit and verify the serializer of ``tree``: what a
    cache miss runs when no shared store has it.

        >>> from examples.rentals.models import Unit
        >>> from djust.compiler.tree import build_access_tree
        >>> tree = build_access_tree(Unit, ("number",))
        >>> build_serializer(Unit, tree, ("number",), "json").plan is not None
        True
    """
    return compile_tree(model, tree, paths, mode, plan=plan_for(tree))


def plan_for(tree: Node):
    """The query plan of ``tree`` (what ``build_serializer`` and a store
    rebuilding a serializer give it).

        >>> from examples.rentals.models import Unit
        >>> from djust.compiler.tree import build_access_tree
        >>> plan_for(build_access_tree(Unit, ("property.name",))).select_related
        ('property',)
    """
    return plan_queries(tree)


def compile_tree(model, tree: Node, paths: tuple[str, ...], mode: str, *, plan=None) -> Serializer:
    """Lower, emit and verify a serializer for an already built access tree.

    ``compile_serializer`` calls it; tests call it with hand-built trees.

        >>> from djust.compiler.nodes import Kind, Node
        >>> from examples.rentals.models import Unit
        >>> tree = Node("", Kind.ROOT, model=Unit, children=(
        ...     Node("number", Kind.FIELD, field="number"),))
        >>> compile_tree(Unit, tree, ("number",), "json")(Unit(number="4B"))
        {'number': '4B'}
    """
    check_mode(mode)
    name = function_name(model)
    filename = serializer_filename(model, paths, mode)
    module, namespace = lowering.lower(tree, mode, name=name, paths=paths)
    function, source, verification = emit.build_function(
        module, namespace, name=name, filename=filename
    )
    logger.debug("compiled %s: %s", filename, verification.report())
    return make_serializer(
        function, model=model, paths=paths, mode=mode, tree=tree, plan=plan,
        source=source, filename=filename, verification=verification,
    )


def function_name(model) -> str:
    meta = model._meta
    return f"serialize_{meta.app_label}_{meta.model_name}"


def serializer_filename(model, paths: tuple[str, ...], mode: str) -> str:
    """``<djust serializer app.Model 1a2b3c>``: stable across runs and processes.

        >>> from examples.rentals.models import Unit
        >>> serializer_filename(Unit, ("number",), "json")  # doctest: +ELLIPSIS
        '<djust serializer rentals.Unit ...>'
    """
    text = "\n".join([model._meta.label, mode, schema_fingerprint(model), *paths])
    return f"<djust serializer {model._meta.label} {hashlib.sha256(text.encode()).hexdigest()[:6]}>"
