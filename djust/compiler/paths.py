"""The path grammar shared by every stage.

A path is what a template looks up relative to one context name: segments
joined by ``.``; ``*`` means "each element of the iterable reached so far".
The empty path means the object itself is displayed (``{{ lease }}``).

    >>> split_path("*.property.units.all.*.number")
    ('*', 'property', 'units', 'all', '*', 'number')
    >>> join_path(("tenant", "user", "email"))
    'tenant.user.email'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

STAR = "*"
SEPARATOR = "."


def split_path(path: str) -> tuple[str, ...]:
    return tuple(path.split(SEPARATOR)) if path else ()


def join_path(segments: Iterable[str]) -> str:
    return SEPARATOR.join(segments)


def is_index(segment: str) -> bool:
    """True when ``segment`` reads element ``int(segment)`` of a list, a
    tuple or a QuerySet, as Django's template engine reads it.

    ``Variable._resolve_lookup`` tries ``value[segment]``, then
    ``getattr(value, segment)``, then ``value[int(segment)]``. On a list, a
    tuple or a QuerySet the first two always fail for a segment ``int()``
    accepts, so the third decides, and djust may type the segment as that
    position. ``int()`` accepts more than ASCII digits, and so do
    templates (their ``\\w`` matches any Unicode digit and ``_``): ``01``,
    ``1_0`` and the fullwidth one (U+FF11) are indexes 1, 10 and 1, the same
    element as ``1`` (a serializer merges what they read). Not indexes:

    - ``²`` and other digits ``int()`` refuses (``"²".isdigit()`` is True):
      Django finds no element, and neither does the run-time lookup djust
      gives every segment that is not an index;
    - a negative number: a list counts it from the end, a QuerySet refuses
      it, so its typing would depend on the value; no template can spell
      one, and the run-time lookup answers as Django does on the live value
      (related rows serialized as a list beside ``*`` still count it from
      the end: a representation limit);
    - ``*``, which paths use for "each element".

    ``int()`` also takes a sign and spaces: ``+1`` and `` 1`` (no template
    can spell them either) are index 1, as Django reads them.

        >>> [is_index(s) for s in ("0", "10", "01", "1_0", "\\uff11", "\\u0663")]
        [True, True, True, True, True, True]
        >>> [is_index(s) for s in ("-1", "²", "1.5", "", "*", "first", "_1")]
        [False, False, False, False, False, False, False]
        >>> int("01"), int("1_0"), int("\\uff11")
        (1, 10, 1)
    """
    try:
        return int(segment) >= 0
    except ValueError:
        return False


def normalize_paths(paths: Iterable[str]) -> tuple[str, ...]:
    """Sorted and de-duplicated: the form every cache key and tree uses."""
    return tuple(sorted(set(paths)))


@dataclass
class Branch:
    """Paths below one segment, untyped: ``bare`` when a path ends here."""

    bare: bool = False
    children: dict[str, Branch] = field(default_factory=dict)


def branch_paths(paths: Iterable[str]) -> Branch:
    """The paths as a tree of segments.

        >>> root = branch_paths(["", "tenant.phone", "tenant"])
        >>> root.bare, root.children["tenant"].bare, list(root.children["tenant"].children)
        (True, True, ['phone'])
    """
    root = Branch()
    for path in normalize_paths(paths):
        branch = root
        for segment in split_path(path):
            branch = branch.children.setdefault(segment, Branch())
        branch.bare = True
    return root
