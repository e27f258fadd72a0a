"""Strict mode: a render fails on a query its plan did not predict.

With ``DJUST = {"STRICT": True}`` (for tests), the template backend renders
inside ``strict_queries(template_name)``, which watches every query of every
database connection of this thread (``connection.execute_wrapper``) and
raises ``UnplannedQuery`` from the one that is a *lazy load*: a query the
template caused by resolving a lookup on a model instance, which no
``select_related``/``Prefetch`` of the plan answered. The queries the plan
itself runs (evaluating a QuerySet the view passed, its prefetches) pass.

The rule, read from the Python stack when a query is about to run, walking
from the query outwards (towards the caller):

1. A frame of ``prefetch_related_objects`` (``django/db/models/query.py``)
   is a planned prefetch: whatever was seen between it and the query
   (``get_prefetch_querysets`` of a descriptor, the prefetch QuerySet) is
   forgotten, and the walk goes on outwards.
2. A *lazy-load frame* is one of:

   a. a frame whose code is in ``django/db/models/fields/related_descriptors.py``
      (a forward or reverse one-to-one or many-to-one descriptor fetching
      its object, a related manager's own methods) or in
      ``django/contrib/contenttypes/fields.py`` (``GenericForeignKey.__get__``,
      a generic relation's manager);
   b. a ``DeferredAttribute`` method (``django/db/models/query_utils.py``:
      a deferred field loading itself) or ``Model.refresh_from_db``
      (``django/db/models/base.py``);
   c. any frame whose ``self`` is a related manager, a ``Manager`` whose
      class those two modules define (``{{ p.units.count }}``: the call
      goes through the ``manager_method`` proxies of ``manager.py``);
   d. a QuerySet method (``django/db/models/query.py``) whose QuerySet was
      made by a related manager of an instance (Django hints it with
      ``instance``), *when the template variable that reached it has at
      least three bits* (``name.relation.method``): ``{% for u in
      p.units.all %}``, ``{{ p.units.all.0 }}``, ``{% if p.units.all %}``
      evaluate such a QuerySet in the node, after the lookup returned.
      A QuerySet the view passed (``{% for l in leases %}``,
      ``{{ leases.count }}``) is the plan's, even when the view made it
      with a related manager.

3. A lazy-load frame counts only inside a template render: the first
   template frame outwards from it is a ``Variable._resolve_lookup`` frame
   (its ``self.var`` is the path) or a ``Node.render_annotated`` frame
   (for a load in ``__str__`` of ``{{ unit }}``: the node's variable is
   the path). The line is the ``token.lineno`` of the nearest
   ``render_annotated`` node, the template its ``origin.template_name``
   (an included template reports itself), else the name given to
   ``strict_queries``, else ``context.template_name``. For (d) the
   variables of the node (a ``{% for %}`` sequence, ``{% if %}``
   conditions, ``{% with %}``/``{% include ... with %}`` values, a
   variable node and its filter arguments) are searched for one of three
   bits or more; if none, the walk goes on to the enclosing nodes.

So a query outside any template, a planned QuerySet evaluated by a
``{% for %}``, ``prefetch_related_objects`` and ``{{ qs.count }}`` on a
QuerySet the view passed all pass; a query a model method issues on its
own (``Lease.objects.filter(...)`` in a method the template calls) is not
a lazy load either. With ``FETCH_PEERS`` (Django 6.1+) a descriptor that
loads its peers goes through ``prefetch_related_objects`` but is entered
from the descriptor's ``__get__``, outside it: still a lazy load, as the
plan did not predict it. Known gap: a generic relation's QuerySet iterated
by a node (``{% for c in book.comments.all %}``) carries no ``instance``
hint and passes; ``{{ book.comments.count }}`` fails.

A lazy load raises ``UnplannedQuery`` before the query runs. Django's
``{% if a > b %}`` operators swallow any exception; so the first lazy load
is also remembered and raised when the ``with`` block ends, if nothing
else was raised.

Django 6.1 fetch modes (``django.db.models.FETCH_ONE``, ``FETCH_PEERS``,
``FETCH_RAISE``; ``QuerySet.fetch_mode(mode)``; the error
``django.core.exceptions.FieldFetchBlocked``, a ``FieldError``) block the
same descriptor fetches without a stack walk: ``strict_queryset(qs)`` is
``qs.fetch_mode(FETCH_RAISE)`` where Django has it, ``qs`` otherwise. The
mode covers forward and reverse one-to-one and many-to-one descriptors,
deferred fields and generic foreign keys of the instances of that QuerySet
(and of its ``select_related``/prefetched instances, which inherit it); it
does not cover a related manager's queries (``{{ p.units.count }}``), nor
objects that did not come from a QuerySet the backend saw (``request.user``,
a view's method), and ``FieldFetchBlocked`` names neither template nor line.
So the backend keeps ``strict_queries`` for every strict render and may
add ``strict_queryset`` to the QuerySets it plans, on Django 6.1+ and when
``FETCH_PEERS`` is off (a QuerySet has one fetch mode), to fail at the
descriptor even where a query would not be watched (another thread's
connection).

    >>> from django.template import Context, Template
    >>> with strict_queries("page.html"):
    ...     Template("{{ name }}").render(Context({"name": "ok"}))
    'ok'
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from django.db import connections
from django.db.models import Model
from django.db.models.manager import BaseManager
from django.db.models.query import QuerySet
from django.db.models.query_utils import DeferredAttribute
from django.template.base import FilterExpression, Node, Variable

__all__ = ["UnplannedQuery", "strict_queries", "strict_queryset"]

_SQL_SHOWN = 200


def _suffix(*parts: str) -> str:
    return os.sep + os.path.join("django", *parts)


_DESCRIPTOR_FILES = (
    _suffix("db", "models", "fields", "related_descriptors.py"),
    _suffix("contrib", "contenttypes", "fields.py"),
)
_RELATED_MODULES = frozenset({
    "django.db.models.fields.related_descriptors",
    "django.contrib.contenttypes.fields",
})
_QUERY_FILE = _suffix("db", "models", "query.py")
_QUERY_UTILS_FILE = _suffix("db", "models", "query_utils.py")
_BASE_FILE = _suffix("db", "models", "base.py")
_MANAGER_FILE = _suffix("db", "models", "manager.py")
# A QuerySet a related manager made, evaluated in a node, is a lazy load
# when the variable reaching it has this many bits: name.relation.method.
_RELATION_BITS = 3


class UnplannedQuery(Exception):
    """A query a template caused that djust's plan did not predict."""

    def __init__(self, template_name: str, line: int | None, path: str, sql: str) -> None:
        self.template_name = template_name
        self.line = line
        self.path = path
        self.sql = sql
        super().__init__(
            f"{template_name}, line {line}: {{{{ {path} }}}} ran a query djust "
            f"did not plan: {sql[:_SQL_SHOWN]}"
        )


