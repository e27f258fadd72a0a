"""An independent reference serializer: what Django's template engine sees.

The property tests compare djust's compiled serializers against this module,
so it deliberately shares no code with ``djust.compiler``. It resolves every
path on the live object with Django's own lookup machinery, one segment at a
time (``django.template.base.Variable`` against a one-name ``Context``), and
builds the nested value that docs/serialization.md describes:

- a node with sub-paths is a dict keyed by its segments; a node whose child
  is ``*`` (or a displayed list/queryset also read by index) is the list of its
  elements, each built from the ``*`` subtree merged with its own index
  subtree (index siblings such as ``0`` are answered by that list); in
  python mode a displayed list or tuple is a :class:`ShownItems` whose
  ``str()`` is the live value's;
- a value both displayed and looked into carries ``"__str__"``; in python
  mode it is a :class:`Shown` dict whose ``str()`` is that text, except that
  python mode keeps a value looked into itself when it is not a model row
  but plain data: a string, number, boolean, date/time/timedelta, Decimal,
  UUID or lazy string, or dicts, lists and tuples of those (it displays and
  answers lookups exactly as the live value does);
- a displayed value is encoded by the leaf rules (querysets, lists and
  tuples become lists of leaf-encoded elements, dicts stay dicts, model
  instances and other objects become ``str()``, plain and temporal values
  stay as they are);
- in python mode a JSONField value that is looked into is kept whole (the
  live value answers every lookup itself);
- ``None`` ends a chain; a lookup Django makes silent leaves its key absent;
  any other exception propagates;
- sensitive names on model instances are absent (``password``, the
  ``DJUST["SENSITIVE_FIELDS"]`` setting, a model's ``djust_sensitive_fields``
  and ``get_session_auth_hash``/``get_session_auth_fallback_hash`` on users),
  and so are those of them a mapping has no model for (all but the model's
  own list) as keys of a mapping, in every spelling whose NFKC form is one of
  them; re-derived here from the settings rather than through djust.

    reference_python(item, ["title", "owner", "owner.username"])
    # {'owner': {'username': 'ann', '__str__': 'ann'}, 'title': 'Lamp'}
    reference_python(item, ["day", "day.year"])
    # {'day': datetime.date(2020, 1, 2)}
    reference_json(item, ["day", "day.year"])
    # {'day': {'year': 2020, '__str__': '2020-01-02'}}
"""

from __future__ import annotations

import datetime
import decimal
import json
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import FieldDoesNotExist
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.template import Context, Engine
from django.template.base import Variable, VariableDoesNotExist
from django.utils.functional import Promise

STAR = "*"
DISPLAY_KEY = "__str__"
_ROOT_NAME = "reference_root"
# Leaves DjangoJSONEncoder converts itself; python mode keeps them as they are.
_KEPT_BY_ENCODER = (
    datetime.date, datetime.time, datetime.timedelta, decimal.Decimal, uuid.UUID, Promise,
)
# Values python mode keeps themselves when displayed and also looked into
# (bool is an int). Anything else, model rows above all, becomes a Shown dict.
_KEPT_WHEN_LOOKED_INTO = (str, int, float, *_KEPT_BY_ENCODER)
MODES = ("json", "python")
# Methods of user models returning HMACs of the password hash.
_USER_METHODS = ("get_session_auth_hash", "get_session_auth_fallback_hash")


class _Invalid:
    """What the engine substitutes for a silent failure; never a real value."""

    def __repr__(self):
        return "<invalid lookup>"


_INVALID = _Invalid()
# The engine only lends its ``string_if_invalid`` to the lookup, so a unique
# marker tells a silent failure apart from any value an object could hold.
_LOOKUP_TEMPLATE = Engine(string_if_invalid=_INVALID).from_string("")


class Absent:
    """Returned by :func:`lookup` when Django's engine fails silently."""

    def __repr__(self):
        return "<absent>"


