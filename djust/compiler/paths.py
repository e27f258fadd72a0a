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
