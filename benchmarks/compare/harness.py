"""Run every contender on one scenario and data size, check they agree,
then measure them.

``run_cell(scenario, repeats=..., budget=...)`` returns a ``Cell``: per
contender the query count, the peak traced memory, and the medians of

- end-to-end: queryset → JSON text (query, model rows, serialization,
  ``json.dumps``);
- serialize-only: fetched rows → JSON text, and its build part (rows →
  JSON-ready data, without the dumps).

Contenders run interleaved, in a rotating order, and ratios against the
baseline (``expert values_list``) and the model-instance optimum
(``hand-written``) are taken within one round and then the median: the
machine is shared, so its load drifts between rounds far more than within
one. Slow contenders (naive at 10,000 rows) get fewer rounds, bounded by a
time budget per contender, and at least one.

    >>> normalize_drf({"at": "2026-01-02T03:04:05.678901Z", "n": [1]})
    {'at': '2026-01-02T03:04:05.678Z', 'n': [1]}
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import re
import statistics
import time
import tracemalloc
from dataclasses import dataclass, field

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection

from benchmarks.compare.contenders import (
    BASELINE,
    CONTENDERS,
    DISTANCES,
    PYTHON_TEXT,
    REFERENCE,
    Unavailable,
)

logger = logging.getLogger("djust.benchmarks.compare")

MICROSECOND_DATETIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})\d{3}")


class Disagreement(AssertionError):
    """Two contenders produced different JSON for the same scenario."""


def to_text(data) -> str:
    return json.dumps(data, cls=DjangoJSONEncoder)


def encoder(prepared):
    """How the contender's data becomes text: ``to_text`` unless the
    contender writes the text itself (JSON built in SQL)."""
    return prepared.encode or to_text


def normalize_drf(value):
    """DRF writes datetimes with microseconds; DjangoJSONEncoder (and so the
    template contract) truncates them to milliseconds. Same instant, other
    precision: cut DRF's to milliseconds before comparing."""
    if isinstance(value, dict):
        return {key: normalize_drf(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalize_drf(item) for item in value]
    if isinstance(value, str):
        return MICROSECOND_DATETIME.sub(r"\1", value)
    return value


NORMALIZERS = {"DRF": normalize_drf}


def comparable(name: str, text: str):
    value = json.loads(text)
    normalize = NORMALIZERS.get(name)
    return normalize(value) if normalize else value


@dataclass
class Measures:
    """What one contender did in one cell. Times in seconds."""

    queries: int = 0
    peak_bytes: int = 0
    error: str | None = None
    skipped: str | None = None
    end_to_end: list[float] = field(default_factory=list)
    serialize: list[float] = field(default_factory=list)
    build: list[float] = field(default_factory=list)
    ratio_end_to_end: list[float] = field(default_factory=list)
    ratio_serialize: list[float] = field(default_factory=list)
    ratio_build: list[float] = field(default_factory=list)
    # Against the model-instance optimum (REFERENCE), end to end only.
    ratio_reference: list[float] = field(default_factory=list)

    def add_ratios(self, values: tuple, base: tuple) -> None:
        """Per-round ratios against the baseline's round; a serialize or
        build figure missing on either side (JSON built in SQL has none)
        adds no ratio."""
        for values_list, value, base_value in zip(
                (self.ratio_end_to_end, self.ratio_serialize, self.ratio_build),
                values, base, strict=True):
            if value is not None and base_value is not None:
                values_list.append(value / base_value)

    def summary(self) -> dict:
        def median(values):
            return statistics.median(values) if values else None

        return {
            "queries": self.queries, "peak_bytes": self.peak_bytes, "error": self.error,
            "skipped": self.skipped,
            "rounds": len(self.end_to_end),
            "end_to_end": median(self.end_to_end), "serialize": median(self.serialize),
            "build": median(self.build),
            "ratio_end_to_end": median(self.ratio_end_to_end),
            "ratio_serialize": median(self.ratio_serialize),
            "ratio_build": median(self.ratio_build),
            "ratio_reference": median(self.ratio_reference),
        }


@dataclass
class Cell:
    scenario: str
    rows: int
    measures: dict[str, Measures]
    texts: dict[str, str]

    def summary(self) -> dict:
        return {"scenario": self.scenario, "rows": self.rows,
                "contenders": {name: m.summary() for name, m in self.measures.items()}}


def check_agreement(scenario_name: str, texts: dict[str, str]) -> None:
    """Raise ``Disagreement`` unless every contender's JSON equals the
    baseline's (after the documented normalizations)."""
    expected = comparable(BASELINE, texts[BASELINE])
    for name, text in texts.items():
        if comparable(name, text) != expected:
            raise Disagreement(
                f"{scenario_name}: {name} and {BASELINE} produce different JSON; first "
                f"{BASELINE} row: {json.dumps(expected[:1])[:400]}; first {name} row: "
                f"{json.dumps(comparable(name, text)[:1])[:400]}"
            )


class QueryCounter:
    """Counts the queries run on ``connection`` inside the block, with no
    query log (Django's keeps only the last 9,000)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)

    def __enter__(self) -> QueryCounter:
        self._wrapper = connection.execute_wrapper(self)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self._wrapper.__exit__(*exc_info)


def first_run(prepared) -> tuple[str, int, float]:
    """Run end to end once, untimed by the medians: the text, the number
    of queries and the wall time (which sizes the number of rounds)."""
    with QueryCounter() as queries:
        start = time.perf_counter()
        text = encoder(prepared)(prepared.end_to_end())
        elapsed = time.perf_counter() - start
    return text, queries.count, elapsed


def peak_memory(prepared) -> int:
    """Peak bytes traced while one end-to-end run builds its text."""
    gc.collect()
    tracemalloc.start()
    try:
        encoder(prepared)(prepared.end_to_end())
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@contextlib.contextmanager
def collector_paused():
    """As ``timeit`` does: no cyclic collection inside a timed run, so one
    contender does not pay for another's garbage (``run_cell`` collects
    once per round, outside the timings)."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def time_end_to_end(prepared) -> float:
    encode = encoder(prepared)
    with collector_paused():
        start = time.perf_counter()
        encode(prepared.end_to_end())
        return time.perf_counter() - start


