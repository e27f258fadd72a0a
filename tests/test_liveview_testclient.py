"""djust.testing.LiveViewTestClient (issue #21, item 7): mount a LiveView,
send it events, assert on its HTML, state and queries, without a browser."""

import re

import pytest
from django.contrib.auth.models import User
from django.urls import path

from djust import LiveView, conf, event_handler
from djust.testing import HttpTransport, LiveViewTestClient, Reply, parse_html
from examples import urls as example_urls
from examples.rentals.models import Lease, Property, Tenant
from examples.rentals.seed import seed


class Counter(LiveView):
    template = """<main dj-root>
<p id="count">{{ count }}</p><p id="step">{{ step }}</p><p id="loud">{{ loud }}</p>
<button dj-click="increment" data-by="5" id="five">+5</button>
<button dj-click="increment" data-by="1" data-djust-skip="x"><span id="one">+1</span></button>
<button dj-click="reset">Reset</button>
<input dj-change="set_step" name="step" value="{{ step }}">
<input type="checkbox" dj-change="toggle" data-flag-name="loud"{% if loud %} checked{% endif %}>
<form dj-submit="save" id="edit">
  <input name="title" value="{{ title }}"><textarea name="notes">{{ notes }}</textarea>
  <select name="size"><option value="s">S</option><option value="m" selected>M</option></select>
  <input type="checkbox" name="urgent" value="yes">
  <input type="hidden" name="csrfmiddlewaretoken" value="x">
  <button type="submit">Save</button>
</form>
<p id="saved">{{ saved }}</p>
<ul>{% for item in items %}<li dj-key="{{ item }}">{{ item }}</li>{% endfor %}</ul>
</main>"""

    def mount(self, request):
        self.count, self.step, self.loud = 0, 1, False
        self.title, self.notes, self.saved, self.items = "draft", "", "", []

    @event_handler
    def increment(self, by: int = 1):
        self.count += by

    @event_handler
    def reset(self):
        self.count = 0

    @event_handler
    def set_step(self, value: int):
        self.step = value

    @event_handler
    def toggle(self, flagName: str, value: bool):  # data-flag-name, as dataset names it
        self.loud = value if flagName == "loud" else None

    @event_handler
    def save(self, title: str, size: str, notes: str = "", urgent: bool = False):
        self.title = title
        self.saved = f"{title}|{notes}|{size}|{urgent}"

    @event_handler
    def add(self, names: list[str]):
        self.items = [*self.items, *names]

    @event_handler
    def crash(self):
        raise RuntimeError("the handler broke")


class Leases(LiveView):
    """One query whatever the number of rows: the plan joins the tenants."""

    template = """<main dj-root><h1>{{ who }}</h1>
{% for lease in leases %}<li>{{ lease.tenant.user.email }}</li>{% endfor %}</main>"""

    def mount(self, request):
        self.who = request.user.username if request.user.is_authenticated else "anonymous"
        self.leases = Lease.objects.order_by("id")[:5]

    @event_handler
    def more(self, count: int):
        self.leases = Lease.objects.order_by("id")[:count]


class LazyTenants(LiveView):
    """Rendered without the JIT: ``{{ t }}`` reads ``t.user`` in ``__str__``."""

    jit = False
    template = "<main dj-root>{% for t in tenants %}{{ t }};{% endfor %}</main>"

    def mount(self, request):
        self.tenants = Tenant.objects.order_by("id")[:3]


