"""Auto-serialization of a view's context for the template that renders it.

``serialize_context(extraction, context)`` replaces each QuerySet, model
instance and list/tuple of instances by what the compiled serializer makes
of it for exactly the paths the template reads from that name; other values
pass through, and names the template never reads are dropped, so nothing the
template does not show reaches the page or the browser.

Values are python-mode rows (``djust.compiler.modes.Row``) that answer the
template as the live objects do: identity, laziness, no mapping methods. A
serialized QuerySet is a ``Collection``: the list of its rows that also
answers, as the live QuerySet answered it when serializing, every other
lookup the template makes on it (``count``, ``first``, ``all``,
``reverse``...). A list of instances stays a list; ``values()`` rows stay
what they are. When the template holds a tag djust cannot analyse, every
context name reaches the page live (such a tag may read any of them), and
the browser gets ``generic_serialize`` of the names known to be read: the
known paths plus ``pk`` and ``str()``, resolved with Django's own lookup
rules; compiling failures fall back the same way. That is logged once per
(template, name).

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

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from djust.compiler.errors import CompilerError
from djust.compiler.modes import PYTHON, QueryRows, Row, json_leaf, row_values
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
    ``{% for a, b in rows %}`` too."""
    rows = list(queryset)
    _, lookups = split_collection_paths(paths)
    answered, raised = _answered(queryset, rows, lookups, paths)
    return Collection(rows, answered, _displayed(queryset, lookups), raised)


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


def generic_serialize(value: Any, paths: list[str]) -> Any:
    """The safe fallback: known paths plus ``pk`` and ``str``, resolved at run time."""
    if isinstance(value, models.QuerySet) and not yields_instances(value):
        element_paths, _ = split_collection_paths(paths)
        branch = branch_paths(element_paths)
        return Collection(_resolve_generically(row, branch) for row in value)
    if isinstance(value, models.QuerySet) or is_instance_list(value):
        element_paths, _ = split_collection_paths(paths)
        branch = branch_paths([*element_paths, "pk", ""])
        return Collection(_resolve_generically(obj, branch) for obj in value)
    if isinstance(value, models.Model):
        return _resolve_generically(value, branch_paths([*paths, "pk", ""]))
    return value


def _resolve_generically(value: Any, branch: Branch) -> Any:
    """Follow ``branch`` with Django's lookup rules (``resolve_lookup`` also
    refuses sensitive names on model rows)."""
    from djust.compiler.runtime import MISSING, Displayed, resolve_lookup

    if not branch.children or value is None:
        return PYTHON.encode(value)
    if STAR in branch.children:
        return [_resolve_generically(item, branch.children[STAR]) for item in value]
    out: dict[str, Any] = Displayed() if branch.bare else {}
    if branch.bare:
        out["__str__"] = str(value)
    for segment, below in branch.children.items():
        found = resolve_lookup(value, segment)
        if found is not MISSING:
            out[segment] = _resolve_generically(found, below)
    return out


def _read_part(rows: Collection, paths: list[str]) -> list:
    """The rows of a ``values()`` QuerySet as the browser gets them: only
    the keys the template reads (model rows are cut when serialized)."""
    element_paths, _ = split_collection_paths(paths)
    keys = {path.partition(SEPARATOR)[0] for path in element_paths}
    if "" in keys:
        return list(rows)
    return [{key: row[key] for key in keys if key in row} if isinstance(row, dict) else row
            for row in rows]


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
        if not needs_serializing(value) or not jit:
            out[name] = value
        elif unanalysed:
            # Some lookups are unknown: the page renders from the live value
            # (correct, maybe N+1); browser_state sends the generic value.
            where = "; ".join(str(u) for u in unanalysed)
            log_fallback_once(template, name, f"the template has tags djust cannot analyse: "
                              f"{where}")
            out[name] = value
        else:
            try:
                out[name] = serialize_value(value, paths, mode=mode)
            except CompilerError as exc:
                log_fallback_once(template, name, f"{type(exc).__name__}: {exc}")
                out[name] = value
    return out


class StateEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder, displaying what it cannot encode as the template
    would: the JSON mode's leaf rule (``modes.json_leaf``)."""

    def default(self, o: Any) -> Any:
        if o.__class__ is Row:
            return row_values(o)
        return json_leaf(o)


# Context names that are part of the page machinery, never of its state.
NOT_STATE = frozenset({"view", "request", "csrf_token", "perms", "user", "messages"})


def browser_state(extraction: Mapping[str, Any], context: Mapping[str, Any],
                  serialized: Mapping[str, Any]) -> dict[str, Any]:
    """The state sent to the browser (encode it with ``StateEncoder``): only
    names the template reads."""
    state: dict[str, Any] = {}
    for name, value in serialized.items():
        if name in NOT_STATE or name not in extraction:
            continue
        if value is context.get(name) and needs_serializing(value):
            # JIT off, or the fallback: the page rendered the live value; the
            # browser still only gets what the template reads.
            value = generic_serialize(value, list(extraction[name]))
        elif isinstance(context.get(name), models.QuerySet) and isinstance(value, Collection):
            value = _read_part(value, list(extraction[name]))
        state[name] = value
    return state
