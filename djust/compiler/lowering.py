"""Lowering: a typed access tree → the ``ast.Module`` of a serializer.

``lower(tree, mode, name=...)`` returns the module and the globals it needs
(the runtime helpers and a restricted ``__builtins__``); ``emit`` renders,
compiles and verifies it. Only ``ast`` nodes are built: a template segment
reaches the code as a dict key constant, as the string argument of
``getattr``/``_lookup``, or — when it is a plain identifier that is neither a
keyword nor underscore-prefixed — as an attribute name.

Each child of a container is lowered to a *piece*:

- ``Always``: the key is always present; ``prelude`` statements compute
  locals and ``expr`` is the value, so the container is one dict display;
- ``Maybe``: statements that store the key only when the lookup succeeds
  (guarded relations, properties, methods, run-time lookups).

Segments Django's template parser refuses (leading ``_``) and sensitive
nodes produce no piece at all.
"""

from __future__ import annotations

import ast
import keyword
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from django.db.models import JSONField

from djust.compiler import astbuild, modes, runtime
from djust.compiler.astbuild import (
    LOAD,
    NO_LOCATION,
    STORE,
    assign,
    call,
    dict_of,
    failure_try,
    identity,
    is_plain_identifier,
    list_comp,
    load,
    method,
    none_or,
    store_key,
)
from djust.compiler.nodes import Kind, Node, NodeVisitor
from djust.compiler.paths import STAR, is_index
from djust.compiler.relations import (
    display_table,
    list_attribute,
    method_strategy,
    prefetch_cache_name,
    related_cache_key,
    relation_is_ordered,
    rows_read_as_list,
)
from djust.compiler.runtime import LOOKUP_HELPER

_MODEL_VALUED = (Kind.FORWARD, Kind.REVERSE_ONE, Kind.GENERIC_FK, Kind.PICK)


def _labels_are_text(table: dict) -> bool:
    # force_str() leaves an exact str as it is: such labels need no call.
    return all(label.__class__ is str for label in table.values())


def lower(tree: Node, mode: str | modes.Mode, *, name: str, paths: tuple[str, ...] = ()):
    """Lower ``tree`` to ``(ast.Module, globals)`` defining function ``name``.

        >>> from djust.compiler.nodes import Kind, Node
        >>> root = Node("", Kind.ROOT, children=(Node("x", Kind.UNKNOWN),))
        >>> module, namespace = lower(root, "json", name="serialize_x")
        >>> sorted(k for k in namespace if k != "__builtins__")
        ['_MISSING', '_PLAIN', '_encode', '_lookup', '_skip']
    """
    mode = modes.named(mode)
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"serializer name {name!r} is not an identifier")
    lowerer = Lowerer(mode)
    body = lowerer.root_body(tree)
    doc = _docstring(tree, paths)
    function = astbuild.function(name, ["obj"], [ast.Expr(ast.Constant(doc)), *body])
    # Emit compiles the rendered text, whose line numbers are the ones a
    # traceback must show, so the AST carries no real locations.
    module = ast.Module(body=[function], type_ignores=[])
    return module, lowerer.namespace()


def _docstring(tree: Node, paths: tuple[str, ...]) -> str:
    label = tree.model._meta.label if tree.model is not None else "an object"
    listed = "\n".join(f"    {path!r}" for path in paths) or "    (no paths)"
    return f"Serialize {label} for the template paths:\n\n{listed}\n"


# ------------------------------------------------------------------ pieces


@dataclass
class Always:
    key: str
    expr: ast.expr
    prelude: list[ast.stmt] = field(default_factory=list)


@dataclass
class Maybe:
    # Given the container's local name, the statements storing the key.
    build: Callable[[str], list[ast.stmt]]


# ------------------------------------------------------- representation


def _is_collection(node: Node) -> bool:
    """True when ``node``'s value is serialized as the list of its elements.

    A ``*`` child makes it a list; so does displaying related rows that are
    otherwise only read by index (``{{ p.units.all|length }}`` with
    ``{{ p.units.all.0.number }}``). Indexing alone keeps the dict form, so
    rows never read stay on the server.
    """
    if node.child(STAR) is not None:
        return True
    return (node.kind is Kind.ALL and node.bare and bool(node.children)
            and all(is_index(child.segment) for child in node.children))


