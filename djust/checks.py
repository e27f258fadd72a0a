"""System checks for what djust's LiveView needs from a project's settings.

``manage.py check`` (and ``runserver``, ``migrate``, the test runner) reports
them; ``manage.py check --deploy`` adds the ones that only matter once more
than one process serves the site.

====================  =======================================================
``djust.E001``        ``settings.DJUST`` is not a dict or has unknown keys
``djust.E002``        ``CsrfViewMiddleware`` is not in ``MIDDLEWARE``
``djust.E003``        ``DJUST["STATE_CACHE"]`` names no alias in ``CACHES``
``djust.E004``        the state cache is a ``DummyCache``: it keeps nothing
``djust.E005``        no ``DjangoTemplates`` engine named ``"django"``
``djust.W001``        ``STATIC_URL`` is not set: the page cannot load djust.js
``djust.W002``        (deploy) the state cache is per-process memory
====================  =======================================================
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from djust import conf

CSRF_MIDDLEWARE = "django.middleware.csrf.CsrfViewMiddleware"
DJANGO_ENGINE = "django.template.backends.django.DjangoTemplates"
PER_PROCESS_CACHES = ("django.core.cache.backends.locmem.LocMemCache",)
DUMMY_CACHE = "django.core.cache.backends.dummy.DummyCache"


def _state_cache() -> tuple[str, dict | None]:
    alias = conf.get("STATE_CACHE")
    return alias, settings.CACHES.get(alias)


@register(Tags.compatibility)
def check_djust_setting(app_configs=None, **kwargs):
    try:
        conf.get("JIT")
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint="See the settings table in djust's API reference.",
                      id="djust.E001")]
    return []


@register(Tags.security, Tags.compatibility)
def check_csrf_middleware(app_configs=None, **kwargs):
    if CSRF_MIDDLEWARE in settings.MIDDLEWARE:
        return []
    return [Error(
        f"djust's LiveView needs {CSRF_MIDDLEWARE} in MIDDLEWARE.",
        hint="Events are CSRF-protected POSTs, and each page's state is bound to the "
             "browser's CSRF cookie, which that middleware sets. Without it every event "
             "is refused as 'unknown or expired view id'.",
        id="djust.E002",
    )]


@register(Tags.caches, Tags.compatibility)
def check_state_cache(app_configs=None, **kwargs):
    if check_djust_setting():
        return []  # E001 already says what is wrong with DJUST
    alias, cache = _state_cache()
    if cache is None:
        return [Error(
            f"DJUST['STATE_CACHE'] is {alias!r}, which is not an alias in CACHES.",
            hint=f"Add a {alias!r} cache to CACHES or point STATE_CACHE at one of "
                 f"{sorted(settings.CACHES)}.",
            id="djust.E003",
        )]
    if cache.get("BACKEND") == DUMMY_CACHE:
        return [Error(
            f"The LiveView state cache {alias!r} is a DummyCache: it keeps nothing, so "
            "every event is refused as 'unknown or expired view id'.",
            hint="Point DJUST['STATE_CACHE'] at a cache that stores values.",
            id="djust.E004",
        )]
    return []


@register(Tags.templates, Tags.compatibility)
def check_template_engine(app_configs=None, **kwargs):
    for engine in settings.TEMPLATES:
        if engine.get("BACKEND") == DJANGO_ENGINE and engine.get("NAME", "django") == "django":
            return []
    return [Error(
        "djust's LiveView renders with the template engine named 'django', and TEMPLATES "
        "has none.",
        hint=f"Add a TEMPLATES entry with BACKEND {DJANGO_ENGINE!r} (and no other NAME).",
        id="djust.E005",
    )]


@register(Tags.compatibility)
def check_static_url(app_configs=None, **kwargs):
    if getattr(settings, "STATIC_URL", None):
        return []
    return [Warning(
        "STATIC_URL is not set: LiveView pages link djust/djust.js under it, so the page "
        "would load no client and send no events.",
        hint="Set STATIC_URL (Django's startproject sets 'static/').",
        id="djust.W001",
    )]


@register(Tags.caches, deploy=True)
def check_state_cache_is_shared(app_configs=None, **kwargs):
    if check_djust_setting():
        return []
    alias, cache = _state_cache()
    if cache is None or cache.get("BACKEND") not in PER_PROCESS_CACHES:
        return []
    return [Warning(
        f"The LiveView state cache {alias!r} ({cache['BACKEND']}) lives in one process: "
        "with several workers, an event that reaches another worker than its page is "
        "refused as 'unknown or expired view id'.",
        hint="Point DJUST['STATE_CACHE'] at a shared cache (Redis, Memcached or the "
             "database cache) when more than one process serves the site.",
        id="djust.W002",
    )]
