"""The report: ``RESULTS.md`` (the baselines, the distance to the physical
limits, tables, targets, cold start) and ``results.png`` (end-to-end time
against N), from the workers' results.

    >>> milliseconds(0.0123456)
    '12.35'
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.compare.contenders import (
    BASELINE,
    CONTENDERS,
    DISTANCES,
    PYTHON_TEXT,
    TEXT_LIMIT,
)
from benchmarks.compare.harness import MIN_ROUNDS
from benchmarks.compare.scenarios import SCENARIOS

TARGET_SERIALIZE = 1.1
TARGET_S1_SPEEDUP = 1.5
TARGET_DRF_SPEEDUP = 10.0
# Issue #20: djust's text written in Python, at the largest N, S1 and S3
# (S2's methods may drop a key, so it falls back to json.dumps of many()).
TARGET_TEXT_SPEEDUP = 1.5
TARGET_TEXT_DISTANCE = 1.15
TARGET_TEXT_LEASES = 10_000
TARGET_TEXT_SCENARIOS = ("S1", "S3")

NORMALIZATION = """\
Every contender's output goes through the same `json.dumps(data,
cls=DjangoJSONEncoder)` (what `JsonResponse` does) — except those that
write the text themselves (JSON in SQL, djust's `json()`, raw cursor, text
written) — and the run stops unless every contender's
JSON, parsed with `json.loads`, equals the expert baseline's, per scenario,
N and database (the limits included). One normalization is applied before
that comparison: DRF's `DateTimeField`
writes microseconds (`…T09:31:05.258113Z`) where `DjangoJSONEncoder`, and so
the template contract, writes milliseconds (`…T09:31:05.258Z`); DRF's
datetimes are cut to milliseconds. Same instant, other precision; DRF does
the (slightly larger) work of writing microseconds in its timings. The
shapes are the template's: a related manager read as `units.count` and
`units.all` is an object with `count` and `all` keys in every contender
(nested serializers over the manager in DRF and serpy, custom pairs in
django-readers). The limits write the same text the encoder would: JSON in
SQL formats dates, decimals (two places) and datetimes (UTC, milliseconds,
`Z`) in SQL; the raw cursor converts the driver's values in Python (on
SQLite a decimal column comes back as a float, written with `%.2f`, and a
datetime as a naive UTC value)."""

MEASURES = """\
- **end-to-end**: the view's queryset to JSON text: queries, model rows,
  serialization and `json.dumps`.
- **serialize**: rows already fetched (queryset evaluated, prefetches done)
  to JSON text; **build** is its part without `json.dumps` (rows to
  JSON-ready data). naive, django-readers and serpy leave dates and
  decimals to the encoder, so part of their work is in `json.dumps`: compare
  them on serialize, not build. For naive, serializing is where its queries
  happen.
- Medians over rounds; a round runs each contender once, in a rotating
  order, and **vs expert** is the median of the per-round ratio against the
  baseline, the expert `values_list()` code (the machine is shared: load
  drifts between rounds more than within one); **vs inst** the same
  against the model-instance optimum (`hand-written`), end to end. Below 1
  is faster than the baseline. The cyclic garbage collector is paused inside a
  timed run, as `timeit` does.
- **queries**: counted on one end-to-end run. **peak MiB**: the peak of
  `tracemalloc` during one end-to-end run (Python allocations only).
- A contender whose first run alone takes more than five budgets (naive at
  10,000 leases: tens of thousands of queries) is reported from that single
  run (taken while its queries were being counted), without serialize or
  memory figures (`—`). A contender that fails is listed with its error."""

NOISE = """\
The machine is shared (two CPUs, other work running): raw medians taken in
different rounds move by tens of percent between runs and even between N
(compare a contender's ms per row across N). The **vs opt** columns compare
within a round and are the figures to trust; the chart plots raw medians."""

BASELINES = """\
**The baseline is `expert values_list`**: the fastest code an expert writes
by hand for the same output through the ORM — `values_list()` over the same
joins, a dict comprehension writing the encoder's text, `get_status_display`
from a choices table built once, the template's methods inlined, S3's
to-many levels as further `values_list()` queries grouped by parent key in
Python. It builds no model instance, as djust's `many()` builds none. The
model-instance optimum (`hand-written`: `select_related`/`Prefetch` +
`only()`, a function per row) is kept as a second reference: earlier
versions of this report quoted djust against it alone, which measured the
cost of model instances rather than djust.

**The limits are not competitors**: `raw cursor` (the expert's SQL on
`connection.cursor()`, the tightest Python dict loop, `json.dumps`),
`raw cursor, DB text` (the same with the database writing the dates,
decimals and datetimes as their JSON text in the SQL, so the driver parses
none of them: what djust's JSON mode does on PostgreSQL),
`raw cursor, text written` (the same rows written straight to the JSON
text by hand, one `%` format per row, strings through `json`'s C escaping
function: no dict, no `json.dumps`; the tightest Python that writes the
text, what `json(..., in_database=False)` does) and
`JSON in SQL` (one query whose single value is the JSON text) say how far
the Python side of any serializer is from what the database and the
interpreter allow. *Distance* is contender / limit, end to end: the
quotient of their median per-round ratios to the baseline (1.00x would be
at the limit)."""

FAILURES = """\
Failures: django-readers loads every relation with `prefetch_related`, even
forward foreign keys. Django 5.2 filters a forward foreign-key prefetch with
a tuple `IN`, which it writes for SQLite as one `OR` term per key; with more
than about a thousand distinct tenants SQLite refuses the statement
("Expression tree is too large"). The contenders that join (`select_related`)
are not affected, nor is PostgreSQL; Django 6.1 runs the same prefetch on
SQLite without error."""

WHY = """\
Where djust's figures come from. When every path ends in a column reached
through forward foreign keys (S1), or in a method or property whose code
reads nothing from `self` but such columns (S2's `get_full_name`,
`days_until_expiration`, `is_expiring_soon`), or in the rows and count of
to-many relations whose own paths are such columns (S3),
`serializer.many()` reads `values_list()` tuples and builds the dicts from
them: one query for the queryset and one per to-many relation, rows grouped
under their parent key, no model instance. That is the whole of its lead
over the model-instance optimum, and it is exactly what the expert baseline
does by hand: against the baseline, djust's end-to-end figure is the
baseline's work plus djust's own per-call cost (the cache lookup, the
projection's generic code, S2's methods run on one blank instance per call
fed each row's columns where the expert inlines them). The distance
columns say how much of the remaining time is Python building dicts and
the ORM compiling and converting (raw cursor) and how much is leaving JSON
to Python at all (JSON in SQL)."""


def milliseconds(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.2f}"


def ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def mebibytes(value: int) -> str:
    return f"{value / 2 ** 20:.1f}" if value else "—"


def cell_table(cells: list[dict]) -> list[str]:
    lines = [
        "| leases N | rows | contender | queries | end-to-end ms | vs expert | vs inst "
        "| serialize ms | vs expert | build ms | vs expert | peak MiB |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cell in cells:
        for name, m in cell["contenders"].items():
            if m.get("error"):
                lines.append(f"| {cell['leases']:,} | {cell['rows']:,} | {name} | failed | "
                             f"`{m['error'].replace('|', '/')}` | — | — | — | — | — | — | — |")
                continue
            if m.get("skipped"):
                lines.append(f"| {cell['leases']:,} | {cell['rows']:,} | {name} | — | "
                             f"left out: {m['skipped']} | — | — | — | — | — | — | — |")
                continue
            lines.append(
                f"| {cell['leases']:,} | {cell['rows']:,} | {name} | {m['queries']:,} | "
                f"{milliseconds(m['end_to_end'])} | {ratio(m['ratio_end_to_end'])} | "
                f"{ratio(m.get('ratio_reference'))} | "
                f"{milliseconds(m['serialize'])} | {ratio(m['ratio_serialize'])} | "
                f"{milliseconds(m['build'])} | {ratio(m['ratio_build'])} | "
                f"{mebibytes(m['peak_bytes'])} |"
            )
    return lines


def usable(contender: dict | None) -> bool:
    return bool(contender) and not contender.get("error") and not contender.get("skipped") \
        and contender.get("ratio_end_to_end") is not None


def distance(cell: dict, name: str, limit: str) -> float | None:
    """How many times the limit's end-to-end time ``name`` takes: the
    quotient of their median per-round ratios to the baseline.

        >>> cell = {"contenders": {"djust": {"ratio_end_to_end": 0.9},
        ...                        "raw cursor": {"ratio_end_to_end": 0.6}}}
        >>> round(distance(cell, "djust", "raw cursor"), 2)
        1.5
    """
    contenders = cell["contenders"]
    if not (usable(contenders.get(name)) and usable(contenders.get(limit))):
        return None
    return contenders[name]["ratio_end_to_end"] / contenders[limit]["ratio_end_to_end"]


def times(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def headline_table(results: list[dict]) -> list[str]:
    """djust against the baseline and the reference, and djust's and the
    baseline's distance to each limit, per database, scenario and N."""
    limits = " | ".join(f"djust / {limit} | expert / {limit}" for limit in DISTANCES)
    lines = [
        f"| database | scenario | leases N | djust vs expert (speed-up) | "
        f"djust vs instances optimum (speed-up) | {limits} | "
        f"{PYTHON_TEXT} vs expert (speed-up) | {PYTHON_TEXT} / {TEXT_LIMIT} |",
        "|---|---|---:|---:|---:|" + "---:|---:|" * len(DISTANCES) + "---:|---:|",
    ]
    for result in results:
        label = result["database"].split(" (")[0]
        for scenario in SCENARIOS:
            for cell in sorted((c for c in result["cells"] if c["scenario"] == scenario.name),
                               key=lambda c: c["leases"]):
                djust = cell["contenders"].get("djust", {})
                vs_expert = (1 / djust["ratio_end_to_end"]) if usable(djust) else None
                vs_reference = (1 / djust["ratio_reference"]) \
                    if usable(djust) and djust.get("ratio_reference") else None
                distances = " | ".join(
                    f"{times(distance(cell, 'djust', limit))} | "
                    f"{times(distance(cell, BASELINE, limit))}" for limit in DISTANCES)
                text = cell["contenders"].get(PYTHON_TEXT, {})
                text_vs_expert = (1 / text["ratio_end_to_end"]) if usable(text) else None
                lines.append(f"| {label} | {scenario.name} | {cell['leases']:,} | "
                             f"{times(vs_expert)} | {times(vs_reference)} | {distances} | "
                             f"{times(text_vs_expert)} | "
                             f"{times(distance(cell, PYTHON_TEXT, TEXT_LIMIT))} |")
    return lines


def left_out_lines(results: list[dict]) -> list[str]:
    """Cells a contender left out, with the reason, once per reason."""
    seen: dict[tuple[str, str], list[str]] = {}
    for result in results:
        label = result["database"].split(" (")[0]
        for cell in result["cells"]:
            for name, m in cell["contenders"].items():
                if m.get("skipped"):
                    seen.setdefault((name, m["skipped"]), []).append(
                        f"{label} {cell['scenario']} N={cell['leases']:,}")
    return [f"- {name}: {reason} ({', '.join(where)})."
            for (name, reason), where in seen.items()]


def target_lines(result: dict) -> list[str]:
    """One line per issue target for one database: met or missed, with the
    figures behind it."""
    cells = result["cells"]
    djust = [(c, c["contenders"]["djust"], c["contenders"][BASELINE]) for c in cells]
    label = result["database"].split(" (")[0]

    def where(cell):
        return f"{cell['scenario']} N={cell['leases']:,}"

    query_misses = [f"{where(c)}: {d['queries']} vs {h['queries']}"
                    for c, d, h in djust if d["queries"] != h["queries"]]
    serialize = [(where(c), d["ratio_serialize"], d["ratio_build"]) for c, d, _ in djust]
    serialize = [entry for entry in serialize if None not in entry]
    serialize_misses = [f"{w}: {r:.2f}x" for w, r, _ in serialize if r > TARGET_SERIALIZE]
    build_misses = [f"{w}: {b:.2f}x" for w, _, b in serialize if b > TARGET_SERIALIZE]
    s1 = [(where(c), 1 / d["ratio_end_to_end"]) for c, d, _ in djust
          if c["scenario"] == "S1" and c["leases"] >= 1000 and d["ratio_end_to_end"]]
    measured = [c for c in cells if c["contenders"]["DRF"]["ratio_serialize"]
                and c["contenders"]["djust"]["ratio_serialize"]]
    drf = [(where(c), speedup(c, "DRF", "serialize")) for c in measured]
    drf_build = [(where(c), speedup(c, "DRF", "build")) for c in measured]

    def verdict(misses, judged=True):
        # No cell to judge by is neither a pass nor a miss.
        if not judged:
            return "**not measured**"
        return "**met**" if not misses else "**missed**"

    def listed(pairs, suffix="x"):
        return ", ".join(f"{w}: {v:.2f}{suffix}" for w, v in pairs) or "no cell measured"

    return [
        f"- {label} — queries equal to the expert baseline in every cell: "
        f"{verdict(query_misses)}"
        + (f" ({'; '.join(query_misses)})" if query_misses else f" ({len(djust)} cells)."),
        f"- {label} — serialize-only ≤ {TARGET_SERIALIZE}x the expert baseline: "
        f"{verdict(serialize_misses, bool(serialize))}; "
        f"per cell {listed([(w, r) for w, r, _ in serialize])}."
        f" Build alone (without `json.dumps`): {verdict(build_misses, bool(serialize))}"
        + (f" ({', '.join(build_misses)})." if build_misses else "."),
        f"- {label} — end-to-end ≥ {TARGET_S1_SPEEDUP}x faster than the expert baseline "
        f"in S1, "
        f"N ≥ 1,000: {verdict([v for _, v in s1 if v < TARGET_S1_SPEEDUP], bool(s1))}; "
        f"speed-up {listed(s1)} (below 1 means slower).",
        f"- {label} — ≥ {TARGET_DRF_SPEEDUP:.0f}x faster than DRF serialize-only, "
        f"serializing as DRF defines it (`serializer.data`: rows to Python data, "
        f"which its `JSONRenderer` turns into text afterwards), so build against build: "
        f"{verdict([v for _, v in drf_build if v < TARGET_DRF_SPEEDUP], bool(drf_build))} "
        f"({listed(drf_build)}). With the same `json.dumps` added to both "
        f"(serialize columns): {listed(drf)}; {json_cap_note(measured)}",
    ]


def text_target_lines(result: dict) -> list[str]:
    """Issue #20's targets for one database: djust's text written in
    Python (``json(..., in_database=False)``) against the expert baseline,
    and its distance to the tightest hand-written Python that writes the
    same text, end to end, in S1 and S3 at N = 10,000.

        >>> cell = {"scenario": "S1", "leases": 10000, "contenders": {
        ...     PYTHON_TEXT: {"ratio_end_to_end": 0.5, "ratio_serialize": 0.3},
        ...     TEXT_LIMIT: {"ratio_end_to_end": 0.45, "ratio_serialize": 0.25}}}
        >>> for line in text_target_lines({"database": "SQLite (memory)", "cells": [cell]}):
        ...     print(line)  # doctest: +NORMALIZE_WHITESPACE
        - SQLite — djust json(), Python path end-to-end ≥ 1.5x faster than the expert
          baseline in S1, S3 at N = 10,000: **met**; speed-up S1 N=10,000: 2.00x.
        - SQLite — djust json(), Python path end-to-end within 1.15x of raw cursor, text
          written in S1, S3 at N = 10,000: **met**; distance S1 N=10,000: 1.11x
          (serialize-only, rows to text: S1 N=10,000: 1.20x).
    """
    label = result["database"].split(" (")[0]
    judged = [c for c in result["cells"] if c["scenario"] in TARGET_TEXT_SCENARIOS
              and c["leases"] >= TARGET_TEXT_LEASES]
    judged.sort(key=lambda c: (c["scenario"], c["leases"]))

    def where(cell):
        return f"{cell['scenario']} N={cell['leases']:,}"

    speedups = [(where(c), 1 / c["contenders"][PYTHON_TEXT]["ratio_end_to_end"])
                for c in judged if usable(c["contenders"].get(PYTHON_TEXT))]
    distances = [(where(c), distance(c, PYTHON_TEXT, TEXT_LIMIT)) for c in judged]
    distances = [(w, d) for w, d in distances if d is not None]
    serialize = []
    for cell in judged:
        text = cell["contenders"].get(PYTHON_TEXT) or {}
        limit = cell["contenders"].get(TEXT_LIMIT) or {}
        if text.get("ratio_serialize") and limit.get("ratio_serialize"):
            serialize.append((where(cell), text["ratio_serialize"] / limit["ratio_serialize"]))

    def verdict(pairs, met):
        if not pairs:
            return "**not measured**"
        return "**met**" if all(met(v) for _, v in pairs) else "**missed**"

    def listed(pairs):
        return ", ".join(f"{w}: {v:.2f}x" for w, v in pairs) or "no cell measured"

    scope = f"in {', '.join(TARGET_TEXT_SCENARIOS)} at N = {TARGET_TEXT_LEASES:,}"
    return [
        f"- {label} — {PYTHON_TEXT} end-to-end ≥ {TARGET_TEXT_SPEEDUP}x faster than the "
        f"expert baseline {scope}: "
        f"{verdict(speedups, lambda v: v >= TARGET_TEXT_SPEEDUP)}; "
        f"speed-up {listed(speedups)}.",
        f"- {label} — {PYTHON_TEXT} end-to-end within {TARGET_TEXT_DISTANCE}x of "
        f"{TEXT_LIMIT} {scope}: "
        f"{verdict(distances, lambda v: v <= TARGET_TEXT_DISTANCE)}; "
        f"distance {listed(distances)}"
        + (f" (serialize-only, rows to text: {listed(serialize)})." if serialize else "."),
    ]


def json_cap_note(cells: list[dict]) -> str:
    """Why the quotient with ``json.dumps`` cannot reach the target in every
    cell: the encoder's time on djust's output alone bounds it.

        >>> cell = {"scenario": "S3", "leases": 10000, "contenders": {
        ...     "DRF": {"serialize": 0.1}, "djust": {"serialize": 0.022, "build": 0.006}}}
        >>> print(json_cap_note([cell]))  # doctest: +NORMALIZE_WHITESPACE
        json.dumps alone takes 16.00 ms on djust's data in S3 N=10,000, so no
        serializer of that data could be more than 6.25x faster than DRF there.
    """
    if not cells:
        return "no cell measured."

    def encoder_bound(cell):
        djust, drf = cell["contenders"]["djust"], cell["contenders"]["DRF"]
        encode = djust["serialize"] - djust["build"]
        return (drf["serialize"] / encode if encode > 0 else float("inf")), encode, cell

    bound, encode, cell = min((encoder_bound(cell) for cell in cells), key=lambda b: b[0])
    return (f"json.dumps alone takes {encode * 1000:.2f} ms on djust's data in "
            f"{cell['scenario']} N={cell['leases']:,}, so no serializer of that data could "
            f"be more than {bound:.2f}x faster than DRF there.")


def speedup(cell: dict, other: str, measure: str) -> float:
    """How many times faster djust is than ``other``: the quotient of their
    median per-round ratios to the baseline (steadier on a shared machine
    than the quotient of raw medians taken in different rounds)."""
    contenders = cell["contenders"]
    key = f"ratio_{measure}"
    return contenders[other][key] / contenders["djust"][key]


def cold_start_lines(result: dict) -> list[str]:
    lines = [
        "| scenario | paths | cold: extraction + tree + plan + compile | cache hit | cold / hit |",
        "|---|---:|---:|---:|---:|",
    ]
    for entry in result["cold_start"]:
        lines.append(
            f"| {entry['scenario']} | {entry['paths']} | "
            f"{entry['cold'] * 1000:.3f} ms | {entry['hit'] * 1e6:.2f} µs | "
            f"{entry['cold'] / entry['hit']:,.0f}x |"
        )
    return lines


def djust_commit(results: list[dict]) -> str:
    """The djust revision the workers measured (asked of git now when an
    older worker did not record it)."""
    recorded = [r["djust"] for r in results if r.get("djust")]
    if recorded:
        return " / ".join(dict.fromkeys(recorded))
    from benchmarks.compare.environment import djust_revision

    return djust_revision()


def markdown(results: list[dict], *, profile: dict, quick: bool, generated: str) -> str:
    first = results[0]
    sizes = ", ".join(f"{n:,}" for n in profile["sizes"])
    lines = [
        "# djust against the alternatives",
        "",
        f"Generated by `python -m benchmarks.compare{' --quick' if quick else ''}` "
        f"on {generated}.",
        "",
        f"- Machine: {first['machine']}; {first['os']}.",
        f"- Python: {first['python']}; Django {first['django']}.",
        f"- djust: commit {djust_commit(results)} (the last commit touching `djust/`); "
        "djust's speed work continues: compare djust's figures across runs only at "
        "the same commit.",
        "- Databases: " + "; ".join(r["database"] for r in results) + ".",
        f"- Data: the rentals seed (`examples.rentals.seed`) scaled to N = {sizes} leases "
        "(1 property per 40 leases, 1 unit per 4, 1.5 maintenance requests per lease); "
        f"up to {profile['repeats']} rounds per contender within a "
        f"{profile['budget']:.1f} s budget per contender and cell (at least "
        f"{max(profile.get('precise_rounds', MIN_ROUNDS), MIN_ROUNDS)} rounds for djust, "
        f"the expert baseline and the limits, whose figures the headline ratios and "
        f"distances compare, {MIN_ROUNDS} for the instances optimum and DRF, "
        "at least 1 for the others)"
        + (f"; `--quick`: naive left out above N = {profile['slow_max']:,}"
           if profile.get("slow_max") else "") + ".",
        "",
        "Scenarios (templates in `benchmarks/compare/scenarios.py`; every contender "
        "serializes exactly the paths djust extracts from them):",
        "",
        "- **S1** leases: `property.name`, `unit.number`, `tenant.user.email`, "
        "`monthly_rent`, `start_date`, `end_date`, `get_status_display`, `signed_at`.",
        "- **S2** leases: S1 plus `tenant.user.get_full_name` (method), "
        "`days_until_expiration` (method), `is_expiring_soon` (property).",
        "- **S3** properties: `name`, `units.count`, `units.all.*.number`, "
        "`amenities.all.*.name`, and per unit the maintenance requests' `title` and "
        "`status` (the template shows the open ones: `{% if request.status == \"open\" %}`, "
        "so every request's status is serialized; no contender filters in SQL).",
        "",
        "Contenders:",
        "",
        *[f"- **{c.name}**: {c.note}." for c in CONTENDERS],
        "",
        "## The baseline and the limits",
        "",
        BASELINES,
        "",
        "End to end, medians of per-round ratios:",
        "",
        *headline_table(results),
        "",
        *(["Left out:", "", *left_out_lines(results), ""] if left_out_lines(results) else []),
        "## How to read the tables",
        "",
        MEASURES,
        "",
        "## Same JSON",
        "",
        NORMALIZATION,
        "",
        "## Targets (issue #7)",
        "",
        "Issue #7 stated them against the model-instance optimum; since issue #20 "
        "they are judged against the expert `values_list()` baseline.",
        "",
    ]
    for result in results:
        lines += target_lines(result)
    lines += ["", "## Targets (issue #20)", "",
              f"`{PYTHON_TEXT}` is `serializer.json(queryset, in_database=False)`: "
              "djust writing the JSON text in Python from `values_list()` rows. "
              f"`{TEXT_LIMIT}` is the tightest Python writing the same text from the "
              "same kind of rows by hand; the distance is their quotient, end to end.",
              ""]
    for result in results:
        lines += text_target_lines(result)
    failed = any(m.get("error") for r in results for c in r["cells"]
                 for m in c["contenders"].values())
    lines += ["", WHY, "", NOISE, "", *([FAILURES, ""] if failed else []), "## Cold start", "",
              "djust's caches emptied (extraction and serializers) against the same "
              "calls answered by them, per template variable; the cold column includes "
              "compiling the `values_list()` projection, as the first `many()` does; "
              "medians.", ""]
    lines += cold_start_lines(next((r for r in results if r["cold_start"]), first))
    lines += ["", "## Results", "", "![end-to-end time against N](results.png)", ""]
    for result in results:
        for scenario in SCENARIOS:
            cells = [c for c in result["cells"] if c["scenario"] == scenario.name]
            lines += [f"### {result['database'].split(' (')[0]} — {scenario.name} "
                      f"({scenario.title})", "", *cell_table(cells), ""]
    return "\n".join(lines)


