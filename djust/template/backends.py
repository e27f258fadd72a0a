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
live objects, exactly as Django would, in fewer queries.

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
import logging
from typing import Any

from django.db import models
from django.template import TemplateDoesNotExist
from django.template.backends.django import DjangoTemplates, Template, reraise
from django.template.base import Template as CompiledTemplate

from djust import conf
from djust.template.guard import guarded_engine
from djust.template.planning import ContextPlanner

logger = logging.getLogger("djust.template")

# Where a compiled template keeps its planner (None: nothing to plan).
_PLANNER = "_djust_planner"
_NOT_BUILT = object()


class DjustTemplates(DjangoTemplates):
    """A drop-in for ``DjangoTemplates`` that plans each render's queries."""

    def __init__(self, params: dict[str, Any]) -> None:
        params = {**params, "OPTIONS": dict(params.get("OPTIONS") or {})}
        refuse_sensitive = params["OPTIONS"].pop("refuse_sensitive", False)
        super().__init__(params)
        if refuse_sensitive:
            self.engine = guarded_engine(self.engine)
        _warn_without_app()

    def from_string(self, template_code):
        return PlannedTemplate(self.engine.from_string(template_code), self)

    def get_template(self, template_name):
        try:
            return PlannedTemplate(self.engine.get_template(template_name), self)
        except TemplateDoesNotExist as exc:
            reraise(exc, self)


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
