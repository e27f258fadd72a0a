"""The two output modes, and every leaf rule they own.

One typed access tree, two outputs (docs/serialization.md, "Leaves and
modes"):

- ``JSON``: the wire and the LiveView state; exactly what
  ``json.loads(json.dumps(value, cls=DjangoJSONEncoder))`` gives, with
  ``str(value)`` for what the encoder cannot write;
- ``PYTHON``: server-side rendering; Python values kept, ``str(value)`` for
  model instances, managers and other objects (a ``TruthyText`` when that
  text is empty but the object is true, so ``{% if %}`` agrees with the
  live object), lists for querysets, lists and tuples, and containers that
  answer the template as the live value would (``runtime.Displayed``,
  ``Rows``, ``ShownList``).

A mode is an object: code that encodes asks it (``mode.encode``,
``mode.field_leaf``, ``mode.renders``) instead of testing its name. The
public API names modes by string (``compile_serializer(..., mode="json")``);
``named`` maps the string to the object at that boundary.

    >>> named("json").encode({"when": datetime.date(2024, 5, 1)})
    {'when': '2024-05-01'}
    >>> named("python").renders, JSON.field_leaf(models.DecimalField)
    (True, Leaf(how='builtin', name='str'))
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.db import models
from django.db.models.query import QuerySet
from django.utils.duration import duration_iso_string
from django.utils.functional import Promise

# Values both modes return unchanged (generated code tests ``type in``).
PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})
# Values python mode keeps as they are.
KEPT_TYPES = (
    str, int, float, datetime.date, datetime.time, datetime.timedelta,
    decimal.Decimal, uuid.UUID, Promise,
)

# ------------------------------------------------------------ display text


class TruthyText(str):
    """The empty display text of an object a template finds true (python mode).

    A row only displayed becomes its text; when ``str(row)`` is ``""`` a
    plain string would make ``{% if row %}`` false while the live row is
    true. This text renders, compares and measures like the plain string
    and is true whatever it holds.

        >>> text = TruthyText("")
        >>> bool(text), text == "", len(text), f"[{text}]"
        (True, True, 0, '[]')
    """

    __slots__ = ()

    def __bool__(self):
        return True

    def __reduce__(self):
        return (TruthyText, (str(self),))


def truthy_text(value):
    """What python mode shows for ``value`` whose ``str()`` is empty: a
    ``TruthyText`` when a template finds ``value`` true, else ``""``.

    Generated code writes ``str(value) or truthy_text(value)``, so the common
    case of a non-empty text costs no call.

        >>> type(truthy_text(object())).__name__, truthy_text([])
        ('TruthyText', '')
    """
    return TruthyText("") if value else ""


def display_text(value):
    """``str(value)``, kept true when ``value`` is true (see ``TruthyText``).

        >>> display_text(3.5), bool(display_text(type("Blank", (), {"__str__": lambda s: ""})()))
        ('3.5', True)
    """
    return str(value) or truthy_text(value)


# ------------------------------------------------------------ python rows

class Displayed(dict):
    """A dict for an object both displayed and looked into (python mode).

    Its ``"__str__"`` key holds ``str(object)``, and ``str()`` of the dict
    returns it, so ``{{ lease.tenant }}`` renders as the live object does
    while ``{{ lease.tenant.phone }}`` still finds its key.

        >>> tenant = Displayed({"__str__": "Ada Lovelace", "phone": "555"})
        >>> str(tenant), tenant["phone"]
        ('Ada Lovelace', '555')
    """

    __slots__ = ()

    def __str__(self):
        return self["__str__"]


class ShownText:
    """A list or dict (python mode) displayed as the live value it stands
    for: ``str()`` is ``text``, the live value's own text, kept apart from
    the items."""

    __slots__ = ()

    # Underscored: a template cannot read ``_text`` (``{{ d.text }}`` must
    # fail on the dict as it does live).
    def __init__(self, items=(), text=""):
        super().__init__(items)
        self._text = text

    def __str__(self):
        return self._text

    def __reduce__(self):
        plain = list if isinstance(self, list) else dict
        return (type(self), (plain(self), self._text))


class ShownDict(ShownText, dict):
    """A dict both displayed and looked into (python mode): every key of
    the live dict, so ``|length``, ``.items`` and the display agree with it.

        >>> shown = ShownDict({"a": 1, "b": 2}, "{'a': 1, 'b': <Row>}")
        >>> len(shown), str(shown)
        (2, "{'a': 1, 'b': <Row>}")
    """

    __slots__ = ("_text",)


def shown_dict(values: dict, live: dict) -> ShownDict:
    """``live`` with its values encoded for python mode, the sub-paths the
    template reads from ``values`` (built by the serializer) over them."""
    text = values.pop("__str__")
    whole = {key: encode_python(item) for key, item in live.items()}
    whole.update(values)
    return ShownDict(whole, text)


# The key under which a python-mode dict being built collects the exceptions
# its lookups raised (``raise_later``); ``make_row`` moves them into the row.
RAISED = "__raised__"


class Row:
    """A model instance, or another object a template looks into, as python
    mode serializes it: the values of exactly the names the template reads.

    It answers the template as the live object does (docs/serialization.md,
    "Rows"): ``value[bit]`` finds a read name; a name whose lookup raised
    re-raises that exception when, and only when, the template reaches it;
    any other name fails as an attribute the object lacks (no mapping or
    list methods); ``==`` and ``hash`` follow ``Model.__eq__`` (concrete
    model and primary key, also against live instances); ``str()`` is the
    object's display text and ``bool()`` its truth.

        >>> from examples.rentals.models import Unit
        >>> unit = Unit(pk=3, number="4B")
        >>> row = make_row({"__str__": "Unit 4B", "number": "4B"}, unit)
        >>> row["number"], str(row), row == unit, row == Unit(pk=4)
        ('4B', 'Unit 4B', True, False)
    """

    __slots__ = ("_class", "_pk", "_raised", "_truth", "_values")

    def __getitem__(self, key):
        return self._values[key]

    def __getattr__(self, name):
        # Reached only when ordinary lookup fails: the slots are set, so a
        # private name here is one the row does not have.
        if name[:1] == "_":
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            pass
        raised = self._raised
        if raised is not None and name in raised:
            error, trace = raised[name]
            # The traceback of the lookup that raised, not one growing with
            # every read of the row.
            raise error.with_traceback(trace)
        raise AttributeError(f"{self._class.__name__!r} object has no attribute {name!r}")

    def __dir__(self):
        # Django re-raises an AttributeError or TypeError only for a name
        # the object has (``bit in dir(current)``): the names the row read.
        names = [name for name in self._values if name != "__str__"]
        return names + list(self._raised or ())

    def __iter__(self):
        raise TypeError(f"{self._class.__name__!r} object is not iterable")

    def __str__(self):
        raised = self._raised
        if raised is not None and "__str__" in raised:
            error, trace = raised["__str__"]
            raise error.with_traceback(trace)
        text = self._values.get("__str__")
        return text if text is not None else TruthyText("")

    def __repr__(self):
        return f"<{self._class.__name__}: {self}>"

    def __bool__(self):
        return self._truth

    def __eq__(self, other):
        mine = _identity(self)
        if mine is None:
            return self is other
        theirs = _identity(other)
        if theirs is None:
            return NotImplemented
        if mine[0] is not theirs[0]:
            return False
        if mine[1] is None:
            return self is other
        return mine[1] == theirs[1]

    def __hash__(self):
        mine = _identity(self)
        if mine is None:
            return object.__hash__(self)
        if mine[1] is None:
            raise TypeError("Model instances without primary key value are unhashable")
        return hash(mine[1])

    def __reduce__(self):
        return (_rebuilt_row, (self._values, self._class, self._pk, self._raised, self._truth))


def _rebuilt_row(values, klass, pk, raised, truth):
    row = Row.__new__(Row)
    row._values, row._class, row._pk, row._raised, row._truth = values, klass, pk, raised, truth
    return row


def _identity(value):
    """(concrete model, pk) of a model instance or of a row of one; None
    for anything else."""
    if value.__class__ is Row:
        klass = value._class
        if isinstance(klass, type) and issubclass(klass, models.Model):
            return klass._meta.concrete_model, value._pk
        return None
    if isinstance(value, models.Model):
        return value._meta.concrete_model, value.pk
    return None


def make_row(values: dict, obj):
    """The python-mode value of ``obj`` looked into: ``values`` as a Row,
    or as a dict when ``obj`` is itself a mapping (a dict answers its own
    methods live too). Exceptions ``raise_later`` collected go with it.

        >>> make_row({"a": 1}, {"a": 1, "b": 2})
        {'a': 1}
    """
    raised = values.pop(RAISED, None)
    if obj.__class__ is dict and "__str__" in values:
        return shown_dict(values, obj)
    if isinstance(obj, Mapping):
        return Displayed(values) if "__str__" in values else values
    row = Row.__new__(Row)
    row._values = values
    row._class = obj.__class__
    row._pk = obj.pk if isinstance(obj, models.Model) else None
    row._raised = raised
    try:
        row._truth = bool(obj)
    except Exception:
        row._truth = True
    return row


def model_row(values: dict, model, pk):
    """``make_row`` for a projection's row of ``model`` with key ``pk``:
    no instance exists (``projection``).

        >>> from examples.rentals.models import Unit
        >>> model_row({"number": "4B"}, Unit, 3) == Unit(pk=3)
        True
    """
    row = Row.__new__(Row)
    row._values = values
    row._class = model
    row._pk = pk
    row._raised = values.pop(RAISED, None)
    row._truth = True
    return row


class _Absent:
    """A list method a QuerySet does not have: looking it up fails as on
    the QuerySet, so ``{{ rows.pop }}`` or ``{{ rows.reverse }}`` (unless
    read as the QuerySet's own) never reaches the list."""

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        raise AttributeError(f"'QuerySet' object has no attribute {self.name!r}")


class QueryRows(list):
    """The rows of a QuerySet in python mode, answering what the QuerySet answers.

    The rows are the list; every other lookup the template makes on the
    QuerySet (``count``, ``exists``, ``first``, ``all``, ``reverse``,
    ``ordered``...) was answered when serializing and sits in ``lookups``
    (Django's engine tries ``value[bit]`` first); one that raised is in
    ``raised`` and raises only when the template reads it. List methods a
    QuerySet lacks fail as on the QuerySet, nothing changes the rows in
    place, ``==`` is identity as for QuerySets (``{% ifchanged %}``), and
    ``str()`` is ``str(shown)``: the QuerySet's text when displayed.

        >>> rows = QueryRows([1, 2], {"count": 2})
        >>> rows["count"], rows[0], list(rows), rows == QueryRows([1, 2], {"count": 2})
        (2, 1, [1, 2], False)
    """

    # Underscored: a template cannot read them (``{{ gs.shown }}`` fails as live).
    __slots__ = ("_lookups", "_raised", "_shown")

    for _name in ("append", "clear", "copy", "count", "extend", "index", "insert", "pop",
                  "remove", "reverse", "sort"):
        locals()[_name] = _Absent()
    del _name

    def __init__(self, items=(), lookups=None, shown=None, raised=None):
        super().__init__(items)
        self._lookups = dict(lookups or {})
        self._shown = shown
        self._raised = dict(raised or {})

    def __getitem__(self, key):
        if isinstance(key, str):
            if key in self._raised:
                self._raise(key)
            return self._lookups[key]
        return list.__getitem__(self, key)

    def __getattr__(self, name):
        if name[:1] == "_":
            raise AttributeError(name)
        if name in self._raised:
            self._raise(name)
        try:
            return self._lookups[name]
        except KeyError:
            raise AttributeError(f"'QuerySet' object has no attribute {name!r}") from None

    def _raise(self, name):
        error, trace = self._raised[name]
        raise error.with_traceback(trace)

    def __dir__(self):
        return [*self._lookups, *self._raised]

    def __str__(self):
        return str(self._shown) if self._shown is not None else list.__repr__(self)

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other

    __hash__ = object.__hash__

    def __reduce__(self):
        return (QueryRows, (list(self), self._lookups, None if self._shown is None
                            else str(self._shown)))


def row_values(row):
    """A python-mode row as the browser's JSON carries it: the dict of its
    values, or its text when the template only displays or compares it.

        >>> row_values(make_row({"a": 1}, object())), row_values(make_row({"__str__": "x"}, 1))
        ({'a': 1}, 'x')
    """
    values = row._values
    if len(values) == 1 and "__str__" in values:
        return values["__str__"]
    return values


def plain(value):
    """``value`` with every python-mode row, at any depth, as
    ``row_values`` gives it: what the browser's JSON carries, and what
    tests compare.

        >>> plain([make_row({"a": 1}, object())])
        [{'a': 1}]
    """
    if value.__class__ is Row:
        values = row_values(value)
        return values if isinstance(values, str) else {
            key: plain(item) for key, item in values.items()}
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


# ------------------------------------------------------------ json leaves

_DATETIME = datetime.datetime
_UTC = datetime.UTC


def encode_datetime(value):
    """DjangoJSONEncoder's datetime rule: ms precision, ``Z`` for UTC.

        >>> encode_datetime(datetime.datetime(2024, 1, 2, 3, 4, 5, 678901,
        ...                                   tzinfo=datetime.timezone.utc))
        '2024-01-02T03:04:05.678Z'
    """
    if value.__class__ is _DATETIME and value.tzinfo is _UTC:
        # What Django reads with USE_TZ. The naive date and time formatted
        # apart skip isoformat()'s offset formatting: a third of the cost.
        if value.microsecond:
            return value.date().isoformat() + "T" + value.time().isoformat()[:12] + "Z"
        return value.date().isoformat() + "T" + value.time().isoformat() + "Z"
    # Anything else, a subclass's own isoformat() included: the rule itself.
    text = value.isoformat()
    if value.microsecond:
        text = text[:23] + text[26:]
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def encode_time(value):
    """DjangoJSONEncoder's time rule, including its refusal of aware times.

        >>> encode_time(datetime.time(9, 30, 0, 123456))
        '09:30:00.123'
    """
    if value.utcoffset() is not None:
        raise ValueError("JSON can't represent timezone-aware times.")
    text = value.isoformat()
    if value.microsecond:
        text = text[:12]
    return text


def encode_duration(value):
    """``duration_iso_string``, as DjangoJSONEncoder writes a timedelta.

        >>> encode_duration(datetime.timedelta(days=1, seconds=5))
        'P1DT00H00M05S'
    """
    return duration_iso_string(value)


def json_leaf(value):
    """A value ``json.dumps`` cannot write by itself, as DjangoJSONEncoder
    writes it, or as the template displays it (``str``) when the encoder
    cannot either. The LiveView's state encoder uses it as its ``default``.

        >>> json_leaf(decimal.Decimal("2.50")), json_leaf(datetime.timedelta(0))
        ('2.50', 'P0DT00H00M00S')
    """
    if isinstance(value, datetime.datetime):
        return encode_datetime(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time):
        return encode_time(value)
    if isinstance(value, datetime.timedelta):
        return encode_duration(value)
    # Decimal, UUID and lazy text are written as their text, like the rest.
    return str(value)


def _json_key(key):
    # json.dumps converts dict keys this way before writing them.
    if isinstance(key, str):
        return str.__str__(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, float):
        return float.__repr__(key)
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def encode_json(value):
    """Any value as ``json.loads(json.dumps(value, cls=DjangoJSONEncoder))``.

    What the encoder cannot write (model instances, managers, files, ...)
    becomes ``str(value)``, as a template displays it; querysets become
    lists.

        >>> encode_json({"when": datetime.date(2024, 5, 1), 1: decimal.Decimal("2.50")})
        {'when': '2024-05-01', '1': '2.50'}
    """
    if type(value) in PLAIN_TYPES:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        # json.dumps writes int and float subclasses (IntEnum, ...) by value.
        return int.__index__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, dict):
        return {_json_key(key): encode_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, QuerySet)):
        return [encode_json(item) for item in value]
    return json_leaf(value)