ABSENT = Absent()


class Shown(dict):
    """A python-mode dict that renders as the object it stands for."""

    def __str__(self):
        return self[DISPLAY_KEY]


class ShownItems(list):
    """A python-mode list standing for a displayed list or tuple (not a
    queryset, whose live text is a repr no template should show): its
    ``str()`` is the live value's text."""

    def __init__(self, items, text: str):
        super().__init__(items)
        self.text = text

    def __str__(self):
        return self.text


@dataclass
class PathTrie:
    """The paths of one serializer, merged segment by segment."""

    children: dict[str, PathTrie] = field(default_factory=dict)
    bare: bool = False

    @classmethod
    def from_paths(cls, paths) -> PathTrie:
        root = cls()
        for path in paths:
            node = root
            for segment in path.split(".") if path else ():
                node = node.children.setdefault(segment, cls())
            node.bare = True
        return root

    def merge(self, other: PathTrie) -> None:
        self.bare = self.bare or other.bare
        for segment, sub in other.children.items():
            self.children.setdefault(segment, PathTrie()).merge(sub)


def lookup(obj, segment: str):
    """Resolve one template lookup bit on ``obj`` exactly as Django does.

    >>> lookup({"a": 1}, "a")
    1
    >>> lookup({"a": 1}, "b")
    <absent>
    """
    context = Context({_ROOT_NAME: obj})
    context.template = _LOOKUP_TEMPLATE
    try:
        value = Variable(f"{_ROOT_NAME}.{segment}").resolve(context)
    except VariableDoesNotExist:
        return ABSENT
    return ABSENT if value is _INVALID else value


def sensitive_names(obj) -> frozenset[str]:
    """Names never emitted from ``obj``: on a model row ``password``, the
    setting, the model's own list and, on users, the two session-hash
    methods; on a mapping (no model to ask) all of those but the model's
    own list; nothing on other values. Compare with :func:`is_hidden`.

    >>> sensitive_names(object())
    frozenset()
    >>> sorted(sensitive_names({}))
    ['get_session_auth_fallback_hash', 'get_session_auth_hash', 'password']
    """
    configured = (getattr(settings, "DJUST", None) or {}).get("SENSITIVE_FIELDS", ())
    everywhere = {"password", *configured, *_USER_METHODS}
    if isinstance(obj, Mapping):
        return frozenset(everywhere)
    if not isinstance(obj, models.Model):
        return frozenset()
    names = {"password", *configured, *getattr(type(obj), "djust_sensitive_fields", ())}
    if isinstance(obj, AbstractBaseUser):
        names.update(_USER_METHODS)
    return frozenset(names)


def is_hidden(segment: str, names: frozenset[str]) -> bool:
    """True when ``segment`` is one of ``names`` as Python reads identifiers
    (NFKC): a refused name spelled in other letters is refused too.

    >>> is_hidden("\uff50assword", frozenset({"password"}))
    True
    """
    def nfkc(name):
        return unicodedata.normalize("NFKC", name)

    return segment in names or nfkc(segment) in {nfkc(name) for name in names}


def is_json_field(obj, name: str) -> bool:
    """True when ``name`` is a JSONField of the model row ``obj``.

    >>> is_json_field(object(), "data")
    False
    """
    if not isinstance(obj, models.Model):
        return False
    try:
        field = obj._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return isinstance(field, models.JSONField)


def iterate(value) -> list:
    """The elements ``{% for x in value %}`` visits, in order."""
    return list(value)


def encode_leaf(value):
    """A displayed value, per the leaf rules (temporal values kept as is).

    >>> encode_leaf(("a", 1))
    ['a', 1]
    """
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, (list, tuple, models.QuerySet)):
        return [encode_leaf(element) for element in value]
    if isinstance(value, dict):
        return {key: encode_leaf(element) for key, element in value.items()}
    if isinstance(value, _KEPT_BY_ENCODER):
        return value
    return str(value)


