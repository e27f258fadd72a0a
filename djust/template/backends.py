"""``DjustTemplates``: Django's template backend, with every render planned.

One settings change puts it under every page of a project::

    TEMPLATES = [{
        "BACKEND": "djust.template.backends.DjustTemplates",
        "DIRS": [...], "APP_DIRS": True,
        "OPTIONS": {...},   # exactly DjangoTemplates' options
    }]

It is ``DjangoTemplates`` (same options, loaders, context processors and
``Template`` API; ``render()``, ``TemplateResponse`` and the generic views
use it unchanged), except that a template's render first reads what the
template reads (the extraction, made once per compiled template, includes
and parents followed) and hands the context to ``planning.ContextPlanner``:
QuerySets, instances, lists of instances, ``Page`` and ``Paginator`` values
get the query plan for the paths read from them, and the page renders the
live objects, exactly as Django would, in fewer queries. Its engine
(``PlanningEngine``) does the same for what an inclusion tag's function
returns, before the tag's template renders.

Options of its own, removed before Django's engine sees the rest:

- ``"refuse_sensitive": True`` renders through ``guard.GuardedEngine``:
  sensitive names are refused on live objects as on LiveView pages (off by
  default: a page is then Django's to the byte).

Settings (``DJUST``): ``STRICT`` fails a render on a query its plan did not
predict (``strict``); ``FETCH_PEERS`` (Django 6.1+) makes the QuerySets of
names djust could not plan load their relations for all peers at once.

    >>> from djust.template.backends import DjustTemplates
    >>> issubclass(DjustTemplates, __import__("django.template.backends.django",
    ...     fromlist=["DjangoTemplates"]).DjangoTemplates)
    True
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models
from django.template import Engine, TemplateDoesNotExist
from django.template.backends.django import DjangoTemplates, Template, reraise
from django.template.base import Template as CompiledTemplate
from django.template.context import BaseContext
from django.template.library import InclusionNode

from djust import conf
from djust.template.guard import guard_template
from djust.template.planning import ContextPlanner

logger = logging.getLogger("djust.template")

# Where a compiled template keeps its planner (None: nothing to plan).
_PLANNER = "_djust_planner"
_NOT_BUILT = object()
# Marks a template whose inclusion tags are planned, and a planning function.
_INCLUSIONS = "_djust_inclusions"


class DjustTemplates(DjangoTemplates):
    """A drop-in for ``DjangoTemplates`` that plans each render's queries."""

    def __init__(self, params: dict[str, Any]) -> None:
        params = {**params, "OPTIONS": dict(params.get("OPTIONS") or {})}
        refuse_sensitive = params["OPTIONS"].pop("refuse_sensitive", False)
        super().__init__(params)
        # Django built the engine; it is ours, so it may change class.
        self.engine.__class__ = PlanningEngine
        self.engine.refuse_sensitive = bool(refuse_sensitive)
        _warn_without_app()

    def from_string(self, template_code):
        return PlannedTemplate(self.engine.from_string(template_code), self)

    def get_template(self, template_name):
        try:
            return PlannedTemplate(self.engine.get_template(template_name), self)
        except TemplateDoesNotExist as exc:
            reraise(exc, self)


class PlanningEngine(Engine):
    """The engine of ``DjustTemplates``: every template it compiles, however
    it is loaded (a page, a parent, an include, an inclusion tag's), has its
    inclusion tags planned (``plan_inclusions``), and its variables guarded
    when ``refuse_sensitive`` is set (``guard.guard_template``)."""

    refuse_sensitive = False

    def _prepared(self, template):
        if self.refuse_sensitive:
            guard_template(template)
        plan_inclusions(template, self)
        return template

    def find_template(self, name, dirs=None, skip=None):
        template, origin = super().find_template(name, dirs, skip)
        if hasattr(template, "render"):
            self._prepared(template)
        return template, origin

    def from_string(self, template_code):
        return self._prepared(super().from_string(template_code))

    def get_template(self, template_name):
        return self._prepared(super().get_template(template_name))


def plan_inclusions(template, engine) -> None:
    """Make every inclusion tag of ``template`` plan what its function
    returns for what its own template reads: the rows a tag builds in Python
    (``org.members.all()``) are planned as a view's would be. Once per
    template.

    An inclusion tag renders its template from the dict its function
    returns; wrapping the node's function is the one seam Django leaves.
    """
    if template.__dict__.get(_INCLUSIONS) or not hasattr(template, "nodelist"):
        return
    for node in template.nodelist.get_nodes_by_type(InclusionNode):
        if not getattr(node.func, _INCLUSIONS, False):
            node.func = _planning(node.func, node.filename, engine)
    with contextlib.suppress(AttributeError):
        setattr(template, _INCLUSIONS, True)


