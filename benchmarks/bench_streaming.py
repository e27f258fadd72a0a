"""Streaming a serializer's rows as JSON text vs ``many()`` + ``json.dumps``.

Run: ``python -m benchmarks.bench_streaming`` from the repository root
(``--scale`` for another data set; 50, the default, is 100,000 leases). It
configures Django itself (in-memory SQLite, the rentals app, ``seed``) and
measures, warm, with the paths djust extracts from the comparison's
templates (``benchmarks/compare/scenarios.py``):

- S1 (fields and FK chains, every lease) and S3 (to-many levels: units,
  their maintenance requests, amenities; every property): the JSON text of
  ``json.dumps(serializer.many(qs), cls=DjangoJSONEncoder)`` (the
  baseline) vs ``serializer.json(qs, in_database=False)`` (the rows written
  straight to text, all at once) and ``streaming.stream(serializer, qs)``
  (the same a chunk at a time) consumed chunk by chunk,
  the chunks discarded; median time and ``tracemalloc`` peak of each (the
  texts must be identical, or the run stops);
- the encoder: the same rows (``many()``'s list) written as text by
  ``json.dumps(cls=DjangoJSONEncoder)``, ``json.dumps`` with no class, one
  encoder without the circular-reference check (what ``stream`` uses),
  one ``dumps`` per row joined, Python's pure-Python encoder (text written
  from Python code), and ``orjson`` when importable (it is not a
  dependency: put a scratch install on PYTHONPATH to measure it).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc

from benchmarks.bench_page_render import configure_django

RUNS = 7
MIB = 1024 * 1024


def seeded(scale: float) -> dict[str, int]:
    from django.core.management import call_command

    from examples.rentals.seed import seed

    call_command("migrate", verbosity=0, run_syncdb=True)
    return seed(scale=scale)


def timed(functions: dict, runs: int) -> dict[str, float]:
    """Median milliseconds of each function, the functions alternating."""
    samples: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(runs):
        for name, function in functions.items():
            gc.collect()
            started = time.perf_counter()
            function()
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def peak(function) -> float:
    """The tracemalloc peak, in MiB, of one call of ``function``."""
    gc.collect()
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1] / MIB
    finally:
        tracemalloc.stop()


def consume(chunks) -> int:
    """Read every chunk, keeping none; the characters read."""
    size = 0
    for chunk in chunks:
        size += len(chunk)
    return size


def streaming_report(scenario, chunk_sizes: list[int], runs: int) -> None:
    from django.core.serializers.json import DjangoJSONEncoder

    from djust.compiler import compile_serializer
    from djust.compiler.streaming import stream

    serializer = compile_serializer(scenario.model, scenario.paths())
    queryset = scenario.base_queryset()
    baseline_text = json.dumps(serializer.many(queryset), cls=DjangoJSONEncoder)
    if "".join(stream(serializer, queryset)) != baseline_text:
        sys.exit(f"{scenario.name}: the streamed text differs from json.dumps(many()); no timing")
    rows = queryset.count()
    functions = {"many() + json.dumps": lambda: json.dumps(serializer.many(queryset),
                                                            cls=DjangoJSONEncoder),
                 "json(), Python path": lambda: serializer.json(queryset, in_database=False)}
    for size in chunk_sizes:
        functions[f"stream, chunk {size}"] = (
            lambda size=size: consume(stream(serializer, queryset, chunk_size=size)))
    medians = timed(functions, runs)
    peaks = {name: peak(function) for name, function in functions.items()}
    baseline = medians["many() + json.dumps"]
    how = ("projection written as text" if serializer.text_projection
           else "projection" if serializer.projection else "instances")
    print(f"\n{scenario.name} ({scenario.title}): {rows:,} rows, {len(scenario.paths())} paths, "
          f"{how}; {len(baseline_text):,} characters of JSON, identical")
    for name, median in medians.items():
        print(f"  {name:<22} {median:9.1f} ms  {median / baseline:5.2f}x  "
              f"peak {peaks[name]:7.2f} MiB")


def encoders(data: list) -> dict:
    from django.core.serializers.json import DjangoJSONEncoder

    plain = json.JSONEncoder(check_circular=False).encode
    django_unchecked = DjangoJSONEncoder(check_circular=False).encode
    pure = json.JSONEncoder()
    pure_iterencode = json.encoder._make_iterencode(
        {}, pure.default, json.encoder.py_encode_basestring_ascii, None, float.__repr__,
        ": ", ", ", False, False, True)

    functions = {
        "json.dumps(cls=DjangoJSONEncoder)": lambda: json.dumps(data, cls=DjangoJSONEncoder),
        "json.dumps, no cls": lambda: json.dumps(data),
        "DjangoJSONEncoder(check_circular=False)": lambda: django_unchecked(data),
        "JSONEncoder(check_circular=False)": lambda: plain(data),
        "one dumps per row, joined": lambda: "[" + ", ".join(map(plain, data)) + "]",
        "pure-Python writer": lambda: "".join(pure_iterencode(data, 0)),
    }
    try:
        import orjson
    except ImportError:
        pass
    else:
        functions[f"orjson {orjson.__version__} (bytes)"] = lambda: orjson.dumps(data)
    return functions


def encoder_report(scenario, runs: int) -> None:
    from django.core.serializers.json import DjangoJSONEncoder

    from djust.compiler import compile_serializer
    from djust.compiler.modes import PLAIN_TYPES

    serializer = compile_serializer(scenario.model, scenario.paths())
    data = serializer.many(scenario.base_queryset())
    native = all_native(data, PLAIN_TYPES)
    expected = json.dumps(data, cls=DjangoJSONEncoder)
    functions = encoders(data)
    print(f"\nencoders, {scenario.name} rows ({len(data):,} rows of many(); only JSON-native "
          f"values: {native})")
    same = {}
    for name, function in functions.items():
        text = function()
        if isinstance(text, bytes):
            text = text.decode()
        same[name] = ("same text" if text == expected else
                      "same after json.loads" if json.loads(text) == json.loads(expected)
                      else "DIFFERENT")
    medians = timed(functions, runs)
    baseline = medians["json.dumps(cls=DjangoJSONEncoder)"]
    for name, median in medians.items():
        print(f"  {name:<40} {median:8.1f} ms  {median / baseline:5.2f}x  {same[name]}")


def all_native(value, plain_types) -> bool:
    if type(value) in plain_types:
        return True
    if type(value) is list:
        return all(all_native(item, plain_types) for item in value)
    if type(value) is dict:
        return all(type(key) is str and all_native(item, plain_types)
                   for key, item in value.items())
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=50.0,
                        help="seed scale (50: 100,000 leases, 2,500 properties)")
    parser.add_argument("--runs", type=int, default=RUNS)
    arguments = parser.parse_args()
    configure_django()
    started = time.perf_counter()
    counts = seeded(arguments.scale)
    seeding = time.perf_counter() - started
    import django

    from benchmarks.compare.scenarios import S1, S3

    print(f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} cores; "
          f"CPython {platform.python_version()}, Django {django.get_version()}, SQLite in memory")
    print(f"seed scale {arguments.scale:g} ({seeding:.0f} s): "
          + ", ".join(f"{count:,} {name}" for name, count in counts.items()))
    print(f"medians of {arguments.runs} warm runs, alternating; ratio = ÷ the first line; "
          "peak = tracemalloc peak of one run")
    streaming_report(S1, [500, 2000, 10000], arguments.runs)
    streaming_report(S3, [100, 500, 2000], arguments.runs)
    encoder_report(S1, arguments.runs)
    encoder_report(S3, arguments.runs)


if __name__ == "__main__":
    main()
