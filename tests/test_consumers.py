"""The WebSocket transport's protocol (djust.consumers), driven through the
whole ASGI stack ``live_application()`` builds (origin validator, session
and auth middleware, URL router) with asgiref's ApplicationCommunicator
(Channels' WebsocketCommunicator is the same thing, but its package imports
daphne); the pages come from a real GET. Each scenario is a coroutine run by
``async_to_sync`` so that the view code, which the consumer runs as Django's
synchronous code, uses this test's thread and database connection.

The browser side (reconnects, fallback, morphing, two browsers) is in
tests/test_browser_socket.py over a real ASGI server.
"""

from __future__ import annotations

import json
import re
import threading

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.test import Client, override_settings
from django.urls import path
from django.views import View

import djust
from djust import LiveView, event_handler
from djust.diff import apply_diff

pytest.importorskip("channels", reason="channels comes with the live extra "
                                       "(python3 run.py test installs it)")

# transaction=True: the consumer closes obsolete connections around view code
# (channels.db.database_sync_to_async), as Django does around a request,
# which a test transaction would not survive on PostgreSQL.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls(__name__)]

BOARD: list[str] = []


class Counter(LiveView):
    template = """<main dj-root><p id="n">{{ n }}</p>
<ul>{% for row in rows %}<li>{{ row }}</li>{% endfor %}</ul></main>"""

    def mount(self, request):
        self.n = 0
        self.rows = [f"row {i}" for i in range(40)]

    @event_handler
    def inc(self, by: int = 1):
        self.n += by

    @event_handler
    def touch_row(self, index: int):
        self.rows[index] = f"changed {index}"

    @event_handler
    def explode(self):
        self.n = 999
        raise RuntimeError("boom")

    @event_handler
    def forbidden(self):
        self.n = 555
        raise PermissionDenied

    @event_handler
    def remember(self, note: str):
        self.request.session["note"] = note

    @event_handler
    def push_self(self):
        self.n += 100
        assert self.push() is True  # from the handler: the event's own render sends it


class Board(LiveView):
    template = """<main dj-root><p id="board">{{ items|join:"," }}</p><i>{{ topic }}</i></main>"""
    subscriptions = ("board",)

    def mount(self, request):
        self.topic = "board"
        self.items = list(BOARD)

    def get_subscriptions(self):
        return [self.topic]

    def handle_broadcast(self, group, message):
        self.items = [*BOARD, message.get("extra", "")]

    @event_handler
    def post_item(self, text: str):
        BOARD.append(text)
        djust.broadcast("board", extra="")

    @event_handler
    def switch(self, topic: str):
        self.topic = topic


class Private(LoginRequiredMixin, Counter):
    pass


class Plain(View):
    def get(self, request):
        from django.http import HttpResponse

        return HttpResponse("plain")


urlpatterns = [
    path("counter/", Counter.as_view()),
    path("board/", Board.as_view()),
    path("private/", Private.as_view()),
    path("plain/", Plain.as_view()),
]


@pytest.fixture
def application():
    from djust import live
    from djust.routing import live_application

    was = live._socket_routed
    yield live_application()
    live._socket_routed = was


@pytest.fixture(autouse=True)
def _board():
    BOARD.clear()
    yield
    BOARD.clear()


def mount(client: Client, url: str = "/counter/") -> dict[str, str]:
    response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    return {
        "path": url,
        "id": re.search(r'data-djust-id="([^"]+)"', page).group(1),
        "csrf": re.search(r'data-djust-csrf="([^"]+)"', page).group(1),
        "ws": re.search(r'data-djust-ws="([^"]+)"', page).group(1),
    }


def cookie_header(client: Client) -> bytes:
    return "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items()).encode()


