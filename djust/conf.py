"""djust's settings: one ``DJUST`` dict in the project's settings.

Every key has a default here; ``get(key)`` reads the project's value when it
sets one. Settings are read at call time, so ``override_settings`` works.

    >>> from djust import conf
    >>> conf.get("SENSITIVE_FIELDS")
    ['password']
"""

from __future__ import annotations

import copy
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

DEFAULTS: dict[str, Any] = {
    # Field names never emitted, on any model, in addition to a model's own
    # ``djust_sensitive_fields`` list.
    "SENSITIVE_FIELDS": ["password"],
    # Auto-serialization in LiveView; False turns it off everywhere.
    "JIT": True,
    # Where LiveView keeps its views' state between events: a cache alias,
    # and for how long (seconds).
    "STATE_CACHE": "default",
    "STATE_TIMEOUT": 3600,
    # LiveView's WebSocket: the path djust.channels.websocket_urlpatterns
    # route to its consumer, which the page connects to after its first
    # render; None keeps every page on the HTTP POST transport.
    "WEBSOCKET_URL": "/djust/live/",
    # Bounded in-process caches (entries).
    "EXTRACTION_CACHE_SIZE": 512,
    "SERIALIZER_CACHE_SIZE": 1024,
    # The store shared across processes (djust.store): analysed templates and
    # generated serializers. "memory" shares nothing; see djust/store.py for
    # "filesystem" (LOCATION), "redis" (URL, TIMEOUT) and "django" (ALIAS).
    "CACHE": {"BACKEND": "memory"},
    # The template backend (djust.template.backends.DjustTemplates):
    # STRICT makes a render fail on any query its plan did not predict (a
    # lazy load: for tests); FETCH_PEERS (Django 6.1+) lets the names djust
    # could not plan load their relations for all peers at once.
    "STRICT": False,
    "FETCH_PEERS": False,
}


_flags: dict[str, bool] = {}


def flag(key: str) -> bool:
    """``bool(get(key))``, kept until the settings change: for switches read
    on every render.

        >>> flag("STRICT")
        False
    """
    try:
        return _flags[key]
    except KeyError:
        value = _flags[key] = bool(get(key))
        return value


def _forget_flags(*, setting: str, **_kwargs) -> None:
    if setting == "DJUST":
        _flags.clear()


setting_changed.connect(_forget_flags, dispatch_uid="djust.conf.flags")


def get(key: str) -> Any:
    if key not in DEFAULTS:
        raise KeyError(f"unknown djust setting {key!r}")
    user = getattr(settings, "DJUST", None) or {}
    if not isinstance(user, dict):
        raise ImproperlyConfigured("settings.DJUST must be a dict")
    unknown = set(user) - set(DEFAULTS)
    if unknown:
        raise ImproperlyConfigured(f"unknown key(s) in settings.DJUST: {sorted(unknown)}")
    return copy.copy(user.get(key, DEFAULTS[key]))
