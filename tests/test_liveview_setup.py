"""What a LiveView needs from a project: sessions are optional and free, the
state is bound to its browser, and system checks name what is missing."""

import json
import re
from pathlib import Path

import pytest
from django.contrib.auth import logout
from django.contrib.auth.models import User
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from django.http import HttpResponse
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import path

from djust import LiveView, checks, event_handler
from examples.rentals.models import Lease
from examples.rentals.seed import seed

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

CSRF = "django.middleware.csrf.CsrfViewMiddleware"
SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
LOCMEM = "django.core.cache.backends.locmem.LocMemCache"


class Board(LiveView):
    template = ("<main dj-root>{{ status }}:{% for l in leases %}{{ l.tenant.user.email }},"
                "{% endfor %}</main>")

    def mount(self, request):
        self.status = "active"
        self.leases = Lease.objects.filter(status="active").order_by("pk")

    @event_handler
    def show(self, status: str):
        self.status = status
        self.leases = Lease.objects.filter(status=status).order_by("pk")

    @event_handler
    def remember(self):
        # A handler that starts a session for a visitor who had none.
        self.request.session["remembered"] = True


def sign_out(request):
    logout(request)
    return HttpResponse("signed out")


urlpatterns = [path("board/", Board.as_view()), path("logout/", sign_out)]


@pytest.fixture
def rentals():
    seed(scale=0.02)


def view_attrs(response) -> tuple[str, str]:
    content = response.content.decode()
    view_id = re.search(r'data-djust-id="([^"]+)"', content).group(1)
    token = re.search(r'data-djust-csrf="([^"]+)"', content).group(1)
    return view_id, token


def send(client, view_id, token, event, **params):
    return client.post("/board/", content_type="application/json",
                       data=json.dumps({"id": view_id, "event": event, "params": params}),
                       headers={"X-CSRFToken": token})


def session_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "django_session" in q["sql"]]


def app_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "django_session" not in q["sql"]]


@override_settings(SESSION_ENGINE="django.contrib.sessions.backends.db")
def test_database_sessions_cost_no_query_on_a_page_and_its_events(rentals):
    client = Client(enforce_csrf_checks=True)
    with CaptureQueriesContext(connection) as page:
        response = client.get("/board/")
    assert response.status_code == 200
    view_id, token = view_attrs(response)
    with CaptureQueriesContext(connection) as event:
        answer = send(client, view_id, token, "show", status="pending")
    assert answer.status_code == 200, answer.content
    assert answer.json()["state"]["status"] == "pending"
    assert session_queries(page) == [] and session_queries(event) == []
    # The page's own cost is unchanged: one query for the leases and their joins.
    assert len(app_queries(page)) == 1 and len(app_queries(event)) == 1


@override_settings(MIDDLEWARE=[CSRF])
def test_a_project_without_sessions_serves_pages_and_events(rentals):
    client = Client(enforce_csrf_checks=True)
    view_id, token = view_attrs(client.get("/board/"))
    answer = send(client, view_id, token, "show", status="pending")
    assert answer.status_code == 200, answer.content
    assert answer.json()["html"].startswith("pending:")
    stranger = Client(enforce_csrf_checks=True)
    _, stranger_token = view_attrs(stranger.get("/board/"))
    refused = send(stranger, view_id, stranger_token, "show", status="expired")
    assert refused.status_code == 400
    assert "unknown or expired view id" in refused.content.decode()


def test_a_page_rendered_while_logged_in_is_refused_after_logout(rentals):
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_user("owner", password="x"))
    view_id, token = view_attrs(client.get("/board/"))
    assert send(client, view_id, token, "show", status="pending").status_code == 200
    # Logging out in another tab of the same browser: the CSRF cookie stays.
    assert client.post("/logout/", headers={"X-CSRFToken": token}).status_code == 200
    refused = send(client, view_id, token, "show", status="expired")
    assert refused.status_code == 400
    assert "unknown or expired view id" in refused.content.decode()


def test_a_session_that_starts_after_the_page_keeps_the_page_working(rentals, settings):
    client = Client(enforce_csrf_checks=True)
    view_id, token = view_attrs(client.get("/board/"))
    # (Reading client.session would create one: look at the cookies instead.)
    assert settings.SESSION_COOKIE_NAME not in client.cookies
    assert send(client, view_id, token, "remember").status_code == 200
    assert client.session["remembered"] is True
    answer = send(client, view_id, token, "show", status="pending")
    assert answer.status_code == 200, answer.content


def test_the_state_never_holds_the_csrf_secret(rentals, settings):
    from django.core.cache import caches

    client = Client(enforce_csrf_checks=True)
    client.get("/board/")
    secret = client.cookies[settings.CSRF_COOKIE_NAME].value
    # LocMemCache keeps pickled values in a dict keyed by the full cache key.
    stored = [value for key, value in caches["default"]._cache.items() if "djust:state" in key]
    assert stored and all(secret.encode() not in value for value in stored)