class Socket(ApplicationCommunicator):
    """A WebSocket client speaking ASGI to the application."""

    def __init__(self, application, headers):
        super().__init__(application, {
            "type": "websocket", "path": "/djust/live/", "raw_path": b"/djust/live/",
            "query_string": b"", "headers": headers, "subprotocols": [],
            "scheme": "ws", "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
        })

    async def connect(self, timeout=10):
        await self.send_input({"type": "websocket.connect"})
        answer = await self.receive_output(timeout)
        return answer["type"] == "websocket.accept", answer.get("code")

    async def send_to(self, text_data):
        await self.send_input({"type": "websocket.receive", "text": text_data})

    async def send_json_to(self, data):
        await self.send_to(json.dumps(data))

    state_text = None

    async def receive_json_from(self, timeout=10):
        """The next message; a render also gets ``_state``, the browser
        state rebuilt from its ``stext``/``sdiff`` as djust.js does."""
        message = await self.receive_output(timeout)
        assert message["type"] == "websocket.send", message
        data = json.loads(message["text"])
        if "stext" in data:
            self.state_text = data["stext"]
        elif "sdiff" in data:
            self.state_text = apply_diff(self.state_text, data["sdiff"])
        if data.get("t") == "render":
            data["_state"] = data.get("state") or json.loads(self.state_text)
        return data

    async def disconnect(self, code=1000):
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(10)


def connect(application, client: Client, *, origin: str = "http://testserver"):
    headers = [(b"host", b"testserver"), (b"origin", origin.encode()),
               (b"cookie", cookie_header(client))]
    return Socket(application, headers)


def run(scenario):
    async_to_sync(scenario)()


async def join(socket, page, **extra):
    await socket.send_json_to({"t": "join", "path": page["path"], "id": page["id"],
                               "csrf": page["csrf"], "diff": True, **extra})
    return await socket.receive_json_from(timeout=10)


async def joined(application, client, page):
    """A socket that joined ``page``."""
    socket = connect(application, client)
    await socket.connect()
    assert await join(socket, page) == {"t": "joined"}
    return socket


async def event(socket, ref, name, **params):
    await socket.send_json_to({"t": "event", "ref": ref, "event": name, "params": params})
    return await socket.receive_json_from(timeout=10)


def test_a_page_offers_its_socket_only_where_the_consumer_is_routed(client, application):
    assert mount(client)["ws"] == "/djust/live/"
    from djust import live

    live._socket_routed = False
    assert "data-djust-ws" not in client.get("/counter/").content.decode()


def test_join_then_events_render_html_then_diffs_equal_to_the_post(client, application):
    page = mount(client)

    async def scenario():
        socket = connect(application, client)
        connected, _ = await socket.connect()
        assert connected
        assert await join(socket, page) == {"t": "joined"}
        first = await event(socket, 1, "inc")
        assert first["t"] == "render" and first["ref"] == 1
        assert '<p id="n">1</p>' in first["html"] and "diff" not in first
        assert json.loads(first["stext"]) == {"n": 1, "rows": [f"row {i}" for i in range(40)]}
        assert first["_state"]["n"] == 1
        second = await event(socket, 2, "touch_row", index=7)
        assert "html" not in second
        rebuilt = apply_diff(first["html"], second["diff"])
        assert "<li>changed 7</li>" in rebuilt
        # The state travels as a diff of its text too, and not at all unchanged.
        assert "stext" not in second and second["_state"]["rows"][7] == "changed 7"
        unchanged = await event(socket, 3, "touch_row", index=7)
        assert unchanged["diff"] == [len(rebuilt)] or len(unchanged["diff"]) <= 1
        assert not {"state", "stext", "sdiff"} & set(unchanged)
        # Less travels than the whole page.
        assert len(json.dumps(second["diff"])) < len(json.dumps(rebuilt)) / 4
        await socket.disconnect()
        return rebuilt

    holder = {}

    async def keep():
        holder["html"] = await scenario()

    run(keep)
    # The POST starts from the state the socket left, and renders the same.
    response = client.post("/counter/", json.dumps({"id": page["id"], "event": "inc"}),
                           content_type="application/json",
                           headers={"X-CSRFToken": page["csrf"]})
    assert response.status_code == 200
    assert response.json()["state"]["n"] == 2
    assert holder["html"].replace('<p id="n">1</p>', '<p id="n">2</p>') == response.json()["html"]


