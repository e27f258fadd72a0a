"""Emit: a lowered ``ast.Module`` → readable source, a verified function.

``render_source`` turns the module into text (``unparse`` for the nodes
lowering builds; astor on Python 3.11, else the standard ``ast.unparse``,
for any other); ``build_function`` compiles that text —
so a traceback's line numbers point at the rendered source, which is
registered in ``linecache`` under a deterministic filename, until the
serializer cache lets the function go (``forget_source``) — then checks
the bytecode of every code object with the ``bytecode`` package before the function may run:

- global names loaded are helpers or builtins of ``runtime``'s table, or
  the serializer's constants, and present in the namespace
  (``runtime.loadable_names``);
- no import, class-building, global-store or attribute-store opcodes.

A failed check is a compiler bug: ``VerificationError`` is raised and the
function is never called. Every function is built here from an AST the
lowerers made in this process: a shared store keeps no code.
"""

from __future__ import annotations

import ast
import linecache
import logging
import sys
import threading
import types
import warnings
from dataclasses import dataclass

import bytecode

from djust.compiler.errors import VerificationError
from djust.compiler.runtime import LOOKUP_HELPER, loadable_names
from djust.compiler.unparse import Unsupported, unparse

logger = logging.getLogger("djust.emit")

# astor 0.8.1 relies on ast classes deprecated in 3.12 and removed in 3.14.
_USE_ASTOR = sys.version_info < (3, 12)

_FORBIDDEN_OPCODES = frozenset({
    "IMPORT_NAME", "IMPORT_FROM", "IMPORT_STAR", "LOAD_BUILD_CLASS",
    "STORE_GLOBAL", "DELETE_GLOBAL", "STORE_NAME", "DELETE_NAME",
    "STORE_ATTR", "DELETE_ATTR", "LOAD_NAME", "SETUP_ANNOTATIONS",
    # 3.12+: class bodies and annotation scopes read names through it.
    "LOAD_FROM_DICT_OR_GLOBALS",
})
_GLOBAL_OPCODES = frozenset({"LOAD_GLOBAL"})
# Since 3.11 LOAD_GLOBAL's low bit says "also push NULL"; the name is arg >> 1.
_GLOBAL_ARG_SHIFT = 1 if sys.version_info >= (3, 11) else 0


@dataclass(frozen=True)
class Verification:
    """What the bytecode check found in one compiled serializer."""

    globals_loaded: tuple[str, ...]
    code_objects: int
    lookup_calls: int

    def report(self) -> str:
        return (
            f"verified {self.code_objects} code object(s); globals loaded: "
            f"{', '.join(self.globals_loaded) or '(none)'}; "
            f"runtime-lookup calls ({LOOKUP_HELPER}): {self.lookup_calls}"
        )


# The tests set it: every build_function call then re-parses its text.
CHECK_ROUND_TRIP = False


def render_source(module: ast.Module) -> str:
    """The module's source text, deterministic for a given AST.

        >>> render_source(ast.parse("x = {'a': 1}")).strip()
        "x = {'a': 1}"
    """
    try:
        return unparse(module)
    except Unsupported as error:
        logger.debug("general unparser for a module with %s", error)
    return render_general(module)


def render_general(module: ast.Module) -> str:
    """``render_source`` for any module: astor where it works, else ``ast.unparse``."""
    if _USE_ASTOR:
        import astor

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            # One statement per line, as ast.unparse writes them: astor's
            # line wrapping cost a sixth of a cold compile.
            return astor.to_source(module, pretty_source=_joined)
    return ast.unparse(module) + "\n"


def _joined(pieces: list[str]) -> str:
    return "".join(pieces)