# ---------------------------------------------------------- python leaves


def encode_python(value):
    """Any value for server-side rendering: Python values kept.

    Dicts, lists, tuples (as tuples) and querysets (as lists) are rebuilt
    recursively; a model instance becomes a ``Row`` holding its text and
    identity; managers and other objects become their display text
    (``display_text``: ``str(value)``, still true when it is empty).

        >>> encode_python([(datetime.date(2024, 5, 1), None)])
        [(datetime.date(2024, 5, 1), None)]
    """
    if type(value) in PLAIN_TYPES or isinstance(value, KEPT_TYPES):
        return value
    if isinstance(value, dict):
        return {key: encode_python(item) for key, item in value.items()}
    if isinstance(value, tuple):
        # A tuple displays as a tuple: ``{{ pair }}`` shows ``('a', 1)``.
        items = [encode_python(item) for item in value]
        return value._make(items) if hasattr(value, "_make") else tuple(items)
    if isinstance(value, QuerySet):
        # Its rows, displayed as the QuerySet (its text read from the rows
        # just fetched) and compared by identity, as QuerySets are.
        rows = [encode_python(item) for item in value]
        return QueryRows(rows, None, str(value))
    if isinstance(value, list):
        return [encode_python(item) for item in value]
    if isinstance(value, models.Model):
        # Displayed, and compared as the instance is (``Row``).
        return make_row({"__str__": str(value)}, value)
    return display_text(value)


