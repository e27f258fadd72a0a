"""The projection written as JSON text: rows to text with no dict between.

``json.dumps(project_rows(rows, ...))`` builds a dict per row, then walks
every dict again to write it. ``lower_text`` rewrites the JSON-mode
projection function (``projection.lower_projection``) so that each row's
dict display becomes one ``%`` format of the text ``json.dumps`` would
write for it: the keys, braces and separators are constants of the format
(``", "`` and ``": "``, the keys escaped as ``ensure_ascii`` escapes them),
a nested dict of a forward step is inlined in its parent's format (``null``
when its row is absent), a to-many level's group holds its rows' texts and
is written ``[`` + ``", ".join(group)`` + ``]``, and the function returns
the array's text. That text is exactly ``json.dumps(project_rows(...),
cls=DjangoJSONEncoder)``, byte for byte.

Each value is written by what its class turns out to be, not by what its
field promises: the projector marks a value it knows is usually a ``str``
(a text column, a choice's label) or an ``int`` (an integer field, a count)
with ``HINT``; the text then writes a ``str`` with the encoder's own C
escaping function and an ``int`` as ``%s`` writes it (``int.__repr__``,
what the encoder writes), and anything else (None, a bool, a float)
through ``json_value``, the encoder itself. A text column's value is
escaped unchecked: a value stored in it of another type (SQLite keeps any)
makes the escaping raise TypeError, and ``write_text`` then encodes the
rows' dicts instead. Unmarked values always take ``json_value``.

A tree in which a value may be left out of its row (a method or property
failing silently: ``runtime.drop_missing``) has no text function: the
keys of its rows are not known before the row is built.

    >>> import ast
    >>> from djust.compiler.unparse import unparse
    >>> module = ast.parse("def f(rows):\\n    return [{'a': x, 'b': {'c': y}} for (x, y) in rows]")
    >>> text, namespace = lower_text(module, {})
    >>> print(unparse(text).replace(" for ", "\\n    for "), end="")
    def f(rows):
        return '[%s]' % (', '.join(['{"a": %s, "b": {"c": %s}}' % (_json_value(x), _json_value(y))
        for (x, y) in rows]),)
"""

from __future__ import annotations

import ast
from json.encoder import encode_basestring_ascii

from django.core.serializers.json import DjangoJSONEncoder

from djust.compiler.astbuild import call, load

# The attribute of a value expression saying what it usually is:
# ``(kind, variable)``, kind "str" or "int" when ``variable`` (a name the
# function binds) holds the value itself whenever it is of that class;
# ``("int", None)`` for an expression that is always an int (``len()``);
# ``("rows", None)`` for a to-many group of row texts; ``("text", v)`` for
# a date's, datetime's or decimal's JSON text the read pass wrote (always a
# str of characters JSON never escapes: quoted as it is), ``("nullable
# text", v)`` for the same or None.
HINT = "djust_json"

# The encoder json.dumps(..., cls=DjangoJSONEncoder) uses, without the
# circular-reference check fresh rows never need: same text (default
# separators, ensure_ascii, NaN written as NaN). ``stream`` uses it too.
encode = DjangoJSONEncoder(check_circular=False).encode


def json_value(value) -> str:
    """``json.dumps(value, cls=DjangoJSONEncoder)``: the text of one value,
    the common ones without the encoder's set-up.

        >>> json_value(None), json_value(True), json_value("é"), json_value(1.0)
        ('null', 'true', '"\\\\u00e9"', '1.0')
    """
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value.__class__ is str:
        return encode_basestring_ascii(value)
    if value.__class__ is int:
        return int.__repr__(value)
    return encode(value)


HELPERS = {"_esc": encode_basestring_ascii, "_json_value": json_value, "_str": str, "_int": int}


def write_text(write, dicts, rows: list) -> str:
    """``write(*rows)``, the rows' text; when a column holds a value of
    another type than its field's (SQLite keeps any value in any column)
    the escaping of a str raises TypeError: then the rows' dicts
    (``dicts()``: the dict-building projection function) encoded, the same
    text ``json.dumps`` writes, or the encoder's own error.

        >>> escape = encode_basestring_ascii
        >>> write_text(lambda rows: "[%s]" % escape(rows[0]), lambda: lambda rows: rows, [[1]])
        '[1]'
    """
    try:
        return write(*rows)
    except TypeError:
        return encode(dicts()(*rows))


def hint(node: ast.expr, kind: str | None, variable: str | None = None) -> ast.expr:
    """Mark ``node`` (returned) as usually a ``kind`` (``HINT``); a None
    kind leaves it unmarked."""
    if kind is not None:
        setattr(node, HINT, (kind, variable))
    return node


