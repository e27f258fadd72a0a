"""The rentals demo: a dashboard LiveView and a plain Django list view,
both written the natural way.

Every request also renders the same page without djust (auto-serialization
off; Django's own template backend), so the page can show, side by side,
what it costs with and without djust.
"""

import datetime
import functools

from django.http import HttpResponse
from django.template.backends.django import DjangoTemplates
from django.utils.html import format_html
from django.views.generic import ListView

from djust import LiveView, event_handler
from djust.stats import measure
from djust.template.backends import django_backend

from .models import Lease, MaintenanceRequest, Property

SORTABLE = {"end_date", "-end_date", "monthly_rent", "-monthly_rent", "property__name"}
STATUSES = {choice for choice, _ in Lease.Status.choices}
STATS_MARK = "<!--djust-stats-->"


class Dashboard(LiveView):
    template_name = "rentals/dashboard.html"
    # While its WebSocket is open, the page re-reads its rows on
    # djust.broadcast("leases") (from a handler, a thread, a task).
    subscriptions = ("leases",)

    def mount(self, request):
        self.status = "active"
        self.sort = "end_date"
        self.city = ""
        self.load()

    def load(self):
        today = datetime.date.today()
        self.expiring_leases = Lease.objects.filter(
            status=self.status, end_date__range=(today, today + datetime.timedelta(days=90)),
        ).order_by(self.sort)[:50]
        properties = Property.objects.all()
        if self.city:
            properties = properties.filter(city=self.city)
        self.properties = properties
        self.cities = sorted(set(Property.objects.values_list("city", flat=True)))
        self.open_requests = MaintenanceRequest.objects.filter(status="open")[:30]

    def handle_broadcast(self, group, message):
        self.load()

    @event_handler
    def filter_status(self, status: str):
        if status in STATUSES:
            self.status = status
            self.load()

    @event_handler
    def sort_by(self, column: str):
        if column in SORTABLE:
            self.sort = column
            self.load()

    @event_handler
    def filter_city(self, value: str):
        self.city = value
        self.load()

    def render_page(self, request):
        with measure() as with_djust:
            page, state = super().render_page(request)
        # The JIT-off render below sets last_stats again: keep this render's.
        stats_with_djust = self.last_stats
        serialize_ms = stats_with_djust["serialize_ms"]
        jit, self.jit = self.jit, False
        try:
            with measure() as without:
                super().render_page(request)
        finally:
            self.jit = jit
            self.last_stats = stats_with_djust
        stats = format_html(
            '<p class="stats" id="stats">With djust: <b data-queries="{}">{} queries</b>, '
            "{} ms serializing, {} ms in all. Without djust (JIT off): "
            '<b data-queries-off="{}">{} queries</b>, {} ms in all.</p>',
            with_djust.queries, with_djust.queries, f"{serialize_ms:.1f}",
            f"{with_djust.ms:.1f}", without.queries, without.queries, f"{without.ms:.1f}",
        )
        self.last_stats.update(queries=with_djust.queries, queries_without_djust=without.queries)
        return page.replace(STATS_MARK, stats, 1), state


class LeaseList(ListView):
    """A plain Django view: no LiveView, no djust code. The project's
    TEMPLATES backend (``djust.template.backends.DjustTemplates``) plans its
    queries from its template.

    For the demo only, each request also renders the same page through
    Django's own backend, so the page can show both query counts.
    """

    model = Lease
    ordering = ["end_date", "id"]
    paginate_by = 25
    template_name = "rentals/lease_list.html"

    def get(self, request, *args, **kwargs):
        costs = {}
        for label, backend in (("without", _plain_backend()), ("with", django_backend())):
            self.object_list = self.get_queryset()
            context = self.get_context_data()
            with measure() as costs[label]:
                page = backend.get_template(self.template_name).render(context, request)
        stats = format_html(
            '<p class="stats" id="stats">With djust: <b data-queries="{}">{} queries</b>, '
            '{} ms. Without djust (DjangoTemplates): <b data-queries-off="{}">{} queries</b>, '
            "{} ms.</p>",
            costs["with"].queries, costs["with"].queries, f"{costs['with'].ms:.1f}",
            costs["without"].queries, costs["without"].queries, f"{costs['without'].ms:.1f}",
        )
        return HttpResponse(page.replace(STATS_MARK, stats, 1))


@functools.cache
def _plain_backend() -> DjangoTemplates:
    """Django's own backend configured as the project's djust backend is."""
    backend = django_backend()
    return DjangoTemplates({"NAME": "plain", "DIRS": backend.dirs, "APP_DIRS": backend.app_dirs,
                           "OPTIONS": {"context_processors": backend.engine.context_processors}})
