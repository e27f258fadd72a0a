"""Auto-serialization of a view's context for the template that renders it.

``serialize_context(extraction, context)`` replaces each QuerySet, model
instance and list/tuple of instances by what the compiled serializer makes
of it for exactly the paths the template reads from that name; other values
pass through to the page, and names the template never reads are dropped.
``browser_state`` then cuts every value the browser gets, whatever its kind,
to the paths the template reads (``cut_value``), so nothing the template
does not read reaches the browser.

Values are python-mode rows (``djust.compiler.modes.Row``) that answer the
template as the live objects do: identity, laziness, no mapping methods. A
serialized QuerySet is a ``Collection``: the list of its rows that also
answers, as the live QuerySet answered it when serializing, every other
lookup the template makes on it (``count``, ``first``, ``all``,
``reverse``...). A list of instances stays a list; ``values()`` rows stay
what they are. When the template holds a tag djust cannot analyse, every
context name reaches the page live (such a tag may read any of them), and
the browser gets the names known to be read, cut to the known paths only,
resolved with Django's own lookup rules; any failure to compile or run a
serializer (a ``CompilerError``, a template too deep to compile) falls back
the same way. That is logged once per (template, name).

    >>> from djust.compiler import extract_template_variables
    >>> extraction = extract_template_variables("{{ title }}: {{ leases.count }}")
    >>> serialize_context(extraction, {"title": "Leases", "secret": "x"}, template="demo")
    {'title': 'Leases'}
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.db.models.expressions import Col, F
from django.db.models.query import FlatValuesListIterable
from django.db.models.sql.query import Query
from django.utils.functional import LazyObject, empty

from djust.compiler.modes import (
    PLAIN_TYPES,
    PYTHON,
    QueryRows,
    Row,
    is_kept_leaf,
    json_leaf,
    plain,
    row_values,
)
from djust.compiler.paths import SEPARATOR, STAR, Branch, branch_paths, is_index
from djust.compiler.projection import yields_instances

logger = logging.getLogger("djust.context")

COLLECTION_LOOKUPS = frozenset({"count", "exists", "first", "last"})

_logged: set[tuple[str, str]] = set()
_logged_lock = threading.Lock()


def log_fallback_once(template: str, name: str, reason: str) -> None:
    with _logged_lock:
        if (template, name) in _logged:
            return
        _logged.add((template, name))
    logger.warning("djust: serializing %r of template %r generically: %s", name, template,
                   reason)


# A serialized QuerySet: its rows answering what the QuerySet answers.
Collection = QueryRows


def split_collection_paths(paths: list[str]) -> tuple[list[str], set[str]]:
    """Element paths (for the element serializer) and collection lookups.

    ``first.x``, ``last.x`` and ``0.x`` read an element, so their tails join
    the element paths; ``count``/``exists`` and the bare collection do not.

        >>> elements, lookups = split_collection_paths(["count", "*.name", "first.city", ""])
        >>> elements, sorted(lookups)
        (['', 'city', 'name'], ['', 'count', 'first'])
    """
    element: set[str] = set()
    lookups: set[str] = set()
    for path in paths:
        head, _, tail = path.partition(SEPARATOR)
        if head == STAR:
            element.add(tail)
        elif head in ("first", "last") or is_index(head):
            lookups.add(head)
            element.add(tail)
        elif head in COLLECTION_LOOKUPS or head == "":
            lookups.add(head)
            if head == "":
                # A displayed collection shows its elements (docs/serialization.md).
                element.add("")
        else:
            # Another QuerySet lookup (``all``, ``reverse``...): answered by
            # the live QuerySet, with its own paths (``lookup_paths``).
            lookups.add(head)
    return sorted(element), lookups


def lookup_paths(paths: list[str], head: str) -> list[str]:
    """The paths read below lookup ``head`` of a collection.

        >>> lookup_paths(["all.*.name", "all.count", "reverse", "*.x"], "all")
        ['*.name', 'count']
    """
    out = []
    for path in paths:
        first, dot, tail = path.partition(SEPARATOR)
        if first == head:
            out.append(tail if dot else "")
    return out


def is_instance_list(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and bool(value)
        and all(isinstance(item, models.Model) for item in value)
        and len({type(item) for item in value}) == 1
    )


def serialize_value(value: Any, paths: list[str], *, mode: str) -> Any:
    """Serialize one context value for the paths read from it."""
    from djust.compiler import compile_serializer

    if isinstance(value, models.QuerySet) and not yields_instances(value):
        return data_rows(value, paths)
    if isinstance(value, models.QuerySet):
        return serialize_queryset(value, paths, mode=mode)
    if isinstance(value, models.Model):
        serializer = compile_serializer(type(value), paths, mode=mode)
        serializer.plan.apply_to_instances([value])
        return serializer(value)
    if is_instance_list(value):
        # A list answers a list's own lookups (``count`` is list.count): the
        # rows go in a plain list, read by the template as the live list is.
        element_paths = [tail for head, _, tail in (p.partition(SEPARATOR) for p in paths)
                         if head == STAR or is_index(head)]
        if "" in paths:
            # Displayed, the list shows each row's repr, made of its text.
            element_paths.append("")
        serializer = compile_serializer(type(value[0]), sorted(set(element_paths)), mode=mode)
        rows = serializer.many(list(value))
        return rows if isinstance(value, list) else tuple(rows)
    return value


def data_rows(queryset: models.QuerySet, paths: list[str]) -> Collection:
    """A ``values()``/``values_list()`` QuerySet: its rows are plain data
    (dicts, tuples, values) that render as they are, unpacked by
    ``{% for a, b in rows %}`` too, without their sensitive columns: the
    page refuses them as the browser state does."""
    from djust.compiler.runtime import queryset_text

    rows = _refused(queryset, list(queryset))
    _, lookups = split_collection_paths(paths)
    answered, raised = _answered(queryset, rows, lookups, paths)
    # Displayed, the QuerySet's text made of these rows (no refused column).
    shown = queryset_text(rows) if "" in lookups else None
    return Collection(rows, answered, shown, raised)


def serialize_queryset(queryset: models.QuerySet, paths: list[str], *, mode: str) -> Collection:
    from djust.compiler import compile_serializer

    element_paths, lookups = split_collection_paths(paths)
    # Anything but count/exists/first/last and lookups answered by the live
    # QuerySet (an index, the bare collection) needs the rows.
    iterated = any(p.partition(SEPARATOR)[0] == STAR for p in paths) or any(
        head == "" or is_index(head) for head in lookups)
    serializer = compile_serializer(queryset.model, element_paths, mode=mode)
    if iterated:
        rows = serializer.many(queryset)
        fetched = True
    else:
        rows = []
        fetched = False
    answered, raised = _answered(queryset, rows if fetched else None, lookups, paths,
                                 serializer=serializer, mode=mode)
    return Collection(rows, answered, _displayed(queryset, lookups), raised)


def _displayed(queryset: models.QuerySet, lookups: set[str]) -> models.QuerySet | None:
    # What displays the collection: the QuerySet itself (a copy, so the
    # text is its own query, run only if the template shows it).
    return queryset.all() if "" in lookups else None


def _answered(queryset, rows, lookups, paths, *, serializer=None, mode="python"):
    """What the live QuerySet answers for each named lookup the template
    makes, and the exceptions of those that raised (kept, like a row's, for
    the template to meet only if it reads them): ``(answered, raised)``."""
    answered: dict[str, Any] = {}
    raised: dict[str, tuple] = {}
    for head in sorted(lookups):
        if head == "" or is_index(head):
            continue
        try:
            _answer_lookup(queryset, rows, head, paths, answered, serializer, mode)
        except Exception as error:
            raised[head] = (error, error.__traceback__)
    return answered, raised


def _answer_lookup(queryset, rows, head, paths, answered, serializer, mode) -> None:
    from djust.compiler.runtime import MISSING, resolve_lookup

    if head == "count":
        answered[head] = len(rows) if rows is not None else queryset.count()
    elif head == "exists":
        if rows is not None:
            answered[head] = bool(rows)
        elif "count" in answered:
            answered[head] = answered["count"] > 0
        else:
            answered[head] = queryset.exists()
    elif head in ("first", "last") and serializer is not None:
        picked = queryset.first() if head == "first" else queryset.last()
        answered[head] = None if picked is None else serializer(picked)
    else:
        found = resolve_lookup(queryset, head)
        if found is not MISSING:
            answered[head] = _answer(found, lookup_paths(paths, head), mode)


def _answer(found: Any, paths: list[str], mode: str) -> Any:
    if isinstance(found, models.QuerySet | models.Model) or is_instance_list(found):
        return serialize_value(found, paths, mode=mode)
    if isinstance(found, list | tuple | dict):
        return found
    return PYTHON.encode(found)


def unwrap_lazy(value: Any) -> Any:
    """The object behind Django's lazy wrappers (``SimpleLazyObject``, such
    as ``request.user``), set up if it was not yet: it serializes like the
    wrapped value. Anything else is returned as it is.

        >>> from django.utils.functional import SimpleLazyObject
        >>> unwrap_lazy(SimpleLazyObject(lambda: {"a": 1}))
        {'a': 1}
    """
    while isinstance(value, LazyObject):
        if value._wrapped is empty:
            value._setup()
        value = value._wrapped
    return value


def needs_serializing(value: Any) -> bool:
    return isinstance(value, models.QuerySet | models.Model) or is_instance_list(value)


def serialize_context(
    extraction: Mapping[str, Any], context: Mapping[str, Any], *, template: str,
    mode: str = "python", jit: bool = True,
) -> dict[str, Any]:
    """Serialize every model-backed value of ``context`` for ``extraction``'s paths."""
    unanalysed = getattr(extraction, "unanalysed", ())
    out: dict[str, Any] = {}
    for name, value in context.items():
        if name not in extraction:
            # A tag djust cannot analyse (a dynamic include, {% debug %}, a
            # tag reading the context) may read any name: all of them reach
            # the page, live. Otherwise the template cannot reach it.
            if unanalysed:
                out[name] = value
            continue
        paths = list(extraction[name])
        value = unwrap_lazy(value)
        if not needs_serializing(value) or not jit:
            out[name] = value
        elif unanalysed:
            # Some lookups are unknown: the page renders from the live value
            # (correct, maybe N+1); browser_state sends the cut value.
            where = "; ".join(str(u) for u in unanalysed)
            log_fallback_once(template, name, f"the template has tags djust cannot analyse: "
                              f"{where}")
            out[name] = value
        else:
            try:
                out[name] = serialize_value(value, paths, mode=mode)
            except Exception as exc:
                # A CompilerError, a template too deep to compile
                # (RecursionError), anything else compiling or running the
                # serializer raised: the page renders from the live value,
                # as Django renders it (a real error then surfaces there).
                log_fallback_once(template, name, f"{type(exc).__name__}: {exc}")
                out[name] = value
    return out


class StateEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder, displaying what it cannot encode as the template
    would: the JSON mode's leaf rule (``modes.json_leaf``). What that rule
    refuses (a timezone-aware ``time``) or cannot display is written as its
    text, or ``null``: a value of the state never fails the page.

        >>> import datetime, json
        >>> json.dumps({"t": datetime.time(9, 30, tzinfo=datetime.UTC)}, cls=StateEncoder)
        '{"t": "09:30:00+00:00"}'
    """

    def default(self, o: Any) -> Any:
        if o.__class__ is Row:
            return row_values(o)
        return _json_leaf(o)


def _json_leaf(value: Any) -> Any:
    try:
        return json_leaf(value)
    except Exception:
        return _display(value, None)


def _display(value: Any, failed: Any) -> Any:
    """``str(value)``, or ``failed`` when that raises."""
    try:
        return str(value)
    except Exception:
        return failed


# Context names that are part of the page machinery, never of its state.
NOT_STATE = frozenset({"view", "request", "csrf_token", "perms", "user", "messages"})

# A value left out of the browser state (a lookup Django fails, or one that
# raised: the json mode's rule, docs/serialization.md "When a lookup raises").
_OMIT = object()


def browser_state(extraction: Mapping[str, Any], context: Mapping[str, Any],
                  serialized: Mapping[str, Any]) -> dict[str, Any]:
    """The state sent to the browser (encode it with ``StateEncoder``): only
    names the template reads, and of each value only the paths it reads.

    A model-backed value the JIT serialized keeps its serialized shape
    (rows hold exactly the read paths). Every other value (dicts, lists,
    ``values()`` rows, forms, dataclasses, and model data rendered live
    with the JIT off or in the fallback) is cut from the live value by
    ``cut_value``: the read paths resolved with Django's lookup rules.
    """
    state: dict[str, Any] = {}
    for name, value in serialized.items():
        if name in NOT_STATE or name not in extraction:
            continue
        branch = branch_paths(extraction[name])
        live = unwrap_lazy(context.get(name, value))
        try:
            if isinstance(live, models.QuerySet) and not yields_instances(live):
                # values()/values_list() rows (already fetched when the JIT
                # serialized them): cut, sensitive columns refused.
                rows = list(value) if isinstance(value, Collection) else list(live)
                cut = _cut_sequence(_refused(live, rows), branch)
            elif value is not live and needs_serializing(live):
                # The JIT's rows hold the read paths, but python mode keeps
                # plain data (a JSONField's dict) whole: trimmed here, when
                # the serializer has such a node (StateEncoder writes rows).
                cut = (value if _rows_hold_only_read_paths(live, extraction[name])
                       else _trim(plain(value), branch))
            else:
                cut = cut_value(live, branch, top=True)
        except Exception as exc:
            # Too deep to walk (RecursionError), rows that failed to load:
            # the page is Django's to render (or fail); the state omits it.
            logger.warning("djust: %r is left out of the browser state: %s: %s", name,
                           type(exc).__name__, exc)
            continue
        if cut is not _OMIT:
            state[name] = cut
    return state


# Collection lookups whose values come from the element serializer itself.
_ELEMENT_LOOKUPS = COLLECTION_LOOKUPS | {"", STAR}


def _rows_hold_only_read_paths(live: Any, paths) -> bool:
    """True when the python-mode value of ``live`` holds nothing but the
    read paths: its serializer (a cache hit) has no node whose value python
    mode may keep whole (a value that is not a model row, looked into)."""
    from djust.compiler import compile_serializer

    paths = list(paths)
    if isinstance(live, models.Model):
        model, element_paths = type(live), paths
    else:
        heads = {path.partition(SEPARATOR)[0] for path in paths}
        if any(head not in _ELEMENT_LOOKUPS and not is_index(head) for head in heads):
            return False  # other QuerySet lookups: rows of other serializers
        model = live.model if isinstance(live, models.QuerySet) else type(live[0])
        element_paths, _ = split_collection_paths(paths)
    serializer = compile_serializer(model, element_paths, mode="python")
    known = getattr(serializer, "_djust_keeps_data", None)
    if known is None:
        known = serializer._djust_keeps_data = _keeps_data(serializer.tree)
    return not known


def _keeps_data(node) -> bool:
    return any((child.model is None and bool(child.children)) or _keeps_data(child)
               for child in node.children)


def _trim(data: Any, branch: Branch) -> Any:
    """``plain()`` of a serialized model value without the keys no path
    reads: a row's keys are its read segments (and ``"__str__"`` when
    displayed), so only plain data kept whole under them (a JSONField's
    dict looked into) loses anything. A node only displayed stays whole,
    as the JSON mode writes it.

        >>> _trim({"profile": {"public": 1, "secret": 2}}, branch_paths(["profile.public"]))
        {'profile': {'public': 1}}
    """
    if not branch.children:
        return data
    if isinstance(data, dict):
        return {key: item if key == "__str__" else _trim(item, branch.children[key])
                for key, item in data.items() if key == "__str__" or key in branch.children}
    if isinstance(data, list):
        element = _element_branch(branch)
        return [_trim(item, element) for item in data]
    return data


def _element_branch(branch: Branch) -> Branch:
    """What the elements of a serialized collection are read for: the
    paths below ``*``, an index, ``first`` or ``last`` (``split_collection_paths``),
    and their display when the collection is displayed."""
    below = [child for segment, child in branch.children.items()
             if segment in (STAR, "first", "last") or is_index(segment)]
    return _merged(below, bare=branch.bare)


def _refused(queryset: models.QuerySet, rows: list) -> list:
    """``values()``/``values_list()`` rows without their sensitive columns:
    a dict row loses the key, a tuple row holds None in its place (a named
    row keeps its names), a flat row of a refused column is None.

    A column is refused when its name is (``_name_refused``), when its
    field path reaches a sensitive name of any model on the way
    (``_path_refused``: ``tenant__ssn`` with ``ssn`` in Tenant's own
    list), or when its expression reads a sensitive field of any model
    (``_reads_sensitive``: ``F("password")``, ``Lower("password")``,
    ``Max(...)``, a ``Subquery`` selecting one...)."""
    columns = _column_flags(queryset.query)
    refused_names = {name for name, refused in columns if refused}
    positions = {i for i, (_, refused) in enumerate(columns) if refused}
    # Flat rows are told by the iterable, not the row: a flat row may itself
    # be a tuple (a composite primary key).
    flat = queryset._iterable_class is FlatValuesListIterable
    out = []
    for row in rows:
        if flat:
            row = None if 0 in positions else row
        elif isinstance(row, dict):
            row = {key: item for key, item in row.items()
                   if key not in refused_names and not _name_refused(queryset.model, key)}
        elif isinstance(row, tuple):
            if positions:
                items = [None if i in positions else item for i, item in enumerate(row)]
                # A named row (values_list(named=True)) keeps its names.
                row = row._make(items) if hasattr(row, "_make") else tuple(items)
        elif 0 in positions:
            row = None
        out.append(row)
    return out


def _column_flags(query: Query) -> list[tuple[str, bool]]:
    """``(name, refused)`` for each column of a ``values()`` query's rows,
    in their order. A combined query (``union()``...) refuses a position
    any of its parts refuses: the rows hold whichever part's values."""
    columns = [(name, _column_refused(query.model, name, path, expression))
               for name, path, expression in _selected_columns(query)]
    if not query.combinator:
        return columns
    names = [name for name, _ in columns]
    for part in query.combined_queries:
        if part is query:
            continue
        flags = [refused for _, refused in _column_flags(part)]
        if len(flags) != len(columns):
            flags = _aligned_flags(part, names) or [any(flags)] * len(columns)
        columns = [(name, refused or flags[i]) for i, (name, refused) in enumerate(columns)]
    return columns