def lower_text(module: ast.Module, namespace: dict):
    """``(module, namespace)`` of the text version of the projection
    function ``module`` defines (rewritten in place), or None when its rows
    may leave a value out (``_drop``)."""
    function = module.body[0]
    if any(node.__class__ is ast.Name and node.id == "_drop" for node in ast.walk(function)):
        return None
    function = _ToText().visit(function)
    ast.fix_missing_locations(function)
    return module, {**namespace, **HELPERS}


def _constant(text: str) -> str:
    # A literal part of a % format.
    return text.replace("%", "%%")


class _Format:
    """A ``%`` format being written: its text and its arguments."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.arguments: list[ast.expr] = []

    def literal(self, text: str) -> None:
        self.parts.append(_constant(text))

    def argument(self, expr: ast.expr) -> None:
        self.parts.append("%s")
        self.arguments.append(expr)

    def expression(self) -> ast.expr:
        if not self.arguments:
            return ast.Constant("".join(self.parts).replace("%%", "%"))
        return ast.BinOp(left=ast.Constant("".join(self.parts)), op=ast.Mod(),
                         right=ast.Tuple(elts=self.arguments, ctx=ast.Load()))


def _joined(rows: ast.expr) -> ast.expr:
    return call(ast.Attribute(value=ast.Constant(", "), attr="join", ctx=ast.Load()), rows)


def _null_or(variable: str, text: ast.expr) -> ast.expr:
    """``'null' if variable is None else text``."""
    return ast.IfExp(test=ast.Compare(left=load(variable), ops=[ast.Is()],
                                      comparators=[ast.Constant(None)]),
                     body=ast.Constant("null"), orelse=text)


def _is_none(node: ast.expr) -> bool:
    return node.__class__ is ast.Constant and node.value is None


class _ToText(ast.NodeTransformer):
    """Every dict display (a row's, outermost first) made its text; the
    function's result made the array's text."""

    def visit_Dict(self, node: ast.Dict) -> ast.expr:
        written = _Format()
        self.write_dict(node, written)
        return written.expression()

    def visit_Return(self, node: ast.Return) -> ast.Return:
        self.generic_visit(node)
        array = _Format()
        array.literal("[")
        array.argument(_joined(node.value))
        array.literal("]")
        node.value = array.expression()
        return node

    def write_dict(self, node: ast.Dict, written: _Format) -> None:
        written.literal("{")
        for index, (key, value) in enumerate(zip(node.keys, node.values, strict=True)):
            if index:
                written.literal(", ")
            written.literal(encode_basestring_ascii(key.value) + ": ")
            self.write_value(value, written)
        written.literal("}")

    def write_value(self, value: ast.expr, written: _Format) -> None:
        marked = getattr(value, HINT, None)
        if marked is not None and marked[0] == "rows":
            written.literal("[")
            written.argument(_joined(self.visit(value)))
            written.literal("]")
        elif marked is not None and marked[0] == "text":
            written.literal('"')
            written.argument(self.visit(value))
            written.literal('"')
        elif marked is not None and marked[0] == "nullable text":
            variable = marked[1]
            written.argument(_null_or(variable, ast.BinOp(
                left=ast.Constant('"%s"'), op=ast.Mod(),
                right=ast.Tuple(elts=[load(variable)], ctx=ast.Load()))))
        elif marked is not None:
            written.argument(self.marked(value, *marked))
        elif value.__class__ is ast.Dict:
            self.write_dict(value, written)
        elif (value.__class__ is ast.IfExp and _is_none(value.body)
              and value.orelse.__class__ is ast.Dict):
            # A nullable forward step: null, or its row inlined.
            inner = _Format()
            self.write_dict(value.orelse, inner)
            written.argument(ast.IfExp(test=self.visit(value.test), body=ast.Constant("null"),
                                       orelse=inner.expression()))
        else:
            written.argument(call(load("_json_value"), self.visit(value)))

    def marked(self, value: ast.expr, kind: str, variable: str | None) -> ast.expr:
        value = self.visit(value)
        if variable is None:
            return value  # always of its kind
        if kind == "str" and value.__class__ is ast.Name and value.id == variable:
            # A column: any str is escaped as the encoder escapes it, and
            # anything else but None makes the escaping raise TypeError,
            # on which ``write_text`` encodes the rows' dicts instead.
            return _null_or(variable, call(load("_esc"), load(variable)))
        same_class = ast.Compare(
            left=ast.Attribute(value=load(variable), attr="__class__", ctx=ast.Load()),
            ops=[ast.Is()], comparators=[load(f"_{kind}")])
        written = call(load("_esc"), load(variable)) if kind == "str" else load(variable)
        return ast.IfExp(test=same_class, body=written,
                         orelse=call(load("_json_value"), value))

