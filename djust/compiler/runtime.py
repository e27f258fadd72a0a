"""What a compiled serializer calls at run time.

Generated serializers read typed fields directly; everything the model's
class does not settle goes through the few helpers here. They reproduce the
template engine's rules (``django.template.base.Variable._resolve_lookup``)
one lookup bit at a time. The leaf encodings are the output modes' own
(``modes``); this module lists them with the rest in ``HELPERS``, the one
table of names generated code may load, and builds every generated
function's globals from it (``namespace``).

    >>> resolve_lookup({"a": 1}, "a")
    1
    >>> resolve_lookup({"a": 1}, "b") is MISSING
    True
"""

from __future__ import annotations

import builtins
import collections
import inspect
import logging
import sys
from collections.abc import Iterable, Mapping

from django.contrib.sessions.backends.base import SessionBase
from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.manager import BaseManager
from django.db.models.query import REPR_OUTPUT_SIZE, QuerySet
from django.template.base import VariableDoesNotExist
from django.utils.encoding import force_str
from django.utils.hashable import make_hashable

from djust.compiler import modes, sensitive
from djust.compiler.errors import VerificationError

# Defined in modes and still read here: by the docs, by pickles of
# python-mode state written before modes existed (TruthyText), and by the
# tests of run-time behaviour.
from djust.compiler.modes import (
    PLAIN_TYPES,
    RAISED,
    Displayed,
    QueryRows,
    Row,
    ShownText,
    encode_datetime,
    encode_duration,
    encode_time,
    is_kept_value,
    make_row,
    model_row,
    truthy_text,
)
from djust.compiler.modes import TruthyText as TruthyText
from djust.compiler.modes import display_text as display_text
from djust.compiler.modes import encode_json as encode_json
from djust.compiler.modes import encode_python as encode_python
from djust.compiler.sensitive import identifier_form, known_sensitive_names, refused_everywhere

logger = logging.getLogger("djust.serializer")

_has = frozenset.__contains__