def time_serialize(prepared) -> tuple[float | None, float | None]:
    """(serialize, build) seconds on freshly fetched rows: fresh, because
    rows serialized once keep what they lazily loaded. (None, None) for a
    contender with no serialize step (JSON built in SQL)."""
    if prepared.load is None:
        return None, None
    rows = prepared.load()
    encode = encoder(prepared)
    with collector_paused():
        start = time.perf_counter()
        data = prepared.build(rows)
        built = time.perf_counter()
        encode(data)
        return time.perf_counter() - start, built - start


MIN_ROUNDS = 3
# The contenders the targets and the limit distances compare: a median of
# fewer rounds than MIN_ROUNDS would judge them on one or two samples.
TARGETED = (BASELINE, REFERENCE, "djust", PYTHON_TEXT, "DRF", *DISTANCES)
# The ones the headline ratios and distances are taken between get
# ``precise_rounds`` (a profile setting) at least: at 10,000 rows three
# rounds on a shared machine leave the median to one noisy sample.
PRECISE = (BASELINE, "djust", PYTHON_TEXT, *DISTANCES)
# A first run longer than this many budgets is the contender's only run.
SINGLE_RUN_BUDGETS = 5


def rounds_for(elapsed: float, *, repeats: int, budget: float, minimum: int = 1) -> int:
    """Rounds a contender gets: as many as fit its budget (a round is an
    end-to-end run, a load and a serialization), between ``minimum`` and
    ``repeats``; 0 when its first run alone took longer than
    ``SINGLE_RUN_BUDGETS`` budgets.

        >>> rounds_for(0.001, repeats=25, budget=1.0), rounds_for(0.5, repeats=25, budget=1.0)
        (25, 1)
        >>> rounds_for(0.5, repeats=25, budget=1.0, minimum=3)
        3
        >>> rounds_for(6.0, repeats=25, budget=1.0)
        0
    """
    if elapsed > SINGLE_RUN_BUDGETS * budget:
        return 0
    return max(min(minimum, repeats), min(repeats, int(budget / (3 * max(elapsed, 1e-6)))))


