"""Testing djust pages: a pytest plugin and a LiveView test client.

Load the plugin in the project's pytest configuration, either
``addopts = "-p djust.testing"`` (``pyproject.toml``'s
``[tool.pytest.ini_options]``) or ``pytest_plugins = ["djust.testing"]`` in
the root ``conftest.py``. It gives:

- ``djust_strict`` (fixture) and ``@pytest.mark.djust_strict`` (marker,
  registered here, so ``--strict-markers`` accepts it)::

    @pytest.mark.djust_strict
    def test_leases_page(client):
        client.get("/leases/")     # fails on a query djust did not plan

    def test_units_page(client, djust_strict):
        ...

  Both set ``DJUST["STRICT"] = True`` for the test, keeping the project's
  other ``DJUST`` keys (``override_settings``); the template backend then
  renders every template inside ``djust.template.strict.strict_queries``,
  which raises ``UnplannedQuery`` naming the template, the line and the
  path of a lazy load.

- ``live_client`` (fixture): a ``LiveViewTestClient`` over pytest-django's
  ``client`` (so ``client.force_login(user)`` applies to it).

``LiveViewTestClient`` mounts a LiveView, sends it events and shows what the
browser would get, without a browser (what Phoenix's ``LiveViewTest`` gives)::

    live = LiveViewTestClient()                  # or LiveViewTestClient(client)
    page = live.get("/")                         # mounts the view
    page.html, page.state, page.queries          # the dj-root's inner HTML, the
                                                 # browser's state, the query count
    page = page.click("filter_status", status="expired")   # a new page
    page.assert_contains("Expired")
    page.assert_max_queries(6)
    page = page.element("[dj-click=sort_by][data-column=-monthly_rent]").click()
    page = page.submit("save", {"title": "Roof"})          # like dj-submit
    page = page.change("filter_city", "Porto")             # like dj-change

A page is a snapshot: its HTML, state and the queries of the request that
made it. The view's state lives on the server under the page's view id, so
every page of one mount talks to the same view, as one browser tab does.

A refused event (the server's 400) raises ``AssertionError`` with the
server's message (and, for an unknown name, the view's handlers) unless the
test says ``expect_error=True`` (or a part of the message it expects); then
the returned page has ``status`` and ``error``, and keeps the HTML and the
state of the page before, as the browser does. An exception in a handler
propagates to the test, as with Django's test client.

Transports. The client talks to the server through a *transport*:
``HttpTransport`` (the default) sends what ``djust.js`` sends today, a GET
for the page and a CSRF-protected JSON POST to the page's URL for each event.
A transport has two methods, ``mount(path, data, follow, extra) -> Reply`` and
``send(page, event, params) -> Reply``; a ``Reply`` is transport-neutral
(status, inner HTML, state, stats, error text, captured queries).
``SocketTransport`` is the WebSocket's: its ``mount`` GETs the page over
HTTP (the page, the view id and the cookies come from the GET), then joins
through djust's consumer on this thread, with the session and user the
handshake would carry, so the join's checks (CSRF, origin, the view's
dispatch, the state's owner) run; its ``send`` sends the socket's event
message, and the reply, a diff after the first, is applied to the HTML the
page holds. Queries are captured on this thread, where the consumer's view
code runs. Over the socket a handler's exception is the 500 the socket
answers (logged on ``djust.consumers``), not an exception in the test.
Nothing in ``LivePage`` knows which transport answered.

Nothing here touches Django before a test runs: the plugin can be loaded
before settings are configured.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape
from html.parser import HTMLParser
from typing import Any, Protocol
from urllib.parse import urlsplit

import pytest

from djust.html import VOID_ELEMENTS, RootNotFound, locate_root

MARKER = "djust_strict"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}: render this test's templates in djust's strict mode "
        "(DJUST['STRICT'] = True): a query the plan did not predict fails the render.",
    )


@pytest.fixture
def djust_strict() -> Iterator[None]:
    """Strict mode (``DJUST["STRICT"] = True``) for the test."""
    from django.conf import settings
    from django.test import override_settings

    current = getattr(settings, "DJUST", None) or {}
    with override_settings(DJUST={**current, "STRICT": True}):
        yield


@pytest.fixture(autouse=True)
def _djust_strict_marker(request: pytest.FixtureRequest) -> None:
    """``@pytest.mark.djust_strict``: the ``djust_strict`` fixture for the
    marked test."""
    if request.node.get_closest_marker(MARKER) is not None:
        request.getfixturevalue("djust_strict")


@pytest.fixture
def live_client(client) -> LiveViewTestClient:
    """A ``LiveViewTestClient`` over pytest-django's ``client`` fixture."""
    return LiveViewTestClient(client)