def test_a_page_that_cannot_apply_diffs_gets_html(client, application):
    page = mount(client)

    async def scenario():
        socket = connect(application, client)
        await socket.connect()
        await socket.send_json_to({"t": "join", "path": page["path"], "id": page["id"],
                                   "csrf": page["csrf"]})
        assert await socket.receive_json_from(timeout=10) == {"t": "joined"}
        await event(socket, 1, "inc")
        assert "html" in await event(socket, 2, "inc")
        await socket.disconnect()

    run(scenario)


@pytest.mark.parametrize("change, status, words", [
    ({"csrf": "x" * 32}, 403, "CSRF"),
    ({"csrf": None}, 403, "CSRF token"),
    ({"id": "not-this-page"}, 400, "expired"),
    ({"id": "has space"}, 400, "'id'"),
    ({"path": "/nowhere/"}, 404, "no view"),
    ({"path": "/plain/"}, 404, "not a LiveView"),
    ({"path": "counter/"}, 400, "'path'"),
])
def test_a_bad_join_is_refused_and_events_stay_refused(client, application, change, status,
                                                       words):
    page = {**mount(client), **change}

    async def scenario():
        socket = connect(application, client)
        await socket.connect()
        refusal = await join(socket, page)
        assert refusal["t"] == "error" and refusal["status"] == status
        assert words in refusal["message"]
        after = await event(socket, 1, "inc")
        assert after == {"t": "error", "ref": 1, "status": 409,
                         "message": "join the page before sending events"}
        await socket.disconnect()

    run(scenario)


def test_another_browsers_page_id_is_refused(client, application):
    page = mount(client)
    other = Client()
    mount(other)  # the other browser has its own CSRF cookie

    async def scenario():
        socket = connect(application, other)
        await socket.connect()
        refusal = await join(socket, page)
        assert refusal["status"] in (400, 403)
        await socket.disconnect()

    run(scenario)


def test_a_foreign_origin_cannot_open_the_socket(client, application):
    mount(client)

    async def scenario():
        socket = connect(application, client, origin="http://evil.example")
        connected, _ = await socket.connect()
        assert not connected

    run(scenario)


def test_an_origin_of_another_allowed_host_fails_the_csrf_origin_check(client, application):
    # The validator lets any allowed host in; Django's CSRF check then wants
    # the page's own origin, as for the POST.
    page = mount(client)
    from djust.routing import live_application

    with override_settings(ALLOWED_HOSTS=["testserver", "other.testserver"]):
        application = live_application()  # the validator reads ALLOWED_HOSTS when built

    async def scenario():
        socket = connect(application, client, origin="http://other.testserver")
        connected, _ = await socket.connect()
        assert connected
        refusal = await join(socket, page)
        assert refusal["status"] == 403 and "CSRF" in refusal["message"]
        await socket.disconnect()

    with override_settings(ALLOWED_HOSTS=["testserver", "other.testserver"]):
        run(scenario)


def test_the_views_own_access_checks_run_on_join(client, application, django_user_model):
    user = django_user_model.objects.create_user("ann", password="pw")
    client.force_login(user)
    page = mount(client, "/private/")
    anonymous = Client()
    anonymous.get("/counter/")  # a CSRF cookie of its own

    async def scenario():
        socket = connect(application, client)
        await socket.connect()
        assert await join(socket, page) == {"t": "joined"}
        await socket.disconnect()
        # Logged out: the session the state belongs to is gone.
        stranger = connect(application, anonymous)
        await stranger.connect()
        refusal = await join(stranger, {**page, "csrf": anonymous.cookies["csrftoken"].value})
        assert refusal["t"] == "error" and refusal["status"] == 403
        assert "refused this connection" in refusal["message"]
        await stranger.disconnect()

    run(scenario)


def test_logout_ends_the_pages_state(client, application, django_user_model):
    user = django_user_model.objects.create_user("bob", password="pw")
    client.force_login(user)
    page = mount(client)
    client.logout()  # flushes the session (and rotates nothing the socket can reuse)

    async def scenario():
        socket = connect(application, client)
        await socket.connect()
        refusal = await join(socket, page)
        assert refusal["t"] == "error" and refusal["status"] in (400, 403)
        await socket.disconnect()

    run(scenario)


