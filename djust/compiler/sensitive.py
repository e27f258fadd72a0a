"""Which names djust never emits, and the one cache of that setting.

A name is sensitive on a model when it is

- ``password``, on every model, always (the setting adds to it, never
  replaces it);
- listed in ``DJUST["SENSITIVE_FIELDS"]``, on every model;
- listed in the model's own ``djust_sensitive_fields``;
- ``get_session_auth_hash`` and ``get_session_auth_fallback_hash`` (HMACs
  of the password hash, the second made with ``SECRET_KEY_FALLBACKS``), on
  user models (``AbstractBaseUser``).

A name is refused in every spelling Python reads as it: generated code is
compiled from text, where an identifier is NFKC-normalised (``obj.password``
in fullwidth letters reads ``obj.password``), so the sets answer ``in`` for
a name's NFKC form as well (``Names``). On a mapping (a dict, a ``values()`` row), which has no
model to ask, the names refused on every model (``refused_everywhere``:
``password``, the setting, the user methods) are refused as keys.

Every stage that could emit a value asks here: the access tree
(``sensitive_names``) types such a path as a childless SENSITIVE node (and
warns once per model and path, ``warn_once``), and the generic run-time
lookup (``known_sensitive_names``, the same cache without re-reading the
model) answers MISSING for such a name on a model row, and for
``refused_everywhere`` on a mapping. The setting is read
once and again after Django's ``setting_changed`` for ``DJUST``
(``override_settings``, the test ``settings`` fixture);
``sensitive_settings()`` is what a compiled serializer's cache key records
of it.

    >>> from django.contrib.auth.models import User
    >>> sorted(sensitive_names(User))
    ['get_session_auth_fallback_hash', 'get_session_auth_hash', 'password']
    >>> "\uff50assword" in sensitive_names(User)
    True
"""

from __future__ import annotations

import copy
import threading
import unicodedata
import warnings
from collections.abc import Mapping

from django.contrib.sessions.backends.base import SessionBase
from django.core.signals import setting_changed
from django.db.models import Model

from djust import conf
from djust.compiler.paths import split_path

ALWAYS = "password"
# Methods of user models returning HMACs of the password hash.
USER_ONLY = ("get_session_auth_hash", "get_session_auth_fallback_hash")
# A process defines its models once; test runs build models per test
# (isolate_apps), which must not pile up here.
_MAX_MODELS = 512


class SensitiveFieldWarning(UserWarning):
    """A template reads a field djust never emits."""


def identifier_form(name: str) -> str:
    """``name`` as Python reads it when written as an identifier (NFKC).

        >>> identifier_form("\uff50assword"), identifier_form("email")
        ('password', 'email')
    """
    return name if name.isascii() else unicodedata.normalize("NFKC", name)


class Names(frozenset):
    """Refused names; ``in`` also answers True for any spelling whose NFKC
    form is one of them (or the NFKC form of one of them), so a refused name
    cannot be spelled around.

        >>> names = Names(["password"])
        >>> "password" in names, "\uff50assword" in names, "email" in names
        (True, True, False)
    """

    __slots__ = ()

    def __new__(cls, names=()):
        names = [name for name in names if isinstance(name, str)]
        return super().__new__(cls, [*names, *map(identifier_form, names)])

    def __contains__(self, name) -> bool:
        if frozenset.__contains__(self, name):
            return True
        return (isinstance(name, str) and not name.isascii()
                and frozenset.__contains__(self, unicodedata.normalize("NFKC", name)))


# Both memos are dropped together when the setting changes; the generation
# keeps a read that raced with a change from storing what it read before.
_lock = threading.Lock()
_generation = 0
_settings: tuple[str, ...] | None = None
_everywhere: Names | None = None
# model -> (its djust_sensitive_fields as last read, its sensitive names)
_by_model: dict[type, tuple[object, frozenset[str]]] = {}


def sensitive_settings() -> tuple[str, ...]:
    """``DJUST["SENSITIVE_FIELDS"]`` as a tuple, re-read when settings change.

        >>> "password" in sensitive_settings()
        True
    """
    global _settings
    names = _settings
    if names is not None:
        return names
    generation = _generation
    names = tuple(conf.get("SENSITIVE_FIELDS"))
    with _lock:
        if generation == _generation:
            _settings = names
    return names


def refused_everywhere() -> Names:
    """The names refused on every model, hence the keys refused on a mapping
    (a dict has no model to read ``djust_sensitive_fields`` from):
    ``password``, ``DJUST["SENSITIVE_FIELDS"]`` and the user methods.

        >>> sorted(refused_everywhere())
        ['get_session_auth_fallback_hash', 'get_session_auth_hash', 'password']
    """
    global _everywhere
    names = _everywhere
    if names is not None:
        return names
    generation = _generation
    names = Names([ALWAYS, *sensitive_settings(), *USER_ONLY])
    with _lock:
        if generation == _generation:
            _everywhere = names
    return names


