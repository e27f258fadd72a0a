"""Source text for the syntax trees lowering builds, written directly.

``emit`` compiles the *text* of every generated module, so that a
traceback shows the line that failed. The general unparsers (astor, the
standard ``ast.unparse``) walk a visitor built for the whole language and
took a fifth of a cold compile; lowering uses a dozen statement and
expression kinds, which this module writes in a few string joins: one
statement per line, parentheses only where precedence needs them, the same
text on every Python version. Any other node raises ``Unsupported`` and
``emit`` falls back to the general unparser.

The tests re-parse every module they generate and compare it with the tree
it came from (``emit.CHECK_ROUND_TRIP``), so the text means exactly the AST.

    >>> import ast
    >>> unparse(ast.parse("x = (a if b else c) or not (d or e)"))
    'x = (a if b else c) or not (d or e)\\n'
"""

from __future__ import annotations

import ast
import math

INDENT = "    "

# Binding strength, weakest first: an operand weaker than its position
# requires is parenthesized.
_TEST, _OR, _AND, _NOT, _COMPARE, _TERM, _ATOM = range(1, 8)

_BOOL_OPS = {ast.Or: (" or ", _OR), ast.And: (" and ", _AND)}
_COMPARISONS = {
    ast.Eq: " == ", ast.NotEq: " != ", ast.Lt: " < ", ast.LtE: " <= ", ast.Gt: " > ",
    ast.GtE: " >= ", ast.Is: " is ", ast.IsNot: " is not ", ast.In: " in ",
    ast.NotIn: " not in ",
}
_AUGMENTED = {ast.Add: " += ", ast.Sub: " -= "}


class Unsupported(Exception):
    """A node this module does not write; the caller uses a general unparser."""


def unparse(module: ast.Module) -> str:
    """The text of ``module``, one statement per line, ending in a newline.

        >>> import ast
        >>> print(unparse(ast.parse("def f(obj):\\n    return {'a': obj.a}")), end="")
        def f(obj):
            return {'a': obj.a}
    """
    lines: list[str] = []
    _statements(module.body, "", lines)
    return "".join(lines)


# ---------------------------------------------------------------- statements


def _statements(body: list[ast.stmt], indent: str, lines: list[str]) -> None:
    for node in body:
        writer = _STATEMENTS.get(node.__class__)
        if writer is None:
            raise Unsupported(node.__class__.__name__)
        writer(node, indent, lines)


def _block(header: str, body: list[ast.stmt], indent: str, lines: list[str]) -> None:
    lines.append(f"{indent}{header}:\n")
    _statements(body, indent + INDENT, lines)


def _assign(node: ast.Assign, indent, lines) -> None:
    targets = " = ".join([_expr(target, _TEST) for target in node.targets])
    lines.append(f"{indent}{targets} = {_expr(node.value, 0)}\n")


def _augmented(node: ast.AugAssign, indent, lines) -> None:
    operator = _AUGMENTED.get(node.op.__class__)
    if operator is None:
        raise Unsupported(node.op.__class__.__name__)
    lines.append(f"{indent}{_expr(node.target, _ATOM)}{operator}{_expr(node.value, 0)}\n")


def _expression(node: ast.Expr, indent, lines) -> None:
    lines.append(f"{indent}{_expr(node.value, 0)}\n")


def _return(node: ast.Return, indent, lines) -> None:
    value = "" if node.value is None else " " + _expr(node.value, 0)
    lines.append(f"{indent}return{value}\n")


def _raise(node: ast.Raise, indent, lines) -> None:
    text = "raise"
    if node.exc is not None:
        text += " " + _expr(node.exc, _TEST)
    if node.cause is not None:
        text += " from " + _expr(node.cause, _TEST)
    lines.append(f"{indent}{text}\n")


def _pass(node: ast.Pass, indent, lines) -> None:
    lines.append(f"{indent}pass\n")


def _if(node: ast.If, indent, lines) -> None:
    _block(f"if {_expr(node.test, 0)}", node.body, indent, lines)
    rest = node.orelse
    while len(rest) == 1 and rest[0].__class__ is ast.If:
        _block(f"elif {_expr(rest[0].test, 0)}", rest[0].body, indent, lines)
        rest = rest[0].orelse
    if rest:
        _block("else", rest, indent, lines)


def _for(node: ast.For, indent, lines) -> None:
    if node.type_comment:
        raise Unsupported("type comment")
    _block(f"for {_expr(node.target, 0)} in {_expr(node.iter, 0)}", node.body, indent, lines)
    if node.orelse:
        _block("else", node.orelse, indent, lines)


def _try(node: ast.Try, indent, lines) -> None:
    _block("try", node.body, indent, lines)
    for handler in node.handlers:
        header = "except"
        if handler.type is not None:
            header += " " + _expr(handler.type, _TEST)
            if handler.name is not None:
                header += " as " + handler.name
        _block(header, handler.body, indent, lines)
    if node.orelse:
        _block("else", node.orelse, indent, lines)
    if node.finalbody:
        _block("finally", node.finalbody, indent, lines)


def _function(node: ast.FunctionDef, indent, lines) -> None:
    arguments = node.args
    if (node.decorator_list or node.returns is not None or node.type_comment
            or getattr(node, "type_params", None) or arguments.posonlyargs
            or arguments.vararg or arguments.kwonlyargs or arguments.kwarg
            or arguments.defaults
            or any(a.annotation is not None or a.type_comment for a in arguments.args)):
        raise Unsupported("a signature other than plain positional arguments")
    names = ", ".join([argument.arg for argument in arguments.args])
    lines.append(f"{indent}def {node.name}({names}):\n")
    body = node.body
    inner = indent + INDENT
    docstring = _docstring(body[0], inner) if body else None
    if docstring is not None:
        lines.append(docstring)
        body = body[1:]
    _statements(body, inner, lines)