@pytest.mark.parametrize("text, status, words", [
    ("not json", 400, "not JSON"),
    ("[1, 2]", 400, "JSON object"),
    ('{"t": "dance"}', 400, "unknown message type"),
    ('{"t": "event", "ref": "x", "event": "inc"}', 400, "'ref'"),
    ('{"t": "event", "ref": 1, "event": "inc", "params": {"by": NaN}}', 400, "NaN"),
    ('{"t": "event", "ref": 1, "event": "", "params": {}}', 400, "handler name"),
    ('{"t": "event", "ref": 1, "event": "inc", "params": []}', 400, "'params'"),
    ('{"t": "event", "ref": 1, "event": "mount", "params": {}}', 400, "not an @event_handler"),
    ('{"t": "event", "ref": 1, "event": "_private", "params": {}}', 400, "no event handler"),
    ('{"t": "event", "ref": 1, "event": "inc", "params": {"by": "two"}}', 400, "by"),
    ('{"t": "event", "ref": 1, "event": "inc", "params": {"nope": 1}}', 400, "nope"),
])
def test_bad_messages_are_refused_and_change_nothing(client, application, text, status, words):
    page = mount(client)

    async def scenario():
        socket = await joined(application, client, page)
        await socket.send_to(text_data=text)
        refusal = await socket.receive_json_from(timeout=10)
        assert refusal["t"] == "error" and refusal["status"] == status
        assert words in refusal["message"]
        after = await event(socket, 9, "inc")
        assert after["_state"]["n"] == 1
        await socket.disconnect()

    run(scenario)


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_message_over_djangos_upload_limit_is_refused(client, application):
    page = mount(client)

    async def scenario():
        socket = await joined(application, client, page)
        refusal = await event(socket, 1, "inc", padding="x" * 2000)
        assert refusal["status"] == 413
        await socket.disconnect()

    run(scenario)


def test_a_failing_handler_answers_500_and_its_changes_are_dropped(client, application, caplog):
    page = mount(client)

    async def scenario():
        socket = await joined(application, client, page)
        await event(socket, 1, "inc")
        failed = await event(socket, 2, "explode")
        assert failed == {"t": "error", "ref": 2, "status": 500, "message": "server error"}
        denied = await event(socket, 3, "forbidden")
        assert denied["status"] == 403
        after = await event(socket, 4, "inc")
        assert after["_state"]["n"] == 2      # not 999 + 1, nor 555 + 1
        await socket.disconnect()

    run(scenario)
    assert "boom" in caplog.text and "djust.consumers" in {r.name for r in caplog.records}


def test_push_from_a_thread_and_from_a_handler(client, application):
    page = mount(client)

    async def scenario():
        from djust.consumers import open_sockets

        socket = await joined(application, client, page)
        first = await event(socket, 1, "inc")
        view = next(s.view for s in open_sockets() if s.view_id == page["id"])

        def job():
            view.n = 42
            assert view.push() is True

        worker = threading.Thread(target=job)
        worker.start()
        worker.join()
        pushed = await socket.receive_json_from(timeout=10)
        assert pushed["t"] == "render" and pushed["ref"] is None
        html = apply_diff(first["html"], pushed["diff"])
        assert '<p id="n">42</p>' in html
        # A push inside a handler is the event's own render: one message.
        own = await event(socket, 2, "push_self")
        assert own["ref"] == 2 and own["_state"]["n"] == 142
        assert (await event(socket, 3, "inc"))["ref"] == 3  # no push render came between
        await socket.disconnect()
        # Closed: nothing to push to.
        assert view.push() is False

    run(scenario)