def sensitive_names(model: type) -> frozenset[str]:
    """Attribute names of ``model`` that djust never emits.

        >>> from examples.rentals.models import Tenant
        >>> sorted(sensitive_names(Tenant))
        ['password']
    """
    # Read each time: a model's own list may change (the schema fingerprint
    # follows it too), and comparing it is cheaper than rebuilding the set.
    declared = getattr(model, "djust_sensitive_fields", ()) or ()
    memo = _by_model.get(model)
    if memo is not None and memo[0] == declared:
        return memo[1]
    generation = _generation
    names = _names_of(model, sensitive_settings(), declared)
    with _lock:
        if generation == _generation:
            if len(_by_model) >= _MAX_MODELS:
                _by_model.clear()
            _by_model[model] = (copy.copy(declared), names)
    return names


def known_sensitive_names(model: type) -> frozenset[str]:
    """``sensitive_names(model)`` as last computed, without re-reading the
    model's own list: for the run-time lookup, where that read would cost a
    quarter of the lookup. Every compilation goes through
    ``sensitive_names``, which refreshes what this answers.

        >>> from examples.rentals.models import Unit
        >>> known_sensitive_names(Unit) == sensitive_names(Unit)
        True
    """
    memo = _by_model.get(model)
    if memo is not None:
        return memo[1]
    return sensitive_names(model)


def refused_on(value, name: str) -> bool:
    """Whether the template lookup of ``name`` on ``value`` is refused: a
    sensitive name of a model instance (``known_sensitive_names``), a name
    refused everywhere as a key of a mapping (a dict, a ``values()`` row, a
    ``QueryDict``), and anything but a stored key on a session (its
    ``items``, ``values``, ``keys`` would show the session's private keys,
    ``_auth_user_hash`` among them). Django's lazy wrappers answer for what
    they wrap (``request.user``).

        >>> from django.contrib.auth.models import User
        >>> refused_on(User(), "password"), refused_on(User(), "email")
        (True, False)
        >>> refused_on({"password": 1}, "\uff50assword"), refused_on([1], "password")
        (True, False)
    """
    # ``__class__``, not ``type()``: a LazyObject reports what it wraps.
    cls = value.__class__
    if isinstance(cls, type) and issubclass(cls, Model):
        return name in known_sensitive_names(cls)
    if isinstance(value, SessionBase):
        return name not in value
    return isinstance(value, Mapping) and name in refused_everywhere()


# A mapping's methods that show its values (Django calls them: no arguments).
MAPPING_VIEWS = frozenset({"items", "values", "keys", "copy", "lists"})


def before_lookup(value, name: str):
    """What the lookup of ``name`` reads ``value`` as: a mapping without its
    refused keys when ``name`` is one of its ``MAPPING_VIEWS`` (and not a
    key), else ``value`` itself.

        >>> before_lookup({"password": "x", "a": 1}, "items")
        {'a': 1}
        >>> before_lookup({"items": 2}, "items")
        {'items': 2}
    """
    if name in MAPPING_VIEWS and isinstance(value, Mapping) and name not in value:
        return visible_mapping(value)
    return value


def visible_mapping(mapping: Mapping) -> Mapping:
    """``mapping`` as its ``items``/``values``/``keys``/``copy`` may show it:
    without its refused keys (``refused_everywhere``), or itself when it has
    none. For a lookup of one of ``MAPPING_VIEWS`` that is not a key.

        >>> visible_mapping({"password": "x", "name": "y"})
        {'name': 'y'}
    """
    refused = refused_everywhere()
    if not any(key in refused for key in mapping):
        return mapping
    return {key: value for key, value in mapping.items() if key not in refused}


def _names_of(model: type, configured: tuple[str, ...], declared) -> Names:
    # Imported here: the auth models need the app registry, which importing
    # the compiler must not.
    from django.contrib.auth.base_user import AbstractBaseUser

    names = [ALWAYS, *configured, *declared]
    if issubclass(model, AbstractBaseUser):
        names.extend(USER_ONLY)
    return Names(names)


def _forget_settings(*, setting: str, **_kwargs) -> None:
    global _everywhere, _generation, _settings
    if setting == "DJUST":
        with _lock:
            _generation += 1
            _settings = None
            _everywhere = None
            _by_model.clear()


setting_changed.connect(_forget_settings, dispatch_uid="djust.compiler.sensitive")


_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def warn_once(root: type, owner: type, path: str, *, stacklevel: int = 2) -> None:
    """Warn (``SensitiveFieldWarning``) that ``path`` of ``root`` reads a
    sensitive name of ``owner``: once per (root model, path) per process.

        >>> import warnings
        >>> from django.contrib.auth.models import User
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     warn_once(User, User, "doc.example.password")
        ...     warn_once(User, User, "doc.example.password")
        >>> len(caught), str(caught[0].message)  # doctest: +ELLIPSIS
        (1, "auth.User: path 'doc.example.password' reads auth.User.password, a sensitive ...")
    """
    key = (root._meta.label, path)
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(
        f"{root._meta.label}: path {path!r} reads {owner._meta.label}."
        f"{split_path(path)[-1]}, a sensitive field; djust never emits it",
        SensitiveFieldWarning,
        stacklevel=stacklevel + 1,
    )


def forget_warnings() -> None:
    """Let every sensitive path warn again (for tests: warnings are once
    per process).

        >>> forget_warnings()
    """
    with _warned_lock:
        _warned.clear()
