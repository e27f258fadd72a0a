"""Compiled serializers vs hand-written dict building, cold compile, cache hit.

Run: ``python -m benchmarks.bench_serializer`` from the repository root.
It configures Django itself (in-memory SQLite, the rentals app), seeds the
rentals schema deterministically, loads rows through each serializer's query
plan, and prints medians and ratios measured in this run. Targets: compiled
/ hand-written ≤ 1.1x per instance, cold compile of a 10-path serializer
< 2 ms, cache hit < 5 µs.

Baselines, measured alongside: hand-written dict building for the
per-instance figures; Python's own ``compile()`` of the generated source for
the cold compile (the part no code generator avoids); and, for the cache
hit, the full key derivation (settings read, sorted paths, schema
fingerprint, LRU lookup) that a hit cost before the alias lookup.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time

import django
from django.conf import settings

import djust
from benchmarks.baseline import iso_datetime

SCALE = 0.5
REPEATS = 25


def setup_django() -> None:
    if settings.configured:
        return
    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.auth", "django.contrib.contenttypes", "djust", "examples.rentals",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        USE_TZ=True, TIME_ZONE="UTC", DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        SECRET_KEY="bench",
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, run_syncdb=True)
    call_command("seed_rentals", scale=SCALE, verbosity=0)


LEASE_PATHS = [
    "property.name", "unit.number", "tenant.user.get_full_name", "tenant.user.email",
    "end_date", "monthly_rent", "get_status_display", "days_until_expiration",
    "signed_at", "status",
]
PROPERTY_PATHS = ["name", "city", "units.count", "amenities.all.*.name", "units.all.*.number"]


def expert_lease(lease):
    """What an expert writes by hand for LEASE_PATHS."""
    unit = lease.unit
    user = lease.tenant.user
    signed = lease.signed_at
    return {
        "property": {"name": lease.property.name},
        "unit": None if unit is None else {"number": unit.number},
        "tenant": {"user": {"get_full_name": user.get_full_name(), "email": user.email}},
        "end_date": lease.end_date.isoformat(),
        "monthly_rent": str(lease.monthly_rent),
        "get_status_display": lease.get_status_display(),
        "days_until_expiration": lease.days_until_expiration(),
        "signed_at": None if signed is None else iso_datetime(signed),
        "status": lease.status,
    }


_STATUS_LABELS = None


def expert_lease_table(lease):
    """The same, by an expert who knows that ``get_status_display()``
    rebuilds a dict of the choices on every call: a table built once."""
    global _STATUS_LABELS
    if _STATUS_LABELS is None:
        from examples.rentals.models import Lease

        _STATUS_LABELS = dict(Lease.Status.choices)
    unit = lease.unit
    user = lease.tenant.user
    signed = lease.signed_at
    return {
        "property": {"name": lease.property.name},
        "unit": None if unit is None else {"number": unit.number},
        "tenant": {"user": {"get_full_name": user.get_full_name(), "email": user.email}},
        "end_date": lease.end_date.isoformat(),
        "monthly_rent": str(lease.monthly_rent),
        "get_status_display": _STATUS_LABELS[lease.status],
        "days_until_expiration": lease.days_until_expiration(),
        "signed_at": None if signed is None else iso_datetime(signed),
        "status": lease.status,
    }


def expert_property(prop):
    """What an expert writes by hand for PROPERTY_PATHS (reading the prefetch cache)."""
    cache = prop._prefetched_objects_cache
    units = cache["units"]
    return {
        "name": prop.name,
        "city": prop.city,
        "units": {"count": len(units), "all": [{"number": u.number} for u in units]},
        "amenities": {"all": [{"name": a.name} for a in cache["amenities"]]},
    }


def expert_property_lists(prop):
    """The same by hand, over rows prefetched into to_attr lists."""
    units = prop._djust_units
    return {
        "name": prop.name,
        "city": prop.city,
        "units": {"count": len(units), "all": [{"number": u.number} for u in units]},
        "amenities": {"all": [{"name": a.name} for a in prop._djust_amenities]},
    }


def per_instance_ns(function, rows) -> float:
    start = time.perf_counter_ns()
    for row in rows:
        function(row)
    return (time.perf_counter_ns() - start) / len(rows)


def compare(label, serializer, experts, rows) -> None:
    """Median per-instance times and per-repeat ratios of ``serializer``
    against each hand-written function in ``experts`` (name -> function)."""
    for expert in experts.values():
        assert [serializer(r) for r in rows] == [expert(r) for r in rows], label
    contenders = {**experts, "compiled": serializer}
    samples = {name: [] for name in contenders}
    ratios = {name: [] for name in experts}
    for repeat in range(REPEATS * 4):
        # Rotate the order and compare within one repeat: the machine is shared,
        # so load changes between repeats but rarely within one.
        names = list(contenders)
        shift = repeat % len(names)
        names = names[shift:] + names[:shift]
        measured = {name: per_instance_ns(contenders[name], rows) for name in names}
        for name, value in measured.items():
            samples[name].append(value)
        for name in ratios:
            ratios[name].append(measured["compiled"] / measured[name])
    print(f"{label}: {len(rows)} instances, medians per instance")
    for name in experts:
        print(f"  {name:34s} {statistics.median(samples[name]) / 1000:8.3f} µs")
    print(f"  {'compiled serializer(instance)':34s} "
          f"{statistics.median(samples['compiled']) / 1000:8.3f} µs")
    for name in experts:
        print(f"  compiled / {name}: median ratio {statistics.median(ratios[name]):.3f}x "
              f"(target ≤ 1.1x)")


def bench_cold_compile() -> None:
    from djust.compiler import serializer as serializer_module
    from djust.compiler.paths import normalize_paths
    from examples.rentals.models import Lease

    paths = normalize_paths(LEASE_PATHS)
    assert len(paths) == 10
    source = serializer_module._compile(Lease, paths, "json").source
    samples, floor, ratios = [], [], []
    for _ in range(REPEATS * 2):
        start = time.perf_counter_ns()
        serializer_module._compile(Lease, paths, "json")
        middle = time.perf_counter_ns()
        compile(source, "<bench>", "exec", dont_inherit=True)
        end = time.perf_counter_ns()
        samples.append(middle - start)
        floor.append(end - middle)
        ratios.append((middle - start) / (end - middle))
    median = statistics.median(samples)
    print(f"cold compile, 10 paths (tree + plan + lower + emit + verify): "
          f"median {median / 1e6:.3f} ms (target < 2 ms)")
    print(f"  baseline: compile() of the generated source alone, median "
          f"{statistics.median(floor) / 1e6:.3f} ms; median ratio {statistics.median(ratios):.1f}x")


def bench_cache_hit() -> None:
    from djust import conf
    from djust.compiler import compile_serializer
    from djust.compiler.cache import default_cache, schema_fingerprint
    from djust.compiler.paths import normalize_paths
    from examples.rentals.models import Lease

    compile_serializer(Lease, LEASE_PATHS)
    cache = default_cache()

    def derive_full_key():
        # The hit path before the alias lookup: settings read, sorted paths,
        # schema fingerprint, then the LRU lookup.
        sensitive = tuple(conf.get("SENSITIVE_FIELDS"))
        normalized = normalize_paths(LEASE_PATHS)
        key = (Lease, schema_fingerprint(Lease), normalized, "json", sensitive, djust.__version__)
        return cache.get(key)

    assert derive_full_key() is compile_serializer(Lease, LEASE_PATHS)
    contenders = {"hit": lambda: compile_serializer(Lease, LEASE_PATHS), "full": derive_full_key}
    batch = 2000
    samples = {name: [] for name in contenders}
    ratios = []
    for repeat in range(REPEATS):
        measured = {}
        for name in sorted(contenders, reverse=repeat % 2 == 1):
            function = contenders[name]
            start = time.perf_counter_ns()
            for _ in range(batch):
                function()
            measured[name] = (time.perf_counter_ns() - start) / batch
            samples[name].append(measured[name])
        ratios.append(measured["hit"] / measured["full"])
    print(f"cache hit: median {statistics.median(samples['hit']) / 1000:.3f} µs per call "
          f"(target < 5 µs)")
    print(f"  baseline: full key derivation + LRU lookup, median "
          f"{statistics.median(samples['full']) / 1000:.3f} µs; "
          f"median ratio {statistics.median(ratios):.3f}x")


def load(serializer, queryset, *, lists=False):
    """Rows as the plan loads them: related managers' caches, or (as
    ``Serializer.many`` does) to_attr lists for relations only it reads."""
    if serializer.plan is not None:
        return list(serializer.plan.apply(queryset, lists=lists))
    return None


def main() -> int:
    setup_django()
    from django.contrib.auth.models import User  # noqa: F401  (app registry is ready)

    from djust.compiler import compile_serializer
    from examples.rentals.models import Lease, Property

    print(f"machine: {os.cpu_count()}-core {platform.machine()} {platform.processor() or ''}"
          .rstrip() + f"; load average {os.getloadavg()[0]:.2f}")
    print(f"python {platform.python_version()} ({platform.python_implementation()}), "
          f"django {django.get_version()}")

    lease_serializer = compile_serializer(Lease, LEASE_PATHS)
    leases = load(lease_serializer, Lease.objects.all())
    if leases is None:
        print("(no query plan available: loading with select_related)")
        leases = list(Lease.objects.select_related("property", "unit", "tenant__user"))
    compare("Lease (dashboard paths)", lease_serializer,
            {"hand-written": expert_lease, "hand-written, choices table": expert_lease_table},
            leases)

    property_serializer = compile_serializer(Property, PROPERTY_PATHS)
    properties = load(property_serializer, Property.objects.all())
    if properties is None:
        print("(no query plan available: loading with prefetch_related)")
        properties = list(Property.objects.prefetch_related("units", "amenities"))
    compare("Property (to-many paths, related-manager caches)", property_serializer,
            {"hand-written": expert_property}, properties)
    listed = load(property_serializer, Property.objects.all(), lists=True)
    if listed is not None:
        compare("Property (to-many paths, to_attr lists, as many() loads rows it cannot project)",
                property_serializer, {"hand-written": expert_property_lists}, listed)

    bench_cold_compile()
    bench_cache_hit()
    return 0


# ------------------------------------------------------------ rows to JSON
#
# ``python -m benchmarks.bench_serializer rows sqlite|postgres``: S1 and S3
# of benchmarks/compare at N = 10,000 leases, end to end to JSON text.
# Contenders, measured in one run with rotating order: djust
# (``json.dumps(compile_serializer(model, paths).many(queryset))``); an
# expert's ``values_list()`` + dict comprehension + ``json.dumps(...,
# cls=DjangoJSONEncoder)``; and the raw-cursor limit: the same SQL on a
# cursor, ``fetchall()`` and ``json.dumps(rows, default=str)``, no dicts.


def _expert_s1(columns):
    from django.core.serializers.json import DjangoJSONEncoder
    from django.db.models import Value  # noqa: F401

    from examples.rentals.models import Lease

    labels = dict(Lease.Status.choices)

    def run():
        rows = Lease.objects.values_list(*columns)
        data = [{
            "end_date": end, "get_status_display": labels.get(status, status),
            "monthly_rent": rent, "property": {"name": prop}, "signed_at": signed,
            "start_date": start, "tenant": {"user": {"email": email}},
            "unit": None if unit is None else {"number": number},
        } for end, status, rent, prop, signed, start, email, number, unit in rows]
        return json.dumps(data, cls=DjangoJSONEncoder)

    return run


def _expert_s3():
    from collections import defaultdict

    from examples.rentals.models import MaintenanceRequest, Property, Unit

    def run():
        props = list(Property.objects.values_list("pk", "name"))
        keys = [pk for pk, _ in props]
        units = list(Unit.objects.filter(property__in=keys).values_list("property", "pk",
                                                                          "number"))
        requests = defaultdict(list)
        for unit, title, status in MaintenanceRequest.objects.filter(
                unit__in=[u for _, u, _ in units]).values_list("unit", "title", "status"):
            requests[unit].append({"status": status, "title": title})
        by_property = defaultdict(list)
        for prop, unit, number in units:
            by_property[prop].append({"maintenance_requests": {"all": requests.get(unit, [])},
                                      "number": number})
        amenities = defaultdict(list)
        for prop, name in Property.amenities.through.objects.filter(
                property__in=keys).values_list("property", "amenity__name"):
            amenities[prop].append({"name": name})
        data = [{"amenities": {"all": amenities.get(pk, [])}, "name": name,
                 "units": {"all": by_property.get(pk, []),
                           "count": len(by_property.get(pk, []))}}
                for pk, name in props]
        return json.dumps(data)

    return run


def _raw_limit(querysets):
    from django.db import connections

    statements = []
    for queryset in querysets:
        compiler = queryset.query.get_compiler(queryset.db)
        statements.append((queryset.db, *compiler.as_sql()))

    def run():
        fetched = []
        for alias, sql, params in statements:
            with connections[alias].cursor() as cursor:
                cursor.execute(sql, params)
                fetched.append(cursor.fetchall())
        return json.dumps(fetched, default=str)

    return run


def bench_rows(database: str, leases: int = 10_000, repeats: int = 15) -> None:
    from benchmarks.compare import environment

    environment.configure(database)
    counts = environment.seed_leases(leases)
    from benchmarks.compare.scenarios import S1, S3
    from djust.compiler import compile_serializer
    from djust.compiler.projection import fetch

    print(f"machine: {os.cpu_count()}-core {platform.machine()} {platform.processor() or ''}"
          .rstrip() + f"; load average {os.getloadavg()[0]:.2f}")
    print(f"python {platform.python_version()}, django {django.get_version()}, "
          f"{environment.describe_database()}, {counts['leases']} leases")
    for scenario in (S1, S3):
        model, paths = scenario.model, scenario.paths()
        serializer = compile_serializer(model, paths)
        _, spec = serializer.build_projection()
        def djust_run(model=model, paths=paths, scenario=scenario):
            return json.dumps(compile_serializer(model, paths).many(scenario.base_queryset()))

        if scenario is S1:
            expert = _expert_s1(spec.columns)
            querysets = [scenario.base_queryset().values_list(*spec.columns)]
        else:
            expert = _expert_s3()
            querysets = None
        # S3's expert leaves each related manager's ordering aside: same rows, same shape.
        assert len(json.loads(djust_run())) == len(json.loads(expert())), scenario.name
        if querysets is None:
            # The SQL of each level, as fetch() runs it on these rows.
            from django.db.models.query import QuerySet

            captured = []
            original = QuerySet.values_list

            def capture(self, *fields, original=original, captured=captured, **kw):
                result = original(self, *fields, **kw)
                captured.append(result)
                return result

            QuerySet.values_list = capture
            try:
                fetch(scenario.base_queryset(), spec)
            finally:
                QuerySet.values_list = original
            querysets = captured
        contenders = {"djust many() + json.dumps": djust_run,
                      "expert values_list + dicts + json.dumps": expert,
                      "raw cursor fetchall + json.dumps": _raw_limit(querysets)}
        samples = {name: [] for name in contenders}
        names = list(contenders)
        for repeat in range(repeats):
            order = names[repeat % 3:] + names[:repeat % 3]
            for name in order:
                start = time.perf_counter()
                contenders[name]()
                samples[name].append(time.perf_counter() - start)
        medians = {name: statistics.median(values) * 1000 for name, values in samples.items()}
        expert_ms = medians["expert values_list + dicts + json.dumps"]
        raw_ms = medians["raw cursor fetchall + json.dumps"]
        print(f"{scenario.name} ({database}), {scenario.base_queryset().count()} rows, "
              f"medians of {repeats}")
        for name, value in medians.items():
            print(f"  {name:42s} {value:8.1f} ms  expert/this {expert_ms / value:5.2f}x  "
                  f"this/raw {value / raw_ms:5.2f}x")


if __name__ == "__main__":
    if sys.argv[1:2] == ["rows"]:
        bench_rows(sys.argv[2] if len(sys.argv) > 2 else "sqlite")
        sys.exit(0)
    sys.exit(main())
