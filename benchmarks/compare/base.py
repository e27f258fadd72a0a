"""What every contender module shares: the prepared callables and the
contender's description. Kept apart so that the contender modules
(``contenders``, ``expert``, ``limits``) import it without a cycle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


class Unavailable(Exception):
    """A contender cannot produce the scenario's exact JSON on this
    database: its cell is left out, with this reason in the report."""


@dataclass(frozen=True)
class Prepared:
    """One contender ready to run one scenario.

    ``encode`` turns ``build``'s (and ``end_to_end``'s) result into JSON
    text: by default ``json.dumps(data, cls=DjangoJSONEncoder)``; a
    contender whose database writes the text passes the identity. ``load``
    is None when there is no serialize-only step to time (the JSON is
    written by the query itself).
    """

    load: Callable[[], list] | None
    build: Callable[[list], object]
    end_to_end: Callable[[], object]
    encode: Callable[[object], str] | None = None


@dataclass(frozen=True)
class Contender:
    """``role``: ``"contender"`` (a way to serialize the template's data),
    ``"reference"`` (the model-instance optimum, a second yardstick) or
    ``"limit"`` (a physical limit: the distance to it is reported, it is
    not a competitor) or ``"text limit"`` (the raw cursor limit with the
    database writing the dates, decimals and datetimes as text: a limit
    too, reported after the others). ``slow``: left out of ``--quick`` above its
    profile's ``slow_max`` rows."""

    name: str
    prepare: Callable  # (scenario) -> Prepared
    note: str
    role: str = "contender"
    slow: bool = False
