"""Refused names on the objects a template reads live.

A compiled serializer never emits a sensitive name, but a page also reads
objects djust hands to Django's engine as they are: ``request``, ``view``,
the ``user`` of the auth context processor, anything a tag or an
``{% include %}`` passes along. Django's engine resolves those lookups in
``Variable._resolve_lookup``, one bit at a time, with no hook; so djust
renders through ``GuardedEngine``, an ``Engine`` whose templates, however
they are loaded (``get_template``, ``from_string``, ``{% extends %}``,
``{% include %}``), have their variables turned into ``GuardedVariable``.

A ``GuardedVariable`` resolves exactly as Django does, except that before
each lookup after the first it asks ``sensitive.refused_on`` about the
object in hand; a refused lookup fails as a missing one does
(``VariableDoesNotExist``: ``string_if_invalid`` where displayed, false in
``{% if %}``, nothing to iterate in ``{% for %}``), and a mapping's
``items``/``values``/``keys`` leave its refused keys out. The first bit is
a context name, which the view chose to put there.

Guarding happens once per compiled template (the cached loader keeps it):
a walk over its nodes that finds every ``Variable`` they hold, inside
filter expressions, filter arguments, ``{% if %}`` conditions and the
containers tags keep them in. A variable a custom tag builds while it
renders (``Variable(name).resolve(context)`` in ``render()``) is not
guarded.

    >>> from djust.template.guard import GuardedEngine
    >>> from django.template import Context
    >>> template = GuardedEngine().from_string("{{ row.password }}|{{ row.name }}")
    >>> template.render(Context({"row": {"password": "x", "name": "y"}}))
    '|y'
"""

from __future__ import annotations

import logging
from inspect import signature

from django.template import Engine
from django.template.base import (
    BaseContext,
    FilterExpression,
    Node,
    NodeList,
    Variable,
    VariableDoesNotExist,
)
from django.template.smartif import TokenBase

from djust.compiler.sensitive import before_lookup, refused_on

# Django's own logger for failed lookups, so that logging set up for
# templates keeps seeing them.
logger = logging.getLogger("django.template")

_GUARDED = "_djust_guarded"
# The engine of this process that mirrors a configured one, kept on it.
_MIRROR = "_djust_guarded_engine"


class GuardedVariable(Variable):
    """A ``Variable`` that refuses sensitive names on the objects it reaches."""

    # Variable has slots; an instance can change class only to the same layout.
    __slots__ = ()

    def _resolve_lookup(self, context):
        current = context
        bit = None
        try:
            for bit in self.lookups:
                if current is not context:
                    if refused_on(current, bit):
                        raise VariableDoesNotExist(
                            "djust refuses the lookup [%s] on %s", (bit, type(current).__name__))
                    current = before_lookup(current, bit)
                current = _look_up(current, bit)
                if callable(current):
                    current = _call_like_django(current, context)
        except Exception as error:
            logger.debug("Exception while resolving variable '%s' in template '%s'.",
                         bit, getattr(context, "template_name", None) or "unknown",
                         exc_info=True)
            if not getattr(error, "silent_variable_failure", False):
                raise
            current = context.template.engine.string_if_invalid
        return current


def _look_up(current, bit):
    """One bit, in Django's order: item, attribute, list index."""
    try:
        # Only a class that defines __getitem__ (not a class object with
        # __class_getitem__) is indexed.
        if not hasattr(type(current), "__getitem__"):
            raise TypeError
        return current[bit]
    except (TypeError, AttributeError, KeyError, ValueError, IndexError):
        pass
    try:
        # A context's own methods are not names in it.
        if isinstance(current, BaseContext) and getattr(type(current), bit):
            raise AttributeError
        return getattr(current, bit)
    except (TypeError, AttributeError):
        # An AttributeError from inside a property is the property's error.
        if not isinstance(current, BaseContext) and bit in dir(current):
            raise
    try:
        return current[int(bit)]
    except (IndexError, ValueError, KeyError, TypeError):
        raise VariableDoesNotExist("Failed lookup for key [%s] in %r", (bit, current)) from None


