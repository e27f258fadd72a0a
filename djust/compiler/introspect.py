"""What a model's ``__str__``, properties and methods read from ``self``.

The planner prunes columns with ``only()`` and must not make a displayed
``str(obj)`` or a property cost a query per row, so it needs to know what
those functions read. ``attribute_reads(model, name)`` parses the function's
source with ``ast`` and collects every ``self.a.b.c`` chain as a path
(``"a.b.c"``), following ``super()`` to the parent implementation and
``getattr(self, "constant")``. The planner types those paths like template
paths, so a chain that calls another method or property of a related row is
followed in turn.

When the function hands ``self`` to code djust cannot see (``helper(self)``,
``getattr(self, name)``, ``"%s" % self``), or its source is unavailable (C
functions, lambdas, built-ins), the result is *opaque* and says why: the
planner then loads every column of that model.

The projection asks a stricter question: may the function run on a
*stand-in* — one blank instance reused for every row, holding only that
row's columns? ``row_code(model, name, kind)`` answers it from the
bytecode (what runs, whatever the source file says now): ``self`` may only
be read from, attribute by attribute, and each attribute must be a column
or code passing the same test. A guess that is too generous here would
give wrong values, not an extra query, so anything unusual is refused.

    >>> from examples.rentals.models import Tenant
    >>> attribute_reads(Tenant, "__str__").paths
    ('user.get_full_name', 'user.username')
"""

from __future__ import annotations

import ast
import dis
import functools
import inspect
import logging
import sys
import textwrap
import types
from dataclasses import dataclass

from django.db import models
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.utils.functional import cached_property as django_cached_property

logger = logging.getLogger("djust.compiler.introspect")

# Built-ins that look at ``self`` without reading any of its attributes.
_HARMLESS_SELF_CALLS = frozenset({"type", "isinstance", "id", "hash"})


@dataclass(frozen=True)
class Reads:
    """Paths (relative to the instance) a function reads, or why unknown."""

    paths: tuple[str, ...] = ()
    opaque: str = ""


class _Opaque(Exception):
    pass


def attribute_function(model: type, name: str):
    """The plain function behind ``model.<name>``: a method, a property's
    getter, a ``cached_property``'s function; None for anything else.

        >>> from examples.rentals.models import Lease
        >>> attribute_function(Lease, "is_expiring_soon").__name__
        'is_expiring_soon'
    """
    static = inspect.getattr_static(model, name, None)
    if isinstance(static, property):
        return static.fget
    if isinstance(static, django_cached_property):
        return static.real_func
    if isinstance(static, functools.cached_property):
        return static.func
    if isinstance(static, staticmethod | classmethod):
        return static.__func__
    return static if inspect.isfunction(static) else None


@functools.cache
def attribute_reads(model: type[models.Model], name: str) -> Reads:
    """What ``model.<name>`` (a method, property or ``__str__``) reads.

        >>> from examples.rentals.models import Lease
        >>> attribute_reads(Lease, "is_expiring_soon").paths
        ('days_until_expiration',)
    """
    owner = _defining_class(model, name)
    if owner is None:
        return Reads(opaque=f"{model.__name__}.{name} is not defined in Python")
    return _reads_from(model, owner, name)


def _defining_class(model: type, name: str, after: type | None = None) -> type | None:
    mro = model.__mro__
    if after is not None:
        mro = mro[mro.index(after) + 1:]
    for klass in mro:
        if name in vars(klass):
            return klass
    return None