# -- HTML: a small tree and CSS selectors (standard library only) --------

# Elements whose end tag may be left out: a new one closes the open one.
_CLOSED_BY = {"li": {"li"}, "option": {"option"}, "p": {"p"}, "tr": {"tr"},
              "td": {"td", "th"}, "th": {"td", "th"}, "dt": {"dt", "dd"}, "dd": {"dt", "dd"}}
_RAW_TEXT = frozenset({"script", "style"})


class Element:
    """An element of a page: ``tag``, ``attrs`` (a dict; a bare attribute is
    ``""``), ``children`` (elements and strings), ``text``, ``inner_html``.

        >>> form = parse_html('<form dj-submit="save"><input name="t" value="a &amp; b">'
        ...                   '<select name="s"><option>x<option selected>y</select></form>')
        >>> form.select_one("form").form_values()
        {'t': 'a & b', 's': 'y'}
    """

    def __init__(self, tag: str, attrs: dict[str, str], parent: Element | None = None,
                 page: LivePage | None = None) -> None:
        self.tag, self.attrs, self.parent, self.page = tag, attrs, parent, page
        self.children: list[Element | str] = []

    def __repr__(self) -> str:
        return f"<Element {self.start_tag()}>"

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrs.get(name, default)

    # -- reading ---------------------------------------------------------
    def iter(self) -> Iterator[Element]:
        """The descendants, in document order."""
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.iter()

    @property
    def raw_text(self) -> str:
        return "".join(child if isinstance(child, str) else child.raw_text
                       for child in self.children)

    @property
    def text(self) -> str:
        """The text content, white space collapsed."""
        return " ".join(self.raw_text.split())

    def start_tag(self) -> str:
        attrs = "".join(f' {name}="{escape(value)}"' for name, value in self.attrs.items())
        return f"<{self.tag}{attrs}>"

    @property
    def inner_html(self) -> str:
        raw = self.tag in _RAW_TEXT
        return "".join(
            child.outer_html if isinstance(child, Element)
            else child if raw else escape(child, quote=False)
            for child in self.children)

    @property
    def outer_html(self) -> str:
        if self.tag in VOID_ELEMENTS:
            return self.start_tag()
        return f"{self.start_tag()}{self.inner_html}</{self.tag}>"

    def select(self, selector: str) -> list[Element]:
        """The descendants matching a CSS selector: tag, ``*``, ``#id``,
        ``.class``, ``[attr]``, ``[attr=value]`` (also ``~= ^= $= *=``),
        descendant and ``>`` combinators, ``,`` lists."""
        groups = parse_selector(selector)
        return [element for element in self.iter()
                if any(_matches(element, chain, len(chain) - 1) for chain in groups)]

    def select_one(self, selector: str) -> Element:
        found = self.select(selector)
        if len(found) != 1:
            raise AssertionError(
                f"{len(found)} elements match {selector!r}, expected exactly one"
                + "".join(f"\n  {element!r}" for element in found[:10]))
        return found[0]

    def closest(self, selector: str) -> Element | None:
        groups = parse_selector(selector)
        node: Element | None = self
        while node is not None and node.tag != "#root":
            if any(_matches(node, chain, len(chain) - 1) for chain in groups):
                return node
            node = node.parent
        return None

    # -- what the browser sends (mirrors static/djust/djust.js) -----------
    def data_params(self) -> dict[str, str]:
        """The ``data-*`` attributes as ``element.dataset`` names them
        (``data-lease-id`` -> ``leaseId``), without the ``djust`` ones."""
        params = {}
        for name, value in self.attrs.items():
            if name.startswith("data-"):
                key = re.sub(r"-([a-z])", lambda m: m.group(1).upper(), name[5:])
                if not key.startswith("djust"):
                    params[key] = value
        return params

    def control_value(self) -> str | bool:
        """The value ``dj-change`` sends for this control (a checkbox's
        ``checked``)."""
        if self.tag == "input" and self.get("type", "").lower() == "checkbox":
            return "checked" in self.attrs
        if self.tag == "select":
            options = self.select("option")
            chosen = [o for o in options if "selected" in o.attrs] or options[:1]
            return _option_value(chosen[-1]) if chosen else ""
        if self.tag == "textarea":
            return self.raw_text.removeprefix("\n")
        return self.get("value", "")

    def form_fields(self) -> list[Element]:
        return [element for element in self.iter()
                if element.tag in ("input", "select", "textarea") and element.get("name")]

    def form_values(self) -> dict[str, Any]:
        """What ``new FormData(form)`` holds, as djust.js sends it: the last
        value of a repeated name wins, no ``csrfmiddlewaretoken``."""
        values: dict[str, Any] = {}
        for control in self.form_fields():
            if "disabled" in control.attrs:
                continue
            name, kind = control.attrs["name"], control.get("type", "text").lower()
            if control.tag == "input" and kind in ("checkbox", "radio"):
                if "checked" in control.attrs:
                    values[name] = control.get("value", "on")
            elif control.tag == "input" and kind in ("submit", "button", "reset", "image", "file"):
                continue
            elif control.tag == "select" and "multiple" in control.attrs:
                chosen = [o for o in control.select("option") if "selected" in o.attrs]
                if chosen:
                    values[name] = _option_value(chosen[-1])
            else:
                values[name] = control.control_value()
        values.pop("csrfmiddlewaretoken", None)
        return values

    def click(self, *, expect_error: bool | str = False, **params: Any) -> LivePage:
        """Click this element (or its closest ``[dj-click]`` ancestor): send
        its ``dj-click`` event with its ``data-*`` parameters, ``params`` added."""
        target = self._target("dj-click")
        return self._page_of().event(target.attrs["dj-click"], {**target.data_params(), **params},
                                     expect_error=expect_error)

    _UNSET: Any = object()

    def change(self, value: Any = _UNSET, *, expect_error: bool | str = False,
               **params: Any) -> LivePage:
        """Change this control to ``value`` (default: its current value) and
        send its ``dj-change`` event: ``data-*`` parameters and ``value``."""
        target = self._target("dj-change")
        sent = target.control_value() if value is self._UNSET else value
        return self._page_of().event(
            target.attrs["dj-change"], {**target.data_params(), **params, "value": sent},
            expect_error=expect_error)

    def submit(self, values: dict[str, Any] | None = None, /, *,
               expect_error: bool | str = False, **more: Any) -> LivePage:
        """Fill this ``dj-submit`` form with ``values`` and send it: the form's
        own values (as rendered) overridden by ``values``. A name the form has
        no field for fails; ``True``/``False`` tick or clear a checkbox."""
        form = self._target("dj-submit")
        params = form.form_values()
        fields = {control.attrs["name"]: control for control in form.form_fields()}
        for name, value in {**(values or {}), **more}.items():
            control = fields.get(name)
            if control is None:
                raise AssertionError(
                    f"the form {form.start_tag()} has no field {name!r}; its fields: "
                    f"{', '.join(sorted(fields)) or 'none'}")
            if isinstance(value, bool) and control.get("type", "").lower() == "checkbox":
                if value:
                    params[name] = control.get("value", "on")
                else:
                    params.pop(name, None)
            else:
                params[name] = value
        return self._page_of().event(form.attrs["dj-submit"], params, expect_error=expect_error)

    def _target(self, attribute: str) -> Element:
        target = self.closest(f"[{attribute}]")
        if target is None:
            raise AssertionError(f"{self!r} has no {attribute} (nor has an ancestor)")
        return target

    def _page_of(self) -> LivePage:
        if self.page is None:
            raise AssertionError("this element is not part of a LivePage")
        return self.page


