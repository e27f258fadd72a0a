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
import math
import re
import time
import types
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, Union, get_args, get_origin, get_type_hints

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.middleware.csrf import get_token
from django.template import TemplateDoesNotExist
from django.template.backends.django import Template as BackendTemplate
from django.template.backends.django import reraise
from django.templatetags.static import static
from django.views import View

from djust import conf, html, state
from djust.compiler.extraction import (
    extract_template_variables,
    extract_template_variables_from_name,
)
from djust.context import StateEncoder, serialize_context
from djust.context import browser_state as state_for_browser
from djust.template.backends import django_backend
from djust.template.guard import guarded_engine

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


# What a parameter's annotation turns a JSON value into: a function of
# (value, parameter name) raising BadEvent, built once per handler.
Converter = Callable[[Any, str], Any]
_DIGITS = re.compile(r"[+-]?[0-9]+")
_TRUE = frozenset({"true", "1", "on", "yes"})
_FALSE = frozenset({"false", "0", "off", "no", ""})


class UnsupportedAnnotation(TypeError):
    """An ``@event_handler`` parameter annotation events cannot be converted to."""


def _refuse(name: str, expected: str, value: Any) -> BadEvent:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return BadEvent(f"parameter {name!r} must be {expected}, got {shown}")


def _as_any(value: Any, name: str) -> Any:
    return value


def _as_str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise BadEvent(f"parameter {name!r} must be a string")
    return value


def _as_int(value: Any, name: str) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        try:
            return int(value, 10)
        except ValueError:  # more digits than int() converts
            pass
    raise _refuse(name, "int", value)


def _as_float(value: Any, name: str) -> float:
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            number = float(value)
        except (ValueError, OverflowError):
            pass
        else:
            if math.isfinite(number):
                return number
    raise _refuse(name, "a finite float", value)


def _as_decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            number = Decimal(str(value))
        except (InvalidOperation, ValueError):
            pass
        else:
            if number.is_finite():
                return number
    raise _refuse(name, "a finite Decimal", value)


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (str, int)):
        lowered = str(value).lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise _refuse(name, "bool", value)


_SCALARS: dict[Any, Converter] = {
    inspect.Parameter.empty: _as_any, Any: _as_any, object: _as_any,
    str: _as_str, int: _as_int, float: _as_float, Decimal: _as_decimal, bool: _as_bool,
}


def converter_for(annotation: Any) -> Converter:
    """The converter of a parameter annotated ``annotation``; raises
    ``UnsupportedAnnotation`` for an annotation events cannot produce.

        >>> converter_for(int | None)("3", "n"), converter_for(list[int])(["1", 2], "n")
        (3, [1, 2])
    """
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Union or origin is types.UnionType:
        others = [arg for arg in args if arg is not type(None)]
        if len(others) == 1 and len(args) == 2:
            inner = converter_for(others[0])

            def optional(value: Any, name: str) -> Any:
                return None if value is None else inner(value, name)
            return optional
    elif origin is list and len(args) == 1:
        return _sequence(converter_for(args[0]), list)
    elif origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _sequence(converter_for(args[0]), tuple)
    elif origin is tuple and args and Ellipsis not in args:
        return _fixed_tuple([converter_for(arg) for arg in args])
    raise UnsupportedAnnotation(
        f"{annotation!r} (supported: str, int, float, bool, Decimal, Any, X | None, "
        f"list[X], tuple[X, ...])")


def _sequence(inner: Converter, kind: type) -> Converter:
    def sequence(value: Any, name: str) -> Any:
        if not isinstance(value, list):
            raise _refuse(name, "a JSON array", value)
        return kind(inner(item, f"{name}[{index}]") for index, item in enumerate(value))
    return sequence


def _fixed_tuple(inners: list[Converter]) -> Converter:
    def fixed(value: Any, name: str) -> tuple:
        if not isinstance(value, list) or len(value) != len(inners):
            raise _refuse(name, f"a JSON array of {len(inners)} items", value)
        return tuple(inner(item, f"{name}[{index}]")
                     for index, (inner, item) in enumerate(zip(inners, value, strict=True)))
    return fixed


def _annotations(function) -> dict[str, Any]:
    """``function``'s parameter annotations, resolved (strings evaluated)."""
    try:
        hints = get_type_hints(function)
    except Exception:
        hints = {}
        for name, annotation in getattr(function, "__annotations__", {}).items():
            if name == "return":
                continue
            if isinstance(annotation, str):
                annotation = eval(annotation, getattr(function, "__globals__", {}))
            hints[name] = annotation
    hints.pop("return", None)
    return hints


