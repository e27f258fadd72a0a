"""A page driven over the WebSocket ends where the same page driven over the
HTTP POST ends: after every event of a random sequence (inserts, removals,
reorders and edits of rows holding any text, astral characters and markup
included; pushes from outside between events), the socket transport's HTML
(rebuilt from diffs against the HTML it held) and state equal the POST's.

Both sides run through djust.testing's LiveViewTestClient: HttpTransport
posts as djust.js does over HTTP, SocketTransport joins through the consumer
and applies each diff as djust.js does over the socket.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import path
from hypothesis import given
from hypothesis import strategies as st

from djust import LiveView, event_handler
from djust.testing import HttpTransport, LiveViewTestClient

pytest.importorskip("channels", reason="channels comes with the live extra "
                                       "(python3 run.py test installs it)")

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


class Rows(LiveView):
    template = """<main dj-root><h1 title="{{ title }}">{{ title }}</h1>
<ul>{% for row in rows %}<li dj-key="{{ forloop.counter }}"><b>{{ row }}</b>
{% if row|length > 3 %}<i>{{ row|upper }}</i>{% endif %}</li>
{% empty %}<li>none</li>{% endfor %}</ul><p>{{ rows|length }}</p></main>"""

    def mount(self, request):
        self.title = "rows"
        self.rows = ["a", "b", "c"]

    @event_handler
    def insert(self, at: int, text: str):
        self.rows.insert(at, text)

    @event_handler
    def remove(self, at: int):
        if self.rows:
            del self.rows[at % len(self.rows)]

    @event_handler
    def edit(self, at: int, text: str):
        if self.rows:
            self.rows[at % len(self.rows)] = text

    @event_handler
    def reverse(self):
        self.rows.reverse()

    @event_handler
    def retitle(self, text: str):
        self.title = text


urlpatterns = [path("rows/", Rows.as_view())]

texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12) | \
    st.sampled_from(["<b>", "&amp;", "\U0001f600\U0001f600", "é", "a\nb", "</li>"])
events = st.one_of(
    st.tuples(st.just("insert"), st.fixed_dictionaries({"at": st.integers(0, 6),
                                                        "text": texts})),
    st.tuples(st.just("remove"), st.fixed_dictionaries({"at": st.integers(0, 6)})),
    st.tuples(st.just("edit"), st.fixed_dictionaries({"at": st.integers(0, 6),
                                                      "text": texts})),
    st.tuples(st.just("reverse"), st.just({})),
    st.tuples(st.just("retitle"), st.fixed_dictionaries({"text": texts})),
    st.tuples(st.just("push"), st.fixed_dictionaries({"text": texts})),
)


@given(st.lists(events, min_size=1, max_size=12))
def test_the_socket_ends_where_the_post_ends(sequence):
    from djust.testing import SocketTransport

    http = LiveViewTestClient(Client(enforce_csrf_checks=True))
    browser = Client(enforce_csrf_checks=True)
    transport = SocketTransport(browser)
    socket = LiveViewTestClient(browser, transport=transport)
    over_http, over_socket = http.get("/rows/"), socket.get("/rows/")
    assert isinstance(http.transport, HttpTransport)
    for name, params in sequence:
        if name == "push":
            # A push from outside: over HTTP the next event shows it; the
            # socket sends it at once, as a diff the page applies.
            view = transport.sockets[over_socket.view_id].view
            view.rows.append(params["text"])
            assert view.push() is True
            pushed = transport.pushed[-1]
            over_http = over_http.event("insert", at=99, text=params["text"])
            assert pushed.html == over_http.html and pushed.state == over_http.state
            over_socket.html, over_socket.state = pushed.html, pushed.state
            continue
        over_http = over_http.event(name, params)
        over_socket = over_socket.event(name, params)
        assert over_socket.html == over_http.html
        assert over_socket.state == over_http.state
