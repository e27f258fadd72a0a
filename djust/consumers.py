"""LiveView over a WebSocket: one Channels consumer serves every LiveView.

The page's first render is a plain GET (cacheable, crawlable). djust.js then
opens a socket to ``DJUST["WEBSOCKET_URL"]`` (routed by ``djust.routing``)
and speaks JSON messages, each an object with a type ``t``:

client → server
    ``{"t": "join", "path": "/dashboard/?q=1", "id": VIEW_ID, "csrf": TOKEN,
    "diff": true, "rejoin": false}``: attach to the page's view. The request
    the view sees is built from the handshake (cookies, session, user, host,
    origin) and the page's path. The CSRF token and the origin are checked by
    Django's ``CsrfViewMiddleware``, the view's own ``dispatch`` checks
    (``LoginRequiredMixin``...) run as for an OPTIONS request, and the state
    is loaded under the same ownership rules as a POST (``djust.state``). A
    rejoin (after a dropped socket) renders the page again at once.
    ``{"t": "event", "ref": 7, "event": "sort", "params": {...}}``: as the
    POST's body, without the id.

server → client
    ``{"t": "joined"}``; ``{"t": "render", "ref": 7 | null, "html" | "diff",
    "stext" | "sdiff" | nothing, "stats"}`` (``ref`` null for a push or
    broadcast; the browser state's JSON text, then diffs of it, nothing
    when it did not change; ``html`` and ``state`` whole to a page that
    joined without ``"diff": true``);
    ``{"t": "error", "ref", "status", "message"}`` with the POST's statuses.

The view stays in memory while its socket is open; after each change its
state is stored as after a POST, so the HTTP fallback and a reconnect both
start from it. A render sends the new inner HTML of the dj-root element the
first time, then a diff against the last HTML sent (``djust.diff``) when the
page can apply one; the browser state likewise.

View code runs on the thread Django gives synchronous code under ASGI
(``database_sync_to_async``), one message at a time per socket; a lock keeps
a push, a broadcast and an event from interleaving their renders and sends.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import re
import threading
import weakref
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import DisallowedHost, PermissionDenied
from django.http import Http404, HttpRequest, QueryDict
from django.http.cookie import parse_cookie
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import Resolver404, resolve
from django.utils.crypto import salted_hmac

from djust.context import StateEncoder
from djust.live import BadEvent, LiveView, check_event, is_view_id, read_json

logger = logging.getLogger("djust.consumers")

GROUP_PREFIX = "djust."
SESSION_PREFIX = "djust-session."
# Channels' rule for group names (letters, digits, -_.), less our prefix.
_GROUP = re.compile(r"[A-Za-z0-9_.-]{1,90}")

# Every open socket of this process: for djust.broadcast's fallback without
# a channel layer, and for tests and operators that close them.
_open: weakref.WeakSet[LiveConsumer] = weakref.WeakSet()
# The event loop the sockets run on, for code on other threads.
_server_loop: asyncio.AbstractEventLoop | None = None


class Refused(Exception):
    """A message answered with an error status; the socket stays open."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def on_loop(coroutine, loop: asyncio.AbstractEventLoop):
    """Run ``coroutine`` on the sockets' loop from any thread, in a fresh
    context: a copy of the caller's (an event handler's, a view's under
    ASGI) would carry asgiref's mark of being inside its single thread, and
    the view code the coroutine runs there would refuse to deadlock."""
    return contextvars.Context().run(asyncio.run_coroutine_threadsafe, coroutine, loop)


def group_name(group: str) -> str:
    """The channel layer's name of a broadcast group; ValueError for a
    name Channels would refuse.

        >>> group_name("leases")
        'djust.leases'
    """
    if not isinstance(group, str) or not _GROUP.fullmatch(group):
        raise ValueError(f"broadcast group {group!r}: use 1 to 90 letters, digits, "
                         "'-', '_' or '.'")
    return GROUP_PREFIX + group


