"""Benchmark: a fresh worker's first request against the same request warm.

    .venv/py3.11/bin/python -m benchmarks.bench_first_request [--repeat N]

Every measurement is a new Python process (a new worker). It starts as a
WSGI server starts one: ``django.setup()`` (which runs djust's
``AppConfig.ready()``) and the handler's middleware, timed together as
``start-up``, with the part inside djust's ``ready()`` also shown on its own.
Then it does the same work twice: ``first`` is the first time, ``warm`` the
second, in the same process. Two kinds of work:

- ``page``: a GET of a LiveView whose template (an ``extends`` chain and an
  ``include``) reads five serialized context values: three QuerySets, one
  model instance and a list of instances;
- ``compile``: ``compile_serializer(Lease, <8 paths>).many(<40 leases>)``,
  djust's API without a view.

Each with the store empty (``memory``: nothing shared, the baseline of the
ratios; ``filesystem, empty``: the same plus writing the store) and warm.
A warm store is the one a deployment gets from ``djust_cache warm``: an
earlier worker served the page and made the calls (which recorded the
serializers in the store's manifest), everything but the manifest is then
deleted, as a code change makes it stale, and ``djust_cache warm`` is run
through Django's command line (what ``python -m django`` runs). A warm
worker that misses the store fails the benchmark. Further rows:

- ``no start-up imports``: the warm page with ``djust.apps.PRELOADED``
  emptied, so that the first request imports the compiler (djust as it was
  before ``ready()`` imported it);
- ``djust.warm_up() at start-up``: the warm page in a worker that, once set
  up, loads every routed LiveView's analysed template and every serializer
  of the manifest with ``djust.warm_up()``, as a deployment's wsgi.py calls
  it;
- ``redis, warmed``: the warm page on a throwaway Redis server
  (scripts/redisserver.py) when one can be started;
- ``plain Django page``: the same template and rows rendered by a plain
  Django view, no djust: what a first request costs in Django itself
  (first template loads, first use of the date filter's formats...).

Last, where the warmed page's extra time goes: more workers of that row
(``page-traced``) add up the time spent in its parts, first request and
warm one.

The target (issue 15): with a warm store, the first request costs at most
10 ms more than the warm one (``first - warm``, the median of each
process's difference). Rows are measured round-robin so that load from
other processes spreads over all of them; workers write bytecode caches to
a temporary prefix, as a deployment's workers would have them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BASE = """<html><body><main dj-root>{% block content %}{% endblock %}</main></body></html>"""
ROW = """<tr><td>{{ lease.property.name }}</td><td>{{ lease.unit.number }}</td>
<td>{{ lease.tenant.user.get_full_name }}</td><td>{{ lease.tenant.user.email }}</td>
<td>{{ lease.end_date|date:"M d, Y" }}</td><td>{{ lease.monthly_rent }}</td>
<td>{{ lease.get_status_display }}</td><td>{{ lease.days_until_expiration }}</td></tr>"""
PAGE = """{% extends "first/base.html" %}
{% block content %}
<h1>{{ featured.property.name }} · {{ featured.tenant.phone }} · {{ featured.reference }}</h1>
<table>{% for lease in leases %}{% include "first/row.html" %}{% endfor %}</table>
<ul>{% for property in properties %}
  <li>{{ property.name }} {{ property.city }} {{ property.units.count }}
  {% for a in property.amenities.all %}{{ a.name }}{% endfor %}</li>{% endfor %}</ul>
<ol>{% for r in requests %}
  <li>{{ r.title }} {{ r.unit.property.name }} {{ r.unit.number }}
  {{ r.get_priority_display }} {{ r.created_at|date:"Y-m-d" }}</li>{% endfor %}</ol>