def _option_value(option: Element) -> str:
    value = option.get("value")
    return value if value is not None else option.text


class _TreeBuilder(HTMLParser):
    def __init__(self, page: LivePage | None) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self.root = Element("#root", {}, None, page)
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        closes = _CLOSED_BY.get(tag)
        if closes and self.stack[-1].tag in closes:
            self.stack.pop()
        parent = self.stack[-1]
        element = Element(tag, {name: value or "" for name, value in attrs}, parent, self.page)
        parent.children.append(element)
        if tag not in VOID_ELEMENTS:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID_ELEMENTS:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse_html(fragment: str, page: LivePage | None = None) -> Element:
    """An HTML fragment as a tree under a ``#root`` element.

        >>> parse_html('<ul><li class="a b">one<li>two</ul>').select("ul > li.b")
        [<Element <li class="a b">>]
    """
    builder = _TreeBuilder(page)
    builder.feed(fragment)
    builder.close()
    return builder.root


_ATTRIBUTE = re.compile(
    r"""\[\s*([\w:.-]+)\s*(?:([~^$*|]?=)\s*("[^"]*"|'[^']*'|[^\]\s"']+)\s*)?\]""")
_NAME = re.compile(r"-?[A-Za-z_][\w-]*")


def _attribute_test(name: str, operator: str | None, wanted: str):
    def test(element: Element) -> bool:
        value = element.attrs.get(name)
        if value is None:
            return False
        if operator is None:
            return True
        return {"=": value == wanted, "~=": wanted in value.split(),
                "^=": bool(wanted) and value.startswith(wanted),
                "$=": bool(wanted) and value.endswith(wanted),
                "*=": bool(wanted) and wanted in value,
                "|=": value == wanted or value.startswith(wanted + "-")}[operator]
    return test


