"""What reaches the browser state (issue #18, items 1, 4, 8, 9): every
value cut to the paths the template reads; the generic fallback sends only
those paths; lazy and unencodable values never fail the page; templates
too extreme to compile render through the fallback."""

import dataclasses
import datetime
import json
import logging

import pytest
from django.contrib.auth.models import User
from django.template import engines
from django.test import Client
from django.urls import path

from djust import LiveView, event_handler
from djust.compiler import extract_template_variables
from djust.compiler.paths import branch_paths
from djust.context import StateEncoder, browser_state, cut_value, serialize_context
from djust.html import root_inner_html
from examples.rentals.models import Lease, Property
from examples.rentals.seed import seed
from tests.test_liveview import page_state, post_event, view_attrs

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@dataclasses.dataclass
class Point:
    x: int
    y: int
    secret: str = "dataclass-secret"


class ConfigPage(LiveView):
    template = ("<main dj-root>{{ cfg.public }}|{% for r in rows %}{{ r.name }}{% endfor %}"
                "|{{ point.x }}</main>")

    def mount(self, request, **kwargs):
        self.cfg = {"public": "shown", "stripe_secret": "sk_live_1"}
        # Secrets long enough that a random view id or token cannot hold them.
        self.rows = [{"name": "a", "token": "tok_secret_1"}, {"name": "b", "token": "tok_secret_2"}]
        self.point = Point(1, 2)
        self.hidden = Point(3, 4)

    @event_handler
    def rename(self, name: str):
        self.cfg = {"public": name, "stripe_secret": "sk_live_2"}


class UserRows(LiveView):
    template = ("<main dj-root>{% for u in users %}<i>{{ u.username }}</i>{% endfor %}"
                "{% for n in names %}{{ n.0 }}{% endfor %}{{ users.count }}</main>")

    def mount(self, request, **kwargs):
        self.users = User.objects.order_by("id").values()
        self.names = User.objects.order_by("id").values_list("username", "password")


class Displayed(LiveView):
    template = "<main dj-root>{{ point }}|{{ point.x }}|{{ lease }}</main>"

    def mount(self, request, **kwargs):
        self.point = Point(5, 6)
        self.lease = Lease.objects.order_by("id").first()


class NoJitLeases(LiveView):
    jit = False
    template = "<main dj-root>{% for l in leases %}{{ l.status }}{% endfor %}</main>"

    def mount(self, request, **kwargs):
        self.leases = Lease.objects.order_by("id")


class LazyUser(LiveView):
    template = "<main dj-root>{{ me.username }}|{{ user.username }}</main>"

    def mount(self, request, **kwargs):
        self.me = request.user
        self.user = request.user

    @event_handler
    def noop(self):
        pass


AWARE = "<main dj-root>{{ t }}|{{ s }}|{{ o }}|{% for x in s %}{{ x }}{% endfor %}</main>"


class Opaque:
    def __str__(self):
        return "opaque"


class Unencodable(LiveView):
    template = AWARE

    def mount(self, request, **kwargs):
        self.t = datetime.time(10, 30, tzinfo=datetime.UTC)
        self.s = {3}
        self.o = Opaque()


DEEP = "{{ p." + ".".join(["x"] * 400) + " }}"
LOOPS = ("{% for a in props %}" + "".join(
    f"{{% for l{i} in props %}}" for i in range(50)) + "{{ a.name }}" + "{% endfor %}" * 51)


class Extreme(LiveView):
    template = f"<main dj-root>{DEEP}|{LOOPS}|{{{{ lease.{'.'.join(['tenant'] * 400)} }}}}</main>"

    def mount(self, request, **kwargs):
        self.p = {"x": "leaf"}
        self.props = Property.objects.order_by("id")[:1]
        self.lease = Lease.objects.order_by("id").first()


class ExtremeNoJit(Extreme):
    jit = False


urlpatterns = [
    path("config/", ConfigPage.as_view()),
    path("users/", UserRows.as_view()),
    path("displayed/", Displayed.as_view()),
    path("nojit/", NoJitLeases.as_view()),
    path("lazy/", LazyUser.as_view()),
    path("unencodable/", Unencodable.as_view()),
    path("extreme/", Extreme.as_view()),
    path("extreme-nojit/", ExtremeNoJit.as_view()),
]


@pytest.fixture
def rentals():
    seed(scale=0.01)


# -- item 1: every value is cut to the paths read -------------------------

def test_dicts_lists_of_dicts_and_objects_are_cut():
    client = Client(enforce_csrf_checks=True)
    content = client.get("/config/").content.decode()
    assert "shown|ab|1" in content
    assert page_state(content) == {
        "cfg": {"public": "shown"},
        "rows": [{"name": "a"}, {"name": "b"}],
        "point": {"x": 1},
    }
    for secret in ("sk_live", "tok_secret", "dataclass-secret", "Point("):
        assert secret not in content
    view_id, token = view_attrs(content)
    response = post_event(client, "/config/", view_id, token, "rename", {"name": "new"})
    assert response.status_code == 200
    assert response.json()["state"] == {
        "cfg": {"public": "new"},
        "rows": [{"name": "a"}, {"name": "b"}],
        "point": {"x": 1},
    }
    assert "sk_live" not in response.content.decode()


