"""LiveView over its WebSocket in a real browser (Debian's Chromium driven by
Playwright, skipped or failed as tests/test_browser.py says) against the
real ASGI server of tests/asgi_server.py, transport and all:

- typing survives a push and an event that re-render the root;
- a push from a thread, and a broadcast from a management command in
  another process (through Redis), update an open page;
- a killed socket falls back to HTTP, and the page rejoins with the state
  the HTTP events left;
- two browsers on one broadcast group both update;
- a refused join keeps the page on HTTP and reports djust:error; events
  over the socket are answered in order.

No sleeps: the page is waited for with ``wait_for_function``, the server
with a ``threading.Condition`` its consumer notifies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from django.test import override_settings
from django.urls import path

import djust
from djust import LiveView, consumers, event_handler
from djust.consumers import LiveConsumer
from tests.asgi_server import asgi_server
from tests.settings_redis_layer import redis_layers
from tests.test_browser import browser_page

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls(__name__)]

ROOT = Path(__file__).resolve().parent.parent
# What the board of the two-browser test holds, shared by every page's view
# (as a table would be).
BOARD: list[str] = []


class Counter(LiveView):
    template = """<link rel="icon" href="data:,">
<main dj-root>
<p id="message">{{ message }}</p>
<input id="name" name="name" value="{{ name }}">
<span id="count">{{ count }}</span>
<span id="seen">{{ seen }}</span>
<button id="inc" dj-click="inc">+1</button>
<button id="tick" dj-click="tick">Tick</button>
<button id="poke" dj-click="poke">Poke the others</button>
<button id="add1" dj-click="add" dj-value-n="1">1</button>
<button id="add2" dj-click="add" dj-value-n="2">2</button>
<button id="add3" dj-click="add" dj-value-n="3">3</button>
</main>"""

    def mount(self, request):
        self.message = "ready"
        self.name = ""
        self.count = 0
        self.seen = ""

    @event_handler
    def inc(self):
        self.count += 1

    @event_handler
    def tick(self):
        # Renders the input with another value than the page shows.
        self.count += 1
        self.name = f"server {self.count}"

    @event_handler
    def poke(self):
        # Pushes the other pages of this view, as a signal an event fires
        # (post_save...) would.
        for view in server_views(Counter):
            if view is not self:
                view.message = "poked"
                view.push()

    @event_handler
    def add(self, n: str):
        self.count += 1
        self.seen = f"{self.seen},{n}" if self.seen else n


class Board(LiveView):
    subscriptions = ("board",)
    template = """<link rel="icon" href="data:,">