def parse_selector(selector: str) -> list[list[tuple[str, list]]]:
    """Selector groups; each a list of ``(combinator, tests)`` compounds,
    the combinator joining a compound to the one before it.

        >>> [[(c, len(t)) for c, t in g] for g in parse_selector("form#f > [name=x], p")]
        [[('', 2), ('>', 1)], [('', 1)]]
    """
    groups: list[list[tuple[str, list]]] = [[]]
    position, combinator, compound = 0, "", None
    text = selector.strip()
    while position < len(text):
        char = text[position]
        if char in " \t\n>,":
            end = position
            while end < len(text) and text[end] in " \t\n":
                end += 1
            if end < len(text) and text[end] in ">,":
                char = text[end]
                end += 1
                while end < len(text) and text[end] in " \t\n":
                    end += 1
            else:
                char = " "
            if compound is None:
                raise ValueError(f"unsupported CSS selector {selector!r}")
            if char == ",":
                groups.append([])
                combinator = ""
            else:
                combinator = char
            compound, position = None, end
            continue
        if compound is None:
            compound = []
            groups[-1].append((combinator, compound))
        if char == "*":
            position += 1
        elif char in "#.":
            name = _NAME.match(text, position + 1)
            if not name:
                raise ValueError(f"unsupported CSS selector {selector!r} at {text[position:]!r}")
            value = name.group()
            if char == "#":
                compound.append(lambda e, v=value: e.attrs.get("id") == v)
            else:
                compound.append(lambda e, v=value: v in e.attrs.get("class", "").split())
            position = name.end()
        elif char == "[":
            attribute = _ATTRIBUTE.match(text, position)
            if not attribute:
                raise ValueError(f"unsupported CSS selector {selector!r} at {text[position:]!r}")
            name, operator, wanted = attribute.groups()
            if wanted and wanted[0] in "\"'":
                wanted = wanted[1:-1]
            compound.append(_attribute_test(name.lower(), operator, wanted or ""))
            position = attribute.end()
        else:
            name = _NAME.match(text, position)
            if not name or compound:
                raise ValueError(f"unsupported CSS selector {selector!r} at {text[position:]!r}")
            tag = name.group().lower()
            compound.append(lambda e, v=tag: e.tag == v)
            position = name.end()
    if compound is None or not all(groups):
        raise ValueError(f"unsupported CSS selector {selector!r}")
    return groups


def _compound_matches(element: Element, tests: list) -> bool:
    return all(test(element) for test in tests)


def _matches(element: Element, chain: list[tuple[str, list]], index: int) -> bool:
    combinator, tests = chain[index]
    if element.tag == "#root" or not _compound_matches(element, tests):
        return False
    if index == 0:
        return True
    parent = element.parent
    if combinator == ">":
        return parent is not None and _matches(parent, chain, index - 1)
    while parent is not None:
        if _matches(parent, chain, index - 1):
            return True
        parent = parent.parent
    return False


# -- queries ---------------------------------------------------------------

@contextlib.contextmanager
def capture_queries() -> Iterator[list[dict[str, Any]]]:
    """The queries run in the block on every database connection this
    thread may use, each ``{"sql", "time", "alias"}`` (``CaptureQueriesContext``
    per connection; a database the test may not use is left out)."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    captured: list[dict[str, Any]] = []
    contexts = []
    with contextlib.ExitStack() as stack:
        for alias in connections:
            context = CaptureQueriesContext(connections[alias])
            try:
                stack.enter_context(context)
            except (AssertionError, RuntimeError):
                # Django's test case or pytest-django refuses this database to
                # the test, so the view cannot query it either.
                connections[alias].force_debug_cursor = context.force_debug_cursor
                continue
            contexts.append((alias, context))
        yield captured
    for alias, context in contexts:
        captured.extend({**query, "alias": alias} for query in context.captured_queries)


# -- transports --------------------------------------------------------------

@dataclass
class Reply:
    """What a transport got back: a mounted page or an event's answer."""

    status: int
    html: str | None = None           # the dj-root element's inner HTML
    state: dict[str, Any] | None = None
    stats: dict[str, Any] | None = None
    error: str | None = None          # the server's message when it refused
    url: str | None = None            # mount: the page's URL (after redirects)
    view_id: str | None = None        # mount: the view id the page carries
    csrf_token: str | None = None     # mount
    document: str | None = None       # mount: the whole page
    queries: list[dict[str, Any]] = field(default_factory=list)
    response: Any = None              # the transport's own response object


