"""djust.js morphs the page in a real browser (Debian's Chromium driven by
Playwright, like tests/test_browser.py, and skipped or failed the same way
without it): an update keeps focus, caret, typed values, scroll, an open
<details> and the identity of keyed elements; without idiomorph it still
updates the page, by replacing the HTML.
"""

import pytest
from django.urls import path

from djust import LiveView, event_handler
from tests.test_browser import browser_page

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls(__name__)]


class Morphing(LiveView):
    template = """<link rel="icon" href="data:,">
<main dj-root>
<p id="message">{{ message }}</p>
<input id="name" name="name" value="{{ name }}">
<button id="go" dj-click="go">Go</button>
<button id="tick" dj-click="tick">Tick</button>
<details id="more"><summary>More</summary><span id="count">{{ count }}</span></details>
<div id="scroller" style="height: 40px; overflow: auto">
<div style="height: 400px">{{ count }}</div></div>
<ul id="items">{% for item in items %}<li dj-key="{{ item }}">{{ item }}</li>{% endfor %}</ul>
<form dj-submit="add"><input id="title" name="title" value=""><button id="add">Add</button></form>
</main>"""

    def mount(self, request):
        self.message = "ready"
        self.name = ""
        self.count = 0
        self.items = ["a", "b", "c"]

    @event_handler
    def go(self):
        # Re-renders the whole root: new text, the list reversed, the input as before.
        self.count += 1
        self.message = f"go {self.count}"
        self.items = self.items[::-1]

    @event_handler
    def tick(self):
        # An update that renders the input with another value.
        self.count += 1
        self.name = f"server {self.count}"

    @event_handler
    def add(self, title: str):
        self.count += 1
        self.items = [*self.items, title]


urlpatterns = [path("morph/", Morphing.as_view())]


def updated(page, count):
    page.wait_for_function(f"() => document.getElementById('count').textContent === '{count}'"
                           " && window.djust.pending === 0")


def test_an_update_keeps_focus_caret_values_details_scroll_and_keyed_elements(live_server):
    with browser_page() as (page, errors):
        page.goto(live_server.url + "/morph/")
        page.wait_for_function("() => window.djust.patcher === 'idiomorph'")

        page.click("#more summary")            # the user opens <details>
        page.evaluate("document.getElementById('scroller').scrollTop = 60")
        page.evaluate("document.querySelector('[dj-key=c]').tagged = 'c'")
        page.click("#name")
        page.keyboard.type("hello")
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowLeft")

        # The focused input is not overwritten, even with another value.
        page.evaluate("document.getElementById('tick').click()")  # focus stays in #name
        updated(page, 1)
        assert page.evaluate("document.activeElement.id") == "name"
        assert page.input_value("#name") == "hello"
        assert page.evaluate("document.getElementById('name').selectionStart") == 3

        # A click re-renders the root: the button keeps focus, the input
        # (the server renders it as last time) keeps what the user typed.
        page.click("#go")
        updated(page, 2)
        assert page.inner_text("#message") == "go 2"
        assert page.evaluate("document.activeElement.id") == "go"
        assert page.input_value("#name") == "hello"
        assert page.evaluate("document.getElementById('name').selectionStart") == 3
        assert page.evaluate("document.getElementById('more').open") is True
        assert page.evaluate("document.getElementById('scroller').scrollTop") == 60
        # The list is reversed and [dj-key=c] is the same element, now first,
        # without the id it was lent for the morph.
        assert page.locator("#items li").all_inner_texts() == ["c", "b", "a"]
        assert page.evaluate("document.querySelector('#items li').tagged") == "c"
        assert page.evaluate("document.querySelector('[dj-key=c]').id") == ""

        # A submitted form takes the server's values: here an empty field.
        page.click("#title")
        page.keyboard.type("milk")
        page.keyboard.press("Enter")
        updated(page, 3)
        assert page.locator("#items li").all_inner_texts() == ["c", "b", "a", "milk"]
        assert page.input_value("#title") == ""
        assert page.evaluate("document.activeElement.id") == "title"
        assert page.evaluate("document.querySelector('[dj-key=c]').tagged") == "c"
        assert errors == []


def test_without_idiomorph_the_page_still_updates(live_server):
    with browser_page() as (page, errors):
        warnings = []
        page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
        page.route("**/vendor/idiomorph-*.js", lambda route: route.abort())
        page.goto(live_server.url + "/morph/")
        page.click("#go")
        updated(page, 1)
        assert page.evaluate("window.djust.patcher") == "innerHTML"
        assert page.inner_text("#message") == "go 1"
        assert page.locator("#items li").all_inner_texts() == ["c", "b", "a"]
        assert [w for w in warnings if "idiomorph" in w] != []
        # The failed load itself is logged as an error by the browser.
        assert all("Failed to load resource" in e for e in errors)