<main dj-root>
<ul id="notes">{% for note in notes %}<li>{{ note }}</li>{% endfor %}</ul>
<form dj-submit="post"><input id="note" name="note" value=""><button id="post">Post</button></form>
</main>"""

    def mount(self, request):
        self.notes = list(BOARD)

    @event_handler
    def post(self, note: str):
        BOARD.append(note)
        self.notes = list(BOARD)
        djust.broadcast("board", author=note)

    def handle_broadcast(self, group, message):
        if "note" in message:           # from another process: the note itself
            self.notes = [*self.notes, message["note"]]
        else:                           # from a page of this process: read the board
            self.notes = list(BOARD)


urlpatterns = [path("counter/", Counter.as_view()), path("board/", Board.as_view())]


# -- helpers -------------------------------------------------------------------
def missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run these tests: see run.py test)")
    pytest.skip(f"{reason}: run `python3 run.py test`, or "
                "`python scripts/redisserver.py <pytest command>`")


def joined(page):
    page.wait_for_function("() => window.djust.transport === 'websocket'")


def open_live(page, url):
    page.set_default_timeout(10000)    # a failure, not a slow machine
    page.goto(url)
    joined(page)


def received(page, name):
    return page.evaluate(f"window.djust.received.{name}")


def server_views(cls):
    """The views of the open sockets of this process, of class ``cls``."""
    return [socket.view for socket in consumers.open_sockets()
            if not socket.closed and isinstance(getattr(socket, "view", None), cls)]


def in_thread(function):
    """Run ``function`` in a thread of its own, as a background job would,
    and return its result."""
    result = {}
    thread = threading.Thread(target=lambda: result.update(value=function()))
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    return result["value"]


def count_is(page, count):
    page.wait_for_function(f"() => document.getElementById('count').textContent === '{count}'"
                           " && window.djust.pending === 0")


def posts_of(page):
    """The event POSTs the page sends from now on."""
    posts = []
    page.on("request", lambda request: posts.append(request.url)
            if request.method == "POST" else None)
    return posts


def frames_of(page):
    """The text of every WebSocket message the page receives from now on."""
    frames = []
    page.on("websocket", lambda socket: socket.on(
        "framereceived", lambda payload: frames.append(payload)))
    return frames


def notes_are(page, notes, timeout=None):
    page.wait_for_function(
        "notes => JSON.stringify(Array.from(document.querySelectorAll('#notes li'),"
        " li => li.textContent)) === JSON.stringify(notes)", arg=notes, timeout=timeout)


@pytest.fixture
def subscribed(monkeypatch):
    """``subscribed(group, n)`` waits until ``n`` sockets of this process
    listen to ``group`` (a socket joins its groups before it tells its
    page "joined"; this waits on the server side, whatever the page says)."""
    changed = threading.Condition()
    original = LiveConsumer._sync_groups

    async def sync_groups(self, wanted):
        await original(self, wanted)
        with changed:
            changed.notify_all()

    monkeypatch.setattr(LiveConsumer, "_sync_groups", sync_groups)

    def wait(group, count):
        def enough():
            return sum(group in getattr(socket, "joined_groups", ())
                       for socket in consumers.open_sockets() if not socket.closed) >= count
        with changed:
            assert changed.wait_for(enough, timeout=5), f"{count} sockets never joined {group}"

    return wait


@pytest.fixture
def no_board():
    BOARD.clear()
    yield
    BOARD.clear()


# -- 1. typing survives updates ---------------------------------------------
def test_typing_keeps_text_and_caret_through_a_push_and_an_event():
    with asgi_server() as base, browser_page() as (page, errors):
        open_live(page, base + "/counter/")
        page.click("#name")
        page.keyboard.type("hello world")
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowLeft")
        for _ in range(3):
            page.keyboard.press("Shift+ArrowLeft")    # "wor" selected: 6..9

        # Meanwhile the server pushes a render of the whole root, the input
        # rendered with another value.
        (view,) = server_views(Counter)

        def push():
            view.message = "pushed"
            view.name = "server value"
            return view.push()

        assert in_thread(push) is True
        page.wait_for_function("() => document.getElementById('message').textContent === 'pushed'")
        assert received(page, "pushes") == 1
        assert page.evaluate("document.activeElement.id") == "name"
        assert page.input_value("#name") == "hello world"
        assert page.evaluate("[document.getElementById('name').selectionStart,"
                             " document.getElementById('name').selectionEnd]") == [6, 9]

        # The selection is still the user's: typing replaces it.
        page.keyboard.type("X")
        assert page.input_value("#name") == "hello Xld"

        # Another event (focus stays in the input) re-renders over the socket.
        renders = received(page, "renders")
        page.evaluate("document.getElementById('tick').click()")
        count_is(page, 1)
        assert received(page, "renders") == renders + 1
        assert page.evaluate("window.djust.transport") == "websocket"
        assert page.evaluate("document.activeElement.id") == "name"
        assert page.input_value("#name") == "hello Xld"
        assert page.evaluate("[document.getElementById('name').selectionStart,"
                             " document.getElementById('name').selectionEnd]") == [7, 7]
        assert page.inner_text("#message") == "pushed"
        assert errors == []


# -- 2. a push from a thread -------------------------------------------------
def test_a_push_from_a_thread_updates_the_open_page():
    with asgi_server() as base, browser_page() as (page, errors):
        posts = posts_of(page)
        open_live(page, base + "/counter/")
        assert received(page, "pushes") == 0
        (view,) = server_views(Counter)

        def push():
            view.count = 41
            view.message = "from a thread"
            return view.push()

        assert in_thread(push) is True
        count_is(page, 41)
        assert page.inner_text("#message") == "from a thread"
        assert received(page, "pushes") == 1

        # The pushed state is the view's: the next event continues from it.
        page.click("#inc")
        count_is(page, 42)
        assert received(page, "pushes") == 1
        assert posts == []
        assert errors == []


# -- 3. a broadcast from a management command, through Redis ---------------
@pytest.fixture
def redis_url():
    try:
        import channels_redis  # noqa: F401
    except ImportError:
        missing("channels-redis is not installed (pip install 'djust[live]')")
    url = os.environ.get("DJUST_TEST_REDIS_URL")
    if url:
        yield url
        return
    # Without run.py test's server: one of our own, when redis-server is here.
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    import redisserver

    binary = redisserver.find_binary()
    if binary is None:
        missing("DJUST_TEST_REDIS_URL is not set and redis-server is not installed")
    server = redisserver.Server(binary)
    server.start()
    try:
        yield server.url
    finally:
        server.remove()


def test_a_broadcast_from_a_management_command_updates_the_page(redis_url, subscribed, no_board):
    prefix = f"djust-test-{uuid.uuid4().hex}"
    layers = redis_layers(redis_url, prefix)
    with override_settings(CHANNEL_LAYERS=layers), asgi_server() as base, \
            browser_page() as (page, errors):
        frames = frames_of(page)
        open_live(page, base + "/board/")
        subscribed("board", 1)
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings_redis_layer",
               "DJUST_TEST_REDIS_URL": redis_url, "DJUST_TEST_CHANNELS_PREFIX": prefix}
        command = subprocess.run(
            [sys.executable, "-m", "django", "djust_broadcast_test", "board",
             "--note", "from a command"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert command.returncode == 0, command.stderr
        assert "broadcast to board: from a command" in command.stdout
        notes_are(page, ["from a command"])
        # Joined once: the socket did not drop (and rejoin) while waiting.
        assert [json.loads(frame)["t"] for frame in frames] == ["joined", "render"], frames
        assert received(page, "pushes") == 1, frames
        assert errors == []


# -- 4. a killed socket: HTTP, then the socket again ---------------------------
def test_a_killed_socket_falls_back_to_http_and_rejoins(monkeypatch):
    down, refusing = threading.Event(), threading.Event()
    refusals = []
    original = LiveConsumer.connect

    async def connect(self):
        if not down.is_set():
            await original(self)
            return
        refusals.append(self)
        refusing.set()
        # What disconnect() reads, as the real connect() would have set it.
        self.view, self.joined_groups, self.closed = None, set(), True
        await self.close()              # before accept: the handshake is refused

    monkeypatch.setattr(LiveConsumer, "connect", connect)
    with asgi_server() as base, browser_page() as (page, errors):
        posts = posts_of(page)
        open_live(page, base + "/counter/")
        page.click("#inc")
        count_is(page, 1)
        assert posts == []

        down.set()
        assert in_thread(consumers.close_all) == 1
        page.wait_for_function("() => window.djust.transport === 'http'")
        assert refusing.wait(5), "the page did not try to reconnect"

        # An event while the server refuses sockets goes over HTTP.
        renders = received(page, "renders")
        page.click("#inc")
        count_is(page, 2)
        assert len(posts) == 1
        assert received(page, "renders") == renders + 1
        assert page.evaluate("window.djust.transport") == "http"

        # Sockets are let back in: the page rejoins, its state the one the
        # HTTP event left, and the next event goes over the socket.
        down.clear()
        joined(page)
        page.click("#inc")
        count_is(page, 3)
        assert len(posts) == 1
        assert page.evaluate("window.djust.transport") == "websocket"
        # Chromium logs each refused handshake as an error; nothing else.
        refused = [e for e in errors if "WebSocket connection to" in e
                   and "Unexpected response code: 403" in e]
        assert len(refused) == len(refusals) >= 1
        assert [e for e in errors if e not in refused] == []


# -- 5. two browsers, one group ----------------------------------------------

@pytest.mark.parametrize("layer", [None, "in-memory"])
def test_two_browsers_on_one_group_both_update(layer, subscribed, no_board):
    layers = ({"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
              if layer else {})
    with override_settings(CHANNEL_LAYERS=layers), asgi_server() as base, \
            browser_page() as (page_a, errors):
        # Another context: another user, with other cookies and session.
        page_b = page_a.context.browser.new_context().new_page()
        page_b.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page_b.on("pageerror", lambda exc: errors.append(str(exc)))
        open_live(page_a, base + "/board/")
        open_live(page_b, base + "/board/")
        subscribed("board", 2)

        page_a.fill("#note", "from A")
        page_a.click("#post")
        notes_are(page_a, ["from A"])
        notes_are(page_b, ["from A"], timeout=3000)
        assert received(page_b, "pushes") == 1

        page_b.fill("#note", "from B")
        page_b.press("#note", "Enter")
        notes_are(page_b, ["from A", "from B"])
        notes_are(page_a, ["from A", "from B"])
        assert received(page_a, "pushes") >= 1
        assert page_a.evaluate("window.djust.transport") == "websocket"
        assert page_b.evaluate("window.djust.transport") == "websocket"
        assert errors == []


def test_a_push_from_another_pages_handler_updates_the_page():
    with asgi_server() as base, browser_page() as (page_a, errors):
        page_b = page_a.context.browser.new_context().new_page()
        page_b.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        open_live(page_a, base + "/counter/")
        open_live(page_b, base + "/counter/")
        page_a.click("#poke")
        count_is(page_a, 0)
        page_b.wait_for_function("() => window.djust.received.pushes === 1", timeout=3000)
        assert page_b.inner_text("#message") == "poked"
        assert errors == []


# -- 6. a refused join; events in order ------------------------------------
TAMPER = """([field, value]) => {
  window.djustErrors = [];
  document.addEventListener("djust:error", event => window.djustErrors.push(event.detail));
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    const message = JSON.parse(data);
    if (message.t === "join") { message[field] = value; }
    return send.call(this, JSON.stringify(message));
  };
}"""


@pytest.mark.parametrize(("field", "value", "status"), [
    ("csrf", "x" * 32, 403),                          # a tampered CSRF token
    ("id", "unknown-view-id-0123456789", 400),        # an expired or unknown view
])
def test_a_refused_join_stays_on_http_and_reports_the_error(field, value, status):
    with asgi_server() as base, browser_page() as (page, errors):
        posts = posts_of(page)
        sockets = []
        page.on("websocket", lambda socket: sockets.append(socket.url))
        page.set_default_timeout(10000)
        page.add_init_script(f"({TAMPER})({[field, value]!r})")
        page.goto(base + "/counter/")
        page.wait_for_function("() => window.djustErrors.length === 1")
        detail = page.evaluate("window.djustErrors[0]")
        assert (detail["event"], detail["status"]) == ("join", status)
        assert page.evaluate("[window.djust.transport, window.djust.socket]") == ["http", None]

        # Events go over HTTP, and the page does not try the socket again.
        page.click("#inc")
        count_is(page, 1)
        assert len(posts) == 1
        assert page.evaluate("window.djust.transport") == "http"
        assert len(sockets) == 1
        assert errors == []


def test_quick_clicks_are_answered_in_order_over_the_socket():
    with asgi_server() as base, browser_page() as (page, errors):
        posts = posts_of(page)
        open_live(page, base + "/counter/")
        page.evaluate("""() => {
          window.seen = [];
          document.addEventListener("djust:updated",
            () => window.seen.push(document.getElementById("seen").textContent));
          for (const n of [1, 2, 3]) { document.getElementById("add" + n).click(); }
        }""")
        count_is(page, 3)
        assert page.evaluate("window.seen") == ["1", "1,2", "1,2,3"]
        assert received(page, "renders") == 3
        assert received(page, "pushes") == 0
        assert posts == []
        assert page.evaluate("window.djust.transport") == "websocket"
        assert errors == []
