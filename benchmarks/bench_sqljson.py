"""JSON built by the database vs the Python path vs an expert's values_list().

Run from the repository root:

    python -m benchmarks.bench_sqljson                     # in-memory SQLite
    python scripts/pgserver.py env DJUST_BENCH_DB=postgres python -m benchmarks.bench_sqljson

It configures Django itself (the rentals app; SQLite in memory, or the
PostgreSQL server ``scripts/pgserver.py`` started, from its ``DJUST_PG_*``
variables), writes 10,000 leases (S1) and 10,000 properties (S3) with bulk
inserts, and times, warm, the JSON text of scenarios S1 and S3 of
``benchmarks/compare/scenarios.py`` (their paths extracted from the
scenario templates) four ways, alternating, printing medians and ratios
against the baseline:

- ``sqljson``: ``sqljson.json_text(serializer, queryset)``: one query, the
  database writes the JSON;
- ``many+dumps``: ``json.dumps(serializer.many(queryset), cls=DjangoJSONEncoder)``;
- ``python text``: ``serializer.json(queryset, in_database=False)``, the
  rows written straight to text (byte for byte ``many+dumps``'s text);
- ``expert`` (the baseline): hand-written ``values_list()`` queries, dict
  comprehensions and ``json.dumps``.

The texts must be equal after ``json.loads``, or the run stops.

Beside each median wall time it reports where the CPU went, averaged over
the runs: the client's (this process, ``time.process_time``) and, on
PostgreSQL, the database's: the CPU time the kernel charged to the server
process serving this connection (``utime + stime`` of
``/proc/<pg_backend_pid()>/stat``, read before and after each run; the
kernel counts it in clock ticks, so the per-run figure is the mean over
all the runs, not a median), which covers parsing, planning, executing and
sending the rows. It is read only when the server runs on this machine
(``scripts/pgserver.py``); else the column says n/a. For the sqljson query
the median ``Execution Time`` of ``EXPLAIN (ANALYZE, TIMING OFF)`` (the
executor alone) is printed too. Ratios are medians of per-round ratios
against the expert measured in the same round. SQLite runs in the process:
its CPU is the client's.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import sys
import time
import uuid
from decimal import Decimal

N = 10_000
RUNS = 15


def configure_django() -> str:
    import django
    from django.conf import settings

    if os.environ.get("DJUST_BENCH_DB") == "postgres":
        database = {
            "ENGINE": "django.db.backends.postgresql", "NAME": "postgres",
            "USER": os.environ.get("DJUST_PG_USER", "djust"),
            "HOST": os.environ.get("DJUST_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("DJUST_PG_PORT", "5432"),
        }
    else:
        database = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    if not settings.configured:
        settings.configure(
            INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes",
                            "django.contrib.sessions", "djust", "examples.rentals"],
            DATABASES={"default": database},
            DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
            USE_TZ=True,
            SECRET_KEY="bench-sqljson",
            TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates",
                        "APP_DIRS": True}],
        )
    django.setup()
    return database["ENGINE"].rsplit(".", 1)[-1]


def seed() -> None:
    """10,000 leases (S1) and 10,000 properties with 2 units, 3 requests and
    1-3 amenities each (S3), bulk inserted."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import transaction

    from examples.rentals.models import (
        Amenity,
        Lease,
        MaintenanceRequest,
        Property,
        Tenant,
        Unit,
    )

    call_command("migrate", verbosity=0, run_syncdb=True)
    user_model = get_user_model()
    day = datetime.date(2026, 1, 15)
    with transaction.atomic():
        amenities = Amenity.objects.bulk_create(Amenity(name=f"Amenity {i}") for i in range(12))
        properties = Property.objects.bulk_create(
            Property(name=f"Property {i:05d}", address=f"{i} Rua Augusta", city="Lisbon",
                     monthly_rent=Decimal("900.00") + i % 500)
            for i in range(N))
        through = Property.amenities.through
        through.objects.bulk_create(
            through(property_id=prop.pk, amenity_id=amenities[(i + k) % 12].pk)
            for i, prop in enumerate(properties) for k in range(i % 3 + 1))
        units = Unit.objects.bulk_create(
            Unit(property=prop, number=f"{i}-{k}", bedrooms=k + 1, is_available=bool(k))
            for i, prop in enumerate(properties) for k in range(2))
        users = user_model.objects.bulk_create(
            user_model(username=f"tenant{i}", email=f"t{i}@example.com",
                       first_name=f"F{i}", last_name=f"L{i}") for i in range(N))
        tenants = Tenant.objects.bulk_create(Tenant(user=user, phone=f"555-{i:05d}")
                                             for i, user in enumerate(users))
        MaintenanceRequest.objects.bulk_create(
            MaintenanceRequest(unit=unit, title=f"Request {i}", priority="low",
                               status=["open", "in_progress", "resolved"][i % 3])
            for i, unit in enumerate(units) for _ in range(1 + i % 2))
        Lease.objects.bulk_create(
            Lease(property=properties[i], unit=units[2 * i] if i % 3 else None,
                  tenant=tenants[i], start_date=day, end_date=day + datetime.timedelta(days=i),
                  monthly_rent=Decimal("1200.50") + i % 100,
                  status=["active", "pending", "expired"][i % 3],
                  signed_at=datetime.datetime(2025, 1, 1, 9, 30, i % 60, (i * 7919) % 10**6,
                                              tzinfo=datetime.UTC) if i % 4 else None,
                  reference=uuid.UUID(int=i + 1))
            for i in range(N))


# ------------------------------------------------------------ the expert