class SocketRequest(HttpRequest):
    """The request a view sees over the socket: the handshake's headers,
    cookies, session and user, with the page's path and query string."""

    def __init__(self, scope: dict[str, Any], page: str) -> None:
        super().__init__()
        path, _, query = page.partition("?")
        self.path = self.path_info = path
        self.method = "GET"
        self._scheme = "https" if scope.get("scheme") == "wss" else "http"
        meta = {"QUERY_STRING": query, "PATH_INFO": path, "REQUEST_METHOD": "GET",
                "SCRIPT_NAME": scope.get("root_path", "")}
        for raw_name, raw_value in scope.get("headers", ()):
            name = "HTTP_" + raw_name.decode("latin1").upper().replace("-", "_")
            value = raw_value.decode("latin1")
            meta[name] = f"{meta[name]},{value}" if name in meta else value
        client, server = scope.get("client") or ("", 0), scope.get("server") or ("", 0)
        meta["REMOTE_ADDR"], meta["REMOTE_PORT"] = client[0], client[1]
        meta["SERVER_NAME"], meta["SERVER_PORT"] = server[0], str(server[1])
        self.META = meta
        self.COOKIES = parse_cookie(meta.get("HTTP_COOKIE", ""))
        self.GET = QueryDict(query)
        if "session" in scope:
            self.session = scope["session"]
        if "user" in scope:
            self.user = scope["user"]

    def _get_scheme(self) -> str:
        return self._scheme


def _csrf_checked(request):  # pragma: no cover - never called, only inspected
    return None


def check_csrf(request: HttpRequest, token: Any) -> None:
    """Django's CSRF middleware on the join, as on an event's POST: the
    token against the cookie (or session), the Origin against the host."""
    if not isinstance(token, str):
        raise Refused(403, "the join carries no CSRF token: reload the page")
    request.method = "POST"
    request.META["HTTP_X_CSRFTOKEN"] = token
    middleware = CsrfViewMiddleware(_csrf_checked)
    middleware.process_request(request)
    refusal = middleware.process_view(request, _csrf_checked, (), {})
    request.method = "GET"
    if refusal is not None:
        raise Refused(403, "CSRF check failed: reload the page")


def check_access(view: LiveView, request: HttpRequest, args, kwargs) -> None:
    """The view's own dispatch checks, run as for an OPTIONS request: a
    mixin that redirects or refuses (LoginRequiredMixin, PermissionRequired)
    refuses the join; View.options answers 200 when they pass."""
    request.method = "OPTIONS"
    try:
        response = view.dispatch(request, *args, **kwargs)
    finally:
        request.method = "GET"
    if getattr(response, "status_code", 200) != 200:
        raise Refused(403, "the view refused this connection "
                           f"(it answered {response.status_code})")