def test_a_liveview_outside_installed_apps_says_so(rentals, settings):
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "djust"]
    with pytest.raises(ImproperlyConfigured, match='"djust" in INSTALLED_APPS'):
        Client().get("/board/")


def check_ids(deploy=True, **overrides) -> set[str]:
    with override_settings(**overrides):
        return {message.id for message in run_checks(include_deployment_checks=deploy)
                if message.id and message.id.startswith("djust.")}


def test_the_test_settings_pass_every_ordinary_check():
    assert check_ids(deploy=False) == set()


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"DJUST": ["JIT", False]}, "djust.E001"),
    ({"DJUST": {"STATE_CACH": "default"}}, "djust.E001"),
    ({"MIDDLEWARE": [SESSIONS, AUTH]}, "djust.E002"),
    ({"DJUST": {"STATE_CACHE": "states"}}, "djust.E003"),
    ({"CACHES": {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}},
     "djust.E004"),
    ({"TEMPLATES": [{"BACKEND": "django.template.backends.dummy.TemplateStrings",
                     "DIRS": [], "APP_DIRS": False, "OPTIONS": {}}]},
     "djust.E005"),
    ({"STATIC_URL": None}, "djust.W001"),
    ({"CACHES": {"default": {"BACKEND": LOCMEM}}}, "djust.W002"),
    ({"CHANNEL_LAYERS": {}}, "djust.W004"),
    ({"CHANNEL_LAYERS": {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}},
     "djust.W004"),
    ({"DJUST": {"WEBSOCKET_URL": "djust/live/"}}, "djust.E007"),
    ({"DJUST": {"WEBSOCKET_URL": "/"}}, "djust.E007"),
])
def test_each_check_names_what_is_missing(overrides, expected):
    assert expected in check_ids(**overrides)


def test_a_per_process_state_cache_is_only_a_deployment_warning():
    locmem = {"default": {"BACKEND": LOCMEM}}
    assert "djust.W002" not in check_ids(deploy=False, CACHES=locmem)
    assert "djust.W002" in check_ids(CACHES=locmem)


def test_a_shared_channel_layer_or_no_socket_silences_w004():
    redis_layer = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer"}}
    assert "djust.W004" not in check_ids(CHANNEL_LAYERS=redis_layer)
    assert "djust.W004" not in check_ids(CHANNEL_LAYERS={}, DJUST={"WEBSOCKET_URL": None})
    assert "djust.W004" not in check_ids(deploy=False, CHANNEL_LAYERS={})


def test_manage_check_fails_without_the_csrf_middleware():
    with override_settings(MIDDLEWARE=[SESSIONS]), \
            pytest.raises(SystemCheckError, match=r"djust\.E002"):
        call_command("check")


def test_the_check_table_in_the_docstring_lists_every_check():
    source = Path(checks.__file__).read_text()
    raised = set(re.findall(r'id="(djust\.[EW]\d{3})"', source))
    listed = set(re.findall(r"``(djust\.[EW]\d{3})``", checks.__doc__))
    assert raised == listed and len(raised) == 11


@override_settings(CSRF_USE_SESSIONS=True)
def test_a_csrf_secret_kept_in_the_session_binds_the_state_too(rentals):
    client = Client(enforce_csrf_checks=True)
    view_id, token = view_attrs(client.get("/board/"))
    assert send(client, view_id, token, "show", status="pending").status_code == 200
    stranger = Client(enforce_csrf_checks=True)
    _, stranger_token = view_attrs(stranger.get("/board/"))
    assert send(stranger, view_id, stranger_token, "show", status="x").status_code == 400


@pytest.mark.parametrize("view_id", ["x y", "a" * 65, "id:with:colons", "\u00e9t\u00e9", "a\nb"])
def test_an_id_that_state_save_never_makes_is_refused_before_the_cache(rentals, view_id,
                                                                       monkeypatch):
    from djust import state

    client = Client(enforce_csrf_checks=True)
    _, token = view_attrs(client.get("/board/"))
    monkeypatch.setattr(state, "load", lambda *args: pytest.fail("reached the state cache"))
    refused = send(client, view_id, token, "show", status="pending")
    assert refused.status_code == 400
    assert refused.content.decode() == "'id' must be the page's view id"


@pytest.mark.parametrize("templates", [
    [{"BACKEND": "djust.template.backends.DjustTemplates", "APP_DIRS": True}],
    [{"BACKEND": "django.template.backends.django.DjangoTemplates", "NAME": "pages",
      "APP_DIRS": True}],
])
def test_a_djust_or_renamed_django_engine_serves_the_liveview(templates):
    """LiveView renders with the engine named "django", else the first
    Django-template engine (DjustTemplates is named "backends" by Django)."""
    from djust.template.backends import django_backend

    assert "djust.E005" not in check_ids(TEMPLATES=templates)
    with override_settings(TEMPLATES=templates):
        assert django_backend().engine.app_dirs
