"""The exceptions every compiler stage raises for input it cannot handle.

Bad templates raise Django's own ``TemplateSyntaxError`` and
``TemplateDoesNotExist``; ``CompilerError`` is for what is left: a model,
path or construct djust cannot compile. Callers such as LiveView fall back
to generic serialization on it, and on nothing else.

Each error carries where it happened, as far as the stage raising it knows:
``template``, ``line``, ``model`` (its label) and ``path``; the message
starts with them.

    >>> error = TooComplexError(model="rentals.Lease", path="tenant.phone",
    ...                         reason="RecursionError: maximum recursion depth exceeded")
    >>> print(error)  # doctest: +NORMALIZE_WHITESPACE
    rentals.Lease: path 'tenant.phone' nests too deeply to compile (RecursionError: maximum
    recursion depth exceeded); read the deep object under a name of its own instead
    >>> isinstance(error, CompilerError), error.model, error.path
    (True, 'rentals.Lease', 'tenant.phone')
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

# CPython's limits on generated code: 20 nested blocks ("too many
# statically nested blocks"), 100 levels of indentation, 200 nested
# parentheses; deep expressions exhaust the compiler's recursion.
_NESTING_LIMIT = re.compile(r"too many|nested|indentation|recursion|too complex")
# The path grammar's separator: errors sits beside paths.py, not below it.
_SEPARATOR = "."
# Longer paths are shown by their ends: a path that is too deep to compile
# can run to thousands of characters, and the message is one log line.
_SHOWN_PATH = 120


class CompilerError(Exception):
    """djust could not compile something; the message names what and where.

        >>> print(CompilerError("cannot compile it", template="page.html", line=3,
        ...                     model="rentals.Lease", path="tenant.phone"))
        template 'page.html', line 3, rentals.Lease: cannot compile it (path 'tenant.phone')
        >>> print(CompilerError("cannot compile it"))
        cannot compile it
    """

    problem = "cannot compile it"

    def __init__(self, problem: str | None = None, *, template: str | None = None,
                 line: int | None = None, model: str | None = None,
                 path: str | None = None) -> None:
        if problem is not None:
            self.problem = problem
        self.template = template
        self.line = line
        self.model = model
        self.path = path
        super().__init__(self.message())

    def message(self) -> str:
        """``<where>: <what>``, or only what when nothing says where.

            >>> CompilerError(model="rentals.Unit").message()
            'rentals.Unit: cannot compile it'
        """
        where = self.where()
        return f"{where}: {self.describe()}" if where else self.describe()

    def where(self) -> str:
        """The template (and line) and model the error concerns, as known."""
        parts = []
        if self.template is not None:
            line = f", line {self.line}" if self.line is not None else ""
            parts.append(f"template {self.template!r}{line}")
        if self.model is not None:
            parts.append(self.model)
        return ", ".join(parts)

    def describe(self) -> str:
        """What went wrong; each kind of error words it, naming the path."""
        if self.path is None:
            return self.problem
        return f"{self.problem} (path {shown_path(self.path)!r})"


class InvalidPathError(CompilerError, ValueError):
    """A path with an empty segment: no template can produce it. Also a
    ``ValueError``, as it was before the family existed.

        >>> print(InvalidPathError(model="rentals.Lease", path="tenant..phone"))
        rentals.Lease: malformed path 'tenant..phone'
    """

    problem = "malformed path"

    def describe(self) -> str:
        return f"{self.problem} {self.path!r}"


class VerificationError(CompilerError, RuntimeError):
    """A generated serializer failed its bytecode check: a djust bug. Also
    a ``RuntimeError``, as it was before the family existed.

        >>> print(VerificationError("<djust doc>: forbidden opcode IMPORT_NAME"))
        <djust doc>: forbidden opcode IMPORT_NAME
    """

    problem = "the generated code failed its check"


class TooComplexError(CompilerError):
    """The input nests deeper than Python can compile: the tree, the
    lowering or the generated code ran out of recursion depth or of
    nested blocks. ``paths`` holds every path of the request; ``path`` is
    the deepest, named in the message.

        >>> TooComplexError(model="rentals.Unit", path="property.name").paths
        ('property.name',)
    """

    problem = "nests too deeply to compile"

    def __init__(self, problem: str | None = None, *, reason: str = "",
                 paths: Sequence[str] = (), **where) -> None:
        self.reason = reason
        self.paths = tuple(paths) or ((where["path"],) if where.get("path") else ())
        super().__init__(problem, **where)

    def describe(self) -> str:
        subject = f"path {shown_path(self.path)!r}" if self.path is not None else "the input"
        if len(self.paths) > 1:
            subject += f" (the deepest of {len(self.paths)} paths)"
        because = f" ({self.reason})" if self.reason else ""
        return (f"{subject} {self.problem}{because}; read the deep object under a name of "
                "its own instead")


def shown_path(path: str) -> str:
    """``path``, or for a very long one its ends and its number of segments.

        >>> shown_path("tenant.phone")
        'tenant.phone'
        >>> shown_path(".".join(["tenant", "user", "tenant_profile"] * 40))  # doctest: +ELLIPSIS
        'tenant.user.tenant_profile.tenant.user...(120 segments)...user.tenant_profile'
    """
    if len(path) <= _SHOWN_PATH:
        return path
    head, tail = path[:_SHOWN_PATH // 3], path[-_SHOWN_PATH // 6:]
    head = head.rpartition(_SEPARATOR)[0] or head
    tail = tail.partition(_SEPARATOR)[2] or tail
    return f"{head}...({_depth(path)} segments)...{tail}"


def _depth(path: str) -> int:
    return path.count(_SEPARATOR) + 1


@contextmanager
def too_complex_as_error(model, paths: Sequence[str]) -> Iterator[None]:
    """Turn running out of recursion depth, or code too deeply nested for
    CPython's compiler, into ``TooComplexError`` naming ``model`` and the
    deepest of ``paths``: what compiling an extreme template's paths raises.
    Generated code that fails to compile for any other reason raises
    ``VerificationError``.

        >>> from examples.rentals.models import Unit
        >>> with too_complex_as_error(Unit, ["number"]):  # doctest: +ELLIPSIS
        ...     raise RecursionError("maximum recursion depth exceeded")
        Traceback (most recent call last):
          ...
        djust.compiler.errors.TooComplexError: rentals.Unit: path 'number' nests too deeply ...
    """
    try:
        yield
    except (RecursionError, SyntaxError) as exc:
        reason = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        if isinstance(exc, SyntaxError) and not _NESTING_LIMIT.search(reason or ""):
            # Generated code that does not parse for another reason is a djust bug.
            raise VerificationError(f"the generated code does not compile: {reason} "
                                    f"(line {exc.lineno})", model=model._meta.label) from exc
        deepest = max(paths, key=_depth, default=None)
        raise TooComplexError(model=model._meta.label, path=deepest, paths=paths,
                              reason=f"{type(exc).__name__}: {reason}") from exc