def _reads_from(model: type, owner: type, name: str) -> Reads:
    if owner is models.Model and name == "__str__":
        # Django's default: "<class name> object (<pk>)".
        return Reads(paths=("pk",))
    if owner is object:
        return Reads()
    function = attribute_function(owner, name)
    label = f"{owner.__name__}.{name}"
    if function is None:
        return Reads(opaque=f"{label} is not a Python function")
    try:
        source = textwrap.dedent(inspect.getsource(function))
        definition = ast.parse(source).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        return Reads(opaque=f"the source of {label} is unavailable")
    if not isinstance(definition, ast.FunctionDef | ast.AsyncFunctionDef):
        return Reads(opaque=f"{label} is not a plain function definition")
    arguments = definition.args.posonlyargs + definition.args.args
    if not arguments or isinstance(inspect.getattr_static(owner, name), staticmethod):
        return Reads()
    collector = _Collector(model, owner, arguments[0].arg, label)
    try:
        for statement in definition.body:
            collector.visit(statement)
    except _Opaque as reason:
        logger.debug("cannot tell what %s reads: %s", label, reason)
        return Reads(opaque=str(reason))
    return Reads(paths=tuple(sorted(collector.paths)))


class _Collector:
    """Walks a function body collecting ``self.<chain>`` reads."""

    def __init__(self, model: type, owner: type, self_name: str, label: str) -> None:
        self.model = model
        self.owner = owner
        self.self_name = self_name
        self.label = label
        self.paths: set[str] = set()

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.Attribute):
            self._attribute(node)
        elif isinstance(node, ast.Name) and node.id == self.self_name:
            raise _Opaque(f"{self.label} uses self itself at line {node.lineno}")
        elif isinstance(node, ast.Call) and self._call(node):
            pass
        else:
            for child in ast.iter_child_nodes(node):
                self.visit(child)

    def _attribute(self, node: ast.Attribute) -> None:
        names = []
        base: ast.AST = node
        while isinstance(base, ast.Attribute):
            names.append(base.attr)
            base = base.value
        names.reverse()
        if isinstance(base, ast.Name) and base.id == self.self_name:
            if isinstance(node.ctx, ast.Load):
                self.paths.add(".".join(names))
            return
        if _is_super_call(base):
            self._super(names[0], base)
            return
        self.visit(base)

    def _call(self, node: ast.Call) -> bool:
        """Handle calls that mention ``self`` harmlessly; True when handled."""
        function = node.func
        if not isinstance(function, ast.Name) or not node.args:
            return False
        first = node.args[0]
        mentions_self = isinstance(first, ast.Name) and first.id == self.self_name
        if not mentions_self:
            return False
        if function.id == "getattr":
            attribute = node.args[1] if len(node.args) > 1 else None
            if isinstance(attribute, ast.Constant) and isinstance(attribute.value, str):
                self.paths.add(attribute.value)
                for rest in node.args[2:]:
                    self.visit(rest)
                return True
            raise _Opaque(f"{self.label} reads self dynamically at line {node.lineno}")
        if function.id in _HARMLESS_SELF_CALLS:
            for rest in [*node.args[1:], *node.keywords]:
                self.visit(rest)
            return True
        return False

    def _super(self, name: str, call: ast.Call) -> None:
        parent = _defining_class(self.model, name, after=self.owner)
        if parent is None:
            return
        inherited = _reads_from(self.model, parent, name)
        if inherited.opaque:
            raise _Opaque(inherited.opaque)
        # super(Class, self) names self only to pick the parent: not a read.
        self.paths.update(inherited.paths)


def _is_super_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "super"
    )


# ------------------------------------------------------------ running on rows

# Code run like this would return before its body ran, or run it later.
_DEFERRED_BODY = (inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
                  | inspect.CO_ITERABLE_COROUTINE)
# Names through which code reaches a frame's locals, its caller's included,
# without loading them: a function naming one may see the stand-in itself.
_FRAME_READERS = frozenset({
    "locals", "vars", "eval", "exec", "_getframe", "currentframe", "f_locals", "f_back",
    "tb_frame", "stack", "trace",
})
# Instructions pushing a local as the last thing they do (3.13 pairs them).
_LOCAL_PUSHES = frozenset({"LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_LOAD_FAST",
                           "STORE_FAST_LOAD_FAST"})
