"""The ``ast`` constructors both lowerers build on.

``lowering`` (model instances) and ``projection`` (``values_list()`` rows)
generate code from the same small vocabulary: reading a local, assigning
one, storing a dict key, calling, comparing identity, guarding ``None``,
hiding the exceptions templates hide. Nodes carry no locations: emit
compiles the rendered text, whose line numbers are the ones a traceback
must show.

    >>> ast.unparse(assign("x", none_or("y", call(load("str"), load("y")))))
    'x = None if y is None else str(y)'
"""

from __future__ import annotations

import ast
import keyword
import unicodedata

# Contexts carry no data; CPython's own parser shares one instance of each.
LOAD = ast.Load()
STORE = ast.Store()

# ast.unparse reads ``lineno`` of statements that may carry a type comment
# (assignments, loops, functions); nothing else needs locations.
NO_LOCATION = {"lineno": 0}


def is_plain_identifier(segment: str) -> bool:
    """True when ``segment`` may be written as an attribute name.

    Generated code is compiled from text, where Python NFKC-normalises
    identifiers: ``obj.password`` spelled in fullwidth letters reads
    ``obj.password``. A segment that normalisation would change is not
    plain: it is read with ``getattr(obj, "...")``, which reads the name as
    spelled, as Django does.

        >>> is_plain_identifier("email"), is_plain_identifier("class")
        (True, False)
        >>> is_plain_identifier("__class__"), is_plain_identifier('a"); import os')
        (False, False)
        >>> is_plain_identifier("\uff50assword"), is_plain_identifier("café")
        (False, True)
    """
    return (segment.isidentifier() and not keyword.iskeyword(segment)
            and not segment.startswith("_")
            and (segment.isascii() or unicodedata.normalize("NFKC", segment) == segment))


def load(identifier: str) -> ast.Name:
    """Read the local or global ``identifier``.

        >>> ast.unparse(load("row"))
        'row'
    """
    return ast.Name(id=identifier, ctx=LOAD)


def attribute(value: ast.expr, attr: str) -> ast.expr:
    """Read ``value.<attr>``; ``attr`` must be an identifier. One that NFKC
    normalisation would change (Python would read another name) is read
    with ``getattr`` instead.

        >>> ast.unparse(attribute(load("row"), "__dict__"))
        'row.__dict__'
        >>> ast.unparse(attribute(load("row"), "\uff51uiet"))
        "getattr(row, '\uff51uiet')"
    """
    if not attr.isascii() and unicodedata.normalize("NFKC", attr) != attr:
        return call(load("getattr"), value, ast.Constant(attr))
    return ast.Attribute(value=value, attr=attr, ctx=LOAD)


def assign(target: str, value: ast.expr) -> ast.Assign:
    """``target = value``.

        >>> ast.unparse(assign("n", ast.Constant(1)))
        'n = 1'
    """
    return ast.Assign(targets=[ast.Name(id=target, ctx=STORE)], value=value, **NO_LOCATION)


def store_key(container: str, key: str, value: ast.expr) -> ast.Assign:
    """``container[key] = value``, the key a constant.

        >>> ast.unparse(store_key("out", "a'b", load("v")))
        'out["a\\'b"] = v'
    """
    target = ast.Subscript(value=load(container), slice=ast.Constant(key), ctx=STORE)
    return ast.Assign(targets=[target], value=value, **NO_LOCATION)


def call(function: ast.expr, *args: ast.expr) -> ast.Call:
    """``function(*args)``.

        >>> ast.unparse(call(load("len"), load("rows")))
        'len(rows)'
    """
    return ast.Call(func=function, args=list(args), keywords=[])


def method(obj: ast.expr, name: str, *args: ast.expr) -> ast.Call:
    """``obj.<name>(*args)``.

        >>> ast.unparse(method(load("rows"), "count"))
        'rows.count()'
    """
    return call(attribute(obj, name), *args)


def identity(left: ast.expr, right: ast.expr, negate: bool = False) -> ast.Compare:
    """``left is right`` (``is not`` when ``negate``).

        >>> ast.unparse(identity(load("v"), ast.Constant(None), negate=True))
        'v is not None'
    """
    return ast.Compare(left=left, ops=[ast.IsNot() if negate else ast.Is()], comparators=[right])


def none_or(var: str, expr: ast.expr) -> ast.expr:
    """``None if var is None else expr``: a None reached in a chain stays None.

        >>> ast.unparse(none_or("d", method(load("d"), "isoformat")))
        'None if d is None else d.isoformat()'
    """
    return ast.IfExp(test=identity(load(var), ast.Constant(None)), body=ast.Constant(None),
                     orelse=expr)


def dict_of(pairs: list[tuple[str, ast.expr]]) -> ast.Dict:
    """A dict display with constant keys.

        >>> ast.unparse(dict_of([("a", load("x"))]))
        "{'a': x}"
    """
    return ast.Dict(keys=[ast.Constant(k) for k, _ in pairs], values=[v for _, v in pairs])


def failure_try(body: list[ast.stmt], orelse: list[ast.stmt],
                handler: list[ast.stmt]) -> ast.Try:
    """``try: body / except Exception: handler / else: orelse``.

        >>> print(ast.unparse(failure_try([assign("v", load("x"))], [], [ast.Pass()])))
        try:
            v = x
        except Exception:
            pass
    """
    handled = ast.ExceptHandler(type=load("Exception"), name=None, body=handler)
    return ast.Try(body=body, handlers=[handled], orelse=orelse, finalbody=[])


def list_comp(element: ast.expr, var: str, iterable: ast.expr) -> ast.ListComp:
    """``[element for var in iterable]``.

        >>> ast.unparse(list_comp(call(load("str"), load("r")), "r", load("rows")))
        '[str(r) for r in rows]'
    """
    target = ast.Name(id=var, ctx=STORE)
    generator = ast.comprehension(target=target, iter=iterable, ifs=[], is_async=0)
    return ast.ListComp(elt=element, generators=[generator])


def function(name: str, arguments: list[str], body: list[ast.stmt]) -> ast.FunctionDef:
    """``def name(*arguments): body``, on every Python the project supports.

        >>> print(ast.unparse(function("f", ["obj"], [ast.Return(value=load("obj"))])))
        def f(obj):
            return obj
    """
    return ast.FunctionDef(
        name=name,
        args=ast.arguments(
            posonlyargs=[], args=[ast.arg(arg=argument) for argument in arguments], vararg=None,
            kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[],
        ),
        body=body,
        decorator_list=[],
        returns=None,
        type_comment=None,
        **NO_LOCATION,
        **({"type_params": []} if "type_params" in ast.FunctionDef._fields else {}),
    )
