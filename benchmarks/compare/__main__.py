"""Entry point: ``python -m benchmarks.compare [--quick] [--database ...]``.

Each database is measured in its own worker process (Django's settings are
configured once per process), one after the other so that they never share
the CPUs; the parent starts a throwaway PostgreSQL server for the
PostgreSQL worker and writes the report from the workers' JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.compare.environment import DATABASES

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
FULL = {"sizes": (100, 1_000, 10_000), "repeats": 25, "budget": 1.0, "cold_repeats": 30,
        "precise_rounds": 9}
# --quick reproduces the 10,000-lease cells with fewer rounds; naive (tens
# of thousands of queries at 10,000) is left out above 1,000. A few minutes.
QUICK = {"sizes": (1_000, 10_000), "repeats": 5, "budget": 0.3, "cold_repeats": 10,
         "slow_max": 1_000, "precise_rounds": 5}

logger = logging.getLogger("djust.benchmarks.compare")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="N = 1,000 and 10,000, fewer rounds, naive only at 1,000")
    parser.add_argument("--database", choices=[*DATABASES, "all"], default="all")
    parser.add_argument("--out", type=Path, default=BENCHMARKS,
                        help="folder for RESULTS.md and results.png (default: benchmarks/)")
    parser.add_argument("--worker", choices=DATABASES, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_worker(database: str, profile: dict, output: Path) -> None:
    """Measure every scenario at every size on ``database``; write JSON."""
    from benchmarks.compare import environment

    environment.configure(database)
    # Django, the libraries and the compiled serializers live for the whole
    # run: keep them out of every later collection (the harness collects
    # once per round).
    gc.collect()
    gc.freeze()
    from benchmarks.compare.harness import cold_start, run_cell
    from benchmarks.compare.scenarios import SCENARIOS

    result = {"database": environment.describe_database(), **environment.describe_machine(),
              "cells": [], "cold_start": []}
    for size in profile["sizes"]:
        counts = environment.seed_leases(size)
        for scenario in SCENARIOS:
            rows = scenario.base_queryset().count()
            started = time.perf_counter()
            cell = run_cell(scenario, rows, repeats=profile["repeats"], budget=profile["budget"],
                            slow_max=profile.get("slow_max"),
                            precise_rounds=profile.get("precise_rounds", 3))
            summary = {**cell.summary(), "leases": counts["leases"]}
            result["cells"].append(summary)
            print(f"[{database}] {scenario.name} N={size}: {rows} rows, "
                  f"{time.perf_counter() - started:.1f} s", flush=True)
    if database == "sqlite":
        result["cold_start"] = [cold_start(s, profile["cold_repeats"]) for s in SCENARIOS]
    output.write_text(json.dumps(result, indent=1))


@contextlib.contextmanager
def database_environment(database: str):
    """The environment variables a worker needs: a PostgreSQL server is
    started for the PostgreSQL worker and stopped afterwards."""
    if database != "postgres":
        yield {}
        return
    sys.path.insert(0, str(ROOT / "scripts"))
    import pgserver

    with pgserver.running() as variables:
        yield variables


def run_all(options: argparse.Namespace) -> int:
    import os

    from benchmarks.compare import report

    databases = DATABASES if options.database == "all" else (options.database,)
    results = []
    with tempfile.TemporaryDirectory(prefix="djust-compare-") as scratch:
        for database in databases:
            output = Path(scratch) / f"{database}.json"
            command = [sys.executable, "-m", "benchmarks.compare", "--worker", database,
                       "--json", str(output), *(["--quick"] if options.quick else [])]
            with database_environment(database) as variables:
                code = subprocess.run(command, cwd=ROOT,
                                      env={**os.environ, **variables}).returncode
            if code != 0:
                print(f"the {database} worker failed (exit {code})", file=sys.stderr)
                return code
            results.append(json.loads(output.read_text()))
    profile = QUICK if options.quick else FULL
    generated = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    markdown, chart = report.write(results, options.out, profile=profile,
                                   quick=options.quick, generated=generated)
    print(report.console_summary(results))
    print(f"wrote {markdown.relative_to(ROOT) if markdown.is_relative_to(ROOT) else markdown}"
          f" and {chart.name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    logging.basicConfig(level=logging.WARNING)
    if options.worker:
        run_worker(options.worker, QUICK if options.quick else FULL, options.json)
        return 0
    return run_all(options)


if __name__ == "__main__":
    sys.exit(main())