class LiveConsumer(AsyncWebsocketConsumer):
    """The WebSocket end of every LiveView page (see the module docstring)."""

    async def connect(self) -> None:
        global _server_loop
        _server_loop = self.loop = asyncio.get_running_loop()
        self.view: LiveView | None = None
        self.view_id: str | None = None
        self.request: SocketRequest | None = None
        self.sent: str | None = None          # the inner HTML the page holds
        self.sent_state: str | None = None    # the state's JSON text it holds
        self.diffs = False                    # whether the page applies diffs
        self.joined_groups: set[str] = set()  # as told to the channel layer
        self.session_group: str | None = None  # closed by a logout of the session
        self.lock = asyncio.Lock()
        self.push_pending = False
        self.event_thread: int | None = None  # the thread running an event
        self.closed = False
        _open.add(self)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        self.closed = True
        _open.discard(self)
        if self.view is not None:
            self.view._djust_socket = None
        await self._sync_groups(set())
        await self._follow_session(None)

    async def djust_logout(self, message: dict[str, Any]) -> None:
        """The session this page joined with was logged out."""
        if self.closed:
            return
        self.closed = True
        await self.close(4001)

    async def _follow_session(self, group: str | None) -> None:
        layer, before = self.channel_layer, self.session_group
        self.session_group = group
        if layer is None or group == before:
            return
        if before is not None:
            await layer.group_discard(before, self.channel_name)
        if group is not None:
            await layer.group_add(group, self.channel_name)

    # -- messages ------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        ref = None
        try:
            body = text_data if text_data is not None else bytes_data or b""
            if len(body) > (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or float("inf")):
                raise Refused(413, "the message is larger than DATA_UPLOAD_MAX_MEMORY_SIZE")
            message = read_json(body)
            if not isinstance(message, dict):
                raise BadEvent("a message must be a JSON object")
            ref = message.get("ref")
            if ref is not None and (not isinstance(ref, int) or isinstance(ref, bool)):
                ref = None
                raise BadEvent("'ref' must be an integer")
            kind = message.get("t")
            if kind == "join":
                await self.join(message)
            elif kind == "event":
                await self.event(ref, message)
            else:
                raise BadEvent(f"unknown message type {kind!r}")
        except BadEvent as exc:
            await self.refuse(ref, 400, str(exc))
        except Refused as exc:
            await self.refuse(ref, exc.status, str(exc))

    async def refuse(self, ref: int | None, status: int, message: str) -> None:
        logger.info("djust: refused socket message (%s): %s", status, message)
        await self.send_json({"t": "error", "ref": ref, "status": status, "message": message})

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content, cls=StateEncoder, separators=(",", ":")))

    async def exchange(self, step, *args: Any) -> None:
        """Run a view step on Django's thread for synchronous code, follow
        the groups it asks for, then send its replies; one step at a time,
        so renders and their sends never interleave."""
        async with self.lock:
            if step != self._join and (self.view is None or self.closed):
                return
            replies, groups = await database_sync_to_async(step)(*args)
            # In the groups before the page hears of it: a broadcast sent once
            # the page knows it is connected reaches it.
            await self._sync_groups(groups)
            for reply in replies if isinstance(replies, list) else [replies]:
                await self.send_json(reply)

    async def join(self, message: dict[str, Any]) -> None:
        await self.exchange(self._join, message)
        key = getattr(getattr(self.request, "session", None), "session_key", None)
        await self._follow_session(session_group(key) if key else None)

    async def event(self, ref: int | None, message: dict[str, Any]) -> None:
        if self.view is None:
            raise Refused(409, "join the page before sending events")
        await self.exchange(self._event, ref, check_event(message, with_id=False))

    # -- push and broadcast --------------------------------------------------
    def schedule_push(self) -> bool:
        """Called by ``LiveView.push()`` from any thread."""
        if self.closed:
            return False
        if self.event_thread == threading.get_ident():
            return True  # the running event's own render sends the change
        if not self.push_pending:
            self.push_pending = True
            on_loop(self.push_render(), self.loop)
        return True

    async def push_render(self) -> None:
        self.push_pending = False
        await self.exchange(self._rerender, None, None)

    async def djust_broadcast(self, message: dict[str, Any]) -> None:
        """A ``djust.broadcast`` reaching a group this page listens to."""
        await self.exchange(self._rerender, message.get("group"), message.get("message") or {})

    async def _sync_groups(self, wanted: set[str]) -> None:
        layer = self.channel_layer
        if layer is not None:  # else djust.broadcast reaches this process's pages directly
            for group in wanted - self.joined_groups:
                await layer.group_add(group_name(group), self.channel_name)
            for group in self.joined_groups - wanted:
                await layer.group_discard(group_name(group), self.channel_name)
        self.joined_groups = set(wanted)

    # -- view code (on Django's thread for synchronous code) -----------------
    def _join(self, message: dict[str, Any]) -> tuple[list[dict[str, Any]], set[str]]:
        page, view_id = message.get("path"), message.get("id")
        if not isinstance(page, str) or not page.startswith("/"):
            raise BadEvent("'path' must be the page's path")
        if not is_view_id(view_id):
            raise BadEvent("'id' must be the page's view id")
        request = SocketRequest(self.scope, page)
        try:
            request.get_host()
        except DisallowedHost as exc:
            raise Refused(400, str(exc)) from None
        check_csrf(request, message.get("csrf"))
        try:
            match = resolve(request.path_info)
        except Resolver404:
            raise Refused(404, f"no view at {request.path_info}") from None
        view_class = getattr(match.func, "view_class", None)
        if not (isinstance(view_class, type) and issubclass(view_class, LiveView)):
            raise Refused(404, f"the view at {request.path_info} is not a LiveView")
        request.resolver_match = match
        view = view_class(**getattr(match.func, "view_initkwargs", {}))
        view.setup(request, *match.args, **match.kwargs)
        try:
            check_access(view, request, match.args, match.kwargs)
        except (PermissionDenied, Http404) as exc:
            raise Refused(403, f"the view refused this connection: {exc}") from None
        view.restore(request, view_id)
        if self.view is not None:
            self.view._djust_socket = None
        self.view, self.view_id, self.request = view, view_id, request
        self.diffs = message.get("diff") is True
        self.sent = self.sent_state = None
        view._djust_socket = self
        replies = [{"t": "joined"}]
        if message.get("rejoin") is True:
            # The page may have missed pushes while its socket was down.
            render, _groups = self._rerender(None, None)
            replies.append(render)
        return replies, set(view.get_subscriptions())

    def _event(self, ref: int | None, payload: dict[str, Any]):
        view = self.view
        try:
            handler, params = view.bind_handler(payload["event"], payload["params"])
            self.event_thread = threading.get_ident()
            try:
                handler(**params)
            finally:
                self.event_thread = None
            reply = self._render(ref, view)
            self._save_session()
            return reply
        except BadEvent:
            raise
        except Exception as exc:
            self._discard_changes()
            raise self._failure(exc) from exc

    def _rerender(self, group: str | None, message: dict[str, Any] | None):
        view = self.view
        try:
            if group is not None:
                view.handle_broadcast(group, message)
            return self._render(None, view)
        except Exception as exc:
            self._discard_changes()
            failure = self._failure(exc)
            return ({"t": "error", "ref": None, "status": failure.status,
                     "message": str(failure)}, set(view.get_subscriptions()))

    def _render(self, ref: int | None, view: LiveView):
        inner, browser_state = view.render_update(self.request, self.view_id)
        reply: dict[str, Any] = {"t": "render", "ref": ref, "stats": view.last_stats}
        reply.update(self._changes(inner))
        reply.update(self._state_changes(browser_state))
        return reply, set(view.get_subscriptions())

    def _changes(self, inner: str) -> dict[str, Any]:
        before, self.sent = self.sent, inner
        if before is None or not self.diffs:
            return {"html": inner}
        from djust.diff import html_diff

        return {"diff": html_diff(before, inner)}

    def _state_changes(self, browser_state: dict[str, Any]) -> dict[str, Any]:
        """The browser state as the POST sends it to a page without diffs;
        else its JSON text the first time (``stext``), then nothing when it
        is unchanged, or a diff of that text (``sdiff``)."""
        if not self.diffs:
            return {"state": browser_state}
        text = json.dumps(browser_state, cls=StateEncoder, separators=(",", ":"))
        before, self.sent_state = self.sent_state, text
        if before is None:
            return {"stext": text}
        if before == text:
            return {}
        from djust.diff import html_diff

        return {"sdiff": html_diff(before, text)}

    def _save_session(self) -> None:
        # What SessionMiddleware does after a POST, for a session the browser
        # already has: a socket cannot set the cookie of a new one.
        session = getattr(self.request, "session", None)
        if session is None or not getattr(session, "modified", False):
            return
        if session.session_key is None:
            logger.warning("djust: %s changed request.session over its socket, but the "
                           "browser has no session yet: the change is not kept",
                           type(self.view).__name__)
            return
        session.save()

    def _discard_changes(self) -> None:
        # As after a failed POST: the next event starts from the stored state.
        try:
            self.view.restore(self.request, self.view_id)
        except BadEvent:
            self.view = None

    def _failure(self, exc: Exception) -> Refused:
        if isinstance(exc, PermissionDenied):
            return Refused(403, "permission denied")
        if isinstance(exc, Http404):
            return Refused(404, "not found")
        logger.error("djust: %s failed on its socket", type(self.view).__name__
                     if self.view is not None else "a view", exc_info=exc)
        return Refused(500, "server error")