def _may_be_rows(node: Node, renders: bool) -> bool:
    """True when ``node`` is only read by index (and maybe displayed), and
    its value may be a list, tuple or queryset (a JSON value, a property's,
    a run-time lookup's): ``rows_or_single`` decides at run time. In JSON
    an undisplayed value read by index keeps the dict form; python mode
    keeps the sequence, which ``{% for a, b in pairs %}`` unpacks."""
    return (node.model is None and node.kind is not Kind.ROOT and (node.bare or renders)
            and bool(node.children) and all(is_index(child.segment) for child in node.children))


def _holds_data(node: Node) -> bool:
    """True for a field whose values are plain JSON data (a JSONField)."""
    return node.field_class is not None and issubclass(node.field_class, JSONField)


def _keeps_value_itself(node: Node) -> bool:
    # Only values that are not model rows (a row kept as is would let the
    # template query the database), displayed or only looked into.
    return node.model is None and node.kind is not Kind.ROOT


def _merge(left: Node, right: Node) -> Node:
    """``left`` answering ``right``'s sub-paths too (same segment and typing)."""
    children = {child.segment: child for child in left.children}
    for child in right.children:
        mine = children.get(child.segment)
        children[child.segment] = child if mine is None else _merge(mine, child)
    merged = replace(left, bare=left.bare or right.bare)
    return merged.with_children(tuple(children.values()))


def _element(model, displayed: bool, star: Node | None, index: Node | None = None) -> Node:
    """The ``*`` node one element is built from: ``star`` merged with ``index``."""
    element = Node(STAR, Kind.EACH, bare=displayed, model=model)
    for part in (star, index):
        if part is not None:
            element = _merge(element, replace(part, segment=STAR, kind=Kind.EACH, facts=None))
    return element


# ---------------------------------------------------------------- lowerer


class _RowReads(NodeVisitor):
    """The lowerer's reads of related rows held in a local, one method per
    kind, each given (node, rows)."""

    def __init__(self, lowerer: Lowerer) -> None:
        self.lowerer = lowerer

    def visit_aggregate(self, node, rows):
        return self.lowerer.aggregate_piece(node, rows)

    def visit_pick(self, node, rows):
        return self.lowerer.pick_piece(node, rows)

    def visit_all(self, node, rows):
        return self.lowerer.all_piece(node, rows)


