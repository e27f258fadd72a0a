"""Counting what a request costs: queries and time.

    >>> with measure() as cost:
    ...     pass
    >>> cost.queries, cost.ms >= 0
    (0, True)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connections


@dataclass
class Cost:
    queries: int = 0
    ms: float = 0.0


@contextlib.contextmanager
def measure(using: str = "default") -> Iterator[Cost]:
    cost = Cost()

    def count(execute, sql, params, many, context):
        cost.queries += 1
        return execute(sql, params, many, context)

    started = time.perf_counter()
    with connections[using].execute_wrapper(count):
        yield cost
    cost.ms = (time.perf_counter() - started) * 1000