def _aligned_flags(part: Query, names: list[str]) -> list[bool] | None:
    """A combined part's flags once aligned on the first query's columns,
    as Django's compiler aligns a part without ``values()`` of its own
    (``set_values`` with those names); None when that does not apply."""
    aligned = part.clone()
    try:
        aligned.set_values(names)
    except Exception:  # names it lacks (FieldError...): the caller refuses conservatively
        return None
    flags = [refused for _, refused in _column_flags(aligned)]
    return flags if len(flags) == len(names) else None


def _selected_columns(query: Query) -> list[tuple[str, str | None, Any]]:
    """``(name, field path, expression)`` of each column of ``query``'s
    rows, in the order Django builds them (``SQLCompiler.get_select``,
    ``ValuesIterable``): ``query.selected`` when set (the names given to
    ``values()``/``values_list()``, then annotations added after them,
    i.e. ``_fields`` followed by the annotations not in it), else the
    ``extra(select=...)`` names, the concrete fields' attnames
    (``values_select``, or every concrete field for a query that selects
    the model's default columns), then the selected annotations.

    Path and expression are None where unknown. An ``extra(select=...)``
    column (and a ``RawSQL`` annotation) is SQL text djust cannot inspect:
    it is refused by its name only."""
    if query.selected:
        columns = []
        for name, source in query.selected.items():
            if isinstance(source, str):  # an annotation's alias
                columns.append((name, None, query.annotations.get(source)))
            elif isinstance(source, int):  # a field path given to values()
                path = query.values_select[source] if source < len(query.values_select) else None
                column = query.select[source] if source < len(query.select) else None
                columns.append((name, path, column))
            else:  # extra(select=...): RawSQL, not inspectable
                columns.append((name, None, None))
        return columns
    columns = [(name, None, None) for name in query.extra_select]
    if query.default_cols:
        columns += [(field.attname, field.attname, None)
                    for field in query.model._meta.concrete_fields]
    else:
        paths = list(query.values_select)
        for i, column in enumerate(query.select):
            path = paths[i] if i < len(paths) else None
            columns.append((path or getattr(getattr(column, "target", None), "attname", ""),
                            path, column))
    columns += [(name, None, expression) for name, expression in query.annotation_select.items()]
    return columns


