"""The store ``DJUST["CACHE"]`` describes, and how the compiler reaches it.

``configured_store()`` builds the ``Store`` the settings describe (None for
the default ``"memory"`` backend, which shares nothing) and builds it again
when they change. The compiler does not import this package: it consults
whatever ``djust.compiler.shared`` has registered, and ``install()``
(called by ``DjustConfig.ready``) registers ``CONFIGURED``, which asks
``configured_store()`` on every question: settings may change at any time
(``override_settings`` in tests), and a question is only asked on an
in-process cache miss, so reading them then costs little.

    >>> from djust.compiler import shared
    >>> shared.registered() is CONFIGURED
    True
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from djust import conf
from djust.compiler import shared
from djust.store import extractions, serializers
from djust.store.backends import build_backend
from djust.store.core import Store

logger = logging.getLogger("djust.store")

DEFAULT_CONFIG: dict[str, Any] = {
    # "memory" (share nothing), "filesystem", "redis" or "django".
    "BACKEND": "memory",
    # filesystem: the directory entries live in (created when missing).
    "LOCATION": None,
    # redis: the server's URL.
    "URL": None,
    # django: the cache alias.
    "ALIAS": "default",
    # redis: connect and socket timeout in seconds; slower counts as down.
    "TIMEOUT": 0.05,
    # redis and django: seconds an entry lives (None: until evicted).
    "TTL": 7 * 24 * 3600,
    # Keys are prefixed with this (redis, django) to share a server safely.
    "KEY_PREFIX": "djust",
    # After a failure, seconds during which that direction is not tried.
    "RETRY_INTERVAL": 5.0,
    # At most one warning per backend and direction in this many seconds.
    "WARN_INTERVAL": 60.0,
}


def cache_config() -> dict[str, Any]:
    """``DJUST["CACHE"]`` merged over the defaults, checked.

        >>> cache_config()["BACKEND"]
        'memory'
    """
    user = conf.get("CACHE") or {}
    if not isinstance(user, dict):
        raise ImproperlyConfigured('DJUST["CACHE"] must be a dict')
    unknown = set(user) - set(DEFAULT_CONFIG)
    if unknown:
        raise ImproperlyConfigured(f'unknown key(s) in DJUST["CACHE"]: {sorted(unknown)}')
    config = {**DEFAULT_CONFIG, **user}
    if config["BACKEND"] not in ("memory", "filesystem", "redis", "django"):
        raise ImproperlyConfigured(
            f'DJUST["CACHE"]["BACKEND"] is {config["BACKEND"]!r}: expected "memory", '
            '"filesystem", "redis" or "django"')
    return config


_CONFIGURED: tuple[str, Store | None] | None = None
_CONFIGURED_LOCK = threading.Lock()


def configured_store() -> Store | None:
    """The store the settings describe (rebuilt when they change), or None.

        >>> configured_store() is None   # the default "memory" backend
        True
    """
    global _CONFIGURED
    config = cache_config()
    if config["BACKEND"] == "memory":
        return None
    signature = json.dumps(config, sort_keys=True, default=str)
    current = _CONFIGURED
    if current is not None and current[0] == signature:
        return current[1]
    with _CONFIGURED_LOCK:
        if _CONFIGURED is None or _CONFIGURED[0] != signature:
            store = Store(build_backend(config),
                          retry_interval=float(config["RETRY_INTERVAL"]),
                          warn_interval=float(config["WARN_INTERVAL"]))
            logger.debug("djust store: using %s", store.backend.describe())
            previous, _CONFIGURED = _CONFIGURED, (signature, store)
            if previous is not None and previous[1] is not None:
                previous[1].backend.close()  # the settings changed (tests)
        return _CONFIGURED[1]


def reset() -> None:
    """Close and forget the configured store (the next call builds it from settings)."""
    global _CONFIGURED
    with _CONFIGURED_LOCK:
        previous, _CONFIGURED = _CONFIGURED, None
    if previous is not None and previous[1] is not None:
        previous[1].backend.close()


class ConfiguredStore:
    """The compiler's ``shared.SharedStore``, answered by ``configured_store()``.

    With the ``"memory"`` backend every question is answered by building.

        >>> from examples.rentals.models import Unit
        >>> from djust.compiler.tree import build_access_tree
        >>> CONFIGURED.serializer(Unit, build_access_tree(Unit, ("number",)), ("number",),
        ...                       "json", lambda: "built here")
        'built here'
    """

    def serializer(self, model, tree, paths, mode, compile):
        """The serializer from the configured store, else ``compile()``."""
        store = configured_store()
        if store is None:
            return compile()
        return serializers.shared_serializer(store, model, tree, paths, mode, compile)

    def extraction(self, engine, *, how, label, source, root_origin, walk):
        """The extraction from the configured store, else ``walk()``."""
        store = configured_store()
        if store is None:
            return walk()
        return extractions.extract_shared(store, engine, how=how, label=label, source=source,
                                          root_origin=root_origin, walk=walk)


CONFIGURED = ConfiguredStore()


def install() -> None:
    """Make the compiler consult the configured store (``DjustConfig.ready``).

        >>> install(); shared.registered() is CONFIGURED
        True
    """
    shared.register(CONFIGURED)
