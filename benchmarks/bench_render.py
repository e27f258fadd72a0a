"""Benchmark: writing generated source, djust's renderer against astor and ``ast.unparse``.

    .venv/py3.11/bin/python -m benchmarks.bench_render [--repeat N]

``emit`` compiles the *text* of every serializer it generates, so a
traceback shows the line that failed; the text is rendered from the AST
lowering built. Three renderers can write it: the standard ``ast.unparse``
(the baseline), astor (one of the project's original dependencies; it runs
on 3.11 and warns on 3.12+, where its ast classes are deprecated) and
djust's own ``compiler.unparse``, which writes only the dozen node kinds
lowering builds. For three serializers of the rentals schema (the instance
path of a 10-path lease row, a property row with to-many paths, and the
``values_list()`` projection of the lease row) this prints the median time
of each renderer, its ratio to ``ast.unparse``, and ``compile()`` of the
same text for scale: what a cold compile spends after rendering.
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import statistics
import time
import warnings

LEASE_PATHS = ["property.name", "unit.number", "tenant.user.get_full_name",
               "tenant.user.email", "end_date", "monthly_rent", "get_status_display",
               "days_until_expiration", "reference", "signed_at"]
PROPERTY_PATHS = ["name", "units.count", "occupancy_rate", "amenities.all.*.name",
                  "units.all.*.number"]


def configure_django() -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "djust",
                            "examples.rentals"],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
            USE_TZ=True,
        )
    django.setup()


def modules() -> dict[str, ast.Module]:
    """The three generated modules, as lowering and projection build them."""
    from djust.compiler import lowering, projection
    from djust.compiler.tree import build_access_tree
    from examples.rentals.models import Lease, Property

    lease = build_access_tree(Lease, LEASE_PATHS)
    found = {
        "lease row, 10 paths": lowering.lower(lease, "json", name="f")[0],
        "property row, to-many paths": lowering.lower(
            build_access_tree(Property, PROPERTY_PATHS), "json", name="f")[0],
    }
    projected = projection.lower_projection(lease, "json", name="project_rows")
    if projected:
        found["lease rows, values_list() projection"] = projected[0]
    return found


def renderers() -> dict[str, object]:
    from djust.compiler.unparse import unparse

    found: dict[str, object] = {"ast.unparse (baseline)": ast.unparse}
    try:
        import astor
    except ImportError:
        astor = None
    if astor is not None:
        def astor_render(module):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                # As emit calls it: one statement per line, no re-wrapping.
                return astor.to_source(module, pretty_source="".join)

        found["astor"] = astor_render
    found["djust compiler.unparse"] = unparse
    return found


def median_us(function, argument, repeat: int, number: int = 50) -> float:
    function(argument)
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            function(argument)
        runs.append((time.perf_counter() - started) / number * 1e6)
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    options = parser.parse_args(argv)
    configure_django()
    import django

    from djust.compiler.unparse import unparse

    print(f"machine: {os.cpu_count()}-core {platform.machine()}; python "
          f"{platform.python_version()}, django {django.get_version()}; load average "
          f"{os.getloadavg()[0]:.2f}")
    print(f"medians of {options.repeat} runs, µs per module; ratio: against ast.unparse")
    for label, module in modules().items():
        print(f"{label}:")
        base = None
        for name, render in renderers().items():
            spent = median_us(render, module, options.repeat)
            base = base or spent
            print(f"  {name:28} {spent:9.1f}  {spent / base:5.2f}x")
        source = unparse(module)
        spent = median_us(lambda text: compile(text, "<bench>", "exec"), source, options.repeat,
                          number=10)
        print(f"  {'compile() of the text':28} {spent:9.1f}  (for scale)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
