"""``djust.warm_up()``: do a worker's first-request work before its first request.

A fresh worker process pays, on the first page of each LiveView, for
analysing the template and compiling (or loading from the shared store)
one serializer per context value and its row projection. ``warm_up()``
does that at start-up, for every LiveView the URLconf routes to and every
serializer in the shared store's manifest (what earlier workers compiled;
``djust_cache warm`` fills it for a new deployment).

It is not run from ``AppConfig.ready()``: the URLconf may import code that
expects every app to be ready (``admin.site.urls`` after autodiscovery, for
one), and apps listed after djust may still add fields to models. Call it
where the WSGI or ASGI application is built, once Django is set up:

    # wsgi.py
    from django.core.wsgi import get_wsgi_application
    import djust

    application = get_wsgi_application()
    djust.warm_up()

A template or a manifest record that fails is logged on ``djust.warmup`` and
skipped: warming never stops a worker from starting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

logger = logging.getLogger("djust.warmup")


@dataclass
class WarmUp:
    """What ``warm_up()`` loaded, and what it skipped (one line each)."""

    templates: int = 0
    serializers: int = 0
    skipped: list[str] = field(default_factory=list)


def live_view_templates() -> list[tuple[str, str, str | None]]:
    """``(view label, template name, inline source)`` of every routed LiveView.

        >>> ("examples.rentals.views.Dashboard", "rentals/dashboard.html", None) in (
        ...     live_view_templates())
        True
    """
    from django.urls import get_resolver

    from djust.live import LiveView

    found: dict[tuple, None] = {}
    for callback in _callbacks(get_resolver().url_patterns):
        view_class = getattr(callback, "view_class", None)
        if not (isinstance(view_class, type) and issubclass(view_class, LiveView)):
            continue
        view = view_class(**getattr(callback, "view_initkwargs", {}))
        label = f"{view_class.__module__}.{view_class.__qualname__}"
        if view.template is not None:
            found[(label, view.template_label(), view.template)] = None
        elif view.template_name:
            found[(label, view.template_name, None)] = None
    return list(found)


def _callbacks(patterns):
    for pattern in patterns:
        nested = getattr(pattern, "url_patterns", None)
        if nested is not None:
            yield from _callbacks(nested)
        else:
            yield pattern.callback


def manifest_records() -> list[dict]:
    """The serializers earlier workers compiled, from the shared store (none
    without one)."""
    from djust.store import configured_store

    shared = configured_store()
    return [] if shared is None else [record for _key, record in shared.entries("m")]


def warm_up() -> WarmUp:
    """Analyse every routed LiveView's template and load every serializer of
    the store's manifest, with its row projection, into this process.

        >>> result = warm_up()
        >>> result.templates > 0, result.skipped
        (True, [])
    """
    from django.apps import apps

    from djust.compiler import compile_serializer
    from djust.compiler.extraction import (
        extract_template_variables,
        extract_template_variables_from_name,
    )
    from djust.compiler.serializer import projection_of

    result = WarmUp()
    for label, name, source in _listed(result, "the URLconf's LiveViews", live_view_templates):
        try:
            if source is None:
                extract_template_variables_from_name(name)
            else:
                extract_template_variables(source, name=name)
        except Exception as exc:  # a broken page must not stop the worker from starting
            _skip(result, f"{label}: {name}: {type(exc).__name__}: {exc}")
        else:
            result.templates += 1
    for record in _listed(result, "the store's manifest", manifest_records):
        try:
            model = apps.get_model(record["model"])
            serializer = compile_serializer(model, record["paths"], mode=record["mode"])
            projection_of(serializer)
        except Exception as exc:  # a record from code that has changed since
            _skip(result, f"manifest record {record!r}: {type(exc).__name__}: {exc}")
        else:
            result.serializers += 1
    logger.info("djust warm-up: %d templates, %d serializers, %d skipped",
                result.templates, result.serializers, len(result.skipped))
    return result


def _listed(result: WarmUp, what: str, lister) -> list:
    """``lister()``, or nothing when it fails (a URLconf that does not import,
    a store that does not answer): the worker starts all the same, and its
    first requests meet the same failure with Django's own handling."""
    try:
        return lister()
    except Exception as exc:
        _skip(result, f"{what}: {type(exc).__name__}: {exc}")
        return []


def _skip(result: WarmUp, line: str) -> None:
    logger.warning("djust warm-up skipped %s", line)
    result.skipped.append(line)