def expert_s1() -> str:
    from django.core.serializers.json import DjangoJSONEncoder

    from examples.rentals.models import Lease

    labels = dict(Lease.Status.choices)
    rows = Lease.objects.values_list(
        "end_date", "status", "monthly_rent", "property__name", "signed_at", "start_date",
        "tenant__user__email", "unit", "unit__number")
    # Leaves written by hand, DjangoJSONEncoder's rule only for the datetimes.
    moment = DjangoJSONEncoder().default
    return json.dumps([
        {"end_date": end.isoformat(), "get_status_display": labels.get(status, status),
         "monthly_rent": str(rent), "property": {"name": name},
         "signed_at": None if signed is None else moment(signed),
         "start_date": start.isoformat(), "tenant": {"user": {"email": email}},
         "unit": None if unit is None else {"number": number}}
        for end, status, rent, name, signed, start, email, unit, number in rows
    ])


def expert_s3() -> str:
    from collections import defaultdict

    from examples.rentals.models import MaintenanceRequest, Property, Unit

    amenities = defaultdict(list)
    for prop, name in Property.amenities.through.objects.order_by(
            "amenity__name").values_list("property_id", "amenity__name"):
        amenities[prop].append({"name": name})
    requests = defaultdict(list)
    for unit, status, title in MaintenanceRequest.objects.values_list(
            "unit_id", "status", "title"):
        requests[unit].append({"status": status, "title": title})
    units = defaultdict(list)
    for unit, prop, number in Unit.objects.values_list("pk", "property_id", "number"):
        units[prop].append({"maintenance_requests": {"all": requests[unit]}, "number": number})
    return json.dumps([
        {"amenities": {"all": amenities[pk]}, "name": name,
         "units": {"all": units[pk], "count": len(units[pk])}}
        for pk, name in Property.objects.values_list("pk", "name")])


# ------------------------------------------------------------ timing


def backend_cpu():
    """A function giving the CPU milliseconds the kernel has charged so far
    to the PostgreSQL server process of this connection, or None when that
    process is not on this machine (or the database is SQLite)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    path = f"/proc/{pid}/stat"
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    try:
        with open(f"/proc/{pid}/comm", encoding="ascii") as comm:
            if comm.read().strip() not in ("postgres", "postmaster"):
                return None
    except OSError:
        return None

    def read() -> float:
        with open(path, encoding="ascii") as stat:
            # Fields after the command's closing parenthesis start at the
            # 3rd (state); utime and stime are the 14th and 15th.
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * tick_ms

    return read


def database_ms(sql: str, params) -> float | None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return plan[0]["Execution Time"]


def run(scenario, expert) -> None:
    from django.core.serializers.json import DjangoJSONEncoder

    from djust.compiler import compile_serializer, sqljson

    paths = scenario.paths()
    serializer = compile_serializer(scenario.model, paths)
    queryset = scenario.base_queryset

    contenders = {
        "sqljson": lambda: sqljson.json_text(serializer, queryset()),
        "many+dumps": lambda: json.dumps(serializer.many(queryset()), cls=DjangoJSONEncoder),
        "python text": lambda: serializer.json(queryset(), in_database=False),
        "expert": expert,
    }
    texts = {name: function() for name, function in contenders.items()}
    loaded = {name: json.loads(text) for name, text in texts.items()}
    if texts["python text"] != texts["many+dumps"]:
        sys.exit(f"{scenario.name}: the python text is not json.dumps(many())")
    if not (loaded["sqljson"] == loaded["many+dumps"] == loaded["expert"]):
        sys.exit(f"{scenario.name}: the JSON texts differ")
    server = backend_cpu()
    sql, params = sqljson.compile_query(serializer, queryset())
    executor = []
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    client = dict.fromkeys(contenders, 0.0)
    database = dict.fromkeys(contenders, 0.0)
    for _ in range(RUNS):
        executor.append(database_ms(sql, params))
        for name, function in contenders.items():
            served = server() if server else 0.0
            used = time.process_time()
            start = time.perf_counter()
            function()
            wall[name].append((time.perf_counter() - start) * 1000)
            client[name] += (time.process_time() - used) * 1000
            database[name] += (server() - served) if server else 0.0
    print(f"\n{scenario.name} ({scenario.title}): {len(loaded['expert'])} rows, "
          f"{len(texts['sqljson']):,} characters of JSON; paths {list(paths)}")
    print(f"  {'':<11} {'wall':>9}  {'vs expert':>10}  {'client CPU':>10}  {'DB CPU':>8}")
    for name, values in wall.items():
        ratio = statistics.median(e / v for e, v in zip(wall["expert"], values, strict=True))
        db = f"{database[name] / RUNS:6.1f} ms" if server else "     n/a"
        print(f"  {name:<11} {statistics.median(values):6.1f} ms  {ratio:6.2f}x     "
              f"{client[name] / RUNS:6.1f} ms  {db}")
    if executor[0] is not None:
        print(f"  sqljson executor time (EXPLAIN ANALYZE, TIMING OFF, in the same rounds): "
              f"{statistics.median(executor):.1f} ms")
    if not server:
        print("  (DB CPU: SQLite runs in this process, or the server is not on this machine)")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or ""


def main() -> None:
    engine = configure_django()
    from django.db import connection

    from benchmarks.compare.scenarios import S1, S3

    started = time.perf_counter()
    seed()
    version = connection.cursor().connection.info.server_version if engine == "postgresql" \
        else __import__("sqlite3").sqlite_version
    print(f"{platform.machine()} {cpu_model()}, {os.cpu_count()} cores; "
          f"CPython {platform.python_version()}, {engine} {version}; N = {N:,}; "
          f"{RUNS} runs, medians (seeded in {time.perf_counter() - started:.0f} s)")
    run(S1, expert_s1)
    run(S3, expert_s3)


if __name__ == "__main__":
    main()