def strict_queryset(queryset: QuerySet) -> QuerySet:
    """``queryset`` whose instances refuse to fetch anything on access
    (``FETCH_RAISE``, Django 6.1+); ``queryset`` itself on older Django."""
    try:
        from django.db.models import FETCH_RAISE
    except ImportError:  # Django < 6.1
        return queryset
    return queryset.fetch_mode(FETCH_RAISE)


@contextlib.contextmanager
def strict_queries(template_name: str | None = None) -> Iterator[None]:
    """Raise ``UnplannedQuery`` from any lazy load a template render causes
    on this thread's connections while the block runs."""
    seen: list[UnplannedQuery] = []

    def watch(execute, sql, params, many, context):
        error = _lazy_load(sys._getframe(1), sql, template_name)
        if error is not None:
            if not seen:
                seen.append(error)
            raise error
        return execute(sql, params, many, context)

    with contextlib.ExitStack() as stack:
        for connection in connections.all():
            stack.enter_context(connection.execute_wrapper(watch))
        yield
    # Reached only when the block raised nothing: a lazy load whose error
    # something swallowed (smartif operators do) still fails the render.
    if seen:
        raise seen[0]


def _lazy_load(frame, sql, template_name: str | None) -> UnplannedQuery | None:
    """The error for the query about to run from ``frame``, if the stack
    says it is a lazy load inside a template render (the module's rule)."""
    lazy = None  # "load" (2a-c) or "queryset" (2d), outside any prefetch
    while frame is not None:
        code = frame.f_code
        name = code.co_name
        filename = code.co_filename
        if name == "prefetch_related_objects" and filename.endswith(_QUERY_FILE):
            lazy = None
        elif name == "_resolve_lookup" or name == "render_annotated":
            self = frame.f_locals.get("self")
            if lazy is not None and isinstance(self, (Variable, Node)):
                found = _report(frame, lazy, sql, template_name)
                if found is not None:
                    return found
                lazy = None
        elif lazy != "load":
            kind = _lazy_kind(frame, name, filename)
            if kind is not None:
                lazy = kind
        frame = frame.f_back
    return None


