"""System checks for what djust's LiveView needs from a project's settings.

``manage.py check`` (and ``runserver``, ``migrate``, the test runner) reports
them; ``manage.py check --deploy`` adds the ones that only matter once more
than one process serves the site.

====================  =======================================================
``djust.E001``        ``settings.DJUST`` is not a dict or has unknown keys
``djust.E002``        ``CsrfViewMiddleware`` is not in ``MIDDLEWARE``
``djust.E003``        ``DJUST["STATE_CACHE"]`` names no alias in ``CACHES``
``djust.E004``        the state cache is a ``DummyCache``: it keeps nothing
``djust.E005``        no ``DjangoTemplates`` (or ``DjustTemplates``) engine
``djust.E006``        ``CSRF_USE_SESSIONS`` without ``SessionMiddleware``
                      before ``CsrfViewMiddleware``
``djust.W001``        ``STATIC_URL`` is not set: the page cannot load djust.js
``djust.W002``        (deploy) the state cache is per-process memory
``djust.W003``        a ``DjustTemplates`` engine is configured but ``djust``
                      is not in ``INSTALLED_APPS``
``djust.W004``        (deploy) ``djust.broadcast`` reaches one process only:
                      no ``CHANNEL_LAYERS``, or the in-memory layer
``djust.E007``        ``DJUST["WEBSOCKET_URL"]`` is not a path (``/...``)
====================  =======================================================

djust.W003 cannot be reported by this module when the app is missing: it is
the app that registers these checks. ``backend_problems(settings)`` returns
the same message without the app, for the ``DjustTemplates`` backend to call
when it is built (and log, or raise).

Sessions are not among the needs: a page's state is bound to the browser's
CSRF secret, and to the session only when the request has one
(``djust.state``). The session matters when the CSRF secret lives in it
(``CSRF_USE_SESSIONS``): then ``SessionMiddleware`` must run first, or
``CsrfViewMiddleware`` raises ``ImproperlyConfigured`` on every request.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from djust import conf

CSRF_MIDDLEWARE = "django.middleware.csrf.CsrfViewMiddleware"
SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"
DJUST_BACKEND = "djust.template.backends.DjustTemplates"
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
    if any(_is_django_language(engine.get("BACKEND")) for engine in settings.TEMPLATES):
        return []
    return [Error(
        "djust's LiveView renders with a Django-template engine (DjangoTemplates or "
        "djust's DjustTemplates), and TEMPLATES has none.",
        hint=f"Add a TEMPLATES entry with BACKEND {DJANGO_ENGINE!r} or {DJUST_BACKEND!r}.",
        id="djust.E005",
    )]


def _is_django_language(backend: object) -> bool:
    """Whether ``backend`` (a ``BACKEND`` path) is ``DjangoTemplates`` or a
    subclass of it, as ``DjustTemplates`` is."""
    if backend == DJANGO_ENGINE or is_djust_backend(backend):
        return True
    from django.template.backends.django import DjangoTemplates
    from django.utils.module_loading import import_string

    try:
        return issubclass(import_string(backend), DjangoTemplates)
    except Exception:
        # Not importable, not a class: Django reports the engine itself; this
        # check only says LiveView has no engine to render with.
        return False


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


IN_MEMORY_LAYERS = {"channels.layers.InMemoryChannelLayer"}


@register(Tags.compatibility, deploy=True)
def check_channel_layer_is_shared(app_configs=None, **kwargs):
    """W004: broadcasts cross processes only through a shared channel layer."""
    if check_djust_setting() or not conf.get("WEBSOCKET_URL"):
        return []
    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    backend = (layers.get("default") or {}).get("BACKEND")
    if backend is not None and backend not in IN_MEMORY_LAYERS:
        return []
    what = "no CHANNEL_LAYERS" if backend is None else f"the {backend}"
    return [Warning(
        f"djust.broadcast() and LiveView pushes between processes need a shared channel "
        f"layer, and this project has {what}: a broadcast reaches only the pages "
        "connected to the process that sends it.",
        hint="Set CHANNEL_LAYERS['default'] to channels_redis.core.RedisChannelLayer "
             "when more than one process serves the site or sends broadcasts.",
        id="djust.W004",
    )]


@register(Tags.compatibility)
def check_websocket_url(app_configs=None, **kwargs):
    if check_djust_setting():
        return []
    url = conf.get("WEBSOCKET_URL")
    if url is None or (isinstance(url, str) and url.startswith("/") and url.strip("/")
                       and " " not in url):
        return []
    return [Error(
        f"DJUST['WEBSOCKET_URL'] is {url!r}: it must be a path such as '/djust/live/', "
        "or None to keep every page on HTTP.",
        id="djust.E007",
    )]


@register(Tags.security, Tags.compatibility)
def check_csrf_secret_in_session(app_configs=None, **kwargs):
    """E006: ``CSRF_USE_SESSIONS`` keeps the CSRF secret, which each page's
    state is bound to, in the session: ``SessionMiddleware`` must come before
    ``CsrfViewMiddleware``.

        >>> check_csrf_secret_in_session()  # the tests' settings keep it in a cookie
        []
    """
    if not getattr(settings, "CSRF_USE_SESSIONS", False):
        return []
    middleware = list(settings.MIDDLEWARE)
    if CSRF_MIDDLEWARE not in middleware:
        return []  # E002 says so
    if SESSION_MIDDLEWARE in middleware[:middleware.index(CSRF_MIDDLEWARE)]:
        return []
    if SESSION_MIDDLEWARE in middleware:
        where = f"comes after {CSRF_MIDDLEWARE} in MIDDLEWARE"
    else:
        where = "is not in MIDDLEWARE"
    return [Error(
        f"CSRF_USE_SESSIONS is True but {SESSION_MIDDLEWARE} {where}.",
        hint="The CSRF secret then lives in the session: CsrfViewMiddleware needs the "
             "session set before it, or it raises ImproperlyConfigured on every request, "
             "and djust's LiveView, whose state is bound to that secret, serves no page. "
             "Put SessionMiddleware before CsrfViewMiddleware, or set CSRF_USE_SESSIONS "
             "= False.",
        id="djust.E006",
    )]


def is_djust_backend(backend: object) -> bool:
    """Whether a ``TEMPLATES`` ``BACKEND`` path names djust's backend (or a
    class of the same name, as a project's subclass would be).

        >>> is_djust_backend("djust.template.backends.DjustTemplates")
        True
        >>> is_djust_backend("django.template.backends.django.DjangoTemplates")
        False
    """
    return isinstance(backend, str) and (
        backend == DJUST_BACKEND or backend.rsplit(".", 1)[-1] == DJUST_BACKEND.rsplit(".")[-1])


def backend_problems(project_settings=None) -> list:
    """The problems of a ``DjustTemplates`` engine in ``project_settings``
    (Django's settings by default), as check messages: for the backend to
    call when it is built, since djust's own checks do not run without its
    app.

        >>> backend_problems()  # the tests' settings install djust
        []
    """
    from django.apps import apps

    project_settings = project_settings or settings
    engines = [engine for engine in getattr(project_settings, "TEMPLATES", ())
               if is_djust_backend(engine.get("BACKEND"))]
    if not engines or apps.is_installed("djust"):
        return []
    names = ", ".join(repr(engine.get("NAME") or engine["BACKEND"].rsplit(".", 2)[-2])
                      for engine in engines)
    return [Warning(
        f"TEMPLATES configures djust's template engine ({names}) but 'djust' is not in "
        "INSTALLED_APPS.",
        hint="Add 'djust' to INSTALLED_APPS: without the app, djust's system checks do not "
             "run, the shared store DJUST['CACHE'] names is not installed (each process "
             "analyses every template and compiles every serializer itself), and the "
             "static files finder does not find djust/djust.js.",
        id="djust.W003",
    )]


@register(Tags.templates, Tags.compatibility)
def check_djust_backend_app(app_configs=None, **kwargs):
    """W003 (only reachable from here when the registry says djust is missing
    while this module is imported: ``backend_problems`` is the real hook)."""
    return backend_problems()
