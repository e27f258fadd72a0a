"""The walk: a template's node tree → the paths it reads per context name.

How the walk maps template constructs to paths:

- ``{{ a.b|upper }}``: the variable's lookups (``a: b``); filters add no
  segment. Variables among filter arguments are read as whole values
  (``{{ a|default:b.c }}`` gives ``a: ""`` and ``b: c``). Literals and
  translated strings read nothing.
- Local names (loop variables, ``with`` aliases, ``include ... with``,
  ``regroup``, ``cycle``/``firstof ... as``) are *bindings*: a lookup on a
  local name continues on whatever it was bound to, so every path ends up
  relative to a context name. Binding a name reads nothing by itself: an
  alias that is never used contributes no path.
- ``{% for x in seq %}``: ``x`` is bound to ``seq.*``. A loop whose
  variables are never read still iterates, so it records ``seq: *``.
  Tuple unpacking reads index segments of each element:
  ``{% for k, v in d.items %}`` binds ``k`` to ``d.items.*.0`` and ``v`` to
  ``d.items.*.1`` (Django's own lookup rules resolve ``0``/``1`` on a tuple),
  and records ``d: items.*`` when neither is read.
- A filter that keeps its input's shape (``slice``, ``dictsort``,
  ``dictsortreversed``) lets lookups on its result continue on its input;
  ``first``/``last``/``random`` continue on one element (``*``);
  ``default``/``default_if_none`` continue on the input and the fallback.
  Any other filter reads its input as a whole value (``""``) and its result
  is opaque. ``dictsort:"a.b"`` also reads ``*.a.b`` on its input.
- ``{% regroup seq by a.b as groups %}``: ``groups.*.grouper`` continues on
  ``seq: *.a.b``, ``groups.*.list.*`` on ``seq: *``; any use of ``groups``
  reads ``seq: *.a.b``, which the grouping itself needs.
- ``forloop``, ``True``, ``False``, ``None`` and names a tag assigns with
  ``as`` (``url``, ``now``, ``widthratio``, ...) are never context roots.
  Any tag, custom ones included, assigns a name (a local from then on, in
  the enclosing scope and the tag's own body, except a ``simple_block_tag``'s,
  which renders before the name is set) when its token ends with
  ``as <name>``, the convention of ``simple_tag`` and of nearly every
  assignment tag (``get_flatpages``, sorl's and easy-thumbnails'
  ``thumbnail``, wagtail's ``image``, ...), unless the tag compiled that
  last bit as a variable it reads; when ``as <name>`` is followed by more
  bits, only if the node keeps ``<name>`` as a plain string; and whenever
  the node keeps a plain string under an attribute named for it
  (``_ASSIGNMENT_ATTRS``). The tag's arguments are read before the name is
  bound (``{% tag x as x %}`` reads the context's ``x``).
- ``{% include "x.html" %}`` (static name) and ``{% extends %}`` are
  followed through the engine's loaders: the effective template after
  inheritance is walked, ``{{ block.super }}`` walks the overridden block.
  A template already being included is not entered again (a recursive
  include), and is reported.
- Tags this module does not know (custom tags, dynamic ``include`` or
  ``extends``, ``{% debug %}``) still contribute every value Django parsed
  as a variable in their arguments (a dict's keys too when the tag compiled
  them: django-tables2's ``{% querystring table.prefixed_page_field=p %}``
  reads ``table: prefixed_page_field``), their nested node lists are
  walked, and an ``Unanalysed`` record says what could not be analysed and
  which context names the tag's arguments read.
- The walk never fails where Django would fail only when rendering: an
  included or parent template that is missing or does not compile, an
  undefined ``{% partial %}``, nesting deeper than the walk can follow are
  each an ``Unanalysed`` record. Django renders such a page as long as it
  does not reach the tag (an include under a false ``{% if %}``); the
  LiveView renders it from live values, so when the render does reach the
  tag, Django's own exception is what the page raises. A template that
  failed to load is still a dependency of the result: once it loads, the
  cached result is walked again.

    >>> from djust.compiler.extraction.loading import default_engine, parse_template
    >>> engine = default_engine()
    >>> extraction, _ = walk_template(engine, parse_template(
    ...     "{% with t=lease.tenant %}{{ t.phone }}{% endwith %}", engine, None, "doc"), "doc")
    >>> dict(extraction)
    {'lease': ('tenant.phone',)}
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator

from django.template import (
    Engine,
    Template,
    TemplateDoesNotExist,
    TemplateSyntaxError,
    defaultfilters,
    defaulttags,
    loader_tags,
)
from django.template.base import (
    UNKNOWN_SOURCE,
    FilterExpression,
    Node,
    NodeList,
    TextNode,
    TokenType,
    Variable,
    VariableNode,
)
from django.template.library import InclusionNode, SimpleNode
from django.template.smartif import TokenBase

try:
    from django.template.library import SimpleBlockNode
except ImportError:  # pragma: no cover - older Django
    SimpleBlockNode = None
from django.templatetags import cache as cache_tags
from django.templatetags import i18n, l10n, static, tz

from djust.compiler.extraction.loading import Dependency, load_failure, load_template
from djust.compiler.extraction.result import Extraction, Unanalysed
from djust.compiler.paths import SEPARATOR, STAR, is_index, join_path

logger = logging.getLogger("djust.extraction")

Segments = tuple[str, ...]

# Names the template engine itself provides: never context roots.
_NEVER_ROOTS = frozenset({"forloop", "True", "False", "None"})
# Attribute names under which tags keep, as a plain string, the name they
# assign: Django's own (``asvar``: url, now, widthratio, firstof, translate;
# ``target_var``: simple_tag, inclusion_tag, simple_block_tag; ``varname``:
# static; ``variable``: i18n and tz getters; ``var_name``: regroup;
# ``variable_name``: cycle; ``context_name``: flatpages) and common packages'
# (``as_var``: sorl-thumbnail; ``context_name``: easy-thumbnails;
# ``output_var_name``: wagtail's image; ``as_varname``: django-contrib-comments;
# ``context_var``: django-mptt). A name a tag keeps elsewhere is still found
# through its token's ``as <name>`` (``_as_names``). ``name``, ``target`` and
# the like are not here: tags keep arguments under them too.
_ASSIGNMENT_ATTRS = frozenset(
    {
        "asvar", "target_var", "varname", "variable", "var_name", "variable_name",
        "context_name", "as_var", "output_var_name", "as_varname", "context_var",
    }
)
# What ``as`` must be followed by to assign a name.
_ASSIGNABLE = re.compile(r"[A-Za-z_]\w*\Z")
_SHAPE_KEEPING_FILTERS = frozenset({"slice", "dictsort", "dictsortreversed"})
_ELEMENT_FILTERS = frozenset({"first", "last", "random"})
_FALLBACK_FILTERS = frozenset({"default", "default_if_none"})
_ELEMENT_KEY_FILTERS = frozenset({"dictsort", "dictsortreversed"})
# How deep the generic inspection of an unknown node's attributes goes.
_GENERIC_DEPTH = 4


def walk_template(engine: Engine, template, label: str) -> tuple[Extraction, tuple]:
    """Extract a loaded or parsed template: ``(Extraction, dependencies)``.

    No cache and no shared store: the walk itself, which the public
    functions run on a miss. ``dependencies`` are the ``Dependency``
    records of every template the walk followed (includes, parents).

        >>> from djust.compiler.extraction.loading import default_engine, parse_template
        >>> engine = default_engine()
        >>> extraction, dependencies = walk_template(
        ...     engine, parse_template("{{ a.b }}", engine, None, "doc"), "doc")
        >>> dict(extraction), dependencies
        ({'a': ('b',)}, ())
    """
    return _Walker(engine).run(template, label)


def _label_of(template) -> str:
    origin = template.origin
    label = origin.template_name or getattr(template, "name", None) or origin.name
    if not isinstance(template, Template) and getattr(template, "name", None):
        label = f"{label}#{template.name}"  # a partial (Django 6)
    return label or UNKNOWN_SOURCE


def _node_label(node: Node) -> str:
    origin = getattr(node, "origin", None)
    if origin is None:
        return UNKNOWN_SOURCE
    return origin.template_name or origin.name


def _node_line(node: Node) -> int | None:
    return getattr(getattr(node, "token", None), "lineno", None)


def _tag_name(node: Node) -> str:
    token = getattr(node, "token", None)
    contents = getattr(token, "contents", "") or ""
    return contents.split(None, 1)[0] if contents.strip() else type(node).__name__


# --------------------------------------------------------------------------
# Bindings: what a local name stands for, in terms of context names


class _Binding:
    """Maps lookups on a name to ``(context name, segments)`` reads."""

    __slots__ = ()

    def resolve(self, rest: Segments) -> Iterator[tuple[str, Segments]]:
        return iter(())


class _Nothing(_Binding):
    __slots__ = ()


NOTHING = _Nothing()


class _ContextName(_Binding):
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def resolve(self, rest: Segments) -> Iterator[tuple[str, Segments]]:
        yield self.name, rest


class _Alias(_Binding):
    """Lookups continue on each source, after its prefix."""

    __slots__ = ("sources",)

    def __init__(self, sources: tuple[tuple[_Binding, Segments], ...]) -> None:
        self.sources = sources

    def resolve(self, rest: Segments) -> Iterator[tuple[str, Segments]]:
        for binding, prefix in self.sources:
            yield from binding.resolve(prefix + rest)


class _Derived(_Binding):
    """A filtered value: using it at all reads ``reads``; lookups go to ``value``."""

    __slots__ = ("reads", "value")

    def __init__(self, reads: tuple[tuple[_Binding, Segments], ...], value: _Binding) -> None:
        self.reads = reads
        self.value = value

    def resolve(self, rest: Segments) -> Iterator[tuple[str, Segments]]:
        for binding, segments in self.reads:
            yield from binding.resolve(segments)
        yield from self.value.resolve(rest)


class _Regroup(_Binding):
    """``{% regroup seq by key as name %}``: a list of (grouper, list) pairs."""

    __slots__ = ("key", "seq")

    def __init__(self, seq: _Binding, key: _Binding) -> None:
        self.seq = seq
        self.key = key

    def resolve(self, rest: Segments) -> Iterator[tuple[str, Segments]]:
        # Grouping evaluates the key on every element, whatever is read.
        yield from self.key.resolve(())
        if not rest:
            yield from self.seq.resolve((STAR,))
            return
        if not (rest[0] == STAR or is_index(rest[0])):
            return
        group = rest[1:]
        if not group:
            yield from self.seq.resolve((STAR,))
        elif group[0] == "grouper" or _is_position(group[0], 0):
            yield from self.key.resolve(group[1:])
        elif group[0] == "list" or _is_position(group[0], 1):
            members = group[1:]
            if members and (members[0] == STAR or is_index(members[0])):
                members = members[1:]
            yield from self.seq.resolve((STAR, *members))


class _Tracked(_Binding):
    """A loop variable: remembers whether any read went through it."""

    __slots__ = ("inner", "usage")

    def __init__(self, inner: _Binding, usage: list[bool]) -> None:
        self.inner = inner
        self.usage = usage

    def resolve(self, rest: Segments) -> Iterator[tuple[str, Segments]]:
        for read in self.inner.resolve(rest):
            self.usage[0] = True
            yield read


class _BlockRef(_Binding):
    """``block`` inside a block body: ``block.super`` renders ``supers[0]``."""

    __slots__ = ("supers",)

    def __init__(self, supers: tuple) -> None:
        self.supers = supers


def _is_position(segment: str, position: int) -> bool:
    # A group is a (grouper, list) namedtuple: ``00`` reads its grouper too.
    return is_index(segment) and int(segment) == position


class _Scope:
    """One context frame; ``isolated`` for ``include ... only``."""

    __slots__ = ("isolated", "names", "parent")

    def __init__(self, parent: _Scope | None = None, *, isolated: bool = False) -> None:
        self.names: dict[str, _Binding] = {}
        self.parent = parent
        self.isolated = isolated

    def lookup(self, name: str) -> _Binding:
        scope: _Scope | None = self
        while scope is not None:
            binding = scope.names.get(name)
            if binding is not None:
                return binding
            if scope.isolated:
                return NOTHING
            scope = scope.parent
        if name in _NEVER_ROOTS:
            return NOTHING
        return _ContextName(name)

    def child(self) -> _Scope:
        return _Scope(self)

    def bind(self, name: str, binding: _Binding) -> None:
        self.names[name] = binding


# --------------------------------------------------------------------------
# The walk


class _Walker:
    """Walks one template's effective node tree, recording every read."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.paths: dict[str, set[str]] = {}
        self.unanalysed: dict[Unanalysed, None] = {}
        self.templates: dict[str, None] = {}
        self.dependencies: dict[tuple, Dependency] = {}
        self.blocks: dict[str, tuple] = {}
        self.including: list[str] = []
        self.partials: list[int] = []
        # Per walk: a template included from a loop is loaded and scanned once.
        self.loaded: dict[tuple, object] = {}
        self.failed: dict[tuple, str] = {}  # the same key: why it did not load
        self.block_maps: dict[int, dict[str, tuple]] = {}

    def run(self, template, label: str) -> tuple[Extraction, tuple[Dependency, ...]]:
        if label != UNKNOWN_SOURCE:
            self.templates[label] = None
        self.including.append(label)
        try:
            self.walk_template(template, _Scope())
        except RecursionError:
            # Django parsed it, but aliases of aliases nest deeper than the walk
            # can follow; Django may still render it (an empty outer loop).
            record = Unanalysed("", label, None, "the template nests too deeply to analyse")
            self.unanalysed[record] = None
            logger.debug("unanalysed: %s", record)
        extraction = Extraction(self.paths, self.unanalysed, self.templates)
        return extraction, tuple(self.dependencies.values())

    # -- recording ---------------------------------------------------------

    def record(self, binding: _Binding, rest: Segments = ()) -> None:
        paths = self.paths
        if type(binding) is _ContextName:  # the common case, without a generator
            paths.setdefault(binding.name, set()).add(join_path(rest))
            return
        for name, segments in binding.resolve(rest):
            paths.setdefault(name, set()).add(join_path(segments))

    def record_all(self, bindings: Iterable[_Binding]) -> None:
        for binding in bindings:
            self.record(binding)

    def note(self, node: Node, reason: str, names: Iterable[str] = ()) -> None:
        """Record ``node`` as unanalysed; ``names``: the context names its
        arguments read."""
        record = Unanalysed(_tag_name(node), _node_label(node), _node_line(node), reason,
                            tuple(sorted(set(names))))
        self.unanalysed[record] = None
        logger.debug("unanalysed: %s", record)

    def reading(self, read: Callable[[], object]) -> set[str]:
        """Run ``read()``, recording as usual: the context names it read."""
        saved = self.paths
        self.paths = {}
        try:
            read()
        finally:
            found, self.paths = self.paths, saved
            for name, paths in found.items():
                saved.setdefault(name, set()).update(paths)
        return set(found)

    def display(self, expression, scope: _Scope) -> None:
        """The expression's value is used as a whole (printed, tested, passed)."""
        if expression is None:
            return
        if type(expression) is FilterExpression and not expression.filters:
            # ``{{ a.b.c }}``, most of a page: read the lookups directly rather
            # than through an alias of the root.
            variable = expression.var
            if type(variable) is not Variable or variable.lookups is None:
                return  # a literal reads nothing
            lookups = variable.lookups
            root = scope.lookup(lookups[0])
            if type(root) is not _BlockRef:
                self.record(root, tuple(lookups[1:]))
                return
        self.record(self.expression_binding(expression, scope))

    # -- expressions -------------------------------------------------------

    def variable_binding(self, variable: Variable, scope: _Scope) -> _Binding:
        if variable.lookups is None:  # a literal or a translated string
            return NOTHING
        root = scope.lookup(variable.lookups[0])
        rest = tuple(variable.lookups[1:])
        if isinstance(root, _BlockRef):
            if rest[:1] == ("super",):
                self.walk_block_super(root, scope)
            return NOTHING
        return _Alias(((root, rest),)) if rest else root

    def expression_binding(self, expression, scope: _Scope) -> _Binding:
        """What a FilterExpression's value stands for, and what computing it reads."""
        if isinstance(expression, Variable):
            return self.variable_binding(expression, scope)
        if not isinstance(expression, FilterExpression):
            return NOTHING
        value = NOTHING
        if isinstance(expression.var, Variable):
            value = self.variable_binding(expression.var, scope)
        reads: list[tuple[_Binding, Segments]] = []
        for func, args in expression.filters:
            value = self.apply_filter(func, args, value, reads, scope)
        return _Derived(tuple(reads), value) if reads else value

    def apply_filter(self, func, args, value: _Binding, reads: list, scope: _Scope) -> _Binding:
        arguments = [self.variable_binding(arg, scope) for is_var, arg in args if is_var]
        name = getattr(func, "_filter_name", None)
        if getattr(func, "__module__", None) != defaultfilters.__name__:
            name = None  # a project's own filter of the same name may do anything
        if name in _FALLBACK_FILTERS:
            return _Alias(((value, ()), *((argument, ()) for argument in arguments)))
        reads.extend((argument, ()) for argument in arguments)
        if name in _SHAPE_KEEPING_FILTERS:
            if name in _ELEMENT_KEY_FILTERS:
                reads.extend((value, (STAR, *key)) for key in _literal_keys(args))
            return value
        if name in _ELEMENT_FILTERS:
            return _Alias(((value, (STAR,)),))
        reads.append((value, ()))
        return NOTHING

    def condition(self, condition, scope: _Scope) -> None:
        """Walk a smartif tree: operands are read, operators never are."""
        if isinstance(condition, defaulttags.TemplateLiteral):
            self.display(condition.value, scope)
            return
        for operand in (getattr(condition, "first", None), getattr(condition, "second", None)):
            if operand is not None:
                self.condition(operand, scope)

    # -- templates, inheritance, blocks --------------------------------------

    def walk_template(self, template, scope: _Scope) -> None:
        saved = self.blocks
        try:
            chain = self.inheritance_chain(template, scope)
            if chain is None:
                return
            self.blocks = self.block_map(chain)
            self.walk(chain[-1].nodelist, scope)
        finally:
            self.blocks = saved

    def block_map(self, chain: list) -> dict[str, tuple]:
        """Each block name → its definitions, the most derived first."""
        key = id(chain[0])
        cached = self.block_maps.get(key)
        if cached is None:
            blocks: dict[str, list] = {}
            for member in chain:
                for name, block in _blocks_of(member).items():
                    blocks.setdefault(name, []).append(block)
            cached = {name: tuple(found) for name, found in blocks.items()}
            self.block_maps[key] = cached
        return cached

    def inheritance_chain(self, template, scope: _Scope) -> list | None:
        """``[template, parent, ..., root]``; None when a parent is dynamic."""
        chain = [template]
        history = [template.origin]
        extends = _extends_node(template.nodelist)
        while extends is not None:
            parent_name = _static_name(extends.parent_name)
            if parent_name is None:
                self.walk_unknown_parent(extends, chain, scope)
                return None
            parent = self.load(parent_name, tuple(history), extends, "parent")
            if parent is None:
                self.walk_known_blocks(chain, scope)
                return None
            chain.append(parent)
            history.append(parent.origin)
            extends = _extends_node(parent.nodelist)
        return chain

    def walk_unknown_parent(self, extends, chain: list, scope: _Scope) -> None:
        read = self.reading(lambda: self.display(extends.parent_name, scope))
        self.note(extends, "dynamic parent template: only the known templates' blocks are read",
                  read)
        self.walk_known_blocks(chain, scope)

    def walk_known_blocks(self, chain: list, scope: _Scope) -> None:
        """Without the root of the chain, which blocks render (and what
        ``block.super`` is) is unknown: every block of the known templates is
        read, each on its own."""
        self.blocks = {}
        for template in chain:
            for block in template.nodelist.get_nodes_by_type(loader_tags.BlockNode):
                inner = scope.child()
                inner.bind("block", _BlockRef(()))
                self.walk(block.nodelist, inner)

    def walk_block(self, node, scope: _Scope) -> None:
        chain = self.blocks.get(node.name) or (node,)
        inner = scope.child()
        inner.bind("block", _BlockRef(chain[1:]))
        self.walk(chain[0].nodelist, inner)

    def walk_block_super(self, ref: _BlockRef, scope: _Scope) -> None:
        if not ref.supers:
            return
        inner = scope.child()
        inner.bind("block", _BlockRef(ref.supers[1:]))
        self.walk(ref.supers[0].nodelist, inner)

    def load(self, name: str, skip: tuple | None, node: Node, how: str,
             names: Iterable[str] = ()):
        """The template ``node`` includes or extends, or None when it does not
        load: then ``node`` is noted (``names``: what its arguments read), and
        the failure is a dependency."""
        key = (name, None if skip is None else tuple(origin.name for origin in skip))
        if key in self.failed:
            self.note(node, self.failed[key], names)
            return None
        if key in self.loaded:
            return self.loaded[key]
        try:
            template = load_template(self.engine, name, skip)
        except (TemplateDoesNotExist, TemplateSyntaxError) as exc:
            # Django raises it only if the render reaches the tag, which a
            # false ``{% if %}`` may never do: not an error of the page yet.
            self.failed[key] = f"{how} template '{name}' {load_failure(exc, name, skip)}"
            self.dependencies[key] = Dependency.failure(name, skip, exc)
            self.note(node, self.failed[key], names)
            return None
        label = _label_of(template)
        self.templates[label] = None
        self.dependencies[key] = Dependency.of(name, skip, template)
        self.loaded[key] = template
        return template

    # -- nodes -------------------------------------------------------------

    def walk(self, nodelist: Iterable[Node] | None, scope: _Scope) -> None:
        visitors = _VISITORS
        for node in nodelist or ():
            kind = type(node)
            if kind is TextNode:  # most nodes of a page: skip without a call
                continue
            visit = visitors.get(kind)
            if visit is None:
                self.visit_unknown(node, scope)
            else:
                visit(self, node, scope)

    def visit_text(self, node, scope: _Scope) -> None:
        pass

    def visit_variable(self, node, scope: _Scope) -> None:
        self.display(node.filter_expression, scope)

    def visit_if(self, node, scope: _Scope) -> None:
        for condition, nodelist in node.conditions_nodelists:
            if condition is not None:
                self.condition(condition, scope)
            self.walk(nodelist, scope)

    def visit_for(self, node, scope: _Scope) -> None:
        sequence = self.expression_binding(node.sequence, scope)
        usage = [False]
        inner = scope.child()
        if len(node.loopvars) == 1:
            inner.bind(node.loopvars[0], _Tracked(_Alias(((sequence, (STAR,)),)), usage))
        else:
            for index, name in enumerate(node.loopvars):
                element = _Alias(((sequence, (STAR, str(index))),))
                inner.bind(name, _Tracked(element, usage))
        self.walk(node.nodelist_loop, inner)
        if not usage[0]:
            self.record(sequence, (STAR,))
        self.walk(node.nodelist_empty, scope)

    def visit_with(self, node, scope: _Scope) -> None:
        inner = scope.child()
        for name, expression in node.extra_context.items():
            inner.bind(name, self.expression_binding(expression, scope))
        self.walk(node.nodelist, inner)

    def visit_include(self, node, scope: _Scope) -> None:
        values = {
            name: self.expression_binding(expression, scope)
            for name, expression in node.extra_context.items()
        }
        name = _static_name(node.template)
        if name is None:
            read = self.reading(lambda: (self.display(node.template, scope),
                                         self.record_all(values.values())))
            self.note(node, "dynamic template name: the included template is unknown", read)
            return
        if name in self.including:
            self.note(node, f"recursive include of {name}: not followed a second time",
                      _roots(values.values()))
            return
        template = self.load(name, None, node, "included", _roots(values.values()))
        if template is None:
            self.record_all(values.values())  # what Django evaluates once it loads
            return
        inner = _Scope(isolated=True) if node.isolated_context else scope.child()
        for alias, binding in values.items():
            inner.bind(alias, binding)
        self.including.append(name)
        try:
            self.walk_template(template, inner)
        finally:
            self.including.pop()

    def visit_block(self, node, scope: _Scope) -> None:
        self.walk_block(node, scope)

    def visit_extends(self, node, scope: _Scope) -> None:
        pass  # followed by walk_template before the walk reaches it

    def visit_cycle(self, node, scope: _Scope) -> None:
        bindings = [self.expression_binding(value, scope) for value in node.cyclevars]
        if not node.silent:
            for binding in bindings:
                self.record(binding)
        if node.variable_name:
            scope.bind(node.variable_name, _Alias(tuple((b, ()) for b in bindings)))

    def visit_firstof(self, node, scope: _Scope) -> None:
        bindings = [self.expression_binding(value, scope) for value in node.vars]
        for binding in bindings:
            self.record(binding)
        if node.asvar:
            scope.bind(node.asvar, _Alias(tuple((b, ()) for b in bindings)))

    def visit_ifchanged(self, node, scope: _Scope) -> None:
        for expression in node._varlist:
            self.display(expression, scope)
        self.walk(node.nodelist_true, scope)
        self.walk(node.nodelist_false, scope)

    def visit_filter(self, node, scope: _Scope) -> None:
        # The expression is "var|filters", ``var`` being the rendered body.
        self.walk(node.nodelist, scope)
        for _func, args in node.filter_expr.filters:
            for is_var, arg in args:
                if is_var:
                    self.record(self.variable_binding(arg, scope))

    def visit_regroup(self, node, scope: _Scope) -> None:
        sequence = self.expression_binding(node.target, scope)
        element = scope.child()
        element.bind(node.var_name, _Alias(((sequence, (STAR,)),)))
        key = self.expression_binding(node.expression, element)
        scope.bind(node.var_name, _Regroup(sequence, key))

    def visit_debug(self, node, scope: _Scope) -> None:
        self.note(node, "reads the whole context")

    def visit_partial(self, node, scope: _Scope) -> None:
        try:
            partial = node.partial_mapping[node.partial_name]
        except KeyError:
            # Django raises TemplateSyntaxError when (and only if) it renders the tag.
            self.note(node, f"partial '{node.partial_name}' is not defined in this template")
            return
        if id(partial) in self.partials:
            self.note(node, f"recursive partial {node.partial_name}: not followed again")
            return
        self.partials.append(id(partial))
        try:
            self.walk(partial.nodelist, scope)
        finally:
            self.partials.pop()

    def visit_partialdef(self, node, scope: _Scope) -> None:
        if node.inline:
            self.walk(node.nodelist, scope)

    def visit_translate(self, node, scope: _Scope) -> None:
        self.display(node.filter_expression, scope)
        self.display(node.message_context, scope)
        if node.asvar:
            scope.bind(node.asvar, NOTHING)

    def visit_blocktranslate(self, node, scope: _Scope) -> None:
        self.display(node.message_context, scope)
        inner = scope.child()
        for name, expression in node.extra_context.items():
            inner.bind(name, self.expression_binding(expression, scope))
        if node.countervar and node.counter is not None:
            counter = self.expression_binding(node.counter, scope)
            self.record(counter)  # the count picks singular or plural
            inner.bind(node.countervar, counter)
        for token in (*node.singular, *(node.plural or ())):
            # The body's placeholders are flat context keys, not lookups.
            if token.token_type == TokenType.VAR and SEPARATOR not in token.contents:
                self.record(inner.lookup(token.contents.strip()))
        if node.asvar:
            scope.bind(node.asvar, NOTHING)

    def visit_arguments(self, node, scope: _Scope) -> None:
        """Tags whose effect is known: display their arguments, walk their bodies."""
        self.generic(node, scope, scope)

    def visit_simple(self, node, scope: _Scope) -> None:
        if node.func is getattr(defaulttags, "querystring", None):
            self.generic(node, scope, scope)
            return
        if node.takes_context:
            reason = "custom tag that takes the context: it may read any name"
        else:
            reason = "custom tag: its arguments are extracted, not what its code reads"
        self.visit_unknown(node, scope, reason)

    def visit_unknown(self, node, scope: _Scope, reason: str | None = None) -> None:
        reason = reason or f"unknown tag ({type(node).__name__}): arguments extracted"
        self.generic(node, scope, scope.child(), reason)

    # -- generic inspection ------------------------------------------------

    def generic(self, node, scope: _Scope, body_scope: _Scope, reason: str | None = None) -> None:
        """Display every parsed variable among the node's attributes, treat the
        names it assigns as locals, then walk its node lists.

        ``reason``: the node is noted as unanalysed, with the context names
        its arguments read. Its arguments are read before its names are
        bound; the body sees them (sorl's ``{% thumbnail ... as im %}``
        renders its body with ``im``), except a ``simple_block_tag``'s, which
        renders before the result is assigned.
        """
        bodies: list = []
        strings: set[str] = set()  # the node's plain string attributes
        compiled: set[str] = set()  # the bits it compiled as variables
        assigned: list[str] = []

        def arguments() -> None:
            seen: set[int] = set()
            for attribute, value in vars(node).items():
                if attribute in ("token", "origin"):
                    continue
                if isinstance(value, str):
                    (assigned.append if attribute in _ASSIGNMENT_ATTRS else strings.add)(value)
                    continue
                self.generic_value(value, scope, bodies, compiled, seen, _GENERIC_DEPTH)

        read = self.reading(arguments)
        if reason is not None:
            self.note(node, reason, read)
        names = dict.fromkeys((*assigned, *_as_names(node, strings, compiled)))
        after_body = SimpleBlockNode is not None and isinstance(node, SimpleBlockNode)
        if not after_body:
            for name in names:
                scope.bind(name, NOTHING)
        for body in bodies:
            self.walk(body, body_scope)
        if after_body:
            for name in names:
                scope.bind(name, NOTHING)

    def generic_value(self, value, scope: _Scope, bodies: list, compiled: set[str],
                      seen: set[int], depth: int) -> None:
        """Display the variables in ``value``; its node lists go to ``bodies``."""
        if depth <= 0 or id(value) in seen:
            return
        if isinstance(value, FilterExpression):
            compiled.add(value.token)
            self.display(value, scope)
        elif isinstance(value, Variable):
            compiled.add(value.var)
            self.display(value, scope)
        elif isinstance(value, NodeList):
            seen.add(id(value))
            bodies.append(value)
        elif isinstance(value, Node):
            seen.add(id(value))
            bodies.append((value,))
        elif isinstance(value, TokenBase):
            self.condition(value, scope)
        elif isinstance(value, (list, tuple, set, frozenset)):
            seen.add(id(value))
            for item in value:
                self.generic_value(item, scope, bodies, compiled, seen, depth - 1)
        elif isinstance(value, dict):
            seen.add(id(value))
            for key, item in value.items():
                if isinstance(key, (FilterExpression, Variable)):
                    # A key the tag resolves (django-tables2's querystring).
                    self.generic_value(key, scope, bodies, compiled, seen, depth - 1)
                self.generic_value(item, scope, bodies, compiled, seen, depth - 1)


