"""Benchmark: template path extraction against Django's own parse.

    .venv/py3.11/bin/python -m benchmarks.bench_extraction [--repeat N] [--page NAME]

The page (``benchmarks/templates/bench/page.html``) is what the target
describes: a ~300-line dashboard whose chain reads 50 distinct paths, with
loops (nested, tuple-unpacking, ``empty``, ``regroup``), two includes and
a three-level ``extends`` chain (page → layout → base). ``--page
bench/stress.html`` runs the older, much denser page (38 roots, ~240 paths,
ten copies of one section) to see how the walk scales.

Rows, each a median over ``--repeat`` runs, all measured in this run:

- Django's ``Engine.from_string`` parse of the page: the baseline;
- djust cold extraction, as a cache miss costs in production: the result
  cache emptied before each run, so the page is parsed and walked; the
  included and parent templates come from Django's cached loader;
- the same with the loader cache reset too (every template parsed again);
- djust's walk alone, on a page parsed once: djust's own share;
- a result-cache hit, by source and by name.

Target: cold extraction under 2 ms median.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"
PAGE = "bench/page.html"
TARGET_MS = 2.0


def configure_django() -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            INSTALLED_APPS=["djust"],
            TEMPLATES=[
                {
                    "BACKEND": "django.template.backends.django.DjangoTemplates",
                    "DIRS": [TEMPLATES],
                }
            ],
        )
    django.setup()


def measure(function, repeat: int) -> list[int]:
    """Run ``function`` ``repeat`` times; nanoseconds per run."""
    function()  # warm imports and the loader cache
    timings = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        function()
        timings.append(time.perf_counter_ns() - start)
    return timings


def summary(timings: list[int]) -> tuple[float, float]:
    """Median and 90th percentile, in milliseconds."""
    ordered = sorted(timings)
    median = statistics.median(ordered) / 1e6
    p90 = ordered[int(0.9 * (len(ordered) - 1))] / 1e6
    return median, p90


def main(argv: list[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--repeat", type=int, default=400)
    arguments.add_argument("--page", default=PAGE)
    options = arguments.parse_args(argv)
    configure_django()

    import django
    from django.template import engines

    from djust.compiler import extraction
    from djust.compiler.extraction import (
        extract_template_variables,
        extract_template_variables_from_name,
    )

    page = options.page
    engine = engines["django"].engine
    source = (TEMPLATES / page).read_text()
    result = extract_template_variables(source, engine=engine, name=page)
    paths = sum(len(found) for found in result.values())
    chain_lines = sum(
        (TEMPLATES / name).read_text().count("\n") for name in result.templates
    )

    def parse() -> None:
        engine.from_string(source)

    def extract_cold() -> None:
        extraction.cache_clear()
        extract_template_variables(source, engine=engine, name=page)

    def extract_uncached_loaders() -> None:
        for loader in engine.template_loaders:
            if hasattr(loader, "reset"):
                loader.reset()
        extract_cold()

    parsed = engine.from_string(source)

    def walk_only() -> None:
        # The part of extraction that is djust's own: the page parsed once.
        extraction.walk_template(engine, parsed, page)

    def hit_by_source() -> None:
        extract_template_variables(source, engine=engine, name=page)

    def hit_by_name() -> None:
        extract_template_variables_from_name(page, engine=engine)

    rows = [
        ("django from_string parse (baseline)", measure(parse, options.repeat)),
        ("djust extraction, cold", measure(extract_cold, options.repeat)),
        ("djust extraction, loaders reset too", measure(extract_uncached_loaders, options.repeat)),
        ("djust walk only (page parsed once)", measure(walk_only, options.repeat)),
        ("djust cache hit, by source", measure(hit_by_source, options.repeat)),
        ("djust cache hit, by name", measure(hit_by_name, options.repeat)),
    ]
    baseline, _ = summary(rows[0][1])
    print(f"machine: {os.cpu_count()}-core {platform.machine()}; python "
          f"{platform.python_version()}, django {django.get_version()}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(
        f"page: {page}, {source.count(chr(10))} lines ({chain_lines} with its chain), "
        f"{len(result)} roots, {paths} paths, {len(result.templates)} templates; "
        f"{options.repeat} repetitions"
    )
    for label, timings in rows:
        median, p90 = summary(timings)
        print(
            f"{label:40s} median {median * 1000:8.1f} µs  p90 {p90 * 1000:8.1f} µs  "
            f"ratio/parse {median / baseline:5.2f}"
        )
    cold, _ = summary(rows[1][1])
    verdict = "met" if cold < TARGET_MS else "MISSED"
    if page != PAGE:
        verdict += f" (the target is set for {PAGE})"
    print(f"target: cold extraction median under {TARGET_MS} ms: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