def test_values_rows_carry_only_the_columns_read(rentals):
    content = Client().get("/users/").content.decode()
    users = list(User.objects.order_by("id"))
    assert users
    state = page_state(content)
    assert state == {
        "users": [{"username": u.username} for u in users],
        "names": [{"0": u.username} for u in users],
    }
    assert "password" not in json.dumps(state)
    assert all(u.password not in content for u in users)


def test_sensitive_columns_never_leave_even_when_read(rentals):
    source = ("{% for n in names %}{{ n.0 }}{{ n.1 }}{% endfor %}"
              "{% for u in users %}{{ u.password }}{% endfor %}")
    extraction = extract_template_variables(source)
    context = {"names": User.objects.order_by("id").values_list("username", "password"),
               "users": User.objects.order_by("id").values("password", "username")}
    serialized = serialize_context(extraction, context, template="t")
    users = list(User.objects.order_by("id"))
    assert browser_state(extraction, context, serialized) == {
        "names": [{"0": u.username, "1": None} for u in users],
        "users": [{} for _ in users],
    }


def test_plain_data_inside_compiled_rows_is_cut():
    from tests.testapp.models import Author

    author = Author.objects.create(name="Ada", profile={"public": 1, "secret": 2})
    source = ("{{ a.profile.public }}{{ a.name }}"
              "{% for x in authors %}{{ x.profile.public }}{% endfor %}{{ authors.count }}")
    extraction = extract_template_variables(source)
    context = {"a": author, "authors": Author.objects.all()}
    serialized = serialize_context(extraction, context, template="t")
    state = json.loads(json.dumps(browser_state(extraction, context, serialized),
                                  cls=StateEncoder))
    assert state == {"a": {"name": "Ada", "profile": {"public": 1}},
                     "authors": [{"profile": {"public": 1}}]}


def test_objects_go_as_text_only_when_displayed(rentals):
    content = Client().get("/displayed/").content.decode()
    lease = Lease.objects.order_by("id").first()
    assert page_state(content) == {
        "point": {"__str__": str(Point(5, 6)), "x": 5},
        "lease": str(lease),
    }


def test_cut_value_follows_djangos_lookups():
    branch = branch_paths(["*.a", "0.b", "", "count"])
    assert cut_value([{"a": 1, "b": 2, "c": 3}, {"a": 4, "b": 5}], branch) == [
        {"a": 1, "b": 2}, {"a": 4}]
    assert cut_value({"k": {"x": 1}}, branch_paths(["k"])) == {"k": {}}
    assert cut_value({"a": 1, "b": 2}, branch_paths(["*"])) == {"*": ["a", "b"]}
    assert cut_value({"a": 1}, branch_paths(["items.*.0"])) == {"items": [{"0": "a"}]}
    # An exception Django raises only where the template evaluates it.
    class Loud:
        @property
        def boom(self):
            raise RuntimeError("loud")
    assert cut_value(Loud(), branch_paths(["boom", "missing"])) == {}


def test_browser_state_helper_matches_the_page():
    extraction = extract_template_variables("{{ cfg.public }}{{ n }}")
    context = {"cfg": {"public": 1, "secret": 2}, "n": 3, "other": 4}
    serialized = serialize_context(extraction, context, template="t")
    assert browser_state(extraction, context, serialized) == {"cfg": {"public": 1}, "n": 3}


# -- item 4: the generic fallback sends only the known paths ---------------

def test_generic_state_has_no_pk_nor_text_unless_read(rentals):
    content = Client().get("/nojit/").content.decode()
    statuses = [lease.status for lease in Lease.objects.order_by("id")]
    assert page_state(content) == {"leases": [{"status": s} for s in statuses]}


# -- item 8: lazy values, values JSON cannot encode ------------------------

def test_a_lazy_user_attribute_renders(rentals):
    client = Client()
    anonymous = client.get("/lazy/")
    assert anonymous.status_code == 200
    user = User.objects.order_by("id").first()
    client.force_login(user)
    response = client.get("/lazy/")
    assert response.status_code == 200
    content = response.content.decode()
    assert f"{user.username}|{user.username}" in content
    # ``user`` is page machinery, never state; ``me`` is cut like the user.
    assert page_state(content) == {"me": {"username": user.username}}
    assert user.password not in content
    view_id, token = view_attrs(content)
    event = post_event(client, "/lazy/", view_id, token, "noop")
    assert event.status_code == 200
    assert event.json()["state"] == {"me": {"username": user.username}}


def test_values_json_cannot_encode_render_like_django():
    response = Client().get("/unencodable/")
    assert response.status_code == 200
    content = response.content.decode()
    expected = engines["django"].from_string(AWARE).render({
        "t": datetime.time(10, 30, tzinfo=datetime.UTC), "s": {3}, "o": Opaque()})
    assert root_inner_html(content) == root_inner_html(expected)
    assert page_state(content) == {"t": "10:30:00+00:00", "s": [3], "o": "opaque"}


# -- item 9: templates too extreme to compile ------------------------------

def test_extreme_templates_render_through_the_fallback(rentals, caplog):
    caplog.set_level(logging.WARNING, logger="djust.context")
    client = Client()
    response = client.get("/extreme/")
    assert response.status_code == 200
    without = client.get("/extreme-nojit/")
    assert root_inner_html(response.content.decode()) == root_inner_html(
        without.content.decode())
    assert Property.objects.order_by("id").first().name in response.content.decode()