def _as_names(node: Node, strings: set[str], compiled: set[str]) -> list[str]:
    """The names ``node``'s token assigns with ``as <name>``.

    The last two bits assign, as ``simple_tag`` and nearly every assignment
    tag has them, unless the tag compiled that bit as a variable it reads
    (and no earlier bit is the same name). ``as <name>`` followed by more
    bits (django-mptt's ``drilldown_tree_for_node node as tree count ...``)
    assigns only when the node keeps ``<name>`` as a plain string.
    """
    token = getattr(node, "token", None)
    if token is None or getattr(token, "token_type", None) is not TokenType.BLOCK:
        return []
    bits = token.split_contents()
    names = []
    for index in range(1, len(bits) - 1):
        if bits[index] != "as":
            continue
        name = bits[index + 1]
        if not _ASSIGNABLE.match(name) or (name in compiled and name not in bits[1:index]):
            continue
        if index + 2 == len(bits) or name in strings:
            names.append(name)
    return names


def _roots(bindings: Iterable[_Binding]) -> set[str]:
    """The context names reading ``bindings`` would read, reading nothing."""
    found: set[str] = set()
    stack = list(bindings)
    while stack:
        binding = stack.pop()
        kind = type(binding)
        if kind is _ContextName:
            found.add(binding.name)
        elif kind is _Alias:
            stack.extend(source for source, _prefix in binding.sources)
        elif kind is _Derived:
            stack.extend(source for source, _segments in binding.reads)
            stack.append(binding.value)
        elif kind is _Regroup:
            stack.extend((binding.seq, binding.key))
        elif kind is _Tracked:
            stack.append(binding.inner)
    return found


