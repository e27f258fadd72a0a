"""Helpers shared by the property tests: templates for paths, isolation.

:func:`template_for_path` turns one path into the template text that reads
it (``*`` segments become nested ``{% for %}`` loops), so the reference and
the compiler can be checked against what Django renders on the live rows.

    >>> template_for_path("item", "tags.all.*.name")
    '{% for v1 in item.tags.all %}[{{ v1.name }}]{% endfor %}'
"""

from __future__ import annotations

import contextlib

from django.db import transaction
from django.template import engines
from django.test.utils import override_settings
from django.utils import timezone

from property_tests.strategies import WorldSpec, build_world, time_settings

# Displayed querysets render as their repr live but as a list once
# serialized (docs/serialization.md): templates read them through filters.
COLLECTION_ENDINGS = ("all",)


def _display(expression: str, last_segment: str) -> str:
    if last_segment in COLLECTION_ENDINGS:
        return f'{{{{ {expression}|length }}}}:{{{{ {expression}|join:"|" }}}}'
    return f"{{{{ {expression} }}}}"


def template_for_path(root: str, path: str) -> str:
    """Template text that displays ``path`` looked up on ``root``."""
    segments = path.split(".") if path else []
    return _template_for(root, segments, depth=1)


def _template_for(expression: str, segments: list[str], depth: int) -> str:
    if "*" not in segments:
        full = ".".join([expression, *segments])
        return _display(full, segments[-1] if segments else "")
    star = segments.index("*")
    iterable = ".".join([expression, *segments[:star]])
    var = f"v{depth}"
    body = _template_for(var, segments[star + 1:], depth + 1)
    return f"{{% for {var} in {iterable} %}}[{body}]{{% endfor %}}"


def render(source: str, context: dict) -> str:
    """Render ``source`` with the project's Django template engine."""
    return engines["django"].from_string(source).render(context)


@contextlib.contextmanager
def world_of(spec: WorldSpec):
    """Rows of ``spec`` under its time settings, rolled back afterwards.

    A savepoint per hypothesis example keeps examples independent inside the
    one transaction pytest-django opened, on SQLite and PostgreSQL alike.
    """
    with (
        override_settings(**time_settings(spec)),
        timezone.override(spec.time_zone),
        transaction.atomic(),
    ):
        yield build_world(spec)
        transaction.set_rollback(True)