def is_kept_leaf(value) -> bool:
    """True for a value python mode keeps as is even when also looked into.

    A template displays and looks into such a value (``{{ day }}``,
    ``{{ day.year }}``, ``{{ day|date:"Y" }}``) exactly as the live value,
    and it cannot reach the database.

        >>> is_kept_leaf(datetime.date(2024, 5, 1)), is_kept_leaf({"a": 1})
        (True, False)
    """
    return type(value) in PLAIN_TYPES or isinstance(value, KEPT_TYPES)


_DATA_CONTAINERS = (dict, list, tuple)


def is_plain_data(value, depth: int = 0) -> bool:
    """True for a value made only of kept leaves in dicts, lists and tuples
    (a JSON value, say): python mode keeps it whole, since it answers every
    lookup (``|length``, ``.items``, an index) as the live value does and
    cannot reach the database.

        >>> is_plain_data({"a": [1, (2, None)]}), is_plain_data({"a": object()})
        (True, False)
    """
    if type(value) in PLAIN_TYPES or isinstance(value, KEPT_TYPES):
        return True
    if type(value) not in _DATA_CONTAINERS or depth > 32:
        return False
    if type(value) is dict:
        return all(is_plain_data(key, depth + 1) and is_plain_data(item, depth + 1)
                   for key, item in value.items())
    return all(is_plain_data(item, depth + 1) for item in value)


