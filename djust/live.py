"""LiveView: a Django view whose template's lookups are compiled.

A request goes through these steps:

1. GET: ``mount(request, **kwargs)`` sets public attributes (names not
   starting with ``_``); ``get_context_data()`` collects them; the context is
   auto-serialized for exactly the paths the template reads
   (``djust.context``); the page renders from the ``python``-mode values; the
   public state is stored server-side (``djust.state``) under a fresh id.
2. An event from the page (``dj-click``, ``dj-submit``, ``dj-change``; see
   ``static/djust/djust.js``) is a CSRF-protected JSON POST to the same URL:
   ``{"id": ..., "event": "handler_name", "params": {...}}``. The state is
   restored, the ``@event_handler`` method runs with its parameters coerced
   to their annotated types, the page is rendered again and the response
   carries the new inner HTML of the ``dj-root`` element and the new JSON
   state. Bad requests get a 400 with a message and change nothing.

    class Dashboard(LiveView):
        template_name = "dashboard.html"

        def mount(self, request):
            self.leases = Lease.objects.filter(status="active")

        @event_handler
        def only(self, status: str):
            self.leases = Lease.objects.filter(status=status)
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import time
from decimal import Decimal, InvalidOperation
from typing import Any, get_type_hints

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.middleware.csrf import get_token
from django.template import engines
from django.templatetags.static import static
from django.views import View

from djust import conf, html, state
from djust.compiler.extraction import (
    extract_template_variables,
    extract_template_variables_from_name,
)
from djust.context import StateEncoder, serialize_context
from djust.context import browser_state as state_for_browser

logger = logging.getLogger("djust.live")

HANDLER_MARK = "_djust_event_handler"
VIEW_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def event_handler(function):
    """Mark a LiveView method as callable from the page.

        >>> @event_handler
        ... def sort(self, column: str): ...
    """
    setattr(function, HANDLER_MARK, True)
    return function


class BadEvent(ValueError):
    """An event request that must be refused with a 400."""


def _coerce(value: Any, annotation: Any, name: str) -> Any:
    if annotation in (inspect.Parameter.empty, Any, str):
        if annotation is str and not isinstance(value, str):
            raise BadEvent(f"parameter {name!r} must be a string")
        return value
    try:
        if annotation is bool:
            if isinstance(value, bool):
                return value
            lowered = str(value).lower()
            if lowered in ("true", "1", "on", "yes"):
                return True
            if lowered in ("false", "0", "off", "no", ""):
                return False
            raise ValueError(value)
        if annotation is int:
            if isinstance(value, bool):
                raise ValueError(value)
            return int(str(value), 10)
        if annotation is float:
            return float(value)
        if annotation is Decimal:
            return Decimal(str(value))
    except (ValueError, TypeError, InvalidOperation) as exc:
        raise BadEvent(
            f"parameter {name!r} must be {annotation.__name__}, got {value!r}"
        ) from exc
    return value


def require_djust_app() -> None:
    """Refuse to serve a LiveView when ``djust`` is not an installed app.

    Without it, nothing serves ``djust/djust.js`` and djust's system checks
    never run, so the page would render and then silently send no events.
    """
    if not apps.is_installed("djust"):
        raise ImproperlyConfigured(
            'LiveView needs "djust" in INSTALLED_APPS (it serves djust/djust.js and '
            "checks the settings the view relies on)"
        )


class LiveView(View):
    """A class-based view whose context is compiled and serialized by djust."""

    template_name: str | None = None
    template: str | None = None
    jit: bool = True
    # Shown on the demo's pages; None outside a request.
    last_stats: dict[str, float] | None = None

    # -- what subclasses write -------------------------------------------
    def mount(self, request: HttpRequest, **kwargs: Any) -> None:
        """Set the view's public attributes for a first page load."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = self.public_state()
        context.update(kwargs)
        context.setdefault("view", self)
        return context

    # -- state -----------------------------------------------------------
    def public_state(self) -> dict[str, Any]:
        return {
            name: value for name, value in vars(self).items()
            if not name.startswith("_") and name not in ("request", "args", "kwargs",
                                                         "head", "last_stats")
        }

    # -- templates -------------------------------------------------------
    def check_template(self) -> None:
        if self.template is None and self.template_name is None:
            raise ImproperlyConfigured(f"{type(self).__name__} needs template_name or template")

    def get_template(self):
        self.check_template()
        if self.template is not None:
            return engines["django"].from_string(self.template)
        return engines["django"].get_template(self.template_name)

    def template_label(self) -> str:
        return self.template_name or f"<inline template of {type(self).__qualname__}>"

    def get_extraction(self):
        self.check_template()
        if self.template is not None:
            return extract_template_variables(self.template, name=self.template_label())
        return extract_template_variables_from_name(self.template_name)

    def jit_enabled(self) -> bool:
        return bool(self.jit and conf.get("JIT"))

    # -- rendering -------------------------------------------------------
    def render_page(self, request: HttpRequest) -> tuple[str, dict[str, Any]]:
        """Render the template; return the HTML and the browser state."""
        extraction = self.get_extraction()
        context = self.get_context_data()
        started = time.perf_counter()
        serialized = serialize_context(
            extraction, context, template=self.template_label(), jit=self.jit_enabled(),
        )
        elapsed = time.perf_counter() - started
        browser_state = state_for_browser(extraction, context, serialized)
        render_context = dict(serialized)
        # Names the template reads that are not model data (view, request...)
        for name in ("view", "request"):
            if name in context and name in extraction:
                render_context[name] = context[name]
        self.last_stats = {"serialize_ms": elapsed * 1000}
        page = self.get_template().render(render_context, request)
        return page, browser_state

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        require_djust_app()
        self.mount(request, **kwargs)
        page, browser_state = self.render_page(request)
        state_id = state.save(request, type(self), self.public_state())
        page = html.annotate_root(
            page,
            {"data-djust-id": state_id, "data-djust-csrf": get_token(request)},
            script=static("djust/djust.js"),
            state_json=json.dumps(browser_state, cls=StateEncoder),
        )
        return HttpResponse(page)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            payload = self.parse_event(request)
            restored = state.load(request, type(self), payload["id"])
            if restored is None:
                raise BadEvent("unknown or expired view id: reload the page")
            handler, params = self.bind_handler(payload["event"], payload["params"])
        except BadEvent as exc:
            logger.info("djust: refused event for %s: %s", type(self).__name__, exc)
            return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
        for name, value in restored.items():
            setattr(self, name, value)
        handler(**params)
        page, browser_state = self.render_page(request)
        state.update(request, type(self), payload["id"], self.public_state())
        return JsonResponse(
            {"html": html.root_inner_html(page), "state": browser_state,
             "stats": self.last_stats},
            encoder=StateEncoder,
        )

    def parse_event(self, request: HttpRequest) -> dict[str, Any]:
        try:
            payload = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadEvent(f"the request body is not JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise BadEvent("the request body must be a JSON object")
        event, view_id = payload.get("event"), payload.get("id")
        params = payload.get("params", {})
        if not isinstance(event, str) or not event:
            raise BadEvent("'event' must be a handler name")
        # The id becomes part of a cache key: anything but the shape
        # state.save() makes (a URL-safe token) is refused here, before a
        # backend such as Memcached could choke on spaces or length.
        if not isinstance(view_id, str) or not VIEW_ID.fullmatch(view_id):
            raise BadEvent("'id' must be the page's view id")
        if not isinstance(params, dict):
            raise BadEvent("'params' must be an object")
        return {"event": event, "id": view_id, "params": params}

    def bind_handler(self, name: str, params: dict[str, Any]):
        method = getattr(type(self), name, None) if not name.startswith("_") else None
        if method is None:
            raise BadEvent(f"{type(self).__name__} has no event handler {name!r}")
        if not getattr(method, HANDLER_MARK, False):
            raise BadEvent(f"{type(self).__name__}.{name} is not an @event_handler")
        bound = getattr(self, name)
        signature = inspect.signature(bound)
        hints = get_type_hints(method)
        accepts_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
        coerced = {}
        for key, value in params.items():
            parameter = signature.parameters.get(key)
            if parameter is None and not accepts_any:
                raise BadEvent(f"{name}() takes no parameter {key!r}")
            coerced[key] = _coerce(value, hints.get(key, inspect.Parameter.empty), key)
        try:
            signature.bind(**coerced)
        except TypeError as exc:
            raise BadEvent(f"{name}(): {exc}") from exc
        return bound, coerced