def chart(results: list[dict], path: Path) -> None:
    """End-to-end median against N, one panel per database and scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(results), len(SCENARIOS), squeeze=False,
                                figsize=(5 * len(SCENARIOS), 4 * len(results)))
    for row, result in enumerate(results):
        for column, scenario in enumerate(SCENARIOS):
            axis = axes[row][column]
            cells = sorted((c for c in result["cells"] if c["scenario"] == scenario.name),
                           key=lambda c: c["leases"])
            for contender in CONTENDERS:
                points = [(c["leases"], c["contenders"][contender.name]["end_to_end"] * 1000)
                          for c in cells
                          if contender.name in c["contenders"]
                          and c["contenders"][contender.name].get("end_to_end")]
                if not points:
                    continue
                axis.plot(*zip(*points, strict=True), marker="o", label=contender.name,
                          linestyle="--" if contender.role in ("limit", "text limit") else "-",
                          linewidth=2.5 if contender.name in ("djust", PYTHON_TEXT, BASELINE)
                          else 1.2)
            axis.set_xscale("log")
            axis.set_yscale("log")
            axis.set_title(f"{result['database'].split(' (')[0]} — {scenario.name}")
            axis.set_xlabel("leases N")
            axis.set_ylabel("end-to-end median, ms")
            axis.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write(results: list[dict], folder: Path, *, profile: dict, quick: bool,
          generated: str) -> tuple[Path, Path]:
    """Write ``RESULTS.md`` and ``results.png`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    text_path, chart_path = folder / "RESULTS.md", folder / "results.png"
    text_path.write_text(markdown(results, profile=profile, quick=quick,
                                  generated=generated) + "\n")
    chart(results, chart_path)
    return text_path, chart_path


def console_summary(results: list[dict]) -> str:
    lines = []
    for result in results:
        lines.append(result["database"])
        lines += target_lines(result)
        lines += text_target_lines(result)
    return "\n".join(lines)