_NAMES_READ = frozenset({"LOAD_GLOBAL", "LOAD_NAME", "LOAD_ATTR", "LOAD_METHOD",
                         "IMPORT_NAME", "IMPORT_FROM", "LOAD_FROM_DICT_OR_GLOBALS"})
# Since 3.12 LOAD_ATTR's low bit marks a method load (``self.name(...)``).
_METHOD_BIT = sys.version_info >= (3, 12)
# Whatever creates the row objects of a query: overridden, a loaded row may
# hold other values, or other attributes, than its columns.
_ROW_BUILDERS = ("__new__", "__init__", "from_db", "__getattribute__", "__setattr__")


@functools.cache
def self_loads(code: types.CodeType) -> tuple[tuple[str, bool], ...] | None:
    """The attributes ``code`` loads from its first argument, each with
    whether it is called on the spot (``self.name(...)``); None when the code
    uses that argument in any other way: stores to it, passes it on, returns
    it, shares it with a closure, ``super()``, or may reach it through a
    frame.

    Read from the bytecode, which is what runs (a source file may have
    changed since it was imported).

        >>> def f(self):
        ...     return self.end_date.year + self.offset()
        >>> self_loads(f.__code__)
        (('end_date', False), ('offset', True))
        >>> self_loads((lambda self: len(self)).__code__) is None
        True
    """
    if code.co_flags & _DEFERRED_BODY or not code.co_argcount:
        return None
    me = code.co_varnames[0]
    if me in code.co_cellvars or "__class__" in code.co_freevars:
        return None
    instructions = [instruction for instruction in dis.get_instructions(code)
                    if instruction.opname != "EXTENDED_ARG"]
    loads = []
    read_from_me = set()  # positions of the attribute loads on the argument
    for position, instruction in enumerate(instructions):
        if (instruction.opname in _NAMES_READ and instruction.argval in _FRAME_READERS
                and position not in read_from_me):  # ``self.trace`` may be a column
            return None
        if instruction.opcode not in dis.haslocal:
            continue
        names = instruction.argval
        if not isinstance(names, tuple):
            names = (names,)
        if me not in names:
            continue
        # The argument must be pushed last and consumed at once by an attribute load.
        if instruction.opname not in _LOCAL_PUSHES or names.index(me) != len(names) - 1:
            return None
        following = instructions[position + 1] if position + 1 < len(instructions) else None
        if following is None:
            return None
        if following.opname == "LOAD_METHOD":
            loads.append((following.argval, True))
        elif following.opname == "LOAD_ATTR":
            loads.append((following.argval, bool(_METHOD_BIT and following.arg & 1)))
        else:
            return None
        read_from_me.add(position + 1)
    return tuple(loads)


def builds_plain_rows(model: type) -> bool:
    """True when ``model``'s rows are made by Django's own ``Model`` code:
    a loaded row's ``__dict__`` then holds its columns as ``values_list()``
    reads them, and attribute reads go through the class.

        >>> from examples.rentals.models import Lease
        >>> builds_plain_rows(Lease)
        True
    """
    return all(_defining_class(model, name) in (models.Model, object) for name in _ROW_BUILDERS)


@dataclass(frozen=True)
class RowCode:
    """What running a method or property on a *stand-in* needs.

    A stand-in is one blank instance of the model (no ``__init__``) reused
    for every row of a ``values_list()`` query: before the code runs on a
    row, ``columns`` — ``(attname, ORM lookup)`` pairs — are written into its
    ``__dict__``. ``function`` is what the template's read calls: the
    method, the property's getter, or a ``cached_property``'s function
    (called directly: caching on a reused instance would carry one row's
    value into the next).
    """

    function: types.FunctionType
    columns: tuple[tuple[str, str], ...]
    members: tuple[str, ...]