<p>{% for t in tenants %}{{ t.user.username }} {{ t.moved_in|date:"Y" }} {% endfor %}</p>
{% endblock %}"""
# The paths ROW reads from a lease: the ``compile`` work.
LEASE_PATHS = ["property.name", "unit.number", "tenant.user.get_full_name",
               "tenant.user.email", "end_date", "monthly_rent", "get_status_display",
               "days_until_expiration"]
TARGET_MS = 10.0

TIMINGS: dict[str, float] = {}


def configure(workdir: str, cache: dict) -> None:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="djust-benchmark-not-secret",
        ALLOWED_HOSTS=["testserver"],
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes",
                        "django.contrib.sessions", "djust", "examples.rentals"],
        MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware",
                    "django.middleware.csrf.CsrfViewMiddleware"],
        ROOT_URLCONF="benchmarks.bench_first_request",
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates",
                    "DIRS": [os.path.join(workdir, "templates")]}],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                               "NAME": os.path.join(workdir, "db.sqlite3")}},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        SESSION_ENGINE="django.contrib.sessions.backends.cache",
        STATIC_URL="static/",
        DJUST={"CACHE": cache},
    )
    django.setup()


def page_context() -> dict:
    from examples.rentals.models import Lease, MaintenanceRequest, Property, Tenant

    return {
        "leases": Lease.objects.order_by("end_date")[:40],
        "properties": Property.objects.order_by("name")[:20],
        "requests": MaintenanceRequest.objects.order_by("-created_at")[:30],
        "featured": Lease.objects.order_by("id").first(),
        "tenants": list(Tenant.objects.order_by("id")[:25]),
    }


def page_view():
    from djust import LiveView

    class FirstRequestPage(LiveView):
        template_name = "first/page.html"

        def mount(self, request):
            for name, value in page_context().items():
                setattr(self, name, value)

        def get_extraction(self):
            started = time.perf_counter()
            result = super().get_extraction()
            TIMINGS["extraction_ms"] = (time.perf_counter() - started) * 1000
            return result

        def render_page(self, request):
            page = super().render_page(request)
            TIMINGS["serialize_ms"] = self.last_stats["serialize_ms"]
            return page

    return FirstRequestPage.as_view()


def plain_view(request):
    from django.shortcuts import render

    return render(request, "first/page.html", page_context())


def urls():
    from django.urls import path

    return [path("page/", page_view()), path("plain/", plain_view)]


def __getattr__(name: str):
    # ROOT_URLCONF is this module; the view is built once Django is set up.
    if name == "urlpatterns":
        patterns = urls()
        globals()["urlpatterns"] = patterns
        return patterns
    raise AttributeError(name)


def prepare(workdir: str) -> None:
    """Write the templates and a seeded SQLite database (once per run)."""
    templates = Path(workdir, "templates", "first")
    templates.mkdir(parents=True)
    for name, text in (("base.html", BASE), ("row.html", ROW), ("page.html", PAGE)):
        (templates / name).write_text(text)
    configure(workdir, {"BACKEND": "memory"})
    from django.core.management import call_command

    from examples.rentals.seed import seed

    call_command("migrate", run_syncdb=True, verbosity=0)
    seed(scale=0.05)


def timed_ready() -> dict[str, float]:
    """Time djust's ``ready()`` inside ``django.setup()``."""
    from djust.apps import DjustConfig

    spent: dict[str, float] = {}
    original = DjustConfig.ready

    def ready(self):
        started = time.perf_counter()
        original(self)
        spent["ready_ms"] = (time.perf_counter() - started) * 1000

    DjustConfig.ready = ready
    return spent