def _column_refused(model: type | None, name: str, path: str | None, expression: Any) -> bool:
    return (_name_refused(model, name)
            or (path is not None and model is not None and _path_refused(model, path))
            or (expression is not None and _reads_sensitive(expression)))


def _name_refused(model: type | None, name: Any) -> bool:
    """The name rule: a column whose last segment is sensitive on the
    queryset's model, or refused on every model (``refused_everywhere``:
    the keys of a JSONField's mapping have no model of their own)."""
    from djust.compiler.sensitive import refused_everywhere, sensitive_names

    if not isinstance(name, str):
        return False
    last = name.rpartition(LOOKUP_SEP)[2]
    return last in refused_everywhere() or (model is not None and last in sensitive_names(model))


def _path_refused(model: type, path: str) -> bool:
    """True when a part of a ``values()`` field path is a sensitive name of
    the model it belongs to, following relations (``tenant__ssn`` asks
    Tenant's own list, not the queryset model's). Past the last field the
    parts are transforms or JSON keys, which belong to no model: refused
    when refused everywhere."""
    from djust.compiler.sensitive import refused_everywhere, sensitive_names

    owner: type | None = model
    for part in path.split(LOOKUP_SEP):
        if owner is None:
            if part in refused_everywhere():
                return True
            continue
        refused = sensitive_names(owner)
        field = _model_field(owner, part)
        # ``tenant_id`` is the attname of a ``tenant`` listed as sensitive.
        if part in refused or (field is not None and field.name in refused):
            return True
        related = getattr(field, "related_model", None) if field is not None else None
        owner = related if isinstance(related, type) else None
    return False


