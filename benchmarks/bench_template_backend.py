"""The template backend's cost and gain, against Django's own backend.

Run: ``python -m benchmarks.bench_template_backend`` from the repository
root. It configures Django itself (in-memory SQLite, the rentals app seeded
at scale 1.0), two engines over the same templates (``DjangoTemplates`` and
``DjustTemplates``), and times, warm, alternating, medians of many runs:

1. **Overhead on a page with no QuerySets** (a layout of 40 variables, a
   loop over 20 dicts, filters): per render, djust minus Django, in µs.
   The target is under 20 µs once the template is analysed.
2. **A list page** (100 leases reading four relations and a reverse
   relation): Django on the QuerySet as written (N+1), the expert's
   hand-written ``select_related``/``prefetch_related`` (the baseline), and
   the djust backend on the QuerySet as written. Queries counted; the HTML
   of all three must be identical or the run stops.
3. **First render in a fresh process**, per backend: a new interpreter
   sets up and renders the layout page, then the list page, once each
   (compiled, analysed and planned for the first time); medians of 5
   processes.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time

RUNS = 41
BATCH = 200

LAYOUT = (
    "<header>{{ site.name }} {{ site.tagline|upper }} {{ user_name|default:'guest' }}</header>"
    + "".join(f"<p>{{{{ block{i}.title }}}} {{{{ block{i}.body|truncatewords:5 }}}}</p>"
              for i in range(12))
    + "{% for item in items %}<li class='{% cycle \"a\" \"b\" %}'>{{ item.name }}"
    "{% if item.done %} ✓{% endif %} {{ item.when|date:'Y-m-d' }}</li>{% endfor %}"
    "<footer>{{ site.year }} {{ site.owner.name }}</footer>"
)
LIST = (
    "{% for l in leases %}<tr><td>{{ l.reference }}</td><td>{{ l.tenant.user.email }}</td>"
    "<td>{{ l.unit.number|default:'-' }}</td><td>{{ l.property.name }}</td>"
    "<td>{% for a in l.property.amenities.all %}{{ a.name }} {% endfor %}</td></tr>"
    "{% endfor %}"
)
TEMPLATES = {"layout.html": LAYOUT, "list.html": LIST}


def configure_django() -> None:
    """The rentals set-up of bench_page_render, with both backends over the
    same locmem templates."""
    from benchmarks.bench_page_render import configure_django as configure_rentals

    loaders = [("django.template.loaders.locmem.Loader", TEMPLATES)]
    configure_rentals([
        {"NAME": "plain", "BACKEND": "django.template.backends.django.DjangoTemplates",
         "OPTIONS": {"loaders": loaders}},
        {"NAME": "djust", "BACKEND": "djust.template.backends.DjustTemplates",
         "OPTIONS": {"loaders": loaders}},
    ])


def layout_context() -> dict:
    import datetime

    blocks = {f"block{i}": {"title": f"Title {i}", "body": "lorem ipsum dolor sit amet " * 3}
              for i in range(12)}
    items = [{"name": f"item {i}", "done": i % 2, "when": datetime.date(2026, 1, 1 + i % 28)}
             for i in range(20)]
    return {"site": {"name": "Site", "tagline": "fast", "year": 2026, "owner": {"name": "Ann"}},
            "user_name": "ann", "items": items, **blocks}


def per_render_us(template, context_of) -> float:
    started = time.perf_counter()
    for _ in range(BATCH):
        template.render(context_of())
    return (time.perf_counter() - started) / BATCH * 1e6


def overhead() -> None:
    from django.template import engines

    plain, djust = (engines[name].get_template("layout.html") for name in ("plain", "djust"))
    context = layout_context()
    assert plain.render(context) == djust.render(context)
    times: dict[str, list[float]] = {"plain": [], "djust": []}
    for _ in range(RUNS):
        times["plain"].append(per_render_us(plain, lambda: context))
        times["djust"].append(per_render_us(djust, lambda: context))
    base, ours = statistics.median(times["plain"]), statistics.median(times["djust"])
    step = statistics.median(planning_us(djust, context) for _ in range(RUNS))
    print("1. A page with no QuerySets (45 variables, a loop of 20), per render, "
          f"medians of {RUNS} x {BATCH}:")
    print(f"   DjangoTemplates {base:8.1f} µs   1.00x (baseline)")
    print(f"   DjustTemplates  {ours:8.1f} µs   {ours / base:.2f}x   difference "
          f"{ours - base:+.1f} µs")
    print(f"   djust's own step alone (planner lookup, context plan, settings): {step:.2f} µs "
          "(target: under 20 µs)")


def planning_us(template, context) -> float:
    """What PlannedTemplate.render adds to Django's render, timed alone."""
    from djust import conf
    from djust.template.backends import planner_for

    engine = template.backend.engine
    started = time.perf_counter()
    for _ in range(BATCH):
        planner = planner_for(template.template, engine)
        planner.plan(context)
        conf.flag("FETCH_PEERS")
        conf.flag("STRICT")
    return (time.perf_counter() - started) / BATCH * 1e6


