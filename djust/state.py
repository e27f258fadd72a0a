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

The state holds the view's values, not fresh rows. The public attributes are
pickled together, as Django pickles them, so an event starts from what
``mount`` (or the last event) left:

- a model instance keeps its field values, annotations, deferred fields,
  ``_state.db`` and the relations Django caches on it (``select_related``,
  prefetched rows, ``to_attr`` lists). It is not fetched again: that would
  cost a query and could show another version of the row, or none. Call
  ``refresh_from_db()`` in a handler to read the database again.
- a QuerySet keeps everything that defines it (its ``query`` with filters,
  annotations, ``select_related``, ``only``/``defer``, slicing, ``union``;
  ``prefetch_related`` lookups and ``Prefetch`` objects; ``values()`` and
  ``values_list()`` with ``flat``/``named``; the ``using()`` database), but
  not its rows: it comes back unevaluated and the next render runs it, as a
  QuerySet built anew on each request would. Django's own pickling would
  evaluate it and keep the rows; a view that wants fixed rows holds a list
  (``list(queryset)``), whose instances are kept as they were. The one
  exception is the rows prefetched into an instance, which are part of that
  instance. A ``raw()`` QuerySet is kept the same way.
- lists, tuples, dicts, sets, dataclasses and anything else pickle stores
  come back as they were, with the instances and QuerySets inside them, and
  with values shared between attributes still shared.

A public attribute pickle cannot store (a generator, a lambda, an open file)
raises ``StateNotPicklable`` naming the view and the attribute when the state
is saved, that is at the page's GET, rather than losing it.

Only the server unpickles the state: the bytes come from the cache entry
``load`` has already matched to its owner, never from the request. An entry
written by another Django version or another format of this module is
treated as expired (the page asks for a reload), as is one whose classes no
longer exist after a deployment.

    view_id = save(request, Dashboard, {"status": "active"})
    load(request, Dashboard, view_id)    # {'status': 'active'}
"""

from __future__ import annotations

import copyreg
import io
import logging
import pickle
import secrets
from typing import Any

import django
from django.core.cache import caches
from django.db import models
from django.db.models.query import RawQuerySet
from django.db.utils import DJANGO_VERSION_PICKLE_KEY
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.utils.crypto import constant_time_compare, salted_hmac

from djust import conf

logger = logging.getLogger("djust.state")

_OWNER_SALT = "djust.state.owner"
# An entry pickled by another Django (or an older layout of this module) is
# not unpickled: Django only warns about such instances and QuerySets.
_FORMAT = ("djust.state", 2, django.__version__)
# What pickle raises for a value it cannot store (AttributeError: a local
# class or function before Python 3.14).
_PICKLE_ERRORS = (pickle.PicklingError, TypeError, AttributeError)
# What unpickling raises when a class or model in the entry is gone.
_STALE_ERRORS = (pickle.UnpicklingError, AttributeError, ImportError, LookupError)


class StateNotPicklable(TypeError):
    """A LiveView's public attribute holds a value pickle cannot store."""


class _StatePickler(pickle.Pickler):
    """Django's pickling, except that a QuerySet keeps its definition, not its rows."""

    def __init__(self, file: io.BytesIO):
        super().__init__(file, pickle.HIGHEST_PROTOCOL)
        # ids of the QuerySets holding rows prefetched into an instance.
        self.prefetched: set[int] = set()

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, models.QuerySet):
            return self.reduce_queryset(obj)
        if isinstance(obj, RawQuerySet):
            return _reduce_raw_queryset(obj)
        if isinstance(obj, models.Model):
            # Seen before its __dict__ is pickled: its prefetched rows are
            # known before the pickler reaches them.
            prefetched = obj.__dict__.get("_prefetched_objects_cache") or {}
            self.prefetched.update(id(queryset) for queryset in prefetched.values())
        return NotImplemented

    def reduce_queryset(self, queryset: models.QuerySet) -> Any:
        # .query applies a related manager's deferred filter, which
        # __dict__ would otherwise carry as a call still to make.
        state = {**queryset.__dict__, "_query": queryset.query, "_deferred_filter": None}
        if id(queryset) not in self.prefetched:
            state.update(_result_cache=None, _prefetch_done=False)
        # QuerySet.__setstate__ checks it, as for a QuerySet Django pickled.
        state[DJANGO_VERSION_PICKLE_KEY] = django.__version__
        return copyreg.__newobj__, (type(queryset),), state


def _reduce_raw_queryset(queryset: RawQuerySet) -> Any:
    state = dict(queryset.__dict__)
    # A fresh RawQuery: an evaluated one holds its database cursor.
    state.update(_result_cache=None, _prefetch_done=False,
                 query=queryset.query.chain(queryset.query.using))
    return copyreg.__newobj__, (type(queryset),), state


def _pickle(value: Any) -> bytes:
    buffer = io.BytesIO()
    _StatePickler(buffer).dump(value)
    return buffer.getvalue()


def _not_picklable(view_class: type, public: dict[str, Any],
                   error: Exception) -> StateNotPicklable:
    """The error naming the first attribute that fails on its own."""
    for name, value in public.items():
        try:
            _pickle(value)
        except _PICKLE_ERRORS as exc:
            error, where = exc, f"{view_class.__qualname__}.{name}"
            break
    else:
        where = f"the public attributes of {view_class.__qualname__}"
    return StateNotPicklable(
        f"{where} cannot be kept between events: {error}. djust pickles a LiveView's "
        "public attributes into its server-side state; hold a value pickle can store "
        "(a list rather than a generator, data rather than a function), or give the "
        "attribute a name starting with '_' if no event needs it."
    )


def _dumps(view_class: type, public: dict[str, Any]) -> bytes:
    try:
        return _pickle(public)
    except _PICKLE_ERRORS as exc:
        raise _not_picklable(view_class, public, exc) from exc


def _loads(view_class: type, data: bytes) -> dict[str, Any] | None:
    try:
        return pickle.loads(data)
    except _STALE_ERRORS as exc:
        # The code changed since the page was rendered: like an expired page.
        logger.warning("djust: a stored state of %s no longer unpickles: %s",
                       view_class.__qualname__, exc)
        return None


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
        "format": _FORMAT,
        "browser": _browser(request),
        "session": _session_key(request),
        "state": _dumps(view_class, public),
    }
    _cache().set(_key(view_class, view_id), entry, conf.get("STATE_TIMEOUT"))


def load(request: HttpRequest, view_class: type, view_id: str) -> dict[str, Any] | None:
    entry = _cache().get(_key(view_class, view_id))
    if not isinstance(entry, dict) or entry.get("format") != _FORMAT:
        return None
    # Ownership first: nothing is unpickled for a request that does not own it.
    if not _owns(request, entry):
        return None
    return _loads(view_class, entry["state"])