def _model_field(model: type, name: str) -> Any:
    """The field (or reverse relation) ``name`` of ``model``, None if none."""
    if name == "pk":
        return model._meta.pk
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def _reads_sensitive(expression: Any) -> bool:
    """True when a resolved expression reads a sensitive field of any model
    anywhere in its tree: a column (``Col.target`` is the field, whose
    ``model`` says whose list to ask), a subquery's selected columns, an
    unresolved ``F``/outer reference or a JSON key by name. ``RawSQL`` is
    SQL text: it reads nothing djust can see."""
    if isinstance(expression, Query):
        return any(refused for _, refused in _column_flags(expression))
    if _node_reads_sensitive(expression):
        return True
    source = getattr(expression, "get_source_expressions", None)
    return source is not None and any(
        _reads_sensitive(child) for child in source() if child is not None)


def _node_reads_sensitive(node: Any) -> bool:
    """``_reads_sensitive`` for the node itself, not its sources."""
    from djust.compiler.sensitive import refused_everywhere, sensitive_names

    if isinstance(node, Col):
        field = node.target
        owner = getattr(field, "model", None)
        if not isinstance(owner, type):
            return False
        refused = sensitive_names(owner)
        return field.name in refused or getattr(field, "attname", None) in refused
    if isinstance(node, F):
        # Unresolved (an outer reference): no model to ask, only the name.
        return any(part in refused_everywhere() for part in node.name.split(LOOKUP_SEP))
    return getattr(node, "key_name", None) in refused_everywhere()  # a JSON key