def run_cell(scenario, rows: int, *, repeats: int, budget: float, memory: bool = True,
             contenders=CONTENDERS, slow_max: int | None = None,
             precise_rounds: int = MIN_ROUNDS) -> Cell:
    """Check agreement, then measure every contender on ``scenario``.

    A contender whose first run exceeds ``SINGLE_RUN_BUDGETS * budget``
    (naive at 10,000 rows:
    tens of thousands of queries) is reported from that one end-to-end run,
    without serialize-only or memory figures. A ``slow`` contender is left
    out when ``rows`` exceeds ``slow_max`` (``--quick``), and one that cannot
    produce the exact JSON on this database (``Unavailable``) is left out
    with its reason.
    """
    measures = {c.name: Measures() for c in contenders}
    prepared = {}
    for contender in contenders:
        if contender.slow and slow_max is not None and rows > slow_max:
            measures[contender.name].skipped = f"above {slow_max:,} rows in --quick"
            continue
        try:
            prepared[contender.name] = contender.prepare(scenario)
        except Unavailable as reason:
            measures[contender.name].skipped = str(reason)
    texts, rounds = {}, {}
    for name, runner in list(prepared.items()):
        try:
            texts[name], measures[name].queries, elapsed = first_run(runner)
        except Exception as error:
            if name == BASELINE:
                raise
            measures[name].error = describe_error(error)
            logger.warning("%s failed on %s, %d rows: %s", name, scenario.name, rows,
                           measures[name].error)
            del prepared[name]
            continue
        # The targets are about djust, the optimum and DRF: they always get
        # MIN_ROUNDS; the others as many rounds as their budget allows.
        minimum = (max(precise_rounds, MIN_ROUNDS) if name in PRECISE
                   else MIN_ROUNDS if name in TARGETED else 1)
        rounds[name] = rounds_for(elapsed, repeats=repeats, budget=budget, minimum=minimum)
        if not rounds[name]:
            logger.info("%s on %s: one run took %.1f s; measured once", name,
                        scenario.name, elapsed)
            measures[name].end_to_end.append(elapsed)
    check_agreement(scenario.name, texts)
    if memory:
        for name, runner in prepared.items():
            if rounds[name]:
                measures[name].peak_bytes = peak_memory(runner)
    names = list(prepared)
    for round_index in range(max(rounds.values())):
        shift = round_index % len(names)
        order = [n for n in names[shift:] + names[:shift] if rounds[n] > round_index]
        gc.collect()
        measured = {name: measure_round(prepared[name], measures[name]) for name in order}
        base = measured.get(BASELINE)
        reference = measured.get(REFERENCE)
        for name, values in measured.items():
            if base is not None:
                measures[name].add_ratios(values, base)
            if reference is not None:
                measures[name].ratio_reference.append(values[0] / reference[0])
    for name, m in measures.items():
        if name in rounds and not rounds[name] and measures[BASELINE].end_to_end:
            m.ratio_end_to_end.append(
                m.end_to_end[0] / statistics.median(measures[BASELINE].end_to_end))
            if measures[REFERENCE].end_to_end:
                m.ratio_reference.append(
                    m.end_to_end[0] / statistics.median(measures[REFERENCE].end_to_end))
    return Cell(scenario.name, rows, measures, texts)


def describe_error(error: Exception) -> str:
    """The exception's class and first line, short enough for a table."""
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first_line[:120]}"


def measure_round(runner, measures: Measures) -> tuple:
    end_to_end = time_end_to_end(runner)
    serialize, build = time_serialize(runner)
    measures.end_to_end.append(end_to_end)
    if serialize is not None:
        measures.serialize.append(serialize)
        measures.build.append(build)
    return end_to_end, serialize, build


def cold_start(scenario, repeats: int) -> dict:
    """Median seconds of extraction + tree + plan + compile for the
    scenario's template variable with djust's caches emptied, against the
    same calls answered by the caches. Compiling includes what the first
    ``many()`` on a QuerySet adds: the ``values_list()`` projection."""
    from djust.compiler import compile_serializer, extraction
    from djust.compiler.cache import default_cache
    from djust.compiler.serializer import projection_of

    def extract_and_compile():
        extracted = extraction.extract_template_variables(
            scenario.template, name=f"{scenario.name}.html")
        paths = [p.removeprefix("*.") for p in extracted[scenario.variable] if p[:2] == "*."]
        serializer = compile_serializer(scenario.model, paths)
        projection_of(serializer)  # what the first many() on a QuerySet adds
        return serializer

    cold = []
    for _ in range(repeats):
        extraction.cache_clear()
        default_cache().clear()
        start = time.perf_counter()
        extract_and_compile()
        cold.append(time.perf_counter() - start)
    extract_and_compile()
    batch = 200
    hits = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(batch):
            extract_and_compile()
        hits.append((time.perf_counter() - start) / batch)
    return {"scenario": scenario.name, "paths": len(scenario.paths()),
            "cold": statistics.median(cold), "hit": statistics.median(hits)}