def is_kept_value(value) -> bool:
    """What python mode keeps as it is when displayed and looked into: a
    kept leaf or plain data.

        >>> is_kept_value([1, 2]), is_kept_value(object())
        (True, False)
    """
    return is_kept_leaf(value) or is_plain_data(value)


# ---------------------------------------------------------- typed fields


@dataclass(frozen=True)
class Leaf:
    """How generated code writes a typed field's value: call the run-time
    helper ``name`` (``how="helper"``), the builtin ``name`` or the value's
    method ``name``."""

    how: str
    name: str


# The generic encoder, named as generated code loads it (``runtime``).
ENCODE = Leaf("helper", "_encode")

# Field classes whose Python values are already JSON values.
_PLAIN_FIELDS = frozenset({
    models.AutoField, models.BigAutoField, models.SmallAutoField,
    models.IntegerField, models.BigIntegerField, models.SmallIntegerField,
    models.PositiveIntegerField, models.PositiveBigIntegerField,
    models.PositiveSmallIntegerField, models.FloatField, models.BooleanField,
    models.CharField, models.TextField, models.EmailField, models.SlugField,
    models.URLField, models.FilePathField, models.GenericIPAddressField,
})
_JSON_FIELDS: Mapping[type, Leaf | None] = {
    **dict.fromkeys(_PLAIN_FIELDS),
    models.DateTimeField: Leaf("helper", "_dt"),
    models.DateField: Leaf("method", "isoformat"),
    models.TimeField: Leaf("helper", "_time"),
    models.DurationField: Leaf("helper", "_dur"),
    models.DecimalField: Leaf("builtin", "str"),
    models.UUIDField: Leaf("builtin", "str"),
}
# Field classes whose Python values python mode keeps as they are.
_PYTHON_FIELDS: Mapping[type, Leaf | None] = dict.fromkeys(_PLAIN_FIELDS | {
    models.DateTimeField, models.DateField, models.TimeField, models.DurationField,
    models.DecimalField, models.UUIDField,
})