def _build(value, trie: PathTrie, mode: str):
    if not trie.children:
        return encode_leaf(value)
    if value is None:
        return None
    if mode == "python" and _is_plain_data(value):
        # Plain data (not a model row) answers every lookup as it does live.
        return value
    # Indexing alone keeps the dict form ({"0": ...}) so that elements never
    # read stay on the server; once displayed, every element shows anyway.
    if STAR in trie.children or (
        trie.bare
        and isinstance(value, (list, tuple, models.QuerySet))
        and all(map(_is_index, trie.children))
    ):
        return _build_list(value, trie, mode)
    return _build_dict(value, trie, mode)


def _kept_when_looked_into(value) -> bool:
    return not isinstance(value, models.Model) and isinstance(value, _KEPT_WHEN_LOOKED_INTO)


def _is_plain_data(value, depth: int = 0) -> bool:
    """A kept scalar, or dicts, lists and tuples holding only such values."""
    if value is None or _kept_when_looked_into(value):
        return True
    if depth > 32 or type(value) not in (dict, list, tuple):
        return False
    items = value.items() if type(value) is dict else enumerate(value)
    return all(_is_plain_data(key, depth + 1) and _is_plain_data(item, depth + 1)
               for key, item in items)


def _is_index(segment: str) -> bool:
    return segment.isascii() and segment.isdigit()


def _build_list(value, trie: PathTrie, mode: str) -> list:
    """Each element built from the ``*`` subtree merged with its index subtree.

    A displayed collection displays its elements, so they inherit ``bare``:
    ``join`` and ``first`` then see the same strings as on the live value.
    """
    star = trie.children.get(STAR)
    indexed = {int(s): sub for s, sub in trie.children.items() if _is_index(s)}
    out = []
    for position, element in enumerate(iterate(value)):
        merged = PathTrie(bare=trie.bare)
        for sub in (star, indexed.get(position)):
            if sub is not None:
                merged.merge(sub)
        out.append(_build(element, merged, mode))
    if mode == "python" and trie.bare and isinstance(value, (list, tuple)):
        return ShownItems(out, str(value))
    return out


def _build_dict(value, trie: PathTrie, mode: str) -> dict:
    out = Shown() if trie.bare else {}
    hidden = sensitive_names(value)
    for segment in sorted(trie.children):
        if is_hidden(segment, hidden):
            continue
        found = lookup(value, segment)
        if found is ABSENT:
            continue
        if mode == "python" and trie.children[segment].children and is_json_field(value, segment):
            # Kept whole: plain data answers every lookup as the live value.
            out[segment] = found
            continue
        out[segment] = _build(found, trie.children[segment], mode)
    if trie.bare:
        out[DISPLAY_KEY] = str(value)
    return out


def _reference(instance, paths, mode: str) -> dict:
    trie = PathTrie.from_paths(paths)
    if not trie.children:
        return Shown({DISPLAY_KEY: str(instance)}) if trie.bare else {}
    return _build_dict(instance, trie, mode)


def reference_python(instance, paths) -> dict:
    """The python-mode serialized value of one instance for ``paths``.

    Always a dict; it is a :class:`Shown` when ``""`` is among the paths.
    Values are the live Python values (see the module docstring for what
    is kept when displayed and looked into).
    """
    return _reference(instance, paths, "python")


def to_json(value):
    """What a JSON-mode serializer must produce for a python-mode value."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def reference_json(instance, paths) -> dict:
    """The JSON-mode serialized value of one instance for ``paths``.

    Every value both displayed and looked into is a dict with ``"__str__"``.
    """
    return to_json(_reference(instance, paths, "json"))


def reference_many(instances, paths, *, mode: str = "json") -> list:
    """Reference for each element of a collection, in iteration order."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    build = reference_json if mode == "json" else reference_python
    return [build(instance, paths) for instance in iterate(instances)]
