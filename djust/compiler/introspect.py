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

    >>> from examples.rentals.models import Tenant
    >>> attribute_reads(Tenant, "__str__").paths
    ('user.get_full_name', 'user.username')
"""

from __future__ import annotations

import ast
import functools
import inspect
import logging
import textwrap
from dataclasses import dataclass

from django.db import models
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
