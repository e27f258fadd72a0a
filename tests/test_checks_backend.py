"""djust.W003 (djust's template engine without its app) and djust.E006
(the CSRF secret in a session no middleware sets), with ``override_settings``.

The backend class itself is not imported: the checks read the ``BACKEND``
string.
"""

import pytest
from django.conf import settings
from django.core.checks import Error, Tags, Warning, run_checks
from django.test import override_settings

from djust import checks

DJANGO_BACKEND = "django.template.backends.django.DjangoTemplates"
DJUST_BACKEND = "djust.template.backends.DjustTemplates"
SESSION = "django.contrib.sessions.middleware.SessionMiddleware"
CSRF = "django.middleware.csrf.CsrfViewMiddleware"


def engine(backend, **extra):
    return {"BACKEND": backend, "DIRS": [], "APP_DIRS": True, **extra}


def registered_checks():
    """The checks under the tags djust's checks use (Django 6.1 adds database checks,
    which the tests' database fixtures refuse)."""
    return run_checks(tags=[Tags.security, Tags.compatibility, Tags.templates, Tags.caches])


def ids(messages):
    return [message.id for message in messages]


# ---------------------------------------------------------------- W003

@pytest.mark.parametrize("backend", [DJUST_BACKEND, "myproject.templating.DjustTemplates"])
def test_djust_engine_without_the_app_warns(settings, backend):
    settings.TEMPLATES = [engine(DJANGO_BACKEND), engine(backend, NAME="live")]
    with override_settings(INSTALLED_APPS=[
            app for app in settings.INSTALLED_APPS if app != "djust"]):
        (problem,) = checks.backend_problems()
    assert isinstance(problem, Warning)
    assert problem.id == "djust.W003"
    assert problem.msg == ("TEMPLATES configures djust's template engine ('live') but "
                           "'djust' is not in INSTALLED_APPS.")
    assert "Add 'djust' to INSTALLED_APPS" in problem.hint


def test_an_unnamed_djust_engine_is_named_as_django_names_it(settings):
    settings.TEMPLATES = [engine(DJUST_BACKEND)]
    with override_settings(INSTALLED_APPS=["django.contrib.contenttypes"]):
        (problem,) = checks.backend_problems()
    assert "('backends')" in problem.msg


def test_backend_problems_reads_the_settings_it_is_given():
    class Project:
        TEMPLATES = [engine(DJUST_BACKEND, NAME="djust")]

    with override_settings(INSTALLED_APPS=["django.contrib.contenttypes"]):
        assert ids(checks.backend_problems(Project)) == ["djust.W003"]
    # This process installs djust: nothing to say.
    assert checks.backend_problems(Project) == []


@pytest.mark.parametrize("backend", [DJANGO_BACKEND, "djust.template.backends.Other",
                                     "myproject.NotDjustTemplates"])
def test_other_engines_do_not_warn(settings, backend):
    settings.TEMPLATES = [engine(backend)]
    with override_settings(INSTALLED_APPS=["django.contrib.contenttypes"]):
        assert checks.backend_problems() == []


def test_djust_engine_with_the_app_is_fine(settings):
    settings.TEMPLATES = [engine(DJANGO_BACKEND), engine(DJUST_BACKEND, NAME="live")]
    assert checks.backend_problems() == []
    # registered_checks() would build the engines, importing the backend class.
    assert checks.check_djust_backend_app() == []


def test_the_registered_check_reports_it(settings):
    settings.TEMPLATES = [engine(DJANGO_BACKEND), engine(DJUST_BACKEND, NAME="live")]
    with override_settings(INSTALLED_APPS=["django.contrib.contenttypes"]):
        assert ids(checks.check_djust_backend_app()) == ["djust.W003"]


# ---------------------------------------------------------------- E006

@pytest.mark.parametrize(
    "middleware",
    [
        [CSRF],  # no session at all
        [CSRF, SESSION],  # the session comes too late
    ],
)
def test_csrf_in_session_needs_session_middleware_first(settings, middleware):
    settings.CSRF_USE_SESSIONS = True
    settings.MIDDLEWARE = middleware
    (problem,) = checks.check_csrf_secret_in_session()
    assert isinstance(problem, Error)
    assert problem.id == "djust.E006"
    assert problem.msg.startswith(f"CSRF_USE_SESSIONS is True but {SESSION} ")
    assert "djust.E006" in ids(registered_checks())


def test_the_message_says_where_the_session_middleware_is(settings):
    settings.CSRF_USE_SESSIONS = True
    settings.MIDDLEWARE = [CSRF, SESSION]
    assert checks.check_csrf_secret_in_session()[0].msg == (
        f"CSRF_USE_SESSIONS is True but {SESSION} comes after {CSRF} in MIDDLEWARE.")
    settings.MIDDLEWARE = [CSRF]
    assert checks.check_csrf_secret_in_session()[0].msg == (
        f"CSRF_USE_SESSIONS is True but {SESSION} is not in MIDDLEWARE.")


@pytest.mark.parametrize(
    ("use_sessions", "middleware"),
    [
        (True, [SESSION, CSRF]),
        (False, [CSRF]),  # the default: the secret is a cookie; no session needed
        (True, [SESSION]),  # no CSRF middleware: E002's to say
    ],
)
def test_csrf_in_session_is_fine_otherwise(settings, use_sessions, middleware):
    settings.CSRF_USE_SESSIONS = use_sessions
    settings.MIDDLEWARE = middleware
    assert checks.check_csrf_secret_in_session() == []


def test_the_tests_settings_pass_every_djust_check():
    assert [m.id for m in registered_checks() if m.id.startswith("djust.")] == []


def test_the_backend_says_so_when_built_without_the_app(caplog):
    import logging

    from django.template.utils import EngineHandler

    apps = [app for app in settings.INSTALLED_APPS if app != "djust"]
    templates = [{"BACKEND": "djust.template.backends.DjustTemplates", "APP_DIRS": False}]
    with (override_settings(INSTALLED_APPS=apps, TEMPLATES=templates),
          caplog.at_level(logging.WARNING, logger="djust.template")):
        EngineHandler().all()
    assert any("djust.W003" in record.getMessage() for record in caplog.records)