def list_page() -> None:
    from django.db import connection
    from django.template import engines
    from django.test.utils import CaptureQueriesContext

    from examples.rentals.models import Lease

    plain, djust = (engines[name].get_template("list.html") for name in ("plain", "djust"))

    def as_written():
        return {"leases": Lease.objects.order_by("id")[:100]}

    def expert():
        return {"leases": Lease.objects.order_by("id").select_related(
            "tenant__user", "unit", "property").prefetch_related("property__amenities")[:100]}

    contenders = {"Django, as written (N+1)": (plain, as_written),
                  "expert select/prefetch (baseline)": (plain, expert),
                  "djust backend, as written": (djust, as_written)}
    pages, queries = set(), {}
    for label, (template, context_of) in contenders.items():
        with CaptureQueriesContext(connection) as captured:
            pages.add(template.render(context_of()))
        queries[label] = len(captured.captured_queries)
    if len(pages) != 1:
        sys.exit("the three renders differ: stopping")
    times: dict[str, list[float]] = {label: [] for label in contenders}
    for _ in range(max(5, RUNS // 4)):
        for label, (template, context_of) in contenders.items():
            started = time.perf_counter()
            template.render(context_of())
            times[label].append((time.perf_counter() - started) * 1000)
    base = statistics.median(times["expert select/prefetch (baseline)"])
    print(f"2. A list page, 100 leases, four relations and a reverse one, medians of "
          f"{max(5, RUNS // 4)} (HTML identical):")
    for label in contenders:
        median = statistics.median(times[label])
        print(f"   {label:36s} {median:8.2f} ms  {median / base:5.2f}x  "
              f"{queries[label]:4d} queries")


FIRST = """
import time
started = time.perf_counter()
from benchmarks.bench_template_backend import configure_django
configure_django()
from django.core.management import call_command
call_command("migrate", verbosity=0, run_syncdb=True)
from examples.rentals.seed import seed
seed(scale=0.05)
from django.template import engines
from examples.rentals.models import Lease
from benchmarks.bench_template_backend import layout_context
for page, context in (("layout.html", layout_context()),
                      ("list.html", {{"leases": Lease.objects.order_by("id")[:100]}})):
    t0 = time.perf_counter()
    engines[{name!r}].get_template(page).render(context)
    print(page, (time.perf_counter() - t0) * 1000)
"""


def first_render() -> None:
    print("3. First render in a fresh process (load, compile, analyse, plan, render), "
          "medians of 5 processes; the list page's queries included (Django's N+1):")
    for name in ("plain", "djust"):
        runs: dict[str, list[float]] = {}
        for _ in range(5):
            out = subprocess.run([sys.executable, "-c", FIRST.format(name=name)], check=True,
                                 capture_output=True, text=True, cwd=os.getcwd())
            for line in out.stdout.strip().splitlines()[-2:]:
                page, ms = line.split()
                runs.setdefault(page, []).append(float(ms))
        print(f"   {name:6s} " + "   ".join(f"{page} {statistics.median(ms):7.1f} ms"
                                          for page, ms in runs.items()))


def main() -> None:
    from benchmarks.bench_page_render import seeded

    configure_django()
    seeded()
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, Django {__import__('django').get_version()}")
    overhead()
    list_page()
    first_render()


if __name__ == "__main__":
    main()