def _docstring(node: ast.stmt, indent: str) -> str | None:
    """A leading string as a triple-quoted block, when that text means the
    same string; None to leave it to the expression writer (``repr``)."""
    if node.__class__ is not ast.Expr or node.value.__class__ is not ast.Constant:
        return None
    text = node.value.value
    if text.__class__ is not str:
        return None
    if ("\\" in text or '"""' in text or text.endswith('"')
            or not text.replace("\n", "").isprintable()):
        return None
    return f'{indent}"""{text}"""\n'


_STATEMENTS = {
    ast.Assign: _assign, ast.AugAssign: _augmented, ast.Expr: _expression,
    ast.Return: _return, ast.Raise: _raise, ast.Pass: _pass, ast.If: _if,
    ast.For: _for, ast.Try: _try, ast.FunctionDef: _function,
}


# --------------------------------------------------------------- expressions


def _expr(node: ast.expr, required: int) -> str:
    """``node``'s text, parenthesized when it binds more weakly than
    ``required``."""
    kind = node.__class__
    if kind is ast.Name:
        return node.id
    if kind is ast.Constant:
        return _constant(node.value)
    if kind is ast.Attribute:
        value = node.value
        text = _expr(value, _ATOM)
        if value.__class__ is ast.Constant and value.value.__class__ in (int, float):
            text = f"({text})"  # ``1.real`` would read as a float literal
        return f"{text}.{node.attr}"
    if kind is ast.Call:
        return f"{_expr(node.func, _ATOM)}({_arguments(node)})"
    if kind is ast.Subscript:
        if node.slice.__class__ is ast.Slice:
            raise Unsupported("Slice")
        return f"{_expr(node.value, _ATOM)}[{_expr(node.slice, 0)}]"
    if kind is ast.Dict:
        if any(key is None for key in node.keys):
            raise Unsupported("dict unpacking")
        pairs = [f"{_expr(key, _TEST)}: {_expr(value, _TEST)}"
                 for key, value in zip(node.keys, node.values, strict=True)]
        return "{" + ", ".join(pairs) + "}"
    if kind is ast.List:
        return "[" + _elements(node.elts) + "]"
    if kind is ast.Tuple:
        return "(" + _elements(node.elts) + ("," if len(node.elts) == 1 else "") + ")"
    if kind is ast.ListComp:
        return "[" + _comprehension(node) + "]"
    if kind is ast.IfExp:
        text = (f"{_expr(node.body, _OR)} if {_expr(node.test, _OR)} "
                f"else {_expr(node.orelse, _TEST)}")
        return _parenthesized(text, _TEST, required)
    if kind is ast.BoolOp:
        joint, strength = _BOOL_OPS[node.op.__class__]
        text = joint.join([_expr(value, strength + 1) for value in node.values])
        return _parenthesized(text, strength, required)
    if kind is ast.Compare:
        parts = [_expr(node.left, _COMPARE + 1)]
        for op, right in zip(node.ops, node.comparators, strict=True):
            parts.append(_COMPARISONS[op.__class__])
            parts.append(_expr(right, _COMPARE + 1))
        return _parenthesized("".join(parts), _COMPARE, required)
    if kind is ast.BinOp and node.op.__class__ is ast.Mod:
        # Left-associative: ``(a % b) % c`` is ``a % b % c``.
        text = f"{_expr(node.left, _TERM)} % {_expr(node.right, _ATOM)}"
        return _parenthesized(text, _TERM, required)
    if kind is ast.UnaryOp and node.op.__class__ is ast.Not:
        return _parenthesized("not " + _expr(node.operand, _NOT), _NOT, required)
    raise Unsupported(kind.__name__)


def _parenthesized(text: str, strength: int, required: int) -> str:
    return f"({text})" if strength < required else text


def _constant(value) -> str:
    kind = value.__class__
    if kind in (str, bytes, bool) or value is None:
        return repr(value)
    if kind is int or kind is float:
        text = repr(value)
        # ``-1`` reads back as a unary minus; ``inf`` and ``nan`` as names.
        if text[0] != "-" and (kind is int or math.isfinite(value)):
            return text
    raise Unsupported(f"constant {value!r}")


def _elements(elements: list[ast.expr]) -> str:
    if any(element.__class__ is ast.Starred for element in elements):
        raise Unsupported("Starred")
    return ", ".join([_expr(element, _TEST) for element in elements])


def _arguments(call: ast.Call) -> str:
    parts = [_elements(call.args)] if call.args else []
    for keyword in call.keywords:
        if keyword.arg is None:
            raise Unsupported("keyword unpacking")
        parts.append(f"{keyword.arg}={_expr(keyword.value, _TEST)}")
    return ", ".join(parts)


def _comprehension(node: ast.ListComp) -> str:
    if len(node.generators) != 1:
        raise Unsupported("nested comprehension")
    generator = node.generators[0]
    if generator.ifs or generator.is_async:
        raise Unsupported("filtered or async comprehension")
    # The iterable is an ``or_test``: a conditional expression needs parentheses.
    return (f"{_expr(node.elt, _TEST)} for {_expr(generator.target, _TEST)} "
            f"in {_expr(generator.iter, _OR)}")
