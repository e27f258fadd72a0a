"""djust.js's events in a real browser (Debian's Chromium driven by
Playwright, like tests/test_browser.py, and skipped or failed the same way
without it): dj-input with its debounce and throttle, dj-keydown and
dj-window-keydown with dj-key-filter, dj-focus and dj-blur, dj-value-*
parameters converted by the handler's annotations, the loading states of an
event in flight, events sent one at a time, and djust:error on a refusal.

The view records every event it receives in the page (``#log``), so the
tests read what the server saw. Nothing waits by sleeping: the slow handler
blocks on a threading.Event the test sets, and the tests wait for the page.
"""

import threading

import pytest
from django.urls import path

from djust import LiveView, event_handler
from tests.test_browser import browser_page

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls(__name__)]

RELEASE = threading.Event()   # lets Events.slow() return
TIMEOUT = 10                  # seconds the slow handler waits at most


class Events(LiveView):
    template = """<link rel="icon" href="data:,">
<main dj-root>
<ol id="log">{% for entry in events %}<li>{{ entry }}</li>{% endfor %}</ol>
<input id="search" dj-input="search" value="">
<input id="instant" dj-input="instant" dj-debounce="0" value="">
<input id="throttled" dj-input="throttled" dj-throttle="400" value="">
<input id="lazy" dj-input="lazy" dj-debounce="blur" value="">
<input id="command" dj-keydown="command" dj-key-filter="Enter" value="">
<input id="watched" dj-focus="focused" dj-blur="blurred" value="seen">
<div dj-window-keydown="shortcut" dj-key-filter="Escape"></div>
<button id="pick" dj-click="pick" dj-value-lease-id="7" dj-value-ratio="0.5"
        dj-value-urgent="true" data-note="from data">Pick</button>
<button id="bad" dj-click="pick" dj-value-lease-id="seven">Bad</button>
<button id="slow" dj-click="slow" dj-disable-with="Saving…">Save</button>
<form id="form" dj-submit="slow"><button id="send" dj-disable-with="Sending…">Send</button></form>
</main>"""

    def mount(self, request):
        self.events = []

    def record(self, *parts):
        self.events = [*self.events, ":".join(str(part) for part in parts)]

    @event_handler
    def search(self, value: str):
        self.record("search", value)

    @event_handler
    def instant(self, value: str):
        self.record("instant", value)

    @event_handler
    def throttled(self, value: str):
        self.record("throttled", value)

    @event_handler
    def lazy(self, value: str):
        self.record("lazy", value)

    @event_handler
    def command(self, key: str, value: str):
        self.record("command", key, value)

    @event_handler
    def shortcut(self, key: str):
        self.record("shortcut", key)

    @event_handler
    def focused(self, value: str):
        self.record("focus", value)

    @event_handler
    def blurred(self, value: str):
        self.record("blur", value)

    @event_handler
    def pick(self, lease_id: int, ratio: float = 0.0, urgent: bool = False, note: str = ""):
        self.record("pick", repr(lease_id), repr(ratio), repr(urgent), note)

    @event_handler
    def slow(self):
        RELEASE.wait(TIMEOUT)
        self.record("slow")


urlpatterns = [path("events/", Events.as_view())]


def log(page):
    return page.locator("#log li").all_inner_texts()


def settled(page, count):
    """Wait until the page shows ``count`` events and none is queued."""
    page.wait_for_function(f"() => document.querySelectorAll('#log li').length === {count}"
                           " && window.djust.pending === 0")
    return log(page)


def open_page(page, url):
    page.goto(url + "/events/")
    page.wait_for_function("() => window.djust.patcher === 'idiomorph'")


def test_dj_input_debounce_throttle_and_blur(live_server):
    with browser_page() as (page, errors):
        open_page(page, live_server.url)

        # dj-debounce="0": one event per keystroke, each with the value then.
        page.click("#instant")
        page.keyboard.type("abc")
        assert settled(page, 3) == ["instant:a", "instant:ab", "instant:abc"]

        # The default debounce (150 ms) coalesces quick typing.
        page.click("#search")
        page.keyboard.type("djust rocks")
        page.wait_for_function("() => document.getElementById('log').textContent"
                               ".includes('search:djust rocks') && window.djust.pending === 0")
        searches = [entry for entry in log(page) if entry.startswith("search:")]
        assert searches[-1] == "search:djust rocks"
        assert len(searches) <= 3, searches         # 11 keystrokes
        count = len(log(page))

        # dj-throttle: the first keystroke at once, then the last value.
        page.click("#throttled")
        page.keyboard.type("abcdef")
        page.wait_for_function("() => document.getElementById('log').textContent"
                               ".includes('throttled:abcdef') && window.djust.pending === 0")
        throttled = [entry for entry in log(page) if entry.startswith("throttled:")]
        assert throttled[0] == "throttled:a"
        assert throttled[-1] == "throttled:abcdef"
        assert len(throttled) < 6, throttled
        count = len(log(page))

        # dj-debounce="blur": nothing while typing (an event would be queued
        # synchronously by the input event), then the value on blur.
        page.click("#lazy")
        page.keyboard.type("later")
        assert page.evaluate("window.djust.pending") == 0
        assert len(log(page)) == count
        page.keyboard.press("Tab")
        assert settled(page, count + 1)[-1] == "lazy:later"
        assert errors == []