# ------------------------------------------------------------- the modes


@dataclass(frozen=True)
class Mode:
    """An output mode. ``encode`` writes any value; ``fields`` says how a
    typed field's values are written (absent: ``encode``; None: as they
    are). ``renders`` is true for the mode a template renders from: values
    stay Python values (a choice's label included), an object both displayed
    and looked into stays displayable (``Displayed``, ``ShownList``), a list
    keeps its sibling lookups (``Rows``) and an empty display text stays true
    (``TruthyText``); the JSON mode writes plain JSON instead."""

    name: str
    encode: Callable[[object], object]
    fields: Mapping[type, Leaf | None]
    renders: bool

    def field_leaf(self, field_class: type | None) -> Leaf | None:
        """How a value of ``field_class`` is written; None: as it is.

            >>> PYTHON.field_leaf(models.DateField) is None, JSON.field_leaf(models.JSONField)
            (True, Leaf(how='helper', name='_encode'))
        """
        return self.fields.get(field_class, ENCODE)

    def __repr__(self):
        return f"<mode {self.name}>"


JSON = Mode("json", encode_json, _JSON_FIELDS, renders=False)
PYTHON = Mode("python", encode_python, _PYTHON_FIELDS, renders=True)
MODES = {mode.name: mode for mode in (JSON, PYTHON)}


def named(mode: str | Mode) -> Mode:
    """The mode called ``mode`` (a ``Mode`` is returned as it is).

        >>> named("python") is PYTHON
        True
    """
    if isinstance(mode, Mode):
        return mode
    try:
        return MODES[mode]
    except (KeyError, TypeError):
        raise ValueError(f"unknown serializer mode {mode!r}: expected 'json' or 'python'") from None