def _call_like_django(value, context):
    if getattr(value, "do_not_call_in_templates", False):
        return value
    invalid = context.template.engine.string_if_invalid
    if getattr(value, "alters_data", False):
        return invalid
    try:
        return value()
    except TypeError:
        try:
            needs = signature(value)
        except ValueError:
            return invalid
        try:
            needs.bind()
        except TypeError:
            return invalid
        raise


def guard_template(template):
    """Turn every ``Variable`` of ``template`` (a compiled Django template or
    partial) into a ``GuardedVariable``; once per template. Returns it.

        >>> from django.template import Engine
        >>> template = guard_template(Engine().from_string("{{ a.b|default:c.d }}"))
        >>> [type(v).__name__ for v in variables_of(template)]
        ['GuardedVariable', 'GuardedVariable']
    """
    if not getattr(template, _GUARDED, False):
        for variable in variables_of(template):
            if type(variable) is Variable and variable.lookups is not None:
                variable.__class__ = GuardedVariable
        setattr(template, _GUARDED, True)
    return template


def variables_of(template) -> list[Variable]:
    """Every ``Variable`` held by the nodes of ``template``, each once."""
    found: list[Variable] = []
    seen: set[int] = set()
    roots = [getattr(template, "nodelist", None)]
    # Partials (Django 6) keep their nodes in extra_data too.
    partials = getattr(template, "extra_data", {}).get("partials") or {}
    roots.extend(getattr(partial, "nodelist", None) for partial in partials.values())
    stack = [root for root in roots if root is not None]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, Variable):
            found.append(item)
        elif isinstance(item, FilterExpression):
            stack.append(item.var)
            stack.extend(arg for _, args in item.filters for _, arg in args)
        elif isinstance(item, (list, tuple, NodeList)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (Node, TokenBase)):
            # A node keeps its expressions and child nodelists in attributes
            # of its own choosing; the token and origin hold none.
            stack.extend(value for name, value in getattr(item, "__dict__", {}).items()
                         if name not in ("token", "origin"))
    return found


class GuardedEngine(Engine):
    """A Django template ``Engine`` whose templates refuse sensitive names on
    live objects (``guard_template``), however they are loaded."""

    def find_template(self, name, dirs=None, skip=None):
        template, origin = super().find_template(name, dirs, skip)
        if hasattr(template, "render"):
            guard_template(template)
        return template, origin

    def from_string(self, template_code):
        return guard_template(super().from_string(template_code))

    def get_template(self, template_name):
        return guard_template(super().get_template(template_name))


def guarded_engine(engine: Engine) -> GuardedEngine:
    """The ``GuardedEngine`` configured as ``engine`` is (same directories,
    loaders, libraries, context processors, options): ``engine`` itself when
    it is one, else one built once and kept on ``engine``.

        >>> engine = Engine(string_if_invalid="?")
        >>> mirror = guarded_engine(engine)
        >>> mirror is guarded_engine(engine), mirror.string_if_invalid
        (True, '?')
    """
    if isinstance(engine, GuardedEngine):
        return engine
    mirror = engine.__dict__.get(_MIRROR)
    if mirror is None:
        mirror = GuardedEngine(
            dirs=engine.dirs,
            # engine.loaders already lists the app directories loader.
            app_dirs=False,
            context_processors=engine.context_processors,
            debug=engine.debug,
            loaders=engine.loaders,
            string_if_invalid=engine.string_if_invalid,
            file_charset=engine.file_charset,
            libraries=engine.libraries,
            builtins=[name for name in engine.builtins if name not in Engine.default_builtins],
            autoescape=engine.autoescape,
        )
        setattr(engine, _MIRROR, mirror)
    return mirror
