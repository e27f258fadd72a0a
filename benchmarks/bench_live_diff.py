"""Send less: the bytes of an event's full inner HTML vs a diff of it.

Run: ``python -m benchmarks.bench_live_diff`` from the repository root. It
configures Django itself (in-memory SQLite, the rentals app seeded at scale
1.0, the demo's data, then 11.0, a dashboard of about 100 KB), mounts the
rentals dashboard with ``djust.testing.LiveViewTestClient`` and sends it
events. For each, the inner HTML before (what the client has) and after
(``HTML chars``: what today's response sends in full) are compared:

- ``full B``: the ``html`` field as the JSON response encodes it today;
- ``diff B``: ``json.dumps(html_diff(old, new), separators=(",", ":"))``,
  what a transport that remembers the last HTML it sent would send instead;
- ``gz``: both gzip-compressed (WebSocket permessage-deflate may compress
  frames; each compressed on its own, without a window shared across
  messages);
- ``ops``: the patch's items;
- the median time of ``html_diff`` beside the median time of the view's
  ``render_page`` for that event (queries, serialization, template), both
  in this process.

The cases:

- ``filter (status)``: ``filter_status`` active -> pending: the leases table
  is replaced;
- ``filter (city)``: ``filter_city`` -> one city: the properties list shrinks;
- ``one row changed``: one displayed lease's rent is updated in the database,
  then ``sort_by`` is sent with the column the table is already sorted by.
  The handler reloads its QuerySets, so the re-render shows the new rent with
  the rows in the same order: exactly what a refresh of the page's data after
  someone else's edit sends, and the only change is that row's cell.

The view is the dashboard without the demo's side-by-side comparison (the
``Dashboard.render_page`` override renders twice and prints its timings in a
paragraph that would change on every event), as ``bench_page_render`` does.
Every diff is checked: ``apply_diff(old, diff) == new``, or the run stops.
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import statistics
import sys
import time

RUNS = 21
# Filled by the view, in the module ROOT_URLCONF imports (not __main__).
RENDER_MS: list[float] = []


def render_times() -> list[float]:
    import importlib

    return importlib.import_module("benchmarks.bench_live_diff").RENDER_MS


def configure() -> None:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-live-diff",
        ALLOWED_HOSTS=["testserver"],
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes",
                        "django.contrib.sessions", "djust", "examples.rentals"],
        MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware",
                    "django.middleware.csrf.CsrfViewMiddleware"],
        ROOT_URLCONF="benchmarks.bench_live_diff",
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates",
                    "APP_DIRS": True}],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        SESSION_ENGINE="django.contrib.sessions.backends.cache",
        STATIC_URL="static/",
    )
    django.setup()


def dashboard_view():
    from djust.live import LiveView
    from examples.rentals.views import Dashboard

    class TimedDashboard(Dashboard):
        def render_page(self, request):
            # The LiveView's own render, without the demo's comparison render.
            started = time.perf_counter()
            page = LiveView.render_page(self, request)
            RENDER_MS.append((time.perf_counter() - started) * 1000)
            return page

    return TimedDashboard.as_view()


def __getattr__(name: str):
    # ROOT_URLCONF is this module; the view is built once Django is set up.
    if name == "urlpatterns":
        from django.urls import path

        patterns = [path("", dashboard_view())]
        globals()["urlpatterns"] = patterns
        return patterns
    raise AttributeError(name)


def sizes(new: str, patch: list) -> dict[str, int]:
    full = json.dumps(new)  # as JsonResponse encodes the html field (ASCII)
    diff = json.dumps(patch, separators=(",", ":"))
    return {"full": len(full), "diff": len(diff),
            "full_gz": len(gzip.compress(full.encode())),
            "diff_gz": len(gzip.compress(diff.encode()))}


def measure(label: str, old: str, new: str, render_ms: list[float]) -> dict:
    from djust.diff import apply_diff, html_diff

    patch = html_diff(old, new)
    if apply_diff(old, patch) != new:
        sys.exit(f"{label}: apply_diff(old, html_diff(old, new)) != new")
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        html_diff(old, new)
        times.append((time.perf_counter() - started) * 1000)
    return {"label": label, "page": len(new), **sizes(new, patch),
            "diff_ms": statistics.median(times), "render_ms": statistics.median(render_ms),
            "ops": len(patch)}


def event_pair(event: str, params: dict, before=None) -> tuple[str, str, list[float]]:
    """(old, new, render times): the inner HTML after mounting and after the
    event (the last of RUNS mounts), and the event's render times."""
    from djust.testing import LiveViewTestClient

    renders = []
    for _ in range(RUNS):
        live = LiveViewTestClient()
        old = live.get("/").html
        if before is not None:
            before()
        render_times().clear()
        new = live.event(event, params).html
        renders.extend(render_times())
    return old, new, renders


def cases(scale: float) -> list[dict]:
    import datetime

    from examples.rentals.models import Lease, Property
    from examples.rentals.seed import seed

    seed(scale=scale)
    rows = [measure("filter (status)", *event_pair("filter_status", {"status": "pending"}))]
    city = sorted(set(Property.objects.values_list("city", flat=True)))[0]
    rows.append(measure("filter (city)", *event_pair("filter_city", {"value": city})))

    today = datetime.date.today()
    shown = list(Lease.objects.filter(
        status="active", end_date__range=(today, today + datetime.timedelta(days=90)),
    ).order_by("end_date")[:50])
    lease = shown[len(shown) // 2]
    edits = []

    def edit_one_row():
        # Another rent every run, so each re-render differs from its mount.
        edits.append(lease.pk)
        Lease.objects.filter(pk=lease.pk).update(monthly_rent=lease.monthly_rent + len(edits))

    rows.append(measure("one row changed", *event_pair("sort_by", {"column": "end_date"},
                                                          before=edit_one_row)))
    for row in rows:
        row["scale"] = scale
    return rows


def main() -> None:
    configure()
    import django
    from django.core.management import call_command

    call_command("migrate", verbosity=0, run_syncdb=True)
    print(f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs; "
          f"CPython {platform.python_version()}, Django {django.get_version()}; "
          f"medians of {RUNS} runs")
    print("rentals seeded at scale 1.0 (the demo's data) and 11.0 (a ~100 KB dashboard)")
    rows = cases(1.0) + cases(11.0)
    header = (f"{'scale':>5} {'case':<17}{'HTML chars':>11}{'full B':>9}{'diff B':>8}"
              f"{'full gz':>9}{'diff gz':>9}{'ops':>5}{'diff ms':>9}{'render ms':>11}")
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['scale']:>5} {row['label']:<17}{row['page']:>11,}{row['full']:>9,}"
              f"{row['diff']:>8,}{row['full_gz']:>9,}{row['diff_gz']:>9,}{row['ops']:>5}"
              f"{row['diff_ms']:>9.3f}{row['render_ms']:>11.2f}")


if __name__ == "__main__":
    main()