def _planning(func, filename, engine):
    @functools.wraps(func)
    def planned(*args, **kwargs):
        returned = func(*args, **kwargs)
        if not isinstance(returned, Mapping | BaseContext) or not returned:
            return returned
        try:
            planner = planner_for(_inclusion_template(filename, engine), engine)
        except Exception as exc:
            # Django's own render finds the template or raises; djust only
            # passes on planning.
            logger.debug("djust: inclusion template %r not planned: %s", filename, exc)
            return returned
        if planner is None:
            return returned
        if isinstance(returned, BaseContext):
            return _planned_context(returned, planner)
        return planner.plan(returned)

    setattr(planned, _INCLUSIONS, True)
    return planned


def _planned_context(context: BaseContext, planner: ContextPlanner) -> BaseContext:
    """A context a ``takes_context`` tag returned (often the page's own),
    with the planned values on a layer of a copy: the page's context stays
    as it was."""
    flat = context.flatten()
    planned = planner.plan(flat)
    if planned is flat:
        return context
    layered = copy.copy(context)
    layered.dicts.append({name: value for name, value in planned.items()
                          if value is not flat.get(name)})
    return layered


def _inclusion_template(filename, engine):
    """The compiled template an InclusionNode renders, found as it finds it."""
    if isinstance(filename, CompiledTemplate):
        return filename
    if isinstance(getattr(filename, "template", None), CompiledTemplate):
        return filename.template
    if not isinstance(filename, str) and isinstance(filename, Iterable):
        return engine.select_template(filename)
    return engine.get_template(filename)


class PlannedTemplate(Template):
    """Django's backend ``Template``, whose ``render`` plans the context."""

    def render(self, context=None, request=None):
        if context:
            planner = planner_for(self.template, self.backend.engine)
            if planner is not None:
                context = planner.plan(context)
                if conf.flag("FETCH_PEERS"):
                    context = _fetching_peers(context, planner.unplanned)
        if conf.flag("STRICT"):
            from djust.template.strict import strict_queries

            with strict_queries(template_label(self.template)):
                return super().render(context, request)
        return super().render(context, request)


def _warn_without_app() -> None:
    """djust's checks do not run without its app: say it when the engine is
    built instead (``checks.backend_problems``)."""
    from django.core.exceptions import AppRegistryNotReady

    from djust.checks import backend_problems

    try:
        problems = backend_problems()
    except AppRegistryNotReady:
        return
    for problem in problems:
        logger.warning("%s (%s) %s", problem.msg, problem.id, problem.hint)


def django_backend() -> DjangoTemplates:
    """The project's Django-template backend: the engine named ``"django"``,
    else the first ``DjangoTemplates`` (``DjustTemplates`` included: Django
    names it ``"backends"`` unless ``NAME`` says otherwise).

        >>> type(django_backend()).__name__
        'DjangoTemplates'
    """
    from django.template import engines
    from django.template.utils import InvalidTemplateEngineError

    try:
        backend = engines["django"]
    except InvalidTemplateEngineError:
        backend = None
    if isinstance(backend, DjangoTemplates):
        return backend
    for candidate in engines.all():
        if isinstance(candidate, DjangoTemplates):
            return candidate
    raise InvalidTemplateEngineError("no DjangoTemplates engine in settings.TEMPLATES")


def template_label(template) -> str:
    name = getattr(getattr(template, "origin", None), "template_name", None)
    return name or getattr(template, "name", None) or "<unknown source>"


def planner_for(template, engine) -> ContextPlanner | None:
    """The planner of a compiled template, built on its first render and
    kept with it (the cached loader keeps the template); None for a template
    djust cannot read (a partial, or one whose extraction fails: logged)."""
    planner = template.__dict__.get(_PLANNER, _NOT_BUILT)
    if planner is _NOT_BUILT:
        planner = _build_planner(template, engine)
        with contextlib.suppress(AttributeError):
            setattr(template, _PLANNER, planner)
    return planner


def _build_planner(template, engine) -> ContextPlanner | None:
    from djust.compiler.extraction import walk_template

    if not isinstance(template, CompiledTemplate):
        return None
    label = template_label(template)
    try:
        extraction, _ = walk_template(engine, template, label)
    except Exception as exc:
        logger.warning("djust: %s: not planned, its extraction failed: %s: %s",
                       label, type(exc).__name__, exc)
        return None
    unplanned: set[str] = set()
    for record in extraction.unanalysed:
        unplanned.update(getattr(record, "names", ()))
    if extraction.unanalysed:
        logger.info("djust: %s: tags djust cannot analyse (%s); names left unplanned: %s",
                    label, "; ".join(str(record) for record in extraction.unanalysed),
                    ", ".join(sorted(unplanned)) or "none")
    return ContextPlanner(extraction, label=label, unplanned=unplanned)


def _fetching_peers(context, names):
    """The QuerySets of ``names`` in fetch-peers mode (Django 6.1+)."""
    peers = getattr(models, "FETCH_PEERS", None)
    if peers is None or not names:
        return context
    changed = {
        name: context[name].fetch_mode(peers) for name in names
        if isinstance(context.get(name), models.QuerySet) and context[name]._result_cache is None
    }
    return {**context, **changed} if changed else context
