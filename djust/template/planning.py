"""The query plan of one render: what the template backend does to a context.

Given what a template reads (an ``Extraction``: paths per context name,
includes and parents followed) and the context a view hands it, every value
that holds model rows gets the plan for the paths read from it, and the page
then renders the live objects as Django would:

- an unevaluated QuerySet is replaced by the same QuerySet with the plan
  merged into what it already does (joins, prefetches, the user's
  ``only()``/``defer()`` kept, slicing untouched);
- rows already loaded (an evaluated QuerySet, a list of instances, one
  instance) get ``prefetch_related_objects`` for the relations read, which
  changes neither their rows nor their order; so do the rows of a combined
  QuerySet (``union()``...), which can carry no plan: they are loaded first;
- a paginator ``Page`` and a ``Paginator`` are read through their
  ``object_list``; the page is copied with the planned rows in it.

Names that share rows share one plan: a ``ListView`` puts the same rows in
``object_list``, ``<model>_list`` and ``page_obj.object_list``, and each may
be read for different paths; the union is planned once and every name gets
the planned rows. No column is pruned (``QueryPlan.for_live_rows``): code
djust cannot see may read any field, and a deferred field read costs a query
per row.

A name an unanalysed tag is handed is left as the view made it, as is any
value whose plan fails to build or apply (logged once per template and
name): planning must never fail a page Django renders.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import models
from django.db.models.query import ModelIterable

from djust.compiler.paths import SEPARATOR, STAR, is_index
from djust.compiler.plan import live_plan

logger = logging.getLogger("djust.template")

# Lookups of a collection that give one of its rows.
_ROW_PICKS = ("first", "last")
# Lookups that give the same rows again: a QuerySet's all(), a page's or a
# paginator's object_list.
_SAME_ROWS = {"all"}
_LISTED_ROWS = {"object_list", "all"}


def row_paths(paths: Iterable[str], same_rows: set[str] = _SAME_ROWS) -> list[str]:
    """The paths read below one row of a collection read with ``paths``.

        >>> row_paths(["*.tenant.phone", "count", "first.unit", "all.*.status", ""])
        ['', 'status', 'tenant.phone', 'unit']
    """
    rows: set[str] = set()
    for path in paths:
        head, _, tail = path.partition(SEPARATOR)
        if head == STAR or head in _ROW_PICKS or is_index(head):
            rows.add(tail)
        elif head in same_rows:
            rows.update(row_paths([tail], same_rows))
        elif head == "":
            # A collection displayed shows each row's text.
            rows.add("")
    return sorted(rows)


@dataclass
class _Group:
    """Rows shared by one or more context names, and the paths they read."""

    rows: Any
    paths: set[str] = field(default_factory=set)
    # (context name, how the name holds the rows: "rows", "page", "paginator", "one")
    holders: list[tuple[str, str]] = field(default_factory=list)


class ContextPlanner:
    """Plans contexts for one template's reads (``plan``); built once per
    compiled template and kept with it."""

    def __init__(self, reads: Mapping[str, Iterable[str]], *, label: str,
                 unplanned: Iterable[str] = ()) -> None:
        self.label = label
        skip = set(unplanned)
        self.reads = {name: tuple(paths) for name, paths in reads.items() if name not in skip}
        self.unplanned = frozenset(skip & set(reads))
        self._failed: set[str] = set()
        self._lock = threading.Lock()

    def plan(self, context: Mapping[str, Any]) -> Mapping[str, Any]:
        """``context`` with every model-backed value read carrying its plan
        (the same mapping when nothing needed one)."""
        groups: dict[int, _Group] = {}
        reads = self.reads
        for name, value in context.items():
            paths = reads.get(name)
            if paths is None:
                continue
            held = _held_rows(value, paths)
            if held is None:
                continue
            rows, how, read = held
            group = groups.get(id(rows))
            if group is None:
                group = groups[id(rows)] = _Group(rows)
            group.paths.update(read)
            group.holders.append((name, how))
        if not groups:
            return context
        replaced: dict[str, Any] = {}
        for group in groups.values():
            planned = self._planned(group)
            if planned is group.rows:
                continue
            for name, how in group.holders:
                replaced[name] = _holding(context[name], how, planned)
        if not replaced:
            return context
        return {**context, **replaced}

    def _planned(self, group: _Group) -> Any:
        rows = group.rows
        try:
            if isinstance(rows, models.QuerySet):
                if rows._result_cache is None and not rows.query.combinator:
                    return live_plan(rows.model, group.paths).apply(rows)
                if rows._result_cache is None:
                    # union() and the like take no joins or prefetches: their
                    # rows are loaded here, as the template would load them,
                    # and completed like any loaded rows.
                    rows._fetch_all()
                rows = rows._result_cache
            if isinstance(rows, models.Model):
                rows = [rows]
            if rows:
                model = type(rows[0])
                live_plan(model, group.paths).apply_to_instances(rows)
        except Exception as exc:
            # Never a failure Django would not have: the page renders the
            # rows as the view made them.
            self._log_failure(group, exc)
        return group.rows

    def _log_failure(self, group: _Group, exc: Exception) -> None:
        names = ", ".join(sorted(name for name, _ in group.holders))
        with self._lock:
            if names in self._failed:
                return
            self._failed.add(names)
        logger.warning("djust: %s: %s left unplanned: %s: %s", self.label, names,
                       type(exc).__name__, exc)


def _held_rows(value: Any, paths: tuple[str, ...]) -> tuple[Any, str, list[str]] | None:
    """The rows ``value`` holds, how it holds them, and the paths read below
    one row; None when it holds no model rows (or none is read)."""
    if isinstance(value, models.QuerySet):
        return _read(value, "rows", row_paths(paths))
    if isinstance(value, models.Model):
        return value, "one", list(paths)
    if isinstance(value, Page):
        listed = [tail for path in paths
                  for head, _, tail in [path.partition(SEPARATOR)] if head == "object_list"]
        return _read(value.object_list, "page",
                     row_paths(paths, _LISTED_ROWS) + row_paths(listed))
    if isinstance(value, Paginator):
        listed = [tail for path in paths
                  for head, _, tail in [path.partition(SEPARATOR)] if head == "object_list"]
        return _read(value.object_list, "paginator", row_paths(listed))
    if isinstance(value, list | tuple):
        return _read(value, "rows", row_paths(paths))
    return None


def _read(rows: Any, how: str, read: list[str]) -> tuple[Any, str, list[str]] | None:
    # "" is a row displayed: its text may read relations (__str__).
    if not read:
        return None
    if isinstance(rows, models.QuerySet):
        if rows._fields is not None or not issubclass(rows._iterable_class, ModelIterable):
            return None
    elif not (isinstance(rows, list | tuple) and rows and _all_instances(rows)):
        return None
    return rows, how, read


def _all_instances(rows: list | tuple) -> bool:
    model = type(rows[0])
    return issubclass(model, models.Model) and all(type(row) is model for row in rows)


def _holding(value: Any, how: str, planned: Any) -> Any:
    """``value`` holding the ``planned`` rows in place of its own."""
    if how == "rows":
        return planned
    holder = copy.copy(value)
    holder.object_list = planned
    return holder