class Transport(Protocol):
    def mount(self, path: str, data: dict | None, follow: bool,
              extra: dict[str, Any]) -> Reply: ...

    def send(self, page: LivePage, event: str, params: dict[str, Any]) -> Reply: ...


_STATE_SCRIPT = re.compile(
    r'<script type="application/json" id="djust-state">(.*?)</script>', re.S)


class HttpTransport:
    """The browser's transport today: GET the page, POST each event as JSON
    to the page's URL with the page's CSRF token (``static/djust/djust.js``)."""

    def __init__(self, client) -> None:
        self.client = client

    def mount(self, path: str, data: dict | None, follow: bool,
              extra: dict[str, Any]) -> Reply:
        with capture_queries() as queries:
            response = self.client.get(path, data, follow=follow, **extra)
        request = response.request
        url = request["PATH_INFO"] + (f"?{request['QUERY_STRING']}"
                                      if request.get("QUERY_STRING") else "")
        reply = Reply(status=response.status_code, url=url, queries=queries, response=response)
        if response.status_code != 200:
            reply.error = _body_text(response)
            if response.status_code in (301, 302, 303, 307, 308):
                reply.error = f"redirect to {response['Location']}"
            return reply
        document = response.content.decode(response.charset or "utf-8")
        reply.document = document
        try:
            tag_start, content_start, content_end = locate_root(document)
        except RootNotFound as exc:
            reply.error = f"not a LiveView page: {exc}"
            return reply
        root = parse_html(document[tag_start:content_start]).select_one("[dj-root]")
        reply.view_id, reply.csrf_token = root.get("data-djust-id"), root.get("data-djust-csrf")
        state = _STATE_SCRIPT.search(document, content_end)
        if reply.view_id is None or state is None:
            reply.error = ("not a LiveView page: its dj-root element carries no view id "
                           "(data-djust-id) or no state")
            return reply
        reply.html = document[content_start:content_end]
        reply.state = json.loads(state.group(1))
        return reply

    def send(self, page: LivePage, event: str, params: dict[str, Any]) -> Reply:
        body = json.dumps({"id": page.view_id, "event": event, "params": params})
        with capture_queries() as queries:
            response = self.client.post(
                page.url, data=body, content_type="application/json",
                headers={"X-CSRFToken": page.csrf_token, "X-Requested-With": "djust"})
        if response.status_code != 200:
            return Reply(status=response.status_code, error=_body_text(response),
                         queries=queries, response=response)
        data = response.json()
        return Reply(status=200, html=data["html"], state=data["state"],
                     stats=data.get("stats"), queries=queries, response=response)


