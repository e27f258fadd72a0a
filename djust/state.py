"""Server-side storage of a LiveView's public state between events.

The state never travels to the client: the page only carries a random id.
Entries live in Django's cache (alias ``DJUST["STATE_CACHE"]``) under a key
made of the session key, the view class and that id, so one session cannot
reach another's state. QuerySets are stored as their ``query`` (pickling a
QuerySet would evaluate it) and model instances as (model, pk).

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

from djust import conf

_QUERYSET = "djust.queryset"
_INSTANCE = "djust.instance"


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


def _key(request: HttpRequest, view_class: type, view_id: str) -> str:
    if request.session.session_key is None:
        request.session.save()
    label = f"{view_class.__module__}.{view_class.__qualname__}"
    return f"djust:state:{request.session.session_key}:{label}:{view_id}"


def _cache():
    return caches[conf.get("STATE_CACHE")]


def save(request: HttpRequest, view_class: type, public: dict[str, Any]) -> str:
    view_id = secrets.token_urlsafe(16)
    update(request, view_class, view_id, public)
    return view_id


def update(request: HttpRequest, view_class: type, view_id: str,
           public: dict[str, Any]) -> None:
    packed = {name: _pack(value) for name, value in public.items()}
    _cache().set(_key(request, view_class, view_id), packed, conf.get("STATE_TIMEOUT"))


def load(request: HttpRequest, view_class: type, view_id: str) -> dict[str, Any] | None:
    if request.session.session_key is None:
        return None
    packed = _cache().get(_key(request, view_class, view_id))
    if packed is None:
        return None
    return {name: _unpack(value) for name, value in packed.items()}