def build_function(module: ast.Module, namespace: dict, *, name: str, filename: str,
                   check_round_trip: bool = False):
    """Compile ``module``, verify it, and return ``(function, source, verification)``.

    ``check_round_trip`` (or ``CHECK_ROUND_TRIP``) also re-parses the
    rendered source and compares it with ``module`` (the tests do; it
    doubles the cost of a compilation).

        >>> module = ast.parse("def f(obj):\\n    return obj\\n")
        >>> function, source, report = build_function(
        ...     module, {"__builtins__": {}}, name="f", filename="<djust doc>")
        >>> function(3), report.lookup_calls
        (3, 0)
    """
    source = render_source(module)
    if (check_round_trip or CHECK_ROUND_TRIP) and ast.dump(ast.parse(source)) != ast.dump(module):
        raise VerificationError(f"{filename}: rendered source does not match the lowered AST")
    code = compile(source, filename, "exec", dont_inherit=True)
    verification = verify(code, namespace, filename=filename)
    # A traceback through the function then shows its lines.
    entry = (len(source), None, source.splitlines(True), filename)
    with _LINECACHE_LOCK:
        linecache.cache[filename] = entry
    scope = dict(namespace)
    # Only the function definition runs here: the verifier saw the module code.
    exec(code, scope)
    function = scope.get(name)
    if not callable(function):
        raise VerificationError(f"{filename}: the source defines no function {name!r}")
    function.source = source
    function.linecache_entry = entry
    return function, source, verification


# Registration and removal: a removal checks the entry is still its own.
_LINECACHE_LOCK = threading.Lock()


def forget_source(function) -> bool:
    """Remove ``function``'s source from ``linecache`` (when a bounded cache
    lets it go); True if it was there. An entry registered since under the
    same filename (a newer function) stays.

        >>> function, _, _ = build_function(ast.parse("def f(o):\\n    return o\\n"),
        ...     {"__builtins__": {}}, name="f", filename="<djust doc forget>")
        >>> forget_source(function), "<djust doc forget>" in linecache.cache
        (True, False)
    """
    entry = getattr(function, "linecache_entry", None)
    if entry is None:
        return False
    with _LINECACHE_LOCK:
        if linecache.cache.get(entry[3]) is not entry:
            return False
        del linecache.cache[entry[3]]
    return True


def restore_source(function) -> None:
    """Register ``function``'s source again if its filename has none."""
    entry = getattr(function, "linecache_entry", None)
    if entry is not None:
        with _LINECACHE_LOCK:
            linecache.cache.setdefault(entry[3], entry)


def verify(code: types.CodeType, namespace: dict, *, filename: str = "") -> Verification:
    """Check every code object under ``code``; raise VerificationError on a problem.

        >>> verify(compile("def f(o):\\n    return str(o)\\n", "<x>", "exec"),
        ...        {"__builtins__": {}}).globals_loaded
        ('str',)
    """
    allowed = loadable_names(namespace)
    loaded: set[str] = set()
    lookups = 0
    count = 0
    for index, code_object in enumerate(_code_objects(code)):
        count += 1
        # The concrete form is enough (names are indices into co_names) and
        # several times cheaper to build than the abstract Bytecode. Keeping
        # EXTENDED_ARG as instructions spares bytecode a pass that merges
        # them (a tenth of the check); the loop below does it for the only
        # argument it reads.
        concrete = bytecode.ConcreteBytecode.from_code(code_object, extended_arg=True)
        high = 0
        for instr in concrete:
            name = instr.name
            if name == "EXTENDED_ARG":
                high = (high | instr.arg) << 8
                continue
            if name in _FORBIDDEN_OPCODES and not (index == 0 and name == "STORE_NAME"):
                # The module body only binds the function's name.
                raise VerificationError(f"{filename}: forbidden opcode {name}")
            if name in _GLOBAL_OPCODES:
                global_name = concrete.names[(high | instr.arg) >> _GLOBAL_ARG_SHIFT]
                if global_name not in allowed:
                    raise VerificationError(f"{filename}: loads unknown global {global_name!r}")
                loaded.add(global_name)
                lookups += global_name == LOOKUP_HELPER
            high = 0
    logger.debug("verified %s: %d code objects", filename, count)
    return Verification(tuple(sorted(loaded)), count, lookups)


def _code_objects(code: types.CodeType):
    yield code
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _code_objects(constant)