def session_group(session_key: str) -> str:
    """The channel layer group of a session's sockets (a hash: the key
    itself never travels through the layer)."""
    digest = salted_hmac("djust.consumers.session", session_key, algorithm="sha256")
    return SESSION_PREFIX + digest.hexdigest()[:40]


def end_session(session_key: str) -> None:
    """Close every socket joined with this session, in every process the
    channel layer reaches (called on logout)."""
    from channels.layers import get_channel_layer

    group = session_group(session_key)
    for socket in open_sockets():
        if socket.session_group == group and socket.loop.is_running():
            on_loop(socket.djust_logout({}), socket.loop)
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "djust.logout"}
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return  # async code: this process's sockets are closed above
    from channels.layers import InMemoryChannelLayer

    if isinstance(layer, InMemoryChannelLayer):
        return  # this process only, done above
    from asgiref.sync import async_to_sync

    async_to_sync(layer.group_send)(group, message)


def open_sockets() -> list[LiveConsumer]:
    """The sockets this process serves now (for operators and tests)."""
    return list(_open)


def close_all(code: int = 1012) -> int:
    """Close every socket of this process (1012: service restart); their
    pages fall back to HTTP and reconnect. Callable from any thread."""
    sockets = open_sockets()
    loop = _server_loop
    for socket in sockets:
        if loop is not None and loop.is_running():
            on_loop(socket.close(code), loop)
    return len(sockets)