class _Missing:
    """The value of a lookup Django would fail: its key is left absent."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self):
        return "MISSING"

    def __bool__(self):
        return False

    def __reduce__(self):
        return (_Missing, ())


MISSING = _Missing()


class ShownList(ShownText, list):
    """The elements of a list, tuple or queryset that a template both
    displays and reads by index (python mode), displayed as the live value.

        >>> shown = ShownList([1, {"a": 2, "__str__": "{'a': 2}"}], "[1, {'a': 2}]")
        >>> str(shown), shown[1]["a"], len(shown)
        ("[1, {'a': 2}]", 2, 2)
    """

    __slots__ = ("_text",)


def raise_later(values: dict, key: str) -> None:
    """Keep the exception being handled for ``key`` of the row being built:
    the row raises it when the template reaches ``key`` (python mode)."""
    error = sys.exception()
    if error is not None:
        raised = values.get(RAISED)
        if raised is None:
            raised = values[RAISED] = {}
        raised[key] = (error, error.__traceback__)


class Raised:
    """A projection's value whose code raised: ``drop_missing`` moves the
    exception to the row, which raises it when the template reaches it."""

    __slots__ = ("error",)

    def __init__(self, error):
        self.error = error


def captured():
    """``Raised`` holding the exception being handled (python-mode projection)."""
    return Raised(sys.exception())


_skipped_logged: set[tuple[str, str]] = set()


def skip_failed_lookup() -> None:
    """JSON mode's rule for a lookup that raised: its key is left out, as a
    template would leave it unrendered; an exception templates would not
    hide is logged once per exception class and place, since a JSON
    consumer has no template to show it."""
    error = sys.exception()
    if error is None or is_silent(error):
        return
    where = error.__traceback__
    while where is not None and where.tb_next is not None:
        where = where.tb_next
    place = f"{where.tb_frame.f_code.co_filename}:{where.tb_lineno}" if where else "?"
    key = (type(error).__qualname__, place)
    if key in _skipped_logged:
        return
    _skipped_logged.add(key)
    logger.warning("djust: a lookup raised %s; its key is left out of the JSON",
                   type(error).__name__, exc_info=error)


def queryset_text(rows) -> str:
    """What ``{{ rows }}`` shows for related rows: the QuerySet's text
    (``QuerySet.__repr__``), also when the rows were loaded into a list.

        >>> queryset_text([1, 2])
        '<QuerySet [1, 2]>'
    """
    if isinstance(rows, QuerySet):
        return str(rows)
    data = list(rows[:REPR_OUTPUT_SIZE + 1])
    if len(data) > REPR_OUTPUT_SIZE:
        data[-1] = "...(remaining elements truncated)..."
    return f"<QuerySet {data!r}>"


def choice_label(label):
    """A choice label as ``get_FOO_display()`` returns it: lazy text resolved
    in the active language, numbers and dates kept.

        >>> from django.utils.functional import lazy
        >>> choice_label(lazy(lambda: "Active", str)()), choice_label(3)
        ('Active', 3)
    """
    return force_str(label, strings_only=True)


class Rows(list):
    """A list that also answers other lookups on the same collection.

    Python mode uses it for a collection both iterated and looked into
    (``{% for u in p.units.all %}`` with ``{{ p.units.all.count }}``): the
    template engine tries ``value[bit]`` first, so string keys reach
    ``extras``.

        >>> rows = Rows(["a", "b"], {"count": 2})
        >>> rows["count"], rows[0], list(rows)
        (2, 'a', ['a', 'b'])
    """

    # Underscored: a template cannot read it.
    __slots__ = ("_extras",)

    def __init__(self, items=(), extras=None):
        super().__init__(items)
        self._extras = dict(extras or {})

    def __getitem__(self, key):
        if isinstance(key, str):
            return self._extras[key]
        return super().__getitem__(key)

    def __eq__(self, other):
        if isinstance(other, Rows):
            return list.__eq__(self, other) and self._extras == other._extras
        return list.__eq__(self, other)

    __hash__ = None


def call_like_template(value):
    """Call ``value`` the way the template engine calls a callable it reached.

    ``do_not_call_in_templates`` keeps the callable itself, ``alters_data``
    and a signature that needs arguments give MISSING; a ``TypeError``
    raised by a callable that takes no arguments propagates.

        >>> call_like_template(lambda: 3)
        3
        >>> call_like_template(lambda x: x) is MISSING
        True
    """
    if getattr(value, "do_not_call_in_templates", False):
        return value
    if getattr(value, "alters_data", False):
        return MISSING
    try:
        return value()
    except TypeError:
        try:
            signature = inspect.signature(value)
        except ValueError:
            return MISSING
        try:
            signature.bind()
        except TypeError:
            return MISSING
        raise


def resolve_lookup(current, bit):
    """Resolve one lookup bit on ``current`` as a template would.

    Dictionary lookup, then attribute, then list index; a callable result is
    called by ``call_like_template``; a failure the engine makes silent
    (missing key or attribute, ``silent_variable_failure``) gives MISSING;
    any other exception propagates. Bits starting with ``_`` are refused by
    Django's template parser, so they are never looked up here. A sensitive
    name on a model row (``sensitive.sensitive_names``) is MISSING: run-time
    lookups reach rows the access tree could not type (below a generic
    foreign key, a property, a method). So is a name refused on every model
    (``sensitive.refused_everywhere``) on a mapping (a dict, a ``values()``
    row, JSON data), which has no model to ask. Both answer for every
    spelling whose NFKC form is refused. A session answers only the keys
    stored in it (``sensitive.refused_on``), and a mapping's ``items`` and
    the like leave its refused keys out (``sensitive.visible_mapping``).

        >>> resolve_lookup([10, 20], "1")
        20
        >>> resolve_lookup(object(), "__class__") is MISSING
        True
        >>> resolve_lookup({"password": "x", "name": "y"}, "password") is MISSING
        True
    """
    if not isinstance(bit, str) or not bit or bit[0] == "_":
        return MISSING
    # ``Names.__contains__`` inlined: the sets' own lookup, and the NFKC
    # form only for a bit that is not ASCII (a third of a lookup otherwise).
    if isinstance(current, Model):
        refused = known_sensitive_names(type(current))
        if _has(refused, bit) or (not bit.isascii() and _has(refused, identifier_form(bit))):
            return MISSING
    else:
        refused = sensitive._everywhere or refused_everywhere()
        if ((_has(refused, bit) or (not bit.isascii() and _has(refused, identifier_form(bit))))
                and isinstance(current, Mapping)):
            return MISSING
        if isinstance(current, SessionBase) and bit not in current:
            # Its items/keys/values would show the private keys.
            return MISSING
        current = sensitive.before_lookup(current, bit)
    if bit in _PICKS and isinstance(current, (BaseManager, QuerySet)):
        rows = _loaded_rows(current, bit)
        if rows is not None:
            return _PICKS[bit](rows)
    try:
        try:
            if not hasattr(type(current), "__getitem__"):
                raise TypeError
            current = current[bit]
        except (TypeError, AttributeError, KeyError, ValueError, IndexError):
            try:
                current = getattr(current, bit)
            except (TypeError, AttributeError):
                # An AttributeError raised inside a property is a real error.
                if bit in dir(current):
                    raise
                try:
                    current = current[int(bit)]
                except (IndexError, ValueError, KeyError, TypeError):
                    return MISSING
        if callable(current):
            current = call_like_template(current)
    except VariableDoesNotExist:
        # FilterExpression.resolve turns this into string_if_invalid.
        return MISSING
    except Exception as error:
        if getattr(error, "silent_variable_failure", False):
            return MISSING
        raise
    return current


def is_silent(error: BaseException) -> bool:
    """True when the template engine hides ``error`` (renders string_if_invalid).

    ``_resolve_lookup`` re-raises what is not marked ``silent_variable_failure``,
    but ``FilterExpression.resolve`` then turns a ``VariableDoesNotExist``
    into string_if_invalid wherever it came from, a property or method
    included; ``{% if %}`` and ``{% for %}`` see None.

        >>> is_silent(VariableDoesNotExist("no")), is_silent(ValueError("loud"))
        (True, False)
    """
    if isinstance(error, VariableDoesNotExist):
        return True
    return bool(getattr(error, "silent_variable_failure", False))


def blank_instance(model):
    """An instance of ``model`` whose ``__init__`` never ran and whose
    ``__dict__`` holds no field: the stand-in a projection writes each row's
    columns into before running a method on it (``introspect.row_code``).

        >>> from examples.rentals.models import Lease
        >>> stand_in = blank_instance(Lease)
        >>> import datetime
        >>> stand_in.__dict__["end_date"] = datetime.date(2030, 1, 1)
        >>> type(stand_in) is Lease, stand_in.end_date.year
        (True, 2030)
    """
    instance = model.__new__(model)
    instance._state = ModelState()
    return instance


def drop_missing(rows: list, paths: tuple[tuple[str, ...], ...]) -> None:
    """Delete the keys of the last row in ``rows`` at ``paths`` (keys
    through nested dicts or rows) whose value is ``MISSING``: a projection's
    row where a method failed silently, appended before it could know. A
    ``Raised`` value (python mode) leaves its key too, and its exception
    goes to the row, raised when the template reaches the key.

        >>> rows = [{"a": MISSING, "b": {"c": MISSING, "d": 1}, "e": None}]
        >>> drop_missing(rows, (("a",), ("b", "c"), ("e", "f")))
        >>> rows
        [{'b': {'d': 1}, 'e': None}]
    """
    row = rows[-1]
    for path in paths:
        holder = row
        for key in path[:-1]:
            holder = _values_of(holder).get(key)
            if holder.__class__ is not dict and holder.__class__ is not Row:
                break
        else:
            values = _values_of(holder)
            value = values.get(path[-1])
            if value is MISSING:
                del values[path[-1]]
            elif value.__class__ is Raised:
                del values[path[-1]]
                if holder.__class__ is Row:
                    if holder._raised is None:
                        holder._raised = {}
                    holder._raised[path[-1]] = (value.error, value.error.__traceback__)


def _values_of(holder):
    return holder._values if holder.__class__ is Row else holder


def is_rows(value) -> bool:
    """True for a value serialized as the list of its elements when it is
    displayed and read by index: a list, a tuple or a queryset.

        >>> is_rows((1, 2)), is_rows({"0": 1}), is_rows("ab")
        (True, False, False)
    """
    return isinstance(value, (list, tuple, QuerySet))


# ------------------------------------------------------------ related rows


def encoder_for(mode: str):
    """The generic leaf encoder of ``mode`` (a mode's name or object).

        >>> encoder_for("json") is encode_json
        True
    """
    return modes.named(mode).encode


def rows_are_loaded(queryset) -> bool:
    return getattr(queryset, "_result_cache", None) is not None


def pick_first(queryset):
    """``first()`` of a related queryset, answered from loaded rows.

    Django returns the first row of an ordered queryset and the row with the
    smallest pk otherwise; rows already loaded (prefetched) answer without a
    query, exactly as Django would answer with one.
    """
    if not rows_are_loaded(queryset):
        return queryset.first()
    return _first_of(queryset._result_cache, queryset.ordered)


def pick_last(queryset):
    """``last()`` of a related queryset: the last ordered row, else max pk."""
    if not rows_are_loaded(queryset):
        return queryset.last()
    return _last_of(queryset._result_cache, queryset.ordered)


def _first_of(rows, ordered: bool):
    if not rows:
        return None
    return rows[0] if ordered else min(rows, key=_pk)


def _last_of(rows, ordered: bool):
    if not rows:
        return None
    return rows[-1] if ordered else max(rows, key=_pk)


def _pk(instance):
    return instance.pk


def rows_exist(rows) -> bool:
    """``exists()`` of related rows, answered by a list's truth.

        >>> rows_exist([])
        False
    """
    return bool(rows) if rows.__class__ is list else rows.exists()


def first_row(rows, ordered: bool):
    """``first()`` of related rows: a listed relation (``relations.list_attribute``)
    answers as Django does, the first row when ordered, else the row with
    the smallest pk.

        >>> first_row([], True) is None
        True
    """
    if rows.__class__ is not list:
        return pick_first(rows)
    return _first_of(rows, ordered)


def last_row(rows, ordered: bool):
    """``last()`` of related rows: the last row when ordered, else max pk.

        >>> last_row([], False) is None
        True
    """
    if rows.__class__ is not list:
        return pick_last(rows)
    return _last_of(rows, ordered)


_PICKS = {"first": pick_first, "last": pick_last}


def _loaded_rows(current, method: str):
    """The queryset behind ``current`` when its loaded (prefetched) rows
    answer ``current.<method>()`` as Django's own ``first``/``last`` would,
    else None.

    Run-time lookups reach related managers the access tree could not type
    (below a generic foreign key); Django's ``last()`` always queries, even
    on prefetched rows. Only the stock methods are answered from the rows:
    a manager or queryset class overriding them keeps its own.
    """
    stock = getattr(QuerySet, method)
    if isinstance(current, BaseManager):
        proxied = getattr(type(current), method, None)
        if getattr(proxied, "__wrapped__", None) is not stock:
            return None
        current = current.get_queryset()
    if getattr(type(current), method, None) is not stock:
        return None
    if not rows_are_loaded(current) or current.query.is_sliced:
        return None
    return current



def display_choice(choices: dict, value):
    """What ``get_FOO_display()`` returns for ``value``: Django's own rule.

        >>> display_choice({"a": "A"}, "a"), display_choice({"a": "A"}, ["b"])
        ('A', "['b']")
    """
    return choice_label(choices.get(make_hashable(value), value))


# ------------------------------------------------ what generated code loads
#
# The one table of the globals generated code may load: emit's verifier
# accepts a name only when it is listed here, or is one of the serializer
# constants ``namespace`` put in the function's globals.

# Builtins generated code may use.
ALLOWED_BUILTINS = (
    "AttributeError", "Exception", "KeyError", "callable", "getattr", "len", "list", "str",
)

HELPERS = {
    "_MISSING": MISSING,
    "_lookup": resolve_lookup,
    "_call": call_like_template,
    "_dt": encode_datetime,
    "_time": encode_time,
    "_dur": encode_duration,
    "_Displayed": Displayed,
    "_Rows": Rows,
    "_first": pick_first,
    "_PLAIN": PLAIN_TYPES,
    "_last": pick_last,
    "_kept": is_kept_value,
    "_truthy": truthy_text,
    "_is_rows": is_rows,
    "_ShownList": ShownList,
    "_QueryRows": QueryRows,
    "_queryset_text": queryset_text,
    "_exists": rows_exist,
    "_first_row": first_row,
    "_last_row": last_row,
    "_label": choice_label,
    # values_list() row projections (``projection``).
    "_display": display_choice,
    "_Groups": collections.defaultdict,
    "_blank": blank_instance,
    "_drop": drop_missing,
    # Python mode's rows, and each mode's rule for a lookup that raised.
    "_row": make_row,
    "_model_row": model_row,
    "_later": raise_later,
    "_captured": captured,
    "_skip": skip_failed_lookup,
}
# The generic leaf encoder: the output mode's (``modes``).
ENCODER = "_encode"
# Django's own lookup rules at run time: explain() counts its calls.
LOOKUP_HELPER = "_lookup"

# A serializer's constants: globals the lowerer names (``_model_1``,
# ``_display_2``, ``_choice_map``) for objects it resolved at compile time,
# a model class or a ``get_FOO_display`` table. Their names are private and
# not dunder, so the verifier tells them from anything else a namespace
# could hold (``is_constant_name``).


def is_constant_name(name: str) -> bool:
    """Whether ``name`` may name a serializer constant.

        >>> is_constant_name("_model_1"), is_constant_name("model_1"), is_constant_name("__x")
        (True, False, False)
    """
    return name.startswith("_") and not name.startswith("__") and name.isidentifier()


def namespace(helpers: Iterable[str], mode,
              constants: Mapping[str, tuple[object, object]] | None = None) -> dict:
    """The globals generated code runs with (``lowering``, ``projection``):
    each helper named, from ``HELPERS`` (ENCODER is ``mode``'s leaf
    encoder), the restricted builtins, and each constant given as
    ``name: (key, live object)`` (the key is the lowerer's: one global per
    key). A helper outside the table, or a constant whose name fails
    ``is_constant_name`` or is taken, raises ``VerificationError`` (a
    compiler bug).

        >>> from examples.rentals.models import Unit
        >>> table = namespace(["_lookup", "_encode"], "json",
        ...                   {"_model_1": (("model", "rentals.Unit"), Unit)})
        >>> sorted(table)
        ['__builtins__', '_encode', '_lookup', '_model_1']
        >>> table["_encode"] is encode_json, table["_model_1"] is Unit
        (True, True)
    """
    table: dict = {}
    for helper in sorted(set(helpers)):
        if helper == ENCODER:
            table[helper] = encoder_for(mode)
        elif helper in HELPERS:
            table[helper] = HELPERS[helper]
        else:
            raise VerificationError(f"asks for an unknown helper {helper!r}")
    table["__builtins__"] = builtins_namespace()
    if constants:
        for name, (_, value) in constants.items():
            if not is_constant_name(name) or name in table:
                raise VerificationError(f"asks for a constant under the name {name!r}")
            table[name] = value
    return table


def builtins_namespace() -> dict:
    """The restricted ``__builtins__`` of generated code.

        >>> sorted(builtins_namespace()) == sorted(ALLOWED_BUILTINS)
        True
    """
    return {name: getattr(builtins, name) for name in ALLOWED_BUILTINS}


def loadable_names(namespace: dict) -> frozenset[str]:
    """The globals code run in ``namespace`` may load: the allowed builtins,
    and the table's helpers and the constants the namespace holds.

        >>> sorted(loadable_names({"_lookup": resolve_lookup, "_x": 1}))[:3]
        ['AttributeError', 'Exception', 'KeyError']
        >>> "_x" in loadable_names({"_x": 1}), "x" in loadable_names({"x": 1})
        (True, False)
        >>> "__builtins__" in loadable_names({"__builtins__": {}})
        False
    """
    present = {name for name in namespace
               if name in HELPERS or name == ENCODER or is_constant_name(name)}
    return frozenset(present | set(ALLOWED_BUILTINS))