def trace() -> dict[str, float]:
    """Add up, per request, the time spent in the parts of the page that the
    breakdown shows (``page-traced``)."""
    from django.template.backends import django as backend

    from djust.compiler import serializer
    from djust.store import serializers as stored

    parts: dict[str, float] = {}

    def timed(owner, name: str, part: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                parts[part] = parts.get(part, 0) + (time.perf_counter() - started) * 1000

        setattr(owner, name, wrapper)

    # Module attributes: the callers look them up at each call.
    timed(serializer, "compile_serializer", "serializers")
    timed(serializer, "build_projection", "projections")
    # The store keeps no code: every worker lowers and emits its serializers
    # (compile_tree), for a store hit too.
    timed(serializer, "compile_tree", "generated")
    timed(stored, "compile_tree", "generated")
    timed(backend.Template, "render", "render")
    return parts


def child(workdir: str, cache_json: str, work: str) -> None:
    """One worker: start up, do ``work`` twice, print the timings as JSON."""
    started = time.perf_counter()
    if work == "page-unloaded":
        import djust.apps

        djust.apps.PRELOADED = ()
    ready = timed_ready()
    configure(workdir, json.loads(cache_json))
    from django.test import Client

    from djust import store

    client = Client()
    # As a WSGI server's handler does when it is built, before any request.
    client.handler.load_middleware()
    djust_setup = ready["ready_ms"]
    if work == "page-loaded":
        loading = time.perf_counter()
        import djust

        djust.warm_up()
        djust_setup += (time.perf_counter() - loading) * 1000
    setup = (time.perf_counter() - started) * 1000
    parts = trace() if work == "page-traced" else {}
    if work == "compile":
        from djust.compiler import compile_serializer
        from examples.rentals.models import Lease

        def once() -> tuple[float, float]:
            started = time.perf_counter()
            serializer = compile_serializer(Lease, LEASE_PATHS)
            rows = serializer.many(Lease.objects.order_by("end_date")[:40])
            elapsed = (time.perf_counter() - started) * 1000
            assert len(rows) == 40, len(rows)
            return elapsed, elapsed

    else:
        url = "/plain/" if work == "plain" else "/page/"
        # The URLconf imported this file as a module of its own (we run as __main__).
        timings = importlib.import_module("benchmarks.bench_first_request").TIMINGS

        def once() -> tuple[float, float]:
            timings.clear()
            parts.clear()
            started = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.content[:500]
            parts.update(timings, total=elapsed)
            return elapsed, timings.get("extraction_ms", 0) + timings.get("serialize_ms", 0)

    first, djust_first = once()
    first_parts = dict(parts)
    second, djust_second = once()
    shared = store.configured_store()
    print(json.dumps({
        "setup_ms": setup, "djust_setup_ms": djust_setup,
        "first_ms": first, "second_ms": second, "extra_ms": first - second,
        "djust_ms": djust_first, "djust_extra_ms": djust_first - djust_second,
        "parts": {name: value - parts.get(name, 0) for name, value in first_parts.items()},
        "counters": shared.counters if shared is not None else {},
    }))


def store_command(workdir: str, cache_json: str, action: str) -> None:
    """``clear`` the store, or ``warm`` it as a new deployment would."""
    configure(workdir, json.loads(cache_json))
    from django.core.management import execute_from_command_line

    from djust import store

    if action == "warm":
        shared = store.configured_store()
        # What a code change leaves: the manifest of what workers compiled.
        for kind in ("x", "s"):
            for key, _payload in list(shared.entries(kind)):
                shared.delete(kind, key)
    output = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(output):
        execute_from_command_line(["python -m django", "djust_cache", action])
    elapsed = (time.perf_counter() - started) * 1000
    print(json.dumps({"ms": elapsed, "output": output.getvalue().strip()}))


def child_env(workdir: str) -> dict[str, str]:
    # Workers of a deployment import from bytecode caches: let the children
    # write theirs (outside the repository) even where the shell forbids it.
    env = dict(os.environ, PYTHONPATH=str(ROOT),
               PYTHONPYCACHEPREFIX=os.path.join(workdir, "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def run_child(workdir: str, *arguments: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_first_request", *arguments],
        cwd=ROOT, env=child_env(workdir), capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class Row:
    """One configuration: its settings, the work, and how to prepare each run."""

    def __init__(self, label: str, cache: dict, work: str, *, warm: bool, clear=None):
        self.label = label
        self.cache = cache
        self.work = work
        self.warm = warm
        self.clear = clear
        # Ratios compare rows of one kind: page, compile, plain.
        self.kind = work.split("-")[0]
        self.results: list[dict] = []

    def run(self, workdir: str) -> dict:
        if self.clear is not None:
            self.clear()
        result = run_child(workdir, "--child", workdir, json.dumps(self.cache), self.work)
        counters = result["counters"]
        if self.warm and (counters.get("misses") or not counters.get("hits")):
            raise RuntimeError(f"{self.label}: a warm worker missed the store: {counters}")
        return result

    def median(self, field: str) -> float:
        return statistics.median(result[field] for result in self.results)


def warm_store(workdir: str, cache: dict, works: list[str]) -> dict:
    """Fill the store's manifest with earlier workers, then ``djust_cache warm`` it."""
    encoded = json.dumps(cache)
    run_child(workdir, "--store", workdir, encoded, "clear")
    for work in works:
        run_child(workdir, "--child", workdir, encoded, work)
    return run_child(workdir, "--store", workdir, encoded, "warm")


def measure(workdir: str, rows: list[Row], repeat: int) -> None:
    """Round-robin over the rows, so that load from elsewhere hits them alike."""
    for row in rows:
        if not row.warm:
            row.run(workdir)  # writes the bytecode caches
    for _ in range(repeat):
        for row in rows:
            row.results.append(row.run(workdir))


def redis_server():
    """The scripts/redisserver.py module, or None and why not."""
    try:
        import redis  # noqa: F401
    except ImportError:
        return None, "redis-py is not installed (pip install 'djust[redis]')"
    sys.path.insert(0, str(ROOT / "scripts"))
    import redisserver

    if redisserver.find_binary() is None:
        return None, "redis-server is not installed (scripts/redisserver.py installs it as root)"
    return redisserver, None


def report(rows: list[Row], repeat: int, warmed: dict[str, dict], load: tuple) -> None:
    import django

    print(f"machine: {os.cpu_count()}-core {platform.machine()}; python "
          f"{platform.python_version()}, django {django.get_version()}; load average "
          f"{load[0]:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(f"{repeat} fresh worker processes per row, interleaved; medians in ms.")
    print("start-up: django.setup() and the handler's middleware; (djust): its part, "
          "djust's ready() (plus the load, in the row that loads the store); first, warm: "
          "the same work the first and the second time; ratio: first against the baseline "
          "of its kind; extra: first - warm, the median of each worker's difference, for "
          "the whole request and for djust's part of it (extraction and serialization)")
    for label, result in warmed.items():
        print(f"djust_cache warm ({label}): {result['ms']:.0f} ms: {result['output']}")
    print(f"{'':56} {'start-up':>8} {'(djust)':>7} {'first':>6} {'ratio':>5} {'warm':>6} "
          f"{'extra':>6} {'djust':>6}  target: extra <= {TARGET_MS:g} ms")
    baselines: dict[str, Row] = {}
    for row in rows:
        baselines.setdefault(row.kind, row)
    for row in rows:
        first = row.median("first_ms")
        base = baselines[row.kind].median("first_ms")
        extra = row.median("extra_ms")
        verdict = "store empty"
        if row.warm:
            verdict = "met" if extra <= TARGET_MS else "not met"
        print(f"{row.label:56} {row.median('setup_ms'):8.1f} {row.median('djust_setup_ms'):7.1f} "
              f"{first:6.1f} {first / base:5.2f} {row.median('second_ms'):6.1f} "
              f"{extra:6.1f} {row.median('djust_extra_ms'):6.1f}  {verdict}")


def report_breakdown(row: Row) -> None:
    """Where the extra time of the first request goes, from the traced workers."""

    def extra(*names: str, minus: tuple[str, ...] = ()) -> float:
        return statistics.median(
            sum(result["parts"].get(name, 0) for name in names)
            - sum(result["parts"].get(name, 0) for name in minus)
            for result in row.results)

    print(f"where the extra time of the warmed page goes (first - warm, medians of "
          f"{len(row.results)} more workers, timed inside):")
    lines = [
        ("the whole request", extra("total")),
        ("analysed template from the store (Django parses its 3 templates)",
         extra("extraction_ms")),
        ("serializers from the store, one per context value", extra("serializers")),
        ("  of which generating their code here (lower, emit, verify)", extra("generated")),
        ("row projections built (the store does not hold them)", extra("projections")),
        ("queries and rows (Django's first queries included)",
         extra("serialize_ms", minus=("serializers", "projections"))),
        ("Django's template render", extra("render")),
        ("the rest (URLconf, middleware, state, HTML)",
         extra("total", minus=("extraction_ms", "serialize_ms", "render"))),
    ]
    for label, value in lines:
        print(f"  {label:66} {value:6.1f}")


def main(argv: list[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--repeat", type=int, default=7)
    arguments.add_argument("--child", nargs=3, metavar=("WORKDIR", "CACHE", "WORK"),
                           help=argparse.SUPPRESS)
    arguments.add_argument("--store", nargs=3, metavar=("WORKDIR", "CACHE", "ACTION"),
                           help=argparse.SUPPRESS)
    arguments.add_argument("--prepare", metavar="WORKDIR", help=argparse.SUPPRESS)
    options = arguments.parse_args(argv)
    if options.child:
        child(*options.child)
        return 0
    if options.store:
        store_command(*options.store)
        return 0
    if options.prepare:
        prepare(options.prepare)
        return 0

    load = os.getloadavg()
    workdir = tempfile.mkdtemp(prefix="djust-bench-first-")
    try:
        subprocess.run([sys.executable, "-m", "benchmarks.bench_first_request", "--prepare",
                        workdir], cwd=ROOT, check=True, env=child_env(workdir))
        memory = {"BACKEND": "memory"}
        empty_dir = os.path.join(workdir, "empty-store")
        empty = {"BACKEND": "filesystem", "LOCATION": empty_dir}
        warm = {"BACKEND": "filesystem", "LOCATION": os.path.join(workdir, "warm-store")}

        def clear_empty() -> None:
            shutil.rmtree(empty_dir, ignore_errors=True)

        rows = [
            Row("page, memory (nothing shared): baseline", memory, "page", warm=False),
            Row("page, filesystem, empty store", empty, "page", warm=False, clear=clear_empty),
            Row("page, filesystem, warmed", warm, "page", warm=True),
            Row("page, filesystem, warmed, no start-up imports", warm, "page-unloaded",
                warm=True),
            Row("page, filesystem, warmed, djust.warm_up() at start-up", warm, "page-loaded",
                warm=True),
            Row("compile, memory: baseline", memory, "compile", warm=False),
            Row("compile, filesystem, empty store", empty, "compile", warm=False,
                clear=clear_empty),
            Row("compile, filesystem, warmed", warm, "compile", warm=True),
            Row("plain Django page (no djust): baseline", memory, "plain", warm=False),
        ]
        warmed = {"filesystem": warm_store(workdir, warm, ["page", "compile"])}
        redisserver, reason = redis_server()
        with contextlib.ExitStack() as stack:
            if redisserver is not None:
                env = stack.enter_context(redisserver.running())
                redis = {"BACKEND": "redis", "URL": env[redisserver.ENV_VAR], "TIMEOUT": 0.5}
                warmed["redis"] = warm_store(workdir, redis, ["page"])
                rows.insert(4, Row("page, redis, warmed", redis, "page", warm=True))
            traced = Row("page, filesystem, warmed, traced", warm, "page-traced", warm=True)
            measure(workdir, [*rows, traced], options.repeat)
        report(rows, options.repeat, warmed, load)
        report_breakdown(traced)
        if redisserver is None:
            print(f"page, redis, warmed: not measured: {reason}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