def _lazy_kind(frame, name: str, filename: str) -> str | None:
    if filename.endswith(_DESCRIPTOR_FILES):
        return "load"
    if filename.endswith(_BASE_FILE):
        return "load" if name == "refresh_from_db" else None
    if filename.endswith(_QUERY_UTILS_FILE):
        return "load" if isinstance(frame.f_locals.get("self"), DeferredAttribute) else None
    if filename.endswith(_MANAGER_FILE):
        self = frame.f_locals.get("self")
        if isinstance(self, BaseManager) and type(self).__module__ in _RELATED_MODULES:
            return "load"
        return None
    if filename.endswith(_QUERY_FILE):
        self = frame.f_locals.get("self")
        if isinstance(self, QuerySet) and isinstance(self._hints.get("instance"), Model):
            return "queryset"
    return None


def _report(frame, lazy: str, sql, template_name: str | None) -> UnplannedQuery | None:
    """The error for a lazy load first met, going outwards, at the template
    frame ``frame``; None when (2d) its variables do not cross a relation."""
    self = frame.f_locals["self"]
    if isinstance(self, Variable):
        variables = [self]
        node_frame = _enclosing_node_frame(frame.f_back)
    else:
        variables = list(_node_variables(self))
        node_frame = frame
    if lazy == "queryset":
        variables = [v for v in variables if len(v.lookups or ()) >= _RELATION_BITS]
        if not variables:
            return None
    node = node_frame.f_locals["self"] if node_frame is not None else None
    if variables:
        path = variables[0].var
    else:
        path = getattr(getattr(node, "token", None), "contents", None) or "?"
    line = getattr(getattr(node, "token", None), "lineno", None)
    origin = getattr(node, "origin", None)
    context = (node_frame or frame).f_locals.get("context")
    name = (getattr(origin, "template_name", None) or template_name
            or getattr(context, "template_name", None) or "<unknown source>")
    return UnplannedQuery(str(name), line, str(path), str(sql))


def _enclosing_node_frame(frame):
    while frame is not None:
        if frame.f_code.co_name == "render_annotated" and isinstance(
                frame.f_locals.get("self"), Node):
            return frame
        frame = frame.f_back
    return None


def _node_variables(node: Node) -> Iterator[Variable]:
    """The variables a node resolves itself (not its children's)."""
    values: list[Any] = []
    for attribute in ("filter_expression", "sequence", "var"):
        values.append(getattr(node, attribute, None))
    for condition, _nodelist in getattr(node, "conditions_nodelists", ()):
        values.append(condition)
    values.extend((getattr(node, "extra_context", None) or {}).values())
    yield from _variables_in(values)


def _variables_in(values: list[Any]) -> Iterator[Variable]:
    seen: set[int] = set()
    while values:
        value = values.pop(0)
        if value is None or id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, Variable):
            yield value
        elif isinstance(value, FilterExpression):
            values.append(value.var)
            for _func, args in value.filters:
                values.extend(arg for _lookup, arg in args)
        else:
            # smartif: TemplateLiteral.value, Operator.first/.second.
            for attribute in ("value", "first", "second"):
                inner = getattr(value, attribute, None)
                if isinstance(inner, (FilterExpression, Variable)) or hasattr(inner, "eval"):
                    values.append(inner)
