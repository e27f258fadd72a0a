"""Benchmark: a worker's first request, with an empty and with a warm shared store.

    .venv/py3.11/bin/python -m benchmarks.bench_first_request [--repeat N]

The page is a LiveView whose template (an ``extends`` chain and an
``include``) reads five serialized context values: three QuerySets, one
model instance and a list of instances. Every measurement is a fresh
Python process (a new worker): Django is set up, then the first GET of the
page is timed, then a second one for reference. Rows, each a median over
``--repeat`` processes, all measured in this run:

- ``memory``: nothing shared, the worker analyses and compiles everything
  (the baseline);
- ``filesystem, empty``: the same, plus writing the store;
- ``filesystem, warm`` and ``redis, warm``: the store was filled by an
  earlier worker, so this one loads the analysed template, the generated
  sources and the query plans, verifies the sources' bytecode and compiles
  them; only the access trees are built again;
- ``redis, warm, client built at startup``: the same with the store built
  (redis-py imported) before the request, as a startup hook would.

``setup`` is ``django.setup()``; ``djust`` is the part of the request inside
djust (extraction plus auto-serialization, queries included); the ratios
compare each row with the baseline. The rows are measured round-robin so
that load from other processes spreads over all of them. Workers write
bytecode caches to a temporary prefix, as a deployment's workers would have
them. Redis runs on a throwaway server (scripts/redisserver.py); when none
can be started the output says why.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
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


def page_view():
    from djust import LiveView
    from examples.rentals.models import Lease, MaintenanceRequest, Property, Tenant

    class FirstRequestPage(LiveView):
        template_name = "first/page.html"

        def mount(self, request):
            self.leases = Lease.objects.order_by("end_date")[:40]
            self.properties = Property.objects.order_by("name")[:20]
            self.requests = MaintenanceRequest.objects.order_by("-created_at")[:30]
            self.featured = Lease.objects.order_by("id").first()
            self.tenants = list(Tenant.objects.order_by("id")[:25])

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


def urls():
    from django.urls import path

    return [path("page/", page_view())]


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


def child(workdir: str, cache_json: str, preload: str) -> None:
    """One worker: set up, time the first and the second request, print JSON."""
    started = time.perf_counter()
    configure(workdir, json.loads(cache_json))
    from django.test import Client

    from djust import store

    if preload == "preload":
        # What a startup hook (AppConfig.ready) would do: build the backend,
        # importing its client library, before any request.
        store.configured_store()
    setup = (time.perf_counter() - started) * 1000
    client = Client()
    started = time.perf_counter()
    response = client.get("/page/")
    first = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.content[:500]
    # The URLconf imported this file as a module of its own (we run as __main__).
    timings = importlib.import_module("benchmarks.bench_first_request").TIMINGS
    djust_first = timings["extraction_ms"] + timings["serialize_ms"]
    started = time.perf_counter()
    client.get("/page/")
    second = (time.perf_counter() - started) * 1000
    shared = store.configured_store()
    print(json.dumps({
        "setup_ms": setup, "first_ms": first, "djust_ms": djust_first, "second_ms": second,
        "counters": shared.counters if shared is not None else {},
        "bytes": len(response.content),
    }))


def child_env(workdir: str) -> dict[str, str]:
    # Workers of a deployment import from bytecode caches: let the children
    # write theirs (outside the repository) even where the shell forbids it.
    env = dict(os.environ, PYTHONPATH=str(ROOT),
               PYTHONPYCACHEPREFIX=os.path.join(workdir, "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def run_child(workdir: str, cache: dict, preload: bool = False) -> dict:
    env = child_env(workdir)
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_first_request", "--child", workdir,
         json.dumps(cache), "preload" if preload else "lazy"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class Row:
    """One configuration: its settings, and how to prepare each measurement."""

    def __init__(self, label: str, cache: dict, *, warm: bool, clear=None,
                 preload: bool = False):
        self.label = label
        self.cache = cache
        self.warm = warm
        self.clear = clear
        self.preload = preload
        self.results: list[dict] = []

    def run(self, workdir: str) -> dict:
        if self.clear is not None:
            self.clear()
        result = run_child(workdir, self.cache, self.preload)
        counters = result["counters"]
        if self.warm and (counters.get("misses") or not counters.get("hits")):
            raise RuntimeError(f"{self.label}: a warm worker missed the store: {counters}")
        return result

    def median(self, field: str) -> float:
        return statistics.median(result[field] for result in self.results)


def measure(workdir: str, rows: list[Row], repeat: int) -> None:
    """Round-robin over the rows, so that load from elsewhere hits them alike."""
    for row in rows:
        run_child(workdir, row.cache)  # fills the store and the bytecode caches
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


def main(argv: list[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--repeat", type=int, default=7)
    arguments.add_argument("--child", nargs=3, metavar=("WORKDIR", "CACHE", "PRELOAD"),
                           help=argparse.SUPPRESS)
    arguments.add_argument("--prepare", metavar="WORKDIR", help=argparse.SUPPRESS)
    options = arguments.parse_args(argv)
    if options.child:
        child(*options.child)
        return 0
    if options.prepare:
        prepare(options.prepare)
        return 0

    import shutil

    import django

    workdir = tempfile.mkdtemp(prefix="djust-bench-first-")
    try:
        subprocess.run([sys.executable, "-m", "benchmarks.bench_first_request", "--prepare",
                        workdir], cwd=ROOT, check=True, env=child_env(workdir))
        store_dir = os.path.join(workdir, "store")
        filesystem = {"BACKEND": "filesystem", "LOCATION": store_dir}
        rows = [
            Row("memory (nothing shared): baseline", {"BACKEND": "memory"}, warm=False),
            Row("filesystem, empty store", filesystem, warm=False,
                clear=lambda: shutil.rmtree(store_dir, ignore_errors=True)),
            Row("filesystem, warm store", filesystem, warm=True),
        ]
        redisserver, reason = redis_server()
        with contextlib.ExitStack() as stack:
            if redisserver is not None:
                env = stack.enter_context(redisserver.running())
                redis = {"BACKEND": "redis", "URL": env[redisserver.ENV_VAR], "TIMEOUT": 0.5}
                rows.append(Row("redis, warm store", redis, warm=True))
                rows.append(Row("redis, warm, client built at startup", redis, warm=True,
                                preload=True))
            measure(workdir, rows, options.repeat)
        print(f"machine: {os.cpu_count()}-core {platform.machine()}; python "
              f"{platform.python_version()}, django {django.get_version()}; "
              f"load average {os.getloadavg()[0]:.2f}")
        print(f"page: 5 serialized context values, 3 templates; {options.repeat} fresh "
              "worker processes per row, interleaved; medians in ms")
        base_first, base_djust = rows[0].median("first_ms"), rows[0].median("djust_ms")
        print(f"{'':40} {'setup':>6} {'first request':>13} {'ratio':>6} {'djust':>6} "
              f"{'ratio':>6} {'2nd request':>11}")
        for row in rows:
            first, djust_ms = row.median("first_ms"), row.median("djust_ms")
            print(f"{row.label:40} {row.median('setup_ms'):6.1f} {first:13.1f} "
                  f"{first / base_first:6.2f} {djust_ms:6.1f} {djust_ms / base_djust:6.2f} "
                  f"{row.median('second_ms'):11.1f}")
        if redisserver is None:
            print(f"redis, warm store: not measured: {reason}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