urlpatterns = [
    *example_urls.urlpatterns,
    path("counter/", Counter.as_view()),
    path("leases-live/", Leases.as_view()),
    path("lazy/", LazyTenants.as_view()),
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.fixture
def rentals():
    seed(scale=0.02)


@pytest.fixture(params=["http", "socket"])
def live(request):
    """Every test of a page runs over both transports (djust.js's two)."""
    if request.param == "http":
        return LiveViewTestClient()
    pytest.importorskip("channels", reason="channels comes with the live extra")
    from django.test import Client

    from djust.testing import SocketTransport

    client = Client(enforce_csrf_checks=True)
    return LiveViewTestClient(client, transport=SocketTransport(client))


def shown_queries(html: str) -> tuple[int, int]:
    return (int(re.search(r'data-queries="(\d+)"', html).group(1)),
            int(re.search(r'data-queries-off="(\d+)"', html).group(1)))


# -- the rentals dashboard ----------------------------------------------------

def test_mount_shows_the_dashboard_its_state_and_its_queries(rentals, live):
    page = live.get("/")
    assert page.status == 200 and page.url == "/" and live.page is page
    assert page.elements("h2")[0].text == "Leases expiring soon (active, by end_date)"
    assert page.state["status"] == "active" and page.state["sort"] == "end_date"
    assert page.view_id and page.csrf_token and page.stats is None
    assert "<main" not in page.html and "djust-state" in page.document
    # mount()'s cities query, then the render with djust and the JIT-off one
    # the demo shows next to it.
    with_djust, without = shown_queries(page.html)
    page.assert_num_queries(1 + with_djust + without)
    assert all(query["alias"] == "default" for query in page.captured_queries)


def test_events_update_the_page_and_the_state_carries_between_them(rentals, live):
    page = live.get("/").click("filter_status", status="expired")
    assert page.elements("h2")[0].text == "Leases expiring soon (expired, by end_date)"
    assert page.state["status"] == "expired" and page.event_name == "filter_status"
    page = page.element("[dj-click=sort_by][data-column=-monthly_rent]").click()
    # The status set by the first event is still the view's.
    assert page.elements("h2")[0].text == "Leases expiring soon (expired, by -monthly_rent)"
    rents = [lease["monthly_rent"] for lease in page.state["expiring_leases"]]
    assert rents == sorted(rents, reverse=True)
    assert page.stats["queries"] == shown_queries(page.html)[0]


def test_change_sends_the_selects_value(rentals, live):
    city = Property.objects.order_by("city").values_list("city", flat=True).first()
    page = live.get("/").change("filter_city", city)
    assert page.has_element("h2", f"Properties in {city}")
    assert page.element(f'select[name=city] option[value="{city}"]').get("selected") == ""
    shown = {article.select_one("h3").text for article in page.elements("article")}
    assert shown == set(Property.objects.filter(city=city).values_list("name", flat=True))


def test_an_events_queries_are_counted_like_the_mounts(rentals, live):
    page = live.get("/")
    after = page.click("filter_status", status="pending")
    with_djust, without = shown_queries(after.html)
    # load()'s cities query, then the two renders.
    after.assert_num_queries(1 + with_djust + without)
    assert after.stats["queries"] == with_djust <= shown_queries(page.html)[0]
    with pytest.raises(AssertionError, match=r"queries, expected at most 0:\n1\. \[default\] "):
        after.assert_max_queries(0)


# -- events, parameters and the page's elements --------------------------------

def test_typed_parameters_from_data_attributes_and_controls(live):
    page = live.get("/counter/")
    page = page.element("#five").click()          # data-by="5" arrives as "5": int
    assert page.element("#count").text == "5"
    page = page.element("#one").click()           # the span's closest [dj-click]
    assert page.element("#count").text == "6"
    page = page.change("set_step", "3")
    assert page.state["step"] == 3 and page.element("#step").text == "3"
    page = page.element("input[dj-change=toggle]").change(True)
    assert page.element("#loud").text == "True"
    assert page.element("input[dj-change=toggle]").get("checked") == ""
    page = page.event("add", names=["a", "b"]).event("add", {"names": ["c"]})
    assert [li.text for li in page.elements("ul > li")] == ["a", "b", "c"]
    assert page.element("#count").text == "6"


def test_submit_sends_the_forms_values_overridden(live):
    page = live.get("/counter/").submit("save", {"notes": "leak"}, urgent=True)
    assert page.element("#saved").text == "draft|leak|m|True"
    page = page.element("form#edit").submit(title="roof", size="s")
    assert page.element("#saved").text == "roof||s|False"
    assert page.element("input[name=title]").get("value") == "roof"
    with pytest.raises(AssertionError, match=r"has no field 'colour'; its fields: .*title"):
        page.submit("save", colour="red")


def test_click_needs_an_element_with_that_event(live):
    page = live.get("/counter/")
    with pytest.raises(AssertionError, match="no element with dj-click='nope'; dj-click "
                                             "events on the page: increment, reset"):
        page.click("nope")
    with pytest.raises(AssertionError, match="2 elements match 'button\\[dj-click=increment\\]'"):
        page.element("button[dj-click=increment]")
    assert live.click("reset").element("#count").text == "0"


def over_socket(live) -> bool:
    return type(live.transport).__name__ == "SocketTransport"


def test_handler_errors_reach_the_test(live, caplog):
    page = live.get("/counter/")
    if not over_socket(live):
        with pytest.raises(RuntimeError, match="the handler broke"):
            page.event("crash")
        return
    # Over the socket, the page gets the 500 the socket answers; the log has
    # the exception.
    failed = page.event("crash", expect_error="server error")
    assert failed.status == 500 and failed.html == page.html
    assert "the handler broke" in caplog.text


# -- refusals ------------------------------------------------------------------

def test_unknown_event_names_the_views_handlers(live):
    page = live.get("/counter/")
    with pytest.raises(AssertionError) as caught:
        page.event("nope")
    message = str(caught.value)
    assert "refused by /counter/ (400): Counter has no event handler 'nope'" in message
    assert "(its handlers: add, crash, increment, reset, save, set_step, toggle)" in message


def test_a_bad_parameter_fails_with_the_servers_message(live):
    page = live.get("/counter/")
    with pytest.raises(AssertionError, match="parameter 'by' must be int, got 'many'"):
        page.event("increment", by="many")


def test_expect_error_returns_the_refusal_and_keeps_the_page(live):
    page = live.get("/counter/").event("increment", by=2)
    refused = page.event("increment", {"by": "x"}, expect_error="must be int")
    assert refused.status == 400 and "must be int" in refused.error
    assert refused.html == page.html and refused.state == page.state
    # Nothing changed on the server: the next event starts from count 2.
    assert refused.event("increment").element("#count").text == "3"
    with pytest.raises(AssertionError, match="does not contain 'no such text'"):
        page.event("increment", by="x", expect_error="no such text")
    with pytest.raises(AssertionError, match="expected to be refused, but /counter/ answered 200"):
        page.event("increment", expect_error=True)


def test_csrf_failure_is_a_refusal(live, monkeypatch):
    if over_socket(live):
        # The socket checks the token once, when the page joins.
        get_page = HttpTransport.mount

        def with_a_wrong_token(self, *args):
            reply = get_page(self, *args)
            reply.csrf_token = "wrong" * 8
            return reply

        monkeypatch.setattr(HttpTransport, "mount", with_a_wrong_token)
        with pytest.raises(AssertionError, match=r"answered 403: CSRF check failed"):
            live.get("/counter/")
        return
    page = live.get("/counter/")
    page.csrf_token = "wrong" * 8
    refused = page.event("reset", expect_error=True)
    assert refused.status == 403


def test_a_page_that_is_not_a_liveview_fails_the_mount(rentals, live):
    with pytest.raises(AssertionError, match="GET /leases/ answered 200: not a LiveView page"):
        live.get("/leases/")
    with pytest.raises(AssertionError, match="GET /missing/ answered 404"):
        live.get("/missing/")
    with pytest.raises(AssertionError, match="no page yet"):
        LiveViewTestClient().event("reset")


# -- queries -----------------------------------------------------------------

def test_query_counts_do_not_grow_with_the_rows(rentals, live):
    page = live.get("/leases-live/")
    page.assert_num_queries(1)
    emails = [lease.tenant.user.email
              for lease in Lease.objects.select_related("tenant__user").order_by("id")[:40]]
    assert [li.text for li in page.elements("li")] == emails[:5]
    more = page.event("more", count="40")
    more.assert_num_queries(1)
    assert [li.text for li in more.elements("li")] == emails
    with pytest.raises(AssertionError, match=r"1 queries, expected 2:\n1\. \[default\] SELECT"):
        more.assert_num_queries(2)


def test_strict_fixture_still_works_with_the_client(rentals, live, djust_strict):
    assert conf.get("STRICT") is True
    # The planned views mount and answer events in strict mode as before.
    live.get("/leases-live/").event("more", count=3).assert_num_queries(1)
    page = live.get("/").click("filter_status", status="expired")
    assert page.elements("h2")[0].text == "Leases expiring soon (expired, by end_date)"


@pytest.mark.djust_strict
def test_strict_marker_still_works_with_the_fixture(rentals, live_client):
    assert conf.get("STRICT") is True
    live_client.get("/leases-live/").assert_num_queries(1)


def test_without_strict_the_lazy_page_costs_a_query_per_row(rentals, live):
    page = live.get("/lazy/")
    page.assert_num_queries(1 + 3)
    assert page.text.count(";") == 3


# -- the fixture, the HTML helpers and the transport ------------------------------

def test_live_client_fixture_uses_pytest_djangos_client(rentals, live_client, client):
    assert live_client.client is client
    client.force_login(User.objects.create_user("ana", password="x"))
    page = live_client.get("/leases-live/")
    assert page.element("h1").text == "ana"
    assert live_client.event("more", count=1).element("h1").text == "ana"


def test_html_assertions(live):
    page = live.get("/counter/")
    page.assert_contains('<p id="count">0</p>', count=1)
    page.assert_contains('<p id="count">\n0\n</p>', html=True)
    page.assert_not_contains("secret")
    with pytest.raises(AssertionError, match="'Reset' found 1 time\\(s\\) in the page, "
                                             "expected 2 time\\(s\\)"):
        page.assert_contains("Reset", count=2)
    with pytest.raises(AssertionError, match="'draft' found 1 time"):
        page.assert_not_contains("draft")
    assert page.has_element("button", "Reset") and not page.has_element("button", "Undo")
    assert page.text.startswith("01False +5 +1 Reset")


def test_selectors():
    tree = parse_html('<div id="a" class="x y"><p data-k="v w">one</p><span><p>two</p>'
                      "</span></div><p lang=en-GB>three")
    assert [e.text for e in tree.select("div > p")] == ["one"]
    assert [e.text for e in tree.select("#a p")] == ["one", "two"]
    assert [e.text for e in tree.select(".y [data-k~=w], [lang|=en]")] == ["one", "three"]
    assert [e.text for e in tree.select("[data-k^=v]")] == ["one"]
    assert tree.select("div.z") == [] and tree.select("*")[0].tag == "div"
    with pytest.raises(ValueError, match="unsupported CSS selector 'p:first-child'"):
        tree.select("p:first-child")


class Recording(HttpTransport):
    def __init__(self, client):
        super().__init__(client)
        self.sent = []

    def send(self, page, event, params):
        self.sent.append((page.view_id, event, params))
        return super().send(page, event, params)


def test_a_transport_slots_in(live):
    from django.test import Client

    transport = Recording(Client())
    page = LiveViewTestClient(transport=transport).get("/counter/").element("#five").click()
    assert transport.sent == [(page.view_id, "increment", {"by": "5"})]
    assert page.element("#count").text == "5"


class Canned:
    """A transport without Django's client: what a WebSocket one returns."""

    def mount(self, path, data, follow, extra):
        return Reply(status=200, url=path, view_id="v1", csrf_token="t",
                     html='<button dj-click="go" data-n="1">go</button>', state={"n": 0})

    def send(self, page, event, params):
        return Reply(status=200, html=f"<p>{event} {params['n']}</p>", state=params,
                     queries=[{"sql": "SELECT 1", "time": "0", "alias": "ws"}])


def test_pages_do_not_depend_on_the_transport():
    page = LiveViewTestClient(client=object(), transport=Canned()).get("/x/")
    page = page.element("button").click()
    assert page.element("p").text == "go 1" and page.state == {"n": "1"}
    assert page.queries == 1 and page.url == "/x/" and page.view_id == "v1"