def broadcast_locally(group: str, message: dict[str, Any]) -> int:
    """Deliver a broadcast to this process's pages without a channel layer."""
    loop = _server_loop
    targets = [socket for socket in open_sockets() if group in socket.joined_groups]
    if loop is None or not loop.is_running():
        return 0
    for socket in targets:
        on_loop(
            socket.djust_broadcast({"group": group, "message": message}), loop)
    return len(targets)


def _checked(group: str, message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    name = group_name(group)
    try:
        json.dumps(message)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"djust.broadcast({group!r}): the message must be JSON data "
                        f"(it crosses processes): {exc}") from None
    return name, {"type": "djust.broadcast", "group": group, "message": message}


def broadcast(group: str, **message: Any) -> None:
    """Make every open page whose view subscribes to ``group``
    (``LiveView.subscriptions`` / ``get_subscriptions()``) call
    ``handle_broadcast(group, message)`` and re-render, in every process
    the channel layer (``CHANNEL_LAYERS``, e.g. channels-redis) connects;
    without a channel layer, this process's pages. From synchronous code:
    a view, a handler, a management command, a thread, a Celery task.

        djust.broadcast("leases", lease_id=7)
    """
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    name, payload = _checked(group, message)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("djust.broadcast() was called from async code: "
                           "use 'await djust.abroadcast(...)'")
    layer = get_channel_layer()
    if layer is None:
        broadcast_locally(group, message)
        return
    loop = _server_loop
    if isinstance(layer, InMemoryChannelLayer) and loop is not None and loop.is_running():
        # The in-memory layer's queues belong to the server's loop.
        on_loop(layer.group_send(name, payload), loop).result()
        return
    from asgiref.sync import async_to_sync

    async_to_sync(layer.group_send)(name, payload)


async def abroadcast(group: str, **message: Any) -> None:
    """``broadcast`` for async code: ``await djust.abroadcast("leases")``."""
    from channels.layers import get_channel_layer

    name, payload = _checked(group, message)
    layer = get_channel_layer()
    if layer is None:
        broadcast_locally(group, message)
        return
    await layer.group_send(name, payload)