class SocketTransport:
    """The WebSocket's transport without a server: the page comes from a GET
    (``HttpTransport.mount``), then each page joins and sends its events
    through djust's consumer (``djust.consumers.LiveConsumer``) on this
    thread, with the cookies, session and user the socket's handshake would
    carry; each reply crosses JSON, and a diff is applied to the HTML held,
    as djust.js does. Only the asynchronous wrapper (the ASGI server, the
    channel layer) is left out; ``push()`` renders at once, and the pushes
    are kept in ``pushed`` (replies, oldest first).

        live = LiveViewTestClient(transport=SocketTransport(client))
    """

    def __init__(self, client) -> None:
        self.client = client
        self.http = HttpTransport(client)
        self.sockets: dict[str, Any] = {}     # view id -> consumer
        self.pushed: list[Reply] = []

    def mount(self, path: str, data: dict | None, follow: bool,
              extra: dict[str, Any]) -> Reply:
        reply = self.http.mount(path, data, follow, extra)
        if reply.status != 200 or reply.error:
            return reply
        socket = _test_socket(self, self._scope())
        with capture_queries() as queries:
            answer = self._call(socket, socket._join, {
                "t": "join", "path": reply.url, "id": reply.view_id,
                "csrf": reply.csrf_token, "diff": True})
        reply.queries.extend(queries)
        if answer[0].status != 200:
            return answer[0]
        socket.held = reply.html
        self.sockets[reply.view_id] = socket
        return reply

    def send(self, page: LivePage, event: str, params: dict[str, Any]) -> Reply:
        from djust.live import check_event, read_json

        socket = self.sockets[page.view_id]
        with capture_queries() as queries:
            try:
                # Through JSON, as the browser's message travels.
                payload = check_event(read_json(json.dumps(
                    {"event": event, "params": params})), with_id=False)
                replies = self._call(socket, socket._event, None, payload)
            except Exception as exc:
                replies = [_refusal(exc)]
        replies[0].queries = queries
        return replies[0]

    def _call(self, socket, step, *args) -> list[Reply]:
        from djust.consumers import Refused
        from djust.live import BadEvent

        try:
            result, groups = step(*args)
        except (BadEvent, Refused) as exc:
            return [_refusal(exc)]
        socket.joined_groups = set(groups)
        messages = result if isinstance(result, list) else [result]
        return [socket.reply(message) for message in messages]

    def _scope(self) -> dict[str, Any]:
        from django.conf import settings
        from django.contrib.auth import get_user
        from django.http import HttpRequest

        cookies = "; ".join(f"{name}={morsel.value}"
                            for name, morsel in self.client.cookies.items())
        scope: dict[str, Any] = {
            "type": "websocket", "scheme": "ws", "path": "/", "root_path": "",
            "headers": [(b"host", b"testserver"), (b"origin", b"http://testserver"),
                        (b"cookie", cookies.encode("latin1"))],
            "client": ("127.0.0.1", 0), "server": ("testserver", 80)}
        if "django.contrib.sessions" in settings.INSTALLED_APPS:
            from importlib import import_module

            store = import_module(settings.SESSION_ENGINE).SessionStore
            key = self.client.cookies.get(settings.SESSION_COOKIE_NAME)
            scope["session"] = store(key.value if key else None)
            if "django.contrib.auth" in settings.INSTALLED_APPS:
                holder = HttpRequest()
                holder.session = scope["session"]
                scope["user"] = get_user(holder)
        return scope


def _refusal(exc: Exception) -> Reply:
    return Reply(status=getattr(exc, "status", 400), error=str(exc))


def _test_socket(transport: SocketTransport, scope: dict[str, Any]):
    from djust.consumers import LiveConsumer

    class TestSocket(LiveConsumer):
        held: str | None = None         # the inner HTML the page holds
        held_state: str = "{}"          # the state's JSON text it holds

        def schedule_push(self) -> bool:
            if self.view is None:
                return False
            if self.event_thread == threading.get_ident():
                return True
            message, _groups = self._rerender(None, None)
            transport.pushed.append(self.reply(message))
            return True

        def reply(self, message: dict[str, Any]) -> Reply:
            from djust.diff import apply_render

            message = json.loads(json.dumps(message, cls=_state_encoder()))
            if message["t"] == "joined":
                return Reply(status=200)
            if message["t"] == "error":
                return Reply(status=message["status"], error=message["message"])
            self.held, self.held_state = apply_render(self.held, self.held_state, message)
            return Reply(status=200, html=self.held, state=json.loads(self.held_state),
                         stats=message.get("stats"))

    socket = TestSocket()
    socket.scope = scope
    socket.view = socket.view_id = socket.request = socket.sent = socket.sent_state = None
    socket.diffs = False
    socket.joined_groups = set()
    socket.event_thread = None
    socket.closed = False
    return socket


def _state_encoder():
    from djust.context import StateEncoder

    return StateEncoder


def _body_text(response) -> str:
    text = response.content.decode(response.charset or "utf-8", errors="replace").strip()
    return text if len(text) <= 2000 else text[:2000] + "..."


def _handlers_at(url: str) -> list[str] | None:
    """The ``@event_handler`` names of the LiveView served at ``url``."""
    from django.urls import Resolver404, resolve

    try:
        match = resolve(urlsplit(url).path)
    except Resolver404:
        return None
    view_class = getattr(match.func, "view_class", None)
    handlers = getattr(view_class, "_djust_handlers", None)
    return sorted(handlers) if handlers is not None else None


# -- the client and its pages ------------------------------------------------