def cut_value(value: Any, branch: Branch, *, top: bool = False) -> Any:
    """``value`` as the browser state carries it for the paths in ``branch``:
    JSON data holding only the read paths, resolved with Django's lookup
    rules (``runtime.resolve_lookup``, which also refuses sensitive names).

    - a node only displayed is its JSON leaf (plain data as it is, a model
      instance, a form or any other object as its text; a mapping shows
      no key the template does not read, so it is ``{}``);
    - a node looked into is a dict of the segments read (``"__str__"``, the
      text, when an object that is not a mapping is displayed too);
    - a list, tuple, set or QuerySet iterated (``*``) or displayed is the
      list of its elements, each cut for the paths below ``*`` (and below
      its own index);
    - a lookup Django fails, or one that raises, leaves its key out.

        >>> cut_value({"public": 1, "secret": 2}, branch_paths(["public"]))
        {'public': 1}
        >>> cut_value([{"a": 1, "b": 2}], branch_paths(["*.a"]))
        [{'a': 1}]
    """
    from djust.compiler.runtime import call_like_template

    value = unwrap_lazy(value)
    if top and callable(value):
        # Django calls a callable context value as it does any lookup.
        value = call_like_template(value)
    children = branch.children
    if value is None or (type(value) in PLAIN_TYPES and (branch.bare or not children)):
        return value
    if _is_sequence(value, branch):
        return _cut_sequence(value, branch)
    if not children:
        return _leaf(value)
    out: dict[str, Any] = {}
    if branch.bare and not isinstance(value, Mapping) and not is_kept_leaf(value):
        text = _display(value, _OMIT)
        if text is not _OMIT:
            out["__str__"] = text
    for segment, below in children.items():
        found = _lookup(value, segment)
        if found is _OMIT:
            continue
        if segment == STAR:
            # A mapping or a string iterated: its keys or characters.
            found = _cut_sequence(found, Branch(children={STAR: below}))
        else:
            found = cut_value(found, below)
        if found is not _OMIT:
            out[segment] = found
    return out