def test_keydown_filters_focus_blur_and_dj_value_params(live_server):
    with browser_page() as (page, errors):
        open_page(page, live_server.url)

        # dj-key-filter="Enter": the other keys send nothing.
        page.click("#command")
        page.keyboard.type("go")
        page.keyboard.press("Enter")
        assert settled(page, 1) == ["command:Enter:go"]

        # dj-window-keydown fires wherever the focus is, for its key only.
        page.keyboard.press("Escape")
        page.keyboard.press("x")
        assert settled(page, 2)[-1] == "shortcut:Escape"

        # dj-focus and dj-blur send the field's value.
        page.click("#watched")
        settled(page, 3)
        page.keyboard.press("Tab")
        assert settled(page, 4)[-2:] == ["focus:seen", "blur:seen"]

        # dj-value-* strings arrive converted by the annotations (lease_id:
        # int, ratio: float, urgent: bool); data-* still arrive, camelCased.
        page.click("#pick")
        assert settled(page, 5)[-1] == "pick:7:0.5:True:from data"
        assert errors == []


def test_loading_states_and_events_one_at_a_time(live_server):
    RELEASE.clear()
    try:
        with browser_page() as (page, errors):
            open_page(page, live_server.url)
            page.click("#slow")
            page.wait_for_function(
                "() => document.querySelector('[dj-root]').classList.contains('dj-loading')")
            root = "document.querySelector('[dj-root]')"
            assert page.evaluate(f"{root}.getAttribute('aria-busy')") == "true"
            assert page.evaluate(f"{root}.classList.contains('dj-loading-slow')") is True
            button = "document.getElementById('slow')"
            assert page.evaluate(f"{button}.getAttribute('aria-busy')") == "true"
            assert page.evaluate(f"{button}.classList.contains('dj-loading')") is True
            assert page.evaluate(f"{button}.disabled") is True
            assert page.inner_text("#slow") == "Saving…"

            # A second event waits for the first answer: were it sent at
            # once, the slow event, restored before it, would save over it.
            page.click("#pick")
            assert page.evaluate("window.djust.pending") == 2
            assert page.evaluate(f"{root}.classList.contains('dj-loading-pick')") is True
            RELEASE.set()
            assert settled(page, 2) == ["slow", "pick:7:0.5:True:from data"]
            assert page.evaluate(f"{root}.hasAttribute('aria-busy')") is False
            assert page.evaluate(f"{root}.className") == ""
            assert page.evaluate(f"{button}.hasAttribute('aria-busy')") is False
            assert page.evaluate(f"{button}.classList.contains('dj-loading')") is False
            assert page.evaluate(f"{button}.disabled") is False
            assert page.inner_text("#slow") == "Save"

            # dj-submit: the form is busy, its submit button shows dj-disable-with.
            RELEASE.clear()
            page.click("#send")
            page.wait_for_function("() => document.getElementById('form').ariaBusy === 'true'")
            assert page.inner_text("#send") == "Sending…"
            assert page.evaluate("document.getElementById('send').disabled") is True
            RELEASE.set()
            settled(page, 3)
            assert page.inner_text("#send") == "Send"
            assert page.evaluate("document.getElementById('send').disabled") is False
            form_busy = "document.getElementById('form').hasAttribute('aria-busy')"
            assert page.evaluate(form_busy) is False
            assert errors == []
    finally:
        RELEASE.set()


def test_a_refused_event_fires_djust_error(live_server):
    with browser_page() as (page, errors):
        warnings = []
        page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
        open_page(page, live_server.url)
        page.evaluate("""() => {
            window.seen = [];
            document.querySelector('[dj-root]').addEventListener(
                'djust:error', (event) => window.seen.push(event.detail));
        }""")
        page.click("#bad")
        page.wait_for_function("() => window.seen.length === 1 && window.djust.pending === 0")
        detail = page.evaluate("window.seen[0]")
        assert detail["event"] == "pick"
        assert detail["status"] == 400
        assert "parameter 'lease_id' must be int" in detail["message"]
        assert page.evaluate("window.djust.lastError") == detail["message"]
        root_busy = "document.querySelector('[dj-root]').hasAttribute('aria-busy')"
        assert page.evaluate(root_busy) is False
        assert any("must be int" in w for w in warnings)
        # The refusal changed nothing, and the page still works.
        page.click("#pick")
        assert settled(page, 1) == ["pick:7:0.5:True:from data"]

        # A request that fails (here: aborted) fires it too, with status 0.
        page.route("**/events/", lambda route: route.abort()
                   if route.request.method == "POST" else route.continue_())
        page.click("#pick")
        page.wait_for_function("() => window.seen.length === 2 && window.djust.pending === 0")
        detail = page.evaluate("window.seen[1]")
        assert (detail["event"], detail["status"]) == ("pick", 0)
        assert detail["message"]
        assert page.evaluate("document.querySelector('[dj-root]').className") == ""
        # The browser logs the failed requests itself; nothing else is an error.
        assert all("Failed to load resource" in e for e in errors), errors