class LiveViewTestClient:
    """Mounts LiveViews and sends them events as the page's script would.

    ``client``: a ``django.test.Client`` (logged in, with headers...); by
    default a new one that enforces CSRF checks, as a browser meets them.
    ``transport``: how pages and events travel (default ``HttpTransport``).
    ``page`` is the page the last call returned.
    """

    def __init__(self, client=None, *, transport: Transport | None = None) -> None:
        if client is None:
            from django.test import Client

            client = Client(enforce_csrf_checks=True)
        self.client = client
        self.transport = transport if transport is not None else HttpTransport(client)
        self.page: LivePage | None = None

    def get(self, path: str, data: dict | None = None, *, follow: bool = False,
            **extra: Any) -> LivePage:
        """GET ``path``: mount its LiveView. A page that is not a LiveView,
        or an answer other than 200, fails with what the server said."""
        reply = self.transport.mount(path, data, follow, extra)
        if reply.status != 200 or reply.error:
            raise AssertionError(f"GET {reply.url or path} answered {reply.status}: "
                                 f"{reply.error}")
        self.page = LivePage(self, reply)
        return self.page

    mount = get

    def event(self, event: str, params: dict[str, Any] | None = None, /, *,
              expect_error: bool | str = False, **more: Any) -> LivePage:
        """Send ``event`` from the last page (see ``LivePage.event``)."""
        return self._current().event(event, params, expect_error=expect_error, **more)

    def click(self, event: str, /, *, expect_error: bool | str = False,
              **params: Any) -> LivePage:
        return self._current().click(event, expect_error=expect_error, **params)

    def change(self, event: str, value: Any, /, *, expect_error: bool | str = False,
               **params: Any) -> LivePage:
        return self._current().change(event, value, expect_error=expect_error, **params)

    def submit(self, event: str, values: dict[str, Any] | None = None, /, *,
               expect_error: bool | str = False, **more: Any) -> LivePage:
        return self._current().submit(event, values, expect_error=expect_error, **more)

    def _current(self) -> LivePage:
        if self.page is None:
            raise AssertionError("no page yet: call get(path) to mount a view first")
        return self.page