def row_code(model: type, name: str, kind: str) -> RowCode | None:
    """How ``model.<name>`` — ``kind`` ``"method"`` (called with no
    arguments), ``"property"`` or ``"cached_property"`` — runs on a
    stand-in (see ``RowCode``), or None when only a loaded instance will do.

    Its code, and the code of every method and property it reaches through
    ``self``, may read from ``self`` only: concrete columns (plain
    attributes, ``pk``), methods called on the spot, properties,
    ``get_FOO_display()`` and plain class attributes (constants, nested
    classes). Anything else — relations (their caches would carry over
    between rows), instance state, descriptors of other kinds, ``self``
    handed on or stored to — keeps the instance path.

        >>> from examples.rentals.models import Lease
        >>> row_code(Lease, "is_expiring_soon", "property").columns
        (('end_date', 'end_date'),)
        >>> row_code(Lease, "delete", "method") is None
        True
    """
    if not builds_plain_rows(model):
        return None
    static = inspect.getattr_static(model, name, None)
    if kind == "method":
        function = static if inspect.isfunction(static) else None
    elif kind == "property":
        function = static.fget if type(static) is property else None
    else:
        function = attribute_function(model, name) if isinstance(
            static, functools.cached_property | django_cached_property) else None
    if not inspect.isfunction(function):
        return None
    reader = _RowReader(model)
    if kind != "cached_property":
        reader.members[name] = None
    if not reader.runs(function):
        return None
    return RowCode(function, tuple(sorted(reader.columns.items())), tuple(sorted(reader.members)))


def _plain_class_attribute(value) -> bool:
    """True for a class attribute that reads the same from every instance:
    not a descriptor, so nothing of it is per instance (a reused stand-in
    must not carry one row's state into the next)."""
    kind = type(value)
    return not (hasattr(kind, "__get__") or hasattr(kind, "__set__")
                or hasattr(kind, "__delete__"))


class _RowReader:
    """Follows the attributes a function reads from ``self``."""

    def __init__(self, model: type) -> None:
        self.model = model
        self.columns: dict[str, str] = {}
        # Names read through the class (dict: ordered, for readable messages).
        self.members: dict[str, None] = {}

    def runs(self, function) -> bool:
        loads = self_loads(function.__code__)
        return loads is not None and all(self.reads(name, called) for name, called in loads)

    def reads(self, name: str, called: bool) -> bool:
        static = inspect.getattr_static(self.model, name, _ABSENT)
        if static is _ABSENT:
            return False
        column = _column(self.model, name, static)
        if column is not None:
            self.columns[column[0]] = column[1]
            return True
        if name in self.members:
            return True
        if inspect.isfunction(static):
            # A bound method kept (not called on the spot) would keep the stand-in.
            self.members[name] = None
            return called and self.runs(static)
        if type(static) is property and inspect.isfunction(static.fget):
            self.members[name] = None
            return self.runs(static.fget)
        shown = _displayed_field(self.model, static)
        if shown is not None:
            self.members[name] = None
            self.columns[shown.attname] = shown.name
            return called
        if _plain_class_attribute(static):
            self.members[name] = None
            return True
        return False


def _column(model: type, name: str, static) -> tuple[str, str] | None:
    """``(attname, lookup)`` when ``model().<name>`` is a column's value."""
    meta = model._meta
    if name == "pk" and static is _MODEL_PK and not getattr(meta, "is_composite_pk", False):
        return meta.pk.attname, "pk"
    if type(static) not in _COLUMN_DESCRIPTORS:
        return None
    field = static.field
    if field.attname != name or not any(known is field for known in meta.concrete_fields):
        return None
    return field.attname, field.name


def _displayed_field(model: type, static):
    """The field when ``static`` is Django's own ``get_FOO_display``."""
    if not isinstance(static, functools.partialmethod) or static.args:
        return None
    if static.func is not models.Model._get_FIELD_display or set(static.keywords) != {"field"}:
        return None
    field = static.keywords["field"]
    if not any(known is field for known in model._meta.concrete_fields):
        return None
    return field


_ABSENT = object()
_MODEL_PK = models.Model.__dict__["pk"]
_COLUMN_DESCRIPTORS = (DeferredAttribute, ForeignKeyDeferredAttribute)