def _is_sequence(value: Any, branch: Branch) -> bool:
    """True for a collection iterated or displayed, which the state
    carries as the list of its elements."""
    if isinstance(value, list | tuple | set | frozenset | models.QuerySet):
        return branch.bare or STAR in branch.children
    return (STAR in branch.children and not isinstance(value, Mapping | str)
            and hasattr(value, "__iter__"))


def _cut_sequence(value: Any, branch: Branch) -> Any:
    """The elements of a collection iterated or displayed, each cut for the
    paths below ``*`` and below its own index; other lookups on the
    collection (``count``, ``first``...) are not part of the state, as for
    a serialized QuerySet."""
    star = branch.children.get(STAR)
    indexes: dict[int, list[Branch]] = {}
    for segment, below in branch.children.items():
        if is_index(segment):
            indexes.setdefault(int(segment), []).append(below)
    if star is None and not branch.bare and not indexes:
        return []
    out = []
    try:
        items = list(value)
    except Exception:
        return _OMIT
    if star is None and not branch.bare:
        # Only some positions are read: the others are None, up to the last.
        items = items[:max(indexes) + 1]
    for position, item in enumerate(items):
        read = [b for b in (star, *indexes.get(position, ())) if b is not None]
        if not read and not branch.bare:
            out.append(None)
            continue
        cut = cut_value(item, _merged(read, bare=branch.bare))
        out.append(None if cut is _OMIT else cut)
    return out


def _merged(branches: list[Branch], *, bare: bool) -> Branch:
    merged = Branch(bare=bare)
    for branch in branches:
        merged.bare = merged.bare or branch.bare
        for segment, below in branch.children.items():
            if segment in merged.children:
                merged.children[segment] = _merged([merged.children[segment], below],
                                                   bare=False)
            else:
                merged.children[segment] = below
    return merged


def _lookup(value: Any, segment: str) -> Any:
    from djust.compiler.runtime import MISSING, resolve_lookup

    if segment == STAR:
        try:
            return list(value)
        except Exception:
            return _OMIT
    try:
        found = resolve_lookup(value, segment)
    except Exception as error:
        # Django raises it only if the template evaluates the lookup; the
        # state has no template to raise it in (json mode's rule).
        log_fallback_once("<browser state>", f"{type(value).__name__}.{segment}",
                          f"{type(error).__name__} while resolving it: left out")
        return _OMIT
    return _OMIT if found is MISSING else found


def _leaf(value: Any) -> Any:
    """A node the template only displays, as JSON data."""
    if isinstance(value, Mapping):
        # Its text would show every key: none is read.
        return {}
    if is_kept_leaf(value):
        return _json_leaf(value)
    return _display(value, _OMIT)