def _blocks_of(template) -> dict[str, loader_tags.BlockNode]:
    """The blocks a template defines, by name."""
    extends = _extends_node(template.nodelist)
    if extends is not None:
        # Django's parser already collected a child template's blocks.
        return extends.blocks
    return {
        block.name: block
        for block in template.nodelist.get_nodes_by_type(loader_tags.BlockNode)
    }


def _extends_node(nodelist) -> loader_tags.ExtendsNode | None:
    # Django insists that ``extends`` is the first non-text node.
    for node in nodelist:
        if not isinstance(node, TextNode):
            return node if isinstance(node, loader_tags.ExtendsNode) else None
    return None


def _static_name(expression) -> str | None:
    """The template name of ``include``/``extends`` when it is a plain string."""
    static = (
        isinstance(expression, FilterExpression)
        and not expression.filters
        and isinstance(expression.var, str)
        and expression.var
    )
    return str(expression.var) if static else None


def _literal_keys(args) -> Iterator[Segments]:
    for is_var, arg in args:
        if is_var or arg is None:
            continue
        segments = tuple(str(arg).split(SEPARATOR))
        if all(segments) and not any(segment.startswith("_") for segment in segments):
            yield segments


def _visitors() -> dict[type, object]:
    W = _Walker
    table: dict[type, object] = {
        TextNode: W.visit_text,
        VariableNode: W.visit_variable,
        defaulttags.IfNode: W.visit_if,
        defaulttags.ForNode: W.visit_for,
        defaulttags.WithNode: W.visit_with,
        defaulttags.CycleNode: W.visit_cycle,
        defaulttags.FirstOfNode: W.visit_firstof,
        defaulttags.IfChangedNode: W.visit_ifchanged,
        defaulttags.FilterNode: W.visit_filter,
        defaulttags.RegroupNode: W.visit_regroup,
        defaulttags.DebugNode: W.visit_debug,
        loader_tags.IncludeNode: W.visit_include,
        loader_tags.BlockNode: W.visit_block,
        loader_tags.ExtendsNode: W.visit_extends,
        i18n.TranslateNode: W.visit_translate,
        i18n.BlockTranslateNode: W.visit_blocktranslate,
        defaulttags.CommentNode: W.visit_text,
        defaulttags.CsrfTokenNode: W.visit_text,
        defaulttags.LoadNode: W.visit_text,
        defaulttags.ResetCycleNode: W.visit_text,
        defaulttags.TemplateTagNode: W.visit_text,
        defaulttags.VerbatimNode: W.visit_text,
    }
    # Known tags whose attributes are plain arguments, ``as`` names and bodies.
    for node_class in (
        defaulttags.AutoEscapeControlNode,
        defaulttags.SpacelessNode,
        defaulttags.NowNode,
        defaulttags.LoremNode,
        defaulttags.URLNode,
        defaulttags.WidthRatioNode,
        i18n.GetAvailableLanguagesNode,
        i18n.GetLanguageInfoNode,
        i18n.GetLanguageInfoListNode,
        i18n.GetCurrentLanguageNode,
        i18n.GetCurrentLanguageBidiNode,
        i18n.LanguageNode,
        l10n.LocalizeNode,
        tz.LocalTimeNode,
        tz.TimezoneNode,
        tz.GetCurrentTimezoneNode,
        static.StaticNode,
        static.PrefixNode,
        cache_tags.CacheNode,
    ):
        table[node_class] = W.visit_arguments
    table[SimpleNode] = W.visit_simple
    table[InclusionNode] = W.visit_simple
    if SimpleBlockNode is not None:  # Django 5.2+
        table[SimpleBlockNode] = W.visit_simple
    if hasattr(defaulttags, "PartialNode"):  # Django 6.0+
        table[defaulttags.PartialNode] = W.visit_partial
        table[defaulttags.PartialDefNode] = W.visit_partialdef
    return table


_VISITORS = _visitors()
