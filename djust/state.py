"""Server-side storage of a LiveView's public state between events.

The state never travels to the client: the page only carries a random id.
Entries live in Django's cache (alias ``DJUST["STATE_CACHE"]``) under a key
made of the view class and that id. Each entry records whom it belongs to,
and ``load`` refuses it to anyone else:

- the browser, by a keyed hash of its CSRF secret. Every page djust renders
  has one (the event POST is CSRF-protected), so binding to it costs nothing:
  no session is created or saved for a visitor who has none, which with
  Django's default database sessions would cost queries on every first page.
  Login rotates the secret, so a page from before a login is refused.
- the session, when the request has one with a key. Logout flushes the
  session, so a page rendered while logged in is refused afterwards; an
  anonymous page whose session only starts later is not.

QuerySets are stored as their ``query`` (pickling a QuerySet would evaluate
it) and model instances as (model, pk).

    view_id = save(request, Dashboard, {"status": "active"})
    load(request, Dashboard, view_id)    # {'status': 'active'}
"""

from __future__ import annotations

import pickle
import secrets
from typing import Any

from django.apps import apps
from django.core.cache import caches
from django.db import models
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.utils.crypto import constant_time_compare, salted_hmac

from djust import conf

_QUERYSET = "djust.queryset"
_INSTANCE = "djust.instance"
_OWNER_SALT = "djust.state.owner"


def _pack(value: Any) -> Any:
    if isinstance(value, models.QuerySet):
        return (_QUERYSET, value.model._meta.label, pickle.dumps(value.query))
    if isinstance(value, models.Model) and value.pk is not None:
        return (_INSTANCE, value._meta.label, value.pk)
    return value


def _unpack(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) == 3 and value[0] == _QUERYSET:
        model = apps.get_model(value[1])
        queryset = model._default_manager.all()
        queryset.query = pickle.loads(value[2])
        return queryset
    if isinstance(value, tuple) and len(value) == 3 and value[0] == _INSTANCE:
        model = apps.get_model(value[1])
        return model._default_manager.filter(pk=value[2]).first()
    return value


def _key(view_class: type, view_id: str) -> str:
    label = f"{view_class.__module__}.{view_class.__qualname__}"
    return f"djust:state:{label}:{view_id}"


def _browser(request: HttpRequest) -> str:
    """A keyed hash of the request's CSRF secret (never the secret itself).

    ``get_token`` makes sure there is one: on a first visit it creates the
    secret that CsrfViewMiddleware then sets as the cookie.
    """
    get_token(request)
    secret = request.META.get("CSRF_COOKIE") or ""
    return salted_hmac(_OWNER_SALT, secret, algorithm="sha256").hexdigest()


def _session_key(request: HttpRequest) -> str | None:
    # Reading the key does not load the session: no query, whatever the engine.
    session = getattr(request, "session", None)
    return getattr(session, "session_key", None)


def _owns(request: HttpRequest, entry: dict[str, Any]) -> bool:
    if not constant_time_compare(entry["browser"], _browser(request)):
        return False
    saved = entry["session"]
    return saved is None or saved == _session_key(request)


def _cache():
    return caches[conf.get("STATE_CACHE")]


def save(request: HttpRequest, view_class: type, public: dict[str, Any]) -> str:
    view_id = secrets.token_urlsafe(16)
    update(request, view_class, view_id, public)
    return view_id


def update(request: HttpRequest, view_class: type, view_id: str,
           public: dict[str, Any]) -> None:
    entry = {
        "browser": _browser(request),
        "session": _session_key(request),
        "state": {name: _pack(value) for name, value in public.items()},
    }
    _cache().set(_key(view_class, view_id), entry, conf.get("STATE_TIMEOUT"))


def load(request: HttpRequest, view_class: type, view_id: str) -> dict[str, Any] | None:
    entry = _cache().get(_key(view_class, view_id))
    if not isinstance(entry, dict) or not _owns(request, entry):
        return None
    return {name: _unpack(value) for name, value in entry["state"].items()}
