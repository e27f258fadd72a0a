import json
import logging
import re

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from djust.html import root_inner_html
from examples.rentals.models import Lease, Property
from examples.rentals.seed import seed

pytestmark = pytest.mark.django_db


@pytest.fixture
def rentals():
    seed(scale=0.02)


def page_state(content: str) -> dict:
    match = re.search(r'<script type="application/json" id="djust-state">(.*?)</script>',
                      content, re.S)
    assert match, "the page carries its state"
    return json.loads(match.group(1))


def view_attrs(content: str) -> tuple[str, str]:
    view_id = re.search(r'data-djust-id="([^"]+)"', content).group(1)
    token = re.search(r'data-djust-csrf="([^"]+)"', content).group(1)
    return view_id, token


def app_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "rentals_" in q["sql"]
            or "auth_user" in q["sql"]]


def post_event(client, url, view_id, token, event, params=None, body=None):
    data = body if body is not None else json.dumps(
        {"id": view_id, "event": event, "params": params or {}})
    return client.post(url, data=data, content_type="application/json",
                       headers={"X-CSRFToken": token})


def test_page_renders_like_the_live_objects(rentals):
    client = Client()
    with_jit = client.get("/leases/").content.decode()
    without = client.get("/leases-nojit/").content.decode()
    assert root_inner_html(with_jit) == root_inner_html(without)
    emails = [lease.tenant.user.email for lease in Lease.objects.filter(status="active")]
    assert emails and all(email in with_jit for email in emails)


def test_state_holds_only_what_the_template_reads(rentals):
    content = Client().get("/leases/").content.decode()
    state = page_state(content)
    assert set(state) == {"status", "leases", "properties"}
    assert "never sent" not in content
    lease = state["leases"][0]
    # "__str__": {{ leases|length }} uses the collection itself, which shows
    # its elements (docs/serialization.md).
    assert set(lease) == {"__str__", "tenant", "property", "end_date"}
    assert set(lease["tenant"]) == {"user"}
    assert set(lease["tenant"]["user"]) == {"email"}
    assert set(state["properties"][0]) == {"name", "units"}
    assert "password" not in json.dumps(state)


def test_collection_lookups_answer_like_the_queryset(rentals):
    content = Client().get("/leases/").content.decode()
    active = Lease.objects.filter(status="active").order_by("id")
    assert f'<p id="count">{active.count()}</p>' in content
    assert f'<p id="length">{active.count()}</p>' in content
    assert f'<p id="first">{active.first().property.name}</p>' in content


def test_query_count_does_not_grow_with_the_data():
    seed(scale=0.01)
    with CaptureQueriesContext(connection) as small:
        Client().get("/leases/")
    seed(scale=0.05)
    with CaptureQueriesContext(connection) as large:
        Client().get("/leases/")
    assert Lease.objects.count() == 100
    assert len(app_queries(small)) == len(app_queries(large))


def test_count_only_asks_the_database_for_a_count(rentals):
    with CaptureQueriesContext(connection) as captured:
        content = Client().get("/count-only/").content.decode()
    queries = app_queries(captured)
    assert len(queries) == 1 and "COUNT(" in queries[0].upper()
    assert f"{Lease.objects.count()} yes" in content


def test_event_round_trip_updates_html_and_state(rentals):
    client = Client(enforce_csrf_checks=True)
    content = client.get("/leases/").content.decode()
    view_id, token = view_attrs(content)
    response = post_event(client, "/leases/", view_id, token, "show", {"status": "pending"})
    assert response.status_code == 200, response.content
    data = response.json()
    pending = Lease.objects.filter(status="pending").order_by("id")
    assert '<p id="status">pending</p>' in data["html"]
    assert len(data["state"]["leases"]) == pending.count()
    assert data["state"]["status"] == "pending"
    assert "<main" not in data["html"]
    # The new state is kept: a later event starts from "pending".
    response = post_event(client, "/leases/", view_id, token, "limit", {"count": "2"})
    assert response.json()["state"]["status"] == "pending"
    assert len(response.json()["state"]["leases"]) == min(2, pending.count())


def test_parameters_are_coerced_to_annotations(rentals):
    client = Client(enforce_csrf_checks=True)
    view_id, token = view_attrs(client.get("/leases/").content.decode())
    response = post_event(client, "/leases/", view_id, token, "limit",
                          {"count": "3", "descending": "true"})
    assert response.status_code == 200
    newest = list(Lease.objects.filter(status="active").order_by("-id")[:3])
    assert [lease["tenant"]["user"]["email"] for lease in response.json()["state"]["leases"]] \
        == [lease.tenant.user.email for lease in newest]


