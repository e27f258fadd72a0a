"""A LiveView page's render, from serialized rows vs Django on live objects.

Run: ``python -m benchmarks.bench_page_render`` from the repository root.
It configures Django itself (in-memory SQLite, the rentals app, seeded at
scale 1.0) and times, warm, the page renders of two templates:

- the rentals dashboard (``examples/rentals``), as its LiveView renders it;
- a table of 1,000 leases reading nine paths each (relations, a choices
  display, a method, a property, a date filter).

Each is rendered three ways, alternating, and the medians are printed with
ratios against the baseline measured in the same run:

- ``djust``: ``LiveView.render_page``: extraction (cached), the context
  serialized in python mode (query plan + compiled serializer: rows), the
  template rendered from that;
- ``live, optimized`` (the baseline): the expert's alternative, Django
  rendering live model instances loaded through the same query plan
  (``optimize_queryset`` on every QuerySet the template reads);
- ``live, as written``: Django on the view's QuerySets as they are (N+1),
  for scale.

The HTML of the three must be identical, or the run stops.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time

RUNS = 31
TABLE = (
    "{% for l in leases %}<tr><td>{{ l.reference }}</td><td>{{ l.tenant.user.get_full_name }}"
    "</td><td>{{ l.unit.number|default:'-' }}</td><td>{{ l.property.name }}</td>"
    "<td>{{ l.get_status_display }}</td><td>{{ l.monthly_rent }}</td>"
    "<td>{{ l.end_date|date:'Y-m-d' }}</td><td>{{ l.days_until_expiration }}</td>"
    "<td>{% if l.is_expiring_soon %}soon{% endif %}</td></tr>{% endfor %}"
)


def configure_django(templates: list[dict] | None = None) -> None:
    """In-memory SQLite with the rentals app; ``templates`` for TEMPLATES
    (Django's backend over the apps' directories by default)."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes",
                            "django.contrib.sessions", "djust", "examples.rentals"],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
            USE_TZ=True,
            TEMPLATES=templates or [{"BACKEND": "django.template.backends.django.DjangoTemplates",
                                     "APP_DIRS": True}],
            SECRET_KEY="bench-page-render",
        )
    django.setup()


def seeded() -> None:
    from django.core.management import call_command

    from examples.rentals.seed import seed

    call_command("migrate", verbosity=0, run_syncdb=True)
    seed(scale=1.0)


def element_paths(paths) -> list[str]:
    from djust.context import split_collection_paths

    elements, _ = split_collection_paths(list(paths))
    return [path for path in elements if path]


def optimized_context(view) -> dict:
    """The view's context with every QuerySet the template reads planned."""
    from django.db.models import QuerySet

    from djust.compiler import optimize_queryset

    extraction = view.get_extraction()
    context = view.get_context_data()
    for name, value in context.items():
        if isinstance(value, QuerySet) and name in extraction:
            context[name] = optimize_queryset(value, element_paths(extraction[name]))
    return context


def renderers(view_class, request):
    from djust.live import LiveView

    def fresh():
        view = view_class()
        view.mount(request)
        return view

    def djust_page():
        return LiveView.render_page(fresh(), request)[0]

    def live_optimized():
        view = fresh()
        return view.get_template().render(optimized_context(view), request)

    def live_as_written():
        view = fresh()
        return view.get_template().render(view.get_context_data(), request)

    return {"djust": djust_page, "live, optimized": live_optimized,
            "live, as written": live_as_written}


def timed(functions: dict, runs: int) -> dict[str, float]:
    """Median milliseconds of each function, the functions alternating."""
    samples: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(runs):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def table_view():
    from djust.live import LiveView
    from examples.rentals.models import Lease

    class Table(LiveView):
        template = TABLE

        def mount(self, request):
            self.leases = Lease.objects.order_by("id")[:1000]

    return Table


def report(label: str, view_class, request, runs: int) -> None:
    functions = renderers(view_class, request)
    pages = {name: function() for name, function in functions.items()}
    if len(set(pages.values())) != 1:
        sys.exit(f"{label}: the renders differ; no timing")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    queries = {}
    for name, function in functions.items():
        with CaptureQueriesContext(connection) as captured:
            function()
        queries[name] = len(captured)
    medians = timed(functions, runs)
    baseline = medians["live, optimized"]
    print(f"\n{label} ({len(pages['djust'])} characters of HTML, identical)")
    for name, median in medians.items():
        print(f"  {name:<18} {median:9.2f} ms  {median / baseline:5.2f}x  "
              f"{queries[name]} queries")


def main() -> None:
    configure_django()
    seeded()
    import django
    from django.test import RequestFactory

    from djust.live import LiveView
    from examples.rentals.views import Dashboard

    print(f"{platform.machine()}, {os.cpu_count()} cores; CPython {platform.python_version()}, "
          f"Django {django.get_version()}; medians of {RUNS} warm runs; ratio = ÷ live, optimized")
    request = RequestFactory().get("/")
    # The LiveView the dashboard subclasses, without the demo's JIT-off comparison render.
    plain_dashboard = type("Dashboard", (Dashboard,), {"render_page": LiveView.render_page})
    report("rentals dashboard", plain_dashboard, request, RUNS)
    report("1,000 leases x 9 paths", table_view(), request, RUNS)


if __name__ == "__main__":
    main()