class LivePage:
    """One state of a mounted view, as the browser has it.

    ``url``, ``status`` (200, or the refusal's status with ``expect_error``),
    ``html`` (the dj-root element's inner HTML), ``document`` (the whole page;
    on the mount only), ``state`` (the browser's JSON state), ``stats`` (the
    server's render stats; events only), ``error`` (a refusal's message),
    ``view_id``, ``csrf_token``, ``captured_queries`` (``{"sql", "time",
    "alias"}`` of the request) and ``queries`` (their number).
    """

    def __init__(self, live: LiveViewTestClient, reply: Reply, *,
                 before: LivePage | None = None, event: str | None = None) -> None:
        self.live = live
        self.event_name = event
        self.status = reply.status
        self.error = reply.error
        self.stats = reply.stats
        self.response = reply.response
        self.captured_queries = reply.queries
        if before is None:
            self.url, self.view_id, self.csrf_token = reply.url, reply.view_id, reply.csrf_token
            self.document = reply.document
        else:
            self.url, self.view_id, self.csrf_token = before.url, before.view_id, before.csrf_token
            self.document = None
        # A refused event changes nothing on the page.
        self.html = reply.html if reply.html is not None else before.html
        self.state = reply.state if reply.state is not None else before.state
        self._tree: Element | None = None

    def __repr__(self) -> str:
        what = f"event {self.event_name!r}" if self.event_name else "GET"
        return f"<LivePage {what} {self.url} {self.status}, {self.queries} queries>"

    @property
    def queries(self) -> int:
        return len(self.captured_queries)

    # -- events ----------------------------------------------------------
    def event(self, event: str, params: dict[str, Any] | None = None, /, *,
              expect_error: bool | str = False, **more: Any) -> LivePage:
        """Send ``event`` with ``params`` (a dict and/or keywords) to the view;
        return the new page. Values go as they are: the browser sends
        strings (from ``data-*`` and form fields), which the handler's
        annotations convert.

        A refusal fails the test with the server's message unless
        ``expect_error`` is true (or a text the message must contain): then
        the returned page has ``status`` and ``error`` and this page's HTML
        and state. ``expect_error`` with an accepted event fails too.
        """
        params = {**(params or {}), **more}
        reply = self.live.transport.send(self, event, params)
        if reply.status == 200:
            if expect_error:
                raise AssertionError(
                    f"event {event!r} {params!r} was expected to be refused, but {self.url} "
                    "answered 200")
            page = LivePage(self.live, reply, before=self, event=event)
        else:
            message = reply.error or ""
            if not expect_error:
                raise AssertionError(
                    f"event {event!r} {params!r} refused by {self.url} ({reply.status}): "
                    f"{message}{self._handlers_hint(message)}")
            if isinstance(expect_error, str) and expect_error not in message:
                raise AssertionError(
                    f"event {event!r} was refused ({reply.status}) with {message!r}, "
                    f"which does not contain {expect_error!r}")
            page = LivePage(self.live, reply, before=self, event=event)
        self.live.page = page
        return page

    def _handlers_hint(self, message: str) -> str:
        if "no event handler" not in message and "is not an @event_handler" not in message:
            return ""
        handlers = _handlers_at(self.url)
        return f" (its handlers: {', '.join(handlers) or 'none'})" if handlers is not None else ""

    def click(self, event: str, /, *, expect_error: bool | str = False,
              **params: Any) -> LivePage:
        """Send ``event`` as a ``dj-click`` would: the page must have an
        element with ``dj-click="event"``; ``params`` are sent as given (use
        ``element(selector).click()`` to send an element's ``data-*``)."""
        self._require("dj-click", event)
        return self.event(event, params, expect_error=expect_error)

    def change(self, event: str, value: Any, /, *, expect_error: bool | str = False,
               **params: Any) -> LivePage:
        """Send ``event`` as the one ``[dj-change=event]`` control would with
        ``value``: its ``data-*`` parameters, ``params`` and ``value``."""
        control = self._require("dj-change", event, one=True)
        return control.change(value, expect_error=expect_error, **params)

    def submit(self, event: str, values: dict[str, Any] | None = None, /, *,
               expect_error: bool | str = False, **more: Any) -> LivePage:
        """Submit the one ``form[dj-submit=event]`` with ``values`` over the
        values it was rendered with (``Element.submit``)."""
        form = self._require("dj-submit", event, one=True)
        return form.submit(values, expect_error=expect_error, **more)

    def _require(self, attribute: str, event: str, *, one: bool = False) -> Element:
        found = [e for e in self.tree.iter() if e.attrs.get(attribute) == event]
        if not found:
            present = sorted({e.attrs[attribute] for e in self.tree.iter()
                              if attribute in e.attrs})
            raise AssertionError(
                f"the page has no element with {attribute}={event!r}; {attribute} events on "
                f"the page: {', '.join(present) or 'none'}")
        if one and len(found) > 1:
            raise AssertionError(
                f"{len(found)} elements have {attribute}={event!r}: pick one with "
                f"page.element(selector)")
        return found[0]

    # -- HTML --------------------------------------------------------------
    @property
    def tree(self) -> Element:
        """The dj-root element's content, parsed (``#root`` element)."""
        if self._tree is None:
            self._tree = parse_html(self.html, self)
        return self._tree

    @property
    def text(self) -> str:
        """The dj-root element's text, white space collapsed."""
        return self.tree.text

    def elements(self, selector: str) -> list[Element]:
        return self.tree.select(selector)

    def element(self, selector: str) -> Element:
        """The one element matching ``selector`` (fails on none or several)."""
        return self.tree.select_one(selector)

    def has_element(self, selector: str, text: str | None = None) -> bool:
        """Whether an element matches ``selector`` (and contains ``text``)."""
        return any(text is None or text in element.text for element in self.elements(selector))

    # -- assertions --------------------------------------------------------
    def assert_contains(self, text: str, count: int | None = None, *,
                        html: bool = False) -> None:
        """``text`` is in the dj-root's HTML (``count`` times); ``html=True``
        compares parsed HTML, as Django's ``assertContains`` does."""
        found = self._count(text, html)
        if (found == 0 and count is None) or (count is not None and found != count):
            wanted = "at least once" if count is None else f"{count} time(s)"
            raise AssertionError(f"{text!r} found {found} time(s) in the page, expected "
                                 f"{wanted}; the page:\n{_shorten(self.html)}")

    def assert_not_contains(self, text: str, *, html: bool = False) -> None:
        found = self._count(text, html)
        if found:
            raise AssertionError(f"{text!r} found {found} time(s) in the page; the page:\n"
                                 f"{_shorten(self.html)}")

    def _count(self, text: str, html: bool) -> int:
        if not html:
            return self.html.count(text)
        from django.test.html import parse_html as django_parse_html

        return django_parse_html(self.html).count(django_parse_html(text))

    def assert_num_queries(self, expected: int) -> None:
        """The request that made this page ran exactly ``expected`` queries."""
        if self.queries != expected:
            raise AssertionError(f"{self.queries} queries, expected {expected}:\n"
                                 f"{self.queries_text()}")

    def assert_max_queries(self, limit: int) -> None:
        """The request that made this page ran at most ``limit`` queries."""
        if self.queries > limit:
            raise AssertionError(f"{self.queries} queries, expected at most {limit}:\n"
                                 f"{self.queries_text()}")

    def queries_text(self) -> str:
        return "\n".join(f"{number}. [{query['alias']}] {query['sql']}"
                         for number, query in enumerate(self.captured_queries, 1))


def _shorten(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