@pytest.mark.parametrize(
    ("event", "params", "body", "message"),
    [
        ("nope", {}, None, "has no event handler 'nope'"),
        ("not_a_handler", {}, None, "is not an @event_handler"),
        ("_private", {}, None, "has no event handler"),
        ("limit", {"count": "many"}, None, "must be int"),
        ("limit", {"count": "1", "extra": "x"}, None, "takes no parameter 'extra'"),
        ("limit", {}, None, "missing a required argument"),
        ("show", {}, "{not json", "not JSON"),
        ("show", {}, "[1, 2]", "must be a JSON object"),
        ("show", {}, '{"id": "x", "event": "show", "params": {"status": "a"}}', "unknown"),
    ],
)
def test_bad_events_get_400_and_change_nothing(rentals, event, params, body, message):
    client = Client(enforce_csrf_checks=True)
    view_id, token = view_attrs(client.get("/leases/").content.decode())
    response = post_event(client, "/leases/", view_id, token, event, params, body)
    assert response.status_code == 400
    assert message in response.content.decode()
    after = post_event(client, "/leases/", view_id, token, "limit", {"count": "100"})
    assert after.json()["state"]["status"] == "active"


def test_events_need_the_csrf_token(rentals):
    client = Client(enforce_csrf_checks=True)
    view_id, _ = view_attrs(client.get("/leases/").content.decode())
    response = client.post("/leases/", data=json.dumps({"id": view_id, "event": "show"}),
                           content_type="application/json")
    assert response.status_code == 403


def test_state_is_bound_to_its_browser(rentals):
    owner = Client(enforce_csrf_checks=True)
    view_id, _ = view_attrs(owner.get("/leases/").content.decode())
    stranger = Client(enforce_csrf_checks=True)
    _, token = view_attrs(stranger.get("/leases/").content.decode())
    response = post_event(stranger, "/leases/", view_id, token, "show", {"status": "x"})
    assert response.status_code == 400


def test_jit_setting_turns_auto_serialization_off(rentals, settings):
    with CaptureQueriesContext(connection) as on:
        Client().get("/leases/")
    settings.DJUST = {"JIT": False}
    with CaptureQueriesContext(connection) as off:
        content = Client().get("/leases/").content.decode()
    assert len(app_queries(off)) > len(app_queries(on))
    # Even without the JIT, the browser only gets what the template reads.
    assert "never sent" not in content
    # No pk, no str() the template does not read (issue #18, item 4).
    assert set(page_state(content)["leases"][0]) == {"__str__", "tenant", "property",
                                                     "end_date"}


def test_unanalysable_template_falls_back_and_logs_once(rentals, caplog):
    caplog.set_level(logging.WARNING, logger="djust.context")
    client = Client()
    first = client.get("/unanalysable/")
    second = client.get("/unanalysable/")
    assert first.status_code == second.status_code == 200
    records = [r for r in caplog.records if "leases" in r.getMessage()]
    assert len(records) == 1
    assert "include" in records[0].getMessage()
    content = first.content.decode()
    leases = Lease.objects.order_by("id")
    assert "".join(lease.status for lease in leases) in content
    # Lookups only the dynamically included template makes still render:
    # the page renders from the live value.
    assert "".join(f"[{lease.tenant.phone}]" for lease in leases) in content
    # The browser state stays generic: the known paths only.
    assert set(page_state(content)["leases"][0]) == {"status"}


def test_edited_template_is_used_on_the_next_request_in_debug(rentals, settings, tmp_path):
    (tmp_path / "live").mkdir()
    page = tmp_path / "live" / "page.html"
    page.write_text("<main dj-root>{% for l in leases %}<i>{{ l.monthly_rent }}</i>"
                    "{% endfor %}</main>")
    settings.DEBUG = True
    # Django's cached loader is reset by runserver's file watcher; without
    # it, plain loaders show what a developer's edit looks like to djust.
    settings.TEMPLATES = [{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [tmp_path],
        "OPTIONS": {"loaders": ["django.template.loaders.filesystem.Loader"]},
    }]
    client = Client()
    first = client.get("/from-file/").content.decode()
    assert "<i>" in first
    page.write_text("<main dj-root>{% for l in leases %}<b>{{ l.tenant.phone }}</b>"
                    "{% endfor %}</main>")
    second = client.get("/from-file/").content.decode()
    phone = Lease.objects.order_by("id").first().tenant.phone
    assert f"<b>{phone}</b>" in second
    assert set(page_state(second)["leases"][0]) == {"tenant"}


def test_values_querysets_serialize_their_rows_generically(rentals):
    content = Client().get("/values/").content.decode()
    cities = list(Property.objects.order_by("city").values_list("city", flat=True))
    assert "".join(f"<i>{city}</i>" for city in cities) in content
    assert f"{len(cities)}</main>" in content
    assert page_state(content)["cities"] == [{"city": city} for city in cities]


def test_a_view_without_template_says_so(rentals):
    with pytest.raises(ImproperlyConfigured, match="NoTemplate needs template_name or template"):
        Client().get("/no-template/")


def test_generic_state_never_carries_sensitive_fields(rentals, settings):
    settings.DJUST = {"JIT": False}
    from djust.compiler.paths import branch_paths
    from djust.context import cut_value

    user = Lease.objects.first().tenant.user
    state = cut_value(user, branch_paths(["password", "email", "get_session_auth_hash"]))
    assert set(state) == {"email"}