def handler_converters(view: type, name: str) -> dict[str, Converter]:
    """One converter per parameter of the handler ``view.name`` (``**kwargs``
    under its own name); ``ImproperlyConfigured`` names the view, the
    handler and the parameter whose annotation is not supported."""
    function = getattr(view, name)
    # A plain method's first parameter is the instance; a static or class
    # method read from the class has none to skip.
    skip = 1 if inspect.isfunction(inspect.getattr_static(view, name)) else 0
    try:
        hints = _annotations(function)
    except Exception as exc:
        raise ImproperlyConfigured(
            f"{view.__qualname__}.{name}: its parameter annotations do not evaluate: {exc}"
        ) from exc
    converters = {}
    for parameter in list(inspect.signature(function).parameters.values())[skip:]:
        try:
            converters[parameter.name] = converter_for(
                hints.get(parameter.name, inspect.Parameter.empty))
        except UnsupportedAnnotation as exc:
            raise ImproperlyConfigured(
                f"{view.__qualname__}.{name}: parameter {parameter.name!r} is annotated "
                f"{exc}; an event cannot be converted to it"
            ) from None
    return converters


def _no_constant(name: str):
    # Python's json reads NaN, Infinity and -Infinity; JSON has no such values.
    raise BadEvent(f"the request body is not JSON: {name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999
        raise BadEvent(f"the request body is not JSON: {text} is out of range")
    return number


# Set by djust.routing when this process routes djust's consumer.
_socket_routed = False


def websocket_url() -> str | None:
    """The path a page connects its WebSocket to: ``DJUST["WEBSOCKET_URL"]``
    once this process routes djust's consumer (``djust.routing``), so a
    page served by a plain WSGI process never tries a socket."""
    return conf.get("WEBSOCKET_URL") if _socket_routed else None


def read_json(body: bytes | str) -> Any:
    """An event's JSON, as strict as the POST and the socket both need:
    no NaN/Infinity, no float that overflows; BadEvent otherwise."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except BadEvent:
        raise
    except RecursionError:
        raise BadEvent("the request body is nested too deeply") from None
    # ValueError: malformed JSON, or an integer of more digits than int() reads.
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadEvent(f"the request body is not JSON: {exc}") from exc


def check_event(payload: Any, *, with_id: bool = True) -> dict[str, Any]:
    """``{"event", "id", "params"}`` checked; BadEvent names what is wrong.
    The socket's events carry no id (the connection holds it)."""
    if not isinstance(payload, dict):
        raise BadEvent("the request body must be a JSON object")
    event, view_id = payload.get("event"), payload.get("id")
    params = payload.get("params", {})
    if not isinstance(event, str) or not event:
        raise BadEvent("'event' must be a handler name")
    # The id becomes part of a cache key: anything but the shape
    # state.save() makes (a URL-safe token) is refused here, before a
    # backend such as Memcached could choke on spaces or length.
    if with_id and not is_view_id(view_id):
        raise BadEvent("'id' must be the page's view id")
    if not isinstance(params, dict):
        raise BadEvent("'params' must be an object")
    return {"event": event, "id": view_id, "params": params}


def is_view_id(value: Any) -> bool:
    return isinstance(value, str) and VIEW_ID.fullmatch(value) is not None


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
    # handler name -> parameter name -> converter (``__init_subclass__``).
    _djust_handlers: dict[str, dict[str, Converter]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Check every ``@event_handler``'s parameter annotations when the
        class is defined: an unsupported one raises ImproperlyConfigured."""
        super().__init_subclass__(**kwargs)
        handlers = {}
        for name in dir(cls):
            method = getattr(cls, name, None)
            if callable(method) and getattr(method, HANDLER_MARK, False):
                handlers[name] = handler_converters(cls, name)
        cls._djust_handlers = handlers

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
        """The template, compiled by the project's Django engine's mirror
        that refuses sensitive names on live objects (``template.guard``)."""
        self.check_template()
        backend = django_backend()
        engine = guarded_engine(backend.engine)
        try:
            if self.template is not None:
                template = engine.from_string(self.template)
            else:
                template = engine.get_template(self.template_name)
        except TemplateDoesNotExist as exc:
            reraise(exc, backend)
        return BackendTemplate(template, backend)

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
        attributes = {"data-djust-id": state_id, "data-djust-csrf": get_token(request)}
        socket_url = websocket_url()
        if socket_url:
            attributes["data-djust-ws"] = socket_url
        page = html.annotate_root(
            page, attributes,
            script=static("djust/djust.js"),
            state_json=json.dumps(browser_state, cls=StateEncoder),
        )
        return HttpResponse(page)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            payload = self.parse_event(request)
            self.restore(request, payload["id"])
            handler, params = self.bind_handler(payload["event"], payload["params"])
        except BadEvent as exc:
            logger.info("djust: refused event for %s: %s", type(self).__name__, exc)
            return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
        handler(**params)
        inner, browser_state = self.render_update(request, payload["id"])
        return JsonResponse(
            {"html": inner, "state": browser_state, "stats": self.last_stats},
            encoder=StateEncoder,
        )

    # -- the steps of an event, shared by the POST and the WebSocket --------
    def restore(self, request: HttpRequest, view_id: str) -> None:
        """Set the public attributes the last event (or ``mount``) left;
        BadEvent when the id is unknown, expired or another browser's."""
        restored = state.load(request, type(self), view_id)
        if restored is None:
            raise BadEvent("unknown or expired view id: reload the page")
        for name, value in restored.items():
            setattr(self, name, value)

    def render_update(self, request: HttpRequest, view_id: str) -> tuple[str, dict[str, Any]]:
        """Render after a change, store the state under ``view_id``; return
        the new inner HTML of the dj-root element and the browser state."""
        page, browser_state = self.render_page(request)
        state.update(request, type(self), view_id, self.public_state())
        return html.root_inner_html(page), browser_state

    # -- server push (djust.consumers) ---------------------------------------
    # The consumer serving this view's page over a WebSocket, if any.
    _djust_socket = None
    # Group names this view re-renders for (``djust.broadcast``).
    subscriptions: tuple[str, ...] = ()

    def get_subscriptions(self) -> list[str]:
        """The broadcast groups this page listens to while its socket is
        open: ``subscriptions`` by default. Asked again after each event, so
        it may depend on the view's state (``f"lease-{self.lease_id}"``)."""
        return list(self.subscriptions)

    def handle_broadcast(self, group: str, message: dict[str, Any]) -> None:
        """Called for each ``djust.broadcast(group, **message)`` to a group
        this view subscribes to, before the page is rendered and sent again.
        Change the view's attributes here (re-read rows, apply the message)."""

    def push(self) -> bool:
        """Render this view again and send the page the changes, from any
        code holding the view (an event handler, a thread, a signal).

        Returns False, and does nothing, when the page is not connected by a
        WebSocket (an HTTP-only page cannot be pushed to). The render runs on
        the thread that serves the view's events, after any event in progress.

            >>> LiveView().push()
            False
        """
        socket = self._djust_socket
        if socket is None:
            return False
        return socket.schedule_push()

    def parse_event(self, request: HttpRequest) -> dict[str, Any]:
        return check_event(read_json(request.body))

    def bind_handler(self, name: str, params: dict[str, Any]):
        method = getattr(type(self), name, None) if not name.startswith("_") else None
        if method is None:
            raise BadEvent(f"{type(self).__name__} has no event handler {name!r}")
        if not getattr(method, HANDLER_MARK, False):
            raise BadEvent(f"{type(self).__name__}.{name} is not an @event_handler")
        bound = getattr(self, name)
        signature = inspect.signature(bound)
        converters = type(self)._djust_handlers.get(name)
        if converters is None:  # a handler set on the class after its definition
            converters = handler_converters(type(self), name)
        var_keyword = next((p.name for p in signature.parameters.values()
                            if p.kind is p.VAR_KEYWORD), None)
        coerced = {}
        for key, value in params.items():
            parameter = signature.parameters.get(key)
            if parameter is not None and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD,
                                                             parameter.KEYWORD_ONLY):
                convert = converters[key]
            elif var_keyword is not None:
                convert = converters[var_keyword]
            else:
                raise BadEvent(f"{name}() takes no parameter {key!r}")
            coerced[key] = convert(value, key)
        try:
            signature.bind(**coerced)
        except TypeError as exc:
            raise BadEvent(f"{name}(): {exc}") from exc
        return bound, coerced