class Lowerer(NodeVisitor):
    """Lowers typed nodes read from model instances, in one output mode.

    ``projection`` builds on the same object for what both generators
    share: locals (``local``), helpers (``helper``), constants
    (``constant``, ``own_global``), typed leaves (``field_converter``,
    ``plain_or_encoded``), the value of a node read into a local
    (``value``), and the globals of the generated function (``namespace``).
    """

    def __init__(self, mode: modes.Mode):
        self.mode = mode
        self.used: set[str] = set()
        self.counter = 0
        # Locals holding related rows that may be a listed relation's list.
        self.listed: set[str] = set()
        # Serializer constants: name -> (spec, live object).
        self.constants: dict[str, tuple[tuple, object]] = {}
        # The local of an instance -> (the local holding its fields cache,
        # {relation: cache key}).
        self.related_caches: dict[str, tuple[str, dict[str, str]]] = {}
        # Globals made for this compilation only: declared, never stored.
        self.own: dict[str, object] = {}
        self.row_reads = _RowReads(self)

    def namespace(self) -> dict:
        """The generated function's globals: the helpers it uses, the
        restricted builtins and its constants (``runtime.namespace``)."""
        constants = dict(self.constants)
        constants.update((name, (("local", name), value)) for name, value in self.own.items())
        return runtime.namespace(self.used, self.mode, constants)

    def own_global(self, name: str, value) -> ast.Name:
        """The global ``name`` holding ``value``, made for this compilation
        only (no spec: nothing else may share it)."""
        self.own[name] = value
        return load(name)

    def helper(self, name: str) -> ast.Name:
        """Load run-time helper ``name`` (``runtime.HELPERS``)."""
        self.used.add(name)
        return load(name)

    def constant(self, stem: str, spec: tuple, value) -> ast.Name:
        """The global holding ``value``, described by ``spec``; one per spec."""
        for name, (known, _) in self.constants.items():
            if known == spec:
                return load(name)
        name = f"_{stem}_{len(self.constants) + 1}"
        self.constants[name] = (spec, value)
        return load(name)

    def is_exactly(self, var: str, model: type) -> ast.expr:
        """``var.__class__ is <model>``: the guard of every shortcut that
        holds only for the compiled model's own instances (a subclass may
        override the attribute it skips)."""
        return identity(ast.Attribute(value=load(var), attr="__class__", ctx=LOAD),
                        self.constant("model", ("model", model._meta.label), model))

    def local(self, hint: str) -> str:
        """A fresh local name, after ``hint`` when it is a plain identifier."""
        self.counter += 1
        stem = hint if is_plain_identifier(hint) and hint.isascii() else "v"
        return f"{stem}_{self.counter}"

    # -- entry

    def root_body(self, tree: Node) -> list[ast.stmt]:
        prelude, expr = self.container(tree, "obj", tree.model, may_be_none=False, root=True)
        return [*prelude, ast.Return(value=expr)]

    # -- reading one segment

    def read(self, var: str, segment: str) -> ast.expr:
        if is_plain_identifier(segment):
            return ast.Attribute(value=load(var), attr=segment, ctx=LOAD)
        return call(load("getattr"), load(var), ast.Constant(segment))

    def lookup(self, var: str, segment: str) -> ast.expr:
        return call(self.helper(LOOKUP_HELPER), load(var), ast.Constant(segment))

    # -- containers

    def container(self, node, var, model, *, may_be_none, root=False):
        """(prelude, expr) building the dict/list for ``node``'s value in ``var``."""
        if _is_collection(node):
            return self.collection(node, var, model, may_be_none=may_be_none)
        if _may_be_rows(node, self.mode.renders):
            return self.rows_or_single(node, var, model, may_be_none=may_be_none)
        return self.single(node, var, model, may_be_none=may_be_none, root=root)

    def rows_or_single(self, node, var, model, *, may_be_none):
        """A value of a type known only at run time, displayed and read by
        index: the list of its elements when it is a list, tuple or queryset
        (as for related rows), else what any other value becomes."""
        rows_stmts, rows_expr = self.collection(node, var, model, may_be_none=False)
        if self.mode.renders and node.bare:
            # Shown as the live value is: the elements' repr would show their
            # serialized form ("__str__" keys, a row's text for the row).
            rows_expr = call(self.helper("_ShownList"), rows_expr,
                             call(load("str"), load(var)))
        other_stmts, other_expr = self.single(node, var, model, may_be_none=may_be_none)
        result = self.local(node.segment or "value")
        choice = ast.If(
            test=call(self.helper("_is_rows"), load(var)),
            body=[*rows_stmts, assign(result, rows_expr)],
            orelse=[*other_stmts, assign(result, other_expr)],
        )
        return [choice], load(result)

    def single(self, node, var, model, *, may_be_none, root=False):
        """(prelude, expr) for a value that is not serialized as a list."""
        if self.mode.renders and _keeps_value_itself(node):
            return self.kept_or_displayed(node, var, model)
        return self.mapping(node, var, model, may_be_none=may_be_none, root=root)

    def kept_or_displayed(self, node, var, model):
        """A value looked into (maybe displayed too): itself when a template
        can use it as is (python mode).

        Dates, numbers, strings and plain data (dicts, lists, tuples of
        those: ``modes.is_kept_value``) display and answer every lookup
        exactly as the live value does, and cannot reach the database;
        anything else becomes a row or a dict of what is read.
        """
        # None is kept, so the dict is never built for it.
        stmts, expr = self.mapping(node, var, model, may_be_none=False)
        result = self.local(node.segment or "value")
        kept = ast.If(
            test=call(self.helper("_kept"), load(var)),
            body=[assign(result, load(var))],
            orelse=[*stmts, assign(result, expr)],
        )
        return [kept], load(result)

    def collection(self, node, var, model, *, may_be_none):
        """(prelude, expr) of a collection node: the list of its elements.

        Named siblings of ``*`` survive in python mode only (``Rows``).
        """
        named = [child for child in node.children if child.segment != STAR
                 and not is_index(child.segment)]
        if not self.mode.renders:
            named = []  # a JSON list cannot carry them
        prelude, pairs, maybes = self.pieces(named, var, model, node)
        items_prelude, items = self.elements(node, var)
        if self.mode.renders and node.kind is Kind.ALL:
            # Related rows answer as their QuerySet does (``QueryRows``).
            stmts, lookups = self.assemble(node, prelude, pairs, maybes, None, False)
            stmts, expr = [*stmts, *items_prelude], self.query_rows(node, items, lookups, var)
        else:
            stmts, expr = self.assemble(node, prelude + items_prelude, pairs, maybes, items,
                                        False)
            if self.mode.renders and node.bare and model is None and not (pairs or maybes):
                # A displayed list or tuple shows as the live value does.
                expr = call(self.helper("_ShownList"), expr, call(load("str"), load(var)))
        if not may_be_none:
            return stmts, expr
        return self.none_guarded(node, var, stmts, expr)

    def query_rows(self, node, items: ast.expr, lookups: ast.expr, rows: str) -> ast.expr:
        """Python mode's related rows: ``items`` answering the QuerySet's
        other ``lookups``, compared by identity, displayed as the QuerySet
        in ``rows`` is when the template displays them."""
        shown = (call(self.helper("_queryset_text"), load(rows)) if node.bare
                 else ast.Constant(None))
        return call(self.helper("_QueryRows"), items, lookups, shown)

    def none_guarded(self, node, var, stmts, expr):
        """``None`` ends the chain: (stmts, expr) run only for another value."""
        if not stmts:
            return [], none_or(var, expr)
        result = self.local(node.segment or "value")
        guarded = ast.If(
            test=identity(load(var), ast.Constant(None)),
            body=[assign(result, ast.Constant(None))],
            orelse=[*stmts, assign(result, expr)],
        )
        return [guarded], load(result)

    def mapping(self, node, var, model, *, may_be_none, root=False):
        """(prelude, expr) building the dict for ``node``'s value in ``var``."""
        others = [child for child in node.children if child.segment != STAR]
        cache = self.related_cache(var, model, others)
        prelude, pairs, maybes = self.pieces(others, var, model, node)
        prelude[:0] = cache
        if node.bare:
            pairs.insert(0, ("__str__", call(load("str"), load(var))))
        stmts, expr = self.assemble(node, prelude, pairs, maybes, None, root, var)
        if not may_be_none:
            return stmts, expr
        return self.none_guarded(node, var, stmts, expr)

    def related_cache(self, var, model, children) -> list[ast.stmt]:
        """The statement putting ``var``'s fields cache in a local, when a
        child reads a to-one relation through Django's descriptor (see
        ``related_cache_key``); an empty dict stands in for an instance of
        any other class, whose relations go through the descriptor."""
        if model is None:
            return []
        keys = {}
        for child in children:
            if child.kind in (Kind.FORWARD, Kind.REVERSE_ONE) and not child.segment.startswith("_"):
                key = related_cache_key(model, child.segment)
                if key is not None:
                    keys[child.segment] = key
        if not keys:
            return []
        cache = self.local("cached")
        self.related_caches[var] = (cache, keys)
        exact = self.is_exactly(var, model)
        state = ast.Attribute(value=load(var), attr="_state", ctx=LOAD)
        fields_cache = ast.Attribute(value=state, attr="fields_cache", ctx=LOAD)
        empty = ast.Dict(keys=[], values=[])
        return [assign(cache, ast.IfExp(test=exact, body=fields_cache, orelse=empty))]

    def pieces(self, children, var, model, parent):
        """Split the children's pieces: (prelude, always-present pairs, maybes)."""
        prelude: list[ast.stmt] = []
        pairs: list[tuple[str, ast.expr]] = []
        maybes: list[Maybe] = []
        for child in children:
            piece = self.piece(child, var, model, parent)
            if not piece:
                continue
            if isinstance(piece, Always):
                prelude += piece.prelude
                pairs.append((piece.key, piece.expr))
            else:
                maybes.append(piece)
        return prelude, pairs, maybes

    def assemble(self, node, prelude, pairs, maybes, items, root, obj=None):
        """(stmts, expr) of a container: ``pairs`` as a dict display, the
        ``maybes`` stored into it, ``items`` as its list. In python mode the
        value looked into in ``obj`` becomes a row (``modes.make_row``)."""
        display: ast.expr = dict_of(pairs)
        wants_displayed = self.mode.renders and any(k == "__str__" for k, _ in pairs)
        as_row = self.mode.renders and obj is not None and items is None
        if wants_displayed and not as_row:
            display = call(self.helper("_Displayed"), display)
        if as_row and not maybes:
            return prelude, call(self.helper("_row"), display, load(obj))
        if items is not None and not pairs and not maybes:
            return prelude, items
        if items is not None and not self.mode.renders:
            # JSON cannot attach keys to a list: the list answers for itself
            # (``0``, ``|length``) and the sibling lookups are dropped.
            return prelude, items
        if not maybes and items is None:
            return prelude, display
        target = self.local("out" if root else (node.segment or "value"))
        stmts = [*prelude, assign(target, display)]
        for maybe in maybes:
            stmts += maybe.build(target)
        if items is not None and self.mode.renders:
            return stmts, call(self.helper("_Rows"), items, load(target))
        if as_row:
            return stmts, call(self.helper("_row"), load(target), load(obj))
        return stmts, load(target)

    def elements(self, node: Node, var: str):
        """(prelude, list expr) of ``node``'s elements, index sub-paths merged in.

        Element ``i`` answers the ``*`` sub-paths and those of index ``i``;
        a displayed collection displays each element too.
        """
        star = node.child(STAR)
        indexed: dict[int, Node] = {}
        for child in node.children:
            if is_index(child.segment):
                # ``1``, ``01`` and a fullwidth 1 read one element: Django reads int(segment).
                position = int(child.segment)
                known = indexed.get(position)
                indexed[position] = child if known is None else _merge(known, child)
        model = star.model if star is not None else node.model
        default = _element(model, node.bare, star)
        if all(_element(model, node.bare, star, sub) == default for sub in indexed.values()):
            return self.sequence(default, var)
        row, items, position = self.local("row"), self.local("items"), self.local("position")
        branch = self.append_element(default, row, items)
        for index in sorted(indexed, reverse=True):
            element = _element(model, node.bare, star, indexed[index])
            if element == default:
                continue
            branch = [ast.If(
                test=ast.Compare(left=load(position), ops=[ast.Eq()],
                                 comparators=[ast.Constant(index)]),
                body=self.append_element(element, row, items),
                orelse=branch,
            )]
        step = ast.AugAssign(target=ast.Name(id=position, ctx=STORE), op=ast.Add(),
                             value=ast.Constant(1))
        loop = ast.For(target=ast.Name(id=row, ctx=STORE), iter=load(var),
                       body=[*branch, step], orelse=[], **NO_LOCATION)
        start = [assign(items, ast.List(elts=[], ctx=LOAD)),
                 assign(position, ast.Constant(0))]
        return [*start, loop], load(items)

    def append_element(self, element: Node, row: str, items: str) -> list[ast.stmt]:
        if not element.children:
            expr = self.leaf(element, row, element.model)
            return [ast.Expr(method(load(items), "append", expr))]
        prelude, expr = self.container(element, row, element.model,
                                       may_be_none=element.model is None)
        return [*prelude, ast.Expr(method(load(items), "append", expr))]

    def sequence(self, each: Node, var: str):
        """(prelude, list expr) of ``each`` over the iterable in ``var``."""
        element_model = each.model
        row = self.local("row")
        if not each.children:
            return [], list_comp(self.leaf(each, row, element_model), row, load(var))
        prelude, expr = self.container(each, row, element_model, may_be_none=element_model is None)
        if not prelude:
            return [], list_comp(expr, row, load(var))
        items = self.local("items")
        loop = ast.For(
            target=ast.Name(id=row, ctx=STORE),
            iter=load(var),
            body=[*prelude, ast.Expr(method(load(items), "append", expr))],
            orelse=[],
            **NO_LOCATION,
        )
        return [assign(items, ast.List(elts=[], ctx=LOAD)), loop], load(items)

    # -- one child

    def piece(self, node: Node, var: str, model, parent: Node):
        if node.kind is Kind.SENSITIVE or node.segment.startswith("_") or not node.segment:
            return None
        if parent.kind in (Kind.TO_MANY, Kind.ALL) and node.kind in (
            Kind.ALL, Kind.AGGREGATE, Kind.PICK
        ):
            return self.rows_piece(node, var, parent)
        return self.visit(node, var, model)

    # One piece per kind (``NodeVisitor``), each given (node, var, model).

    def visit_field(self, node, var, model):
        read = self.read(var, node.segment)
        if node.children and self.mode.renders and _holds_data(node):
            # Plain data answers every lookup as the live value does
            # (``|length`` of a list, ``.items``): the value itself.
            return Always(node.segment, read)
        if node.children:
            value = self.local(node.segment)
            prelude, expr = self.container(node, value, None, may_be_none=True)
            return Always(node.segment, expr, [assign(value, read), *prelude])
        converter = self.field_converter(node.field_class)
        if converter is None:
            return Always(node.segment, read)
        if not node.nullable:
            return Always(node.segment, converter(read))
        value = self.local(node.segment)
        expr = none_or(value, converter(load(value)))
        return Always(node.segment, expr, [assign(value, read)])

    def field_converter(self, field_class) -> Callable[[ast.expr], ast.expr] | None:
        """None when the field's values need no conversion in this mode."""
        leaf = self.mode.field_leaf(field_class)
        if leaf is None:
            return None
        if leaf.how == "method":
            return lambda e: method(e, leaf.name)
        if leaf.how == "builtin":
            return lambda e: call(load(leaf.name), e)
        return lambda e: call(self.helper(leaf.name), e)

    def guarded_piece(self, node, var, acquire: ast.expr | list[ast.stmt],
                      value: str | None = None):
        """Store ``node``'s key unless acquiring its value raises an exception
        templates hide. ``acquire`` is the value's expression, or statements
        assigning it to the local ``value``."""
        value = value or self.local(node.segment)
        if isinstance(acquire, ast.expr):
            acquire = [assign(value, acquire)]

        def build(container: str) -> list[ast.stmt]:
            prelude, expr = self.value(node, value)
            store = [*prelude, store_key(container, node.segment, expr)]
            return [self.failure_try(acquire, store, container, node.segment)]

        return Maybe(build)

    def failure_try(self, body, orelse, container: str, key: str, handled=()) -> ast.Try:
        """Run ``body``, then ``orelse``; when ``body`` raises, the mode's
        rule (docs/serialization.md, "When a lookup raises"): python mode
        keeps the exception for ``key`` of the row in ``container``, raised
        when the template reaches it; JSON leaves the key out."""
        if self.mode.renders:
            rule = call(self.helper("_later"), load(container), ast.Constant(key))
        else:
            rule = call(self.helper("_skip"))
        return failure_try(body, orelse, [ast.Expr(rule), *handled])

    def visit_forward(self, node, var, model):
        """A to-one relation: from the fields cache ``related_cache`` put in
        a local when it holds the object, else through the descriptor."""
        cache, keys = self.related_caches.get(var, (None, {}))
        key = keys.get(node.segment)
        if key is None:
            return self.guarded_piece(node, var, self.read(var, node.segment))
        value = self.local(node.segment)
        cached = assign(value, method(load(cache), "get", ast.Constant(key)))
        # A miss, or a None the descriptor may refuse: Django answers.
        missing = ast.If(test=identity(load(value), ast.Constant(None)),
                         body=[assign(value, self.read(var, node.segment))], orelse=[])
        return self.guarded_piece(node, var, [cached, missing], value)

    visit_reverse_one = visit_generic_fk = visit_forward

    def visit_display(self, node, var, model):
        """``get_FOO_display``: the compile-time table for instances of
        exactly ``model``, the method itself otherwise (see display_table)."""
        call_method = call(self.read(var, node.segment))
        table = display_table(model, node.segment) if model is not None else None
        if table is None or not node.field:
            return self.guarded_piece(node, var, call_method)
        attname = model._meta.get_field(node.field).attname
        label = model._meta.label
        value = self.local(node.segment)
        raw = self.local(node.field)
        looked_up: ast.expr = ast.Subscript(
            value=self.constant("display", ("display", label, node.segment), table),
            slice=load(raw), ctx=LOAD)
        if not _labels_are_text(table):
            looked_up = call(self.helper("_label"), looked_up)
        from_table = ast.Try(
            body=[assign(value, looked_up)],
            handlers=[ast.ExceptHandler(type=load("Exception"), name=None,
                                        body=[assign(value, call_method)])],
            orelse=[], finalbody=[],
        )
        acquire = ast.If(test=self.is_exactly(var, model),
                         body=[assign(raw, self.read(var, attname)), from_table],
                         orelse=[assign(value, call_method)])
        return self.guarded_piece(node, var, [acquire], value)

    def visit_method(self, node, var, model):
        strategy = method_strategy(model, node.field or node.segment)
        if strategy == "absent":
            return None
        if strategy == "call":
            return self.guarded_piece(node, var, call(self.read(var, node.segment)))
        if strategy == "keep":
            return self.guarded_piece(node, var, self.read(var, node.segment))
        return self.lookup_piece(node, var)

    def visit_property(self, node, var, model):
        value = self.local(node.segment)

        def build(container: str) -> list[ast.stmt]:
            prelude, expr = self.value(node, value)
            call_it = ast.If(
                test=call(load("callable"), load(value)),
                body=[assign(value, call(self.helper("_call"), load(value)))],
                orelse=[],
            )
            present = ast.If(
                test=identity(load(value), self.helper("_MISSING"), negate=True),
                body=[*prelude, store_key(container, node.segment, expr)],
                orelse=[],
            )
            body = [assign(value, self.read(var, node.segment)), call_it]
            return [self.failure_try(body, [present], container, node.segment)]

        return Maybe(build)

    def visit_unknown(self, node, var, model):
        """Django's own lookup at run time: what the class does not settle."""
        return self.lookup_piece(node, var)

    # Met here only in hand-built or run-time typed positions.
    visit_key = visit_index = visit_each = visit_all = visit_aggregate = visit_unknown
    visit_pick = visit_unknown

    def lookup_piece(self, node, var):
        value = self.local(node.segment)

        def build(container: str) -> list[ast.stmt]:
            prelude, expr = self.value(node, value, generic=True)
            present = ast.If(
                test=identity(load(value), self.helper("_MISSING"), negate=True),
                body=[*prelude, store_key(container, node.segment, expr)],
                orelse=[],
            )
            acquire = [assign(value, self.lookup(var, node.segment))]
            return [self.failure_try(acquire, [present], container, node.segment)]

        return Maybe(build)

    def visit_to_many(self, node, var, model):
        if not node.children:
            return Always(node.segment, call(load("str"), self.read(var, node.segment)))
        holder = self.local(node.segment)
        if any(child.kind in (Kind.ALL, Kind.AGGREGATE, Kind.PICK) for child in node.children):
            rows, manager = holder, None
            prelude = self.rows_statements(holder, var, model, node)
        else:
            rows, manager = None, holder
            prelude = [assign(holder, self.read(var, node.segment))]
        pairs: list[tuple[str, ast.expr]] = []
        maybes: list[Maybe] = []
        if node.bare:
            shown = load(manager) if manager else self.read(var, node.segment)
            pairs.append(("__str__", call(load("str"), shown)))
        for child in node.children:
            piece = self.to_many_child(child, var, node, rows, manager)
            if isinstance(piece, Always):
                prelude += piece.prelude
                pairs.append((piece.key, piece.expr))
            elif piece is not None:
                maybes.append(piece)
        stmts, expr = self.assemble(node, prelude, pairs, maybes, None, False)
        return Always(node.segment, expr, stmts)

    def to_many_child(self, child, var, node, rows, manager):
        # Row lookups read the (prefetched) rows; anything else is looked up
        # on the manager, which is only built when such a lookup exists.
        if child.kind is Kind.SENSITIVE or child.segment.startswith("_"):
            return None
        if rows is not None and child.kind in (Kind.ALL, Kind.AGGREGATE, Kind.PICK):
            return self.rows_piece(child, rows, node)
        if manager is not None:
            return self.lookup_piece(child, manager)
        lazy = self.local(node.segment)
        inner = self.lookup_piece(child, lazy)

        def build(container: str) -> list[ast.stmt]:
            return [assign(lazy, self.read(var, node.segment)), *inner.build(container)]

        return Maybe(build)

    def rows_statements(self, holder, var, model, node):
        """Load the related rows: the listed relation's list when the plan's
        serializer variant loaded one, else the prefetched queryset, else
        ``all()`` on the manager."""
        cached = self.rows_statement(holder, var, model, node.segment)
        if prefetch_cache_name(model, node.segment) is None or not rows_read_as_list(node):
            return [cached]
        self.listed.add(holder)
        listed = method(ast.Attribute(value=load(var), attr="__dict__", ctx=LOAD),
                        "get", ast.Constant(list_attribute(node.segment)))
        missing = ast.If(test=identity(load(holder), ast.Constant(None)), body=[cached], orelse=[])
        return [assign(holder, listed), missing]

    def rows_statement(self, holder, var, model, accessor):
        fallback = assign(holder, method(self.read(var, accessor), "all"))
        cache = prefetch_cache_name(model, accessor)
        if cache is None:
            return fallback
        prefetched = ast.Subscript(
            value=ast.Attribute(value=load(var), attr="_prefetched_objects_cache", ctx=LOAD),
            slice=ast.Constant(cache),
            ctx=LOAD,
        )
        handler = ast.ExceptHandler(
            type=ast.Tuple(elts=[load("AttributeError"), load("KeyError")], ctx=LOAD),
            name=None,
            body=[fallback],
        )
        return ast.Try(body=[assign(holder, prefetched)], handlers=[handler], orelse=[],
                       finalbody=[])

    def rows_piece(self, node, rows, parent):
        """The piece of ``all``, ``count``/``exists`` or ``first``/``last``
        read on the related rows in the local ``rows``."""
        return self.row_reads.visit(node, rows)

    def aggregate_piece(self, node, rows):
        if node.segment not in ("count", "exists"):
            return self.lookup_piece(node, rows)
        if rows in self.listed and node.segment == "count":
            # Usually the list many() loaded: its length, without a call.
            is_list = identity(ast.Attribute(value=load(rows), attr="__class__", ctx=LOAD),
                               load("list"))
            answer = ast.IfExp(test=is_list, body=call(load("len"), load(rows)),
                               orelse=method(load(rows), "count"))
        elif rows in self.listed:
            answer = call(self.helper("_exists"), load(rows))
        else:
            answer = method(load(rows), node.segment)
        if not node.children:
            return Always(node.segment, answer)
        value = self.local(node.segment)
        prelude, expr = self.value(node, value)
        return Always(node.segment, expr, [assign(value, answer), *prelude])

    def pick_piece(self, node, rows):
        helper = {"first": "_first", "last": "_last"}.get(node.segment)
        if helper is None:
            return self.lookup_piece(node, rows)
        arguments = [load(rows)]
        if rows in self.listed:
            helper += "_row"
            arguments.append(ast.Constant(relation_is_ordered(node.model)))
        value = self.local(node.segment)
        prelude, expr = self.value(node, value)
        return Always(node.segment, expr,
                      [assign(value, call(self.helper(helper), *arguments)), *prelude])

    def all_piece(self, node, rows):
        """``all``: the same rows."""
        if not node.children:
            row = self.local("row")
            element = self.leaf(node, row, node.model, element=True)
            shown: ast.expr = list_comp(element, row, load(rows))
            if self.mode.renders:
                shown = self.query_rows(node, shown, ast.Constant(None), rows)
            return Always(node.segment, shown)
        body, expr = self.container(node, rows, node.model, may_be_none=False)
        return Always(node.segment, expr, body)

    # -- values

    def value(self, node, var, generic=False):
        """(prelude, expr) of the value in ``var`` for ``node``."""
        if not node.children:
            return [], self.leaf(node, var, node.model, generic=generic)
        may_be_none = node.kind not in (Kind.REVERSE_ONE,) and not (
            node.kind is Kind.FORWARD and not node.nullable
        )
        return self.container(node, var, node.model, may_be_none=may_be_none)

    def leaf(self, node, var, model, *, generic=False, element=False):
        """The encoded expression of a displayed value with no sub-paths."""
        if element or (node.kind is Kind.EACH and model is not None):
            # Rows of a model: each displayed as str(row).
            return self.shown_row(var)
        if generic:
            return self.plain_or_encoded(var)
        if node.kind in _MODEL_VALUED:
            shown = self.shown_row(var)
            if node.kind is Kind.REVERSE_ONE or (node.kind is Kind.FORWARD and not node.nullable):
                return shown
            return none_or(var, shown)
        if node.kind is Kind.AGGREGATE:
            return load(var)
        if node.kind is Kind.DISPLAY and self.mode.renders:
            return load(var)
        return self.plain_or_encoded(var)

    def shown_row(self, var: str) -> ast.expr:
        """A model instance only displayed or compared: its text in JSON,
        in python mode a row holding the text and the instance's identity
        (``{% if row == selected %}``, ``{% ifchanged %}``)."""
        if not self.mode.renders:
            return self.display_text(var)
        text = dict_of([("__str__", call(load("str"), load(var)))])
        return call(self.helper("_row"), text, load(var))

    def display_text(self, var: str) -> ast.expr:
        """``str()`` of the object in ``var``; in python mode an empty text
        stays true when the object is (``runtime.TruthyText``), because the
        template tests the value with ``{% if %}`` as well as showing it."""
        text = call(load("str"), load(var))
        if not self.mode.renders:
            return text
        return ast.BoolOp(op=ast.Or(), values=[text, call(self.helper("_truthy"), load(var))])

    def plain_or_encoded(self, var: str) -> ast.expr:
        # Most method, property and display values are plain str/int/...:
        # skip the encoder's call for them.
        is_plain = ast.Compare(
            left=ast.Attribute(value=load(var), attr="__class__", ctx=LOAD),
            ops=[ast.In()], comparators=[self.helper("_PLAIN")],
        )
        return ast.IfExp(test=is_plain, body=load(var),
                         orelse=call(self.helper("_encode"), load(var)))