@pytest.mark.parametrize("layers", [
    None,
    {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
])
def test_broadcast_rerenders_every_subscribed_page(client, application, layers):
    other = Client()
    page_a, page_b = mount(client, "/board/"), mount(other, "/board/")
    page_c = mount(Client(), "/counter/")

    async def scenario():
        a, b = connect(application, client), connect(application, other)
        for socket, page in ((a, page_a), (b, page_b)):
            await socket.connect()
            assert await join(socket, page) == {"t": "joined"}
        reply = await event(a, 1, "post_item", text="hello")
        # A's own render and the broadcast's, in either order; B gets one.
        messages = [reply, await a.receive_json_from(timeout=10)]
        assert sorted(m["ref"] is None for m in messages) == [False, True]
        pushed = await b.receive_json_from(timeout=10)
        assert pushed["t"] == "render" and pushed["ref"] is None
        assert "hello," in pushed["html"]
        # Subscriptions follow the view's state: B leaves the group.
        await event(b, 1, "switch", topic="elsewhere")
        await event(a, 2, "post_item", text="again")
        await a.receive_json_from(timeout=10)
        answer = await event(b, 2, "switch", topic="elsewhere")
        assert answer["ref"] == 2  # no broadcast render came first
        await a.disconnect()
        await b.disconnect()

    with override_settings(CHANNEL_LAYERS=layers or {}):
        assert page_c  # a page not subscribed is never rendered for it
        run(scenario)


def test_rejoin_renders_again_from_the_stored_state(client, application):
    page = mount(client)

    async def scenario():
        socket = await joined(application, client, page)
        await event(socket, 1, "inc", by=5)
        await socket.disconnect()
        again = connect(application, client)
        await again.connect()
        assert await join(again, page, rejoin=True) == {"t": "joined"}
        render = await again.receive_json_from(timeout=10)
        assert render["ref"] is None and '<p id="n">5</p>' in render["html"]
        await again.disconnect()

    run(scenario)


def test_broadcast_checks_its_arguments():
    with pytest.raises(ValueError, match="broadcast group"):
        djust.broadcast("no spaces allowed")
    with pytest.raises(TypeError, match="JSON data"):
        djust.broadcast("board", when=object())

    async def from_async_code():
        with pytest.raises(RuntimeError, match="abroadcast"):
            djust.broadcast("board")
        await djust.abroadcast("board", n=1)  # no page listens: nothing happens

    run(from_async_code)


def test_the_test_clients_socket_transport_sees_pushes_and_diffs(client):
    from djust.testing import LiveViewTestClient, SocketTransport

    transport = SocketTransport(client)
    live = LiveViewTestClient(client, transport=transport)
    page = live.get("/counter/")
    page = page.event("inc", by=2).event("touch_row", index=3)
    assert page.element("#n").text == "2" and "changed 3" in page.html
    view = transport.sockets[page.view_id].view
    view.n = 7
    assert view.push() is True
    (pushed,) = transport.pushed
    assert pushed.state["n"] == 7 and '<p id="n">7</p>' in pushed.html
    assert "changed 3" in pushed.html  # rebuilt from a diff against the held HTML


@pytest.mark.parametrize("layers", [
    None,
    {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
])
def test_a_logout_closes_the_sessions_sockets(client, application, django_user_model, layers):
    from asgiref.sync import sync_to_async

    user = django_user_model.objects.create_user("cat", password="pw")
    client.force_login(user)
    page = mount(client)
    stranger = Client()
    other_page = mount(stranger)

    async def scenario():
        mine, theirs = connect(application, client), connect(application, stranger)
        for socket, its_page in ((mine, page), (theirs, other_page)):
            await socket.connect()
            assert await join(socket, its_page) == {"t": "joined"}
        await sync_to_async(client.logout)()
        closed = await mine.receive_output(10)
        assert closed == {"type": "websocket.close", "code": 4001}
        # Another session's page goes on.
        assert (await event(theirs, 1, "inc"))["_state"]["n"] == 1
        await theirs.disconnect()

    with override_settings(CHANNEL_LAYERS=layers or {}):
        run(scenario)


def test_session_changes_in_a_socket_event_are_saved(client, application):
    client.get("/counter/")
    session = client.session
    session["seen"] = True  # the browser has a session
    session.save()
    client.cookies["sessionid"] = session.session_key
    page = mount(client)

    async def scenario():
        socket = await joined(application, client, page)
        assert (await event(socket, 1, "remember", note="kept"))["t"] == "render"
        await socket.disconnect()

    run(scenario)
    assert client.session["note"] == "kept"
