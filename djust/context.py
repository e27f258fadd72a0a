"""Auto-serialization of a view's context for the template that renders it.

``serialize_context(extraction, context)`` replaces each QuerySet, model
instance and list/tuple of instances by what the compiled serializer makes
of it for exactly the paths the template reads from that name; other values
pass through, and names the template never reads are dropped, so nothing the
template does not show reaches the page or the browser.

A serialized collection is a ``Collection``: a list of the element dicts that
also answers the lookups a template makes on the collection itself
(``count``, ``exists``, ``first``, ``last``, an index, ``|length``) the way
the live QuerySet would. When the template holds a tag djust cannot analyse,
or compiling fails, the value goes through ``generic_serialize`` instead:
the paths that are known plus ``pk`` and ``str()``, resolved with Django's
own lookup rules. That is logged once per (template, name).

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
from djust.compiler.modes import PYTHON, json_leaf
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


class Collection(list):
    """The serialized rows of a QuerySet or list, answering collection lookups.

    Django's template engine tries ``obj[bit]`` and then attributes, so
    ``{{ leases.count }}`` finds the ``count`` method below and calls it.
    """

    # Set per instance: what the live collection answered, when the template
    # asked without iterating (a COUNT or EXISTS query instead of all rows).
    _count: int | None = None

    def count(self) -> int:  # type: ignore[override]
        return len(self) if self._count is None else self._count

    def exists(self) -> bool:
        return bool(self.count())

    def first(self) -> Any:
        return self[0] if self else None

    def last(self) -> Any:
        return self[-1] if self else None


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
        else:
            lookups.add(head)
            if head == "":
                # A displayed collection shows its elements (docs/serialization.md).
                element.add("")
    return sorted(element), lookups


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
        return generic_serialize(value, paths)
    if isinstance(value, models.QuerySet):
        return serialize_queryset(value, paths, mode=mode)
    if isinstance(value, models.Model):
        serializer = compile_serializer(type(value), paths, mode=mode)
        serializer.plan.apply_to_instances([value])
        return serializer(value)
    if is_instance_list(value):
        element_paths, _ = split_collection_paths(paths)
        serializer = compile_serializer(type(value[0]), element_paths, mode=mode)
        return Collection(serializer.many(list(value)))
    return value


def serialize_queryset(queryset: models.QuerySet, paths: list[str], *, mode: str) -> Collection:
    from djust.compiler import compile_serializer

    element_paths, lookups = split_collection_paths(paths)
    # Anything but count/exists/first/last (an index, the bare collection)
    # needs the rows.
    iterated = any(p.partition(SEPARATOR)[0] == STAR for p in paths) or bool(
        lookups - COLLECTION_LOOKUPS)
    if not iterated and not (lookups & {"first", "last"}):
        # Only count/exists: ask the database, do not load the rows.
        rows = Collection()
        rows._count = queryset.count() if "count" in lookups else int(queryset.exists())
        return rows
    if not iterated:
        picked = [queryset.first()] if "first" in lookups else []
        picked += [queryset.last()] if "last" in lookups else []
        serializer = compile_serializer(queryset.model, element_paths, mode=mode)
        rows = Collection(serializer(obj) for obj in picked if obj is not None)
        if "count" in lookups or "exists" in lookups:
            rows._count = queryset.count()
        return rows
    serializer = compile_serializer(queryset.model, element_paths, mode=mode)
    return Collection(serializer.many(queryset))


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
            continue
        paths = list(extraction[name])
        if not needs_serializing(value) or not jit:
            out[name] = value
        elif unanalysed:
            # Some lookups are unknown: the page renders from the live value
            # (correct, maybe N+1); browser_state sends the generic value.
            where = ", ".join(f"{u.tag} (line {u.line})" for u in unanalysed)
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
        return json_leaf(o)


# Context names that are part of the page machinery, never of its state.
NOT_STATE = frozenset({"view", "request", "csrf_token", "perms", "user", "messages"})


def browser_state(extraction: Mapping[str, Any], context: Mapping[str, Any],
                  serialized: Mapping[str, Any]) -> dict[str, Any]:
    """The state sent to the browser (encode it with ``StateEncoder``): only
    names the template reads."""
    state: dict[str, Any] = {}
    for name, value in serialized.items():
        if name in NOT_STATE:
            continue
        if value is context.get(name) and needs_serializing(value):
            # JIT off, or the fallback: the page rendered the live value; the
            # browser still only gets what the template reads.
            value = generic_serialize(value, list(extraction[name]))
        state[name] = value
    return state
