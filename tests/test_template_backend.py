"""The template backend (issue #19): plain Django views, their queries
planned from their templates.

Each view renders through ``DjangoTemplates`` and through ``DjustTemplates``
at two data sizes: the HTML is byte-identical, djust's query count is the
same at both sizes, Django's grows with the rows (the N+1 djust removes).
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Count, Prefetch
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import path
from django.views.generic import DetailView, ListView, TemplateView

from examples.rentals.models import (
    Amenity,
    Lease,
    MaintenanceRequest,
    Property,
    Tenant,
    Unit,
)
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

DJANGO = "django.template.backends.django.DjangoTemplates"
DJUST = "djust.template.backends.DjustTemplates"

LEASE_ROW = ("[{{ lease.tenant.user.email }} {{ lease.unit.number|default:'-' }} "
             "{{ lease.property.name }}: {% for a in lease.property.amenities.all %}"
             "{{ a.name }},{% endfor %}]")
TEMPLATES = {
    "base.html": "<main>{% block body %}{% endblock %}</main>",
    "row.html": LEASE_ROW,
    "leases/list.html": (
        "{% extends 'base.html' %}{% block body %}"
        "{% for lease in lease_list %}{% include 'row.html' %}{% endfor %}"
        "{{ object_list|length }}{% endblock %}"),
    "leases/paged.html": (
        "{% for lease in page_obj %}{{ lease.tenant.user.username }};{% endfor %}"
        "{% for l in object_list %}{{ l.unit.property.name }}|{% endfor %}"
        "{{ page_obj.number }}/{{ paginator.num_pages }} {{ paginator.count }}"
        "{% if page_obj.has_next %}next{% endif %}"),
    "property.html": (
        "{{ object.name }} {{ property.manager.email|default:'' }}"
        "{% for unit in property.units.all %}<{{ unit.number }}:"
        "{% for r in unit.maintenance_requests.all %}{{ r.title }}/"
        "{{ r.tenant.user.username|default:'' }},{% endfor %}>{% endfor %}"
        " leases={{ object.leases.count }}"),
    "several.html": (
        "{% for p in properties %}{{ p.name }}:{{ p.manager.username|default:'' }};"
        "{% endfor %}{% for r in requests %}{{ r.unit.property.name }}/{{ r.title }};"
        "{% endfor %}{% for u in units %}{{ u.property.city }}{% endfor %}"),
    "rendered.html": (
        "{% for l in leases %}{% include 'row.html' with lease=l %}{% endfor %}"
        "{% for l in loaded %}{{ l.tenant.phone }}{% endfor %}"
        "{{ one.tenant.user.email }}{% for u in one.property.units.all %}{{ u.number }}"
        "{% endfor %}{% with first=leases.0 %}{{ first.property.name }}{% endwith %}"),
    "tag_rows.html": ("{% for r in rows %}{{ r.tenant.user.email }}/{{ r.unit.number }};"
                      "{% endfor %}"),
    "tags.html": ("{% load backend_tags %}[{% lease_rows 'active' %}][{% context_rows 'expired' %}]"
                  "{% for l in leases %}{{ l.property.name }}{% endfor %}"),
    "merged.html": (
        "{% for l in picked %}{{ l.tenant.user.email }}{{ l.unit.property.name }}"
        "{% for m in l.property.mine %}{{ m.number }}{% endfor %}{{ l.property.n_units }}"
        "{{ l.status }}{% endfor %}"),
}


def settings_for(backend: str) -> list[dict]:
    return [{
        "NAME": "django",
        "BACKEND": backend,
        "OPTIONS": {
            "loaders": [("django.template.loaders.locmem.Loader", TEMPLATES)],
            "context_processors": ["django.template.context_processors.request"],
            "libraries": {"backend_tags": "tests.testapp.templatetags.backend_tags"},
        },
    }]


class LeaseList(ListView):
    model = Lease
    template_name = "leases/list.html"


class PagedLeases(ListView):
    queryset = Lease.objects.order_by("id")
    template_name = "leases/paged.html"
    paginate_by = 6


class PropertyDetail(DetailView):
    model = Property
    template_name = "property.html"


class Several(TemplateView):
    template_name = "several.html"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs),
                "properties": Property.objects.all(),
                "requests": MaintenanceRequest.objects.all(),
                "units": Unit.objects.filter(bedrooms__gte=1)}


def rendered(request):
    leases = Lease.objects.all()
    loaded = list(Lease.objects.order_by("id"))
    return render(request, "rendered.html",
                  {"leases": leases, "loaded": loaded, "one": Lease.objects.first()})


def responded(request):
    # The user's own choices stay: a join, a Prefetch to a list, only(), a
    # slice, distinct, an annotation.
    picked = (Lease.objects.select_related("tenant").only("id", "status", "tenant__phone",
                                                         "property", "unit", "tenant")
              .prefetch_related(Prefetch("property__units", to_attr="mine"))
              .annotate(n=Count("id")).distinct().order_by("id")[:50])
    return TemplateResponse(request, "merged.html", {"picked": picked})


def tagged(request):
    return render(request, "tags.html", {"leases": Lease.objects.all()})


urlpatterns = [
    path("tagged/", tagged),
    path("leases/", LeaseList.as_view()),
    path("paged/", PagedLeases.as_view()),
    path("property/<int:pk>/", PropertyDetail.as_view()),
    path("several/", Several.as_view()),
    path("rendered/", rendered),
    path("responded/", responded),
]


def fetch(url: str, backend: str) -> tuple[str, int]:
    with (override_settings(TEMPLATES=settings_for(backend)),
          CaptureQueriesContext(connection) as captured):
        response = Client().get(url)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode(), len(captured.captured_queries)


def rows(n: int) -> None:
    """Exactly ``n`` leases' worth of rentals rows."""
    for model in (MaintenanceRequest, Lease, Unit, Property, Amenity, Tenant, User):
        model.objects.all().delete()
    factories.rentals(n)


def measure(url_of) -> dict:
    """{(backend, size): (html, queries)} at 4 and at 12 leases' worth."""
    out = {}
    for size, n in (("small", 4), ("large", 12)):
        rows(n)
        for backend in (DJANGO, DJUST):
            out[backend, size] = fetch(url_of(), backend)
    return out


@pytest.mark.parametrize("url", ["/leases/", "/paged/", "/several/", "/rendered/",
                                 "/responded/", "/tagged/"])
def test_views_render_the_same_page_in_constant_queries(url):
    out = measure(lambda: url)
    for size in ("small", "large"):
        assert out[DJUST, size][0] == out[DJANGO, size][0], size
    print(url, {f"{b.rsplit('.', 1)[1]} {size}": q for (b, size), (_, q) in out.items()})
    assert out[DJUST, "small"][1] == out[DJUST, "large"][1]
    assert out[DJANGO, "large"][1] > out[DJANGO, "small"][1]
    assert out[DJUST, "small"][1] <= out[DJANGO, "small"][1]
    assert out[DJUST, "large"][1] < out[DJANGO, "large"][1]


def test_detail_view_with_reverse_relations():
    out = measure(lambda: f"/property/{Property.objects.order_by('id').first().pk}/")
    for size in ("small", "large"):
        assert out[DJUST, size][0] == out[DJANGO, size][0]
    # One property, its units, their requests, the requests' tenants' users,
    # the manager, the lease count: a fixed number whatever the rows.
    print({f"{b.rsplit('.', 1)[1]} {size}": q for (b, size), (_, q) in out.items()})
    assert out[DJUST, "small"][1] == out[DJUST, "large"][1]
    assert out[DJUST, "small"][1] <= out[DJANGO, "small"][1]


def test_strict_mode_passes_planned_pages_and_fails_a_lazy_load(djust_strict):
    from django.template import engines

    from djust.template.strict import UnplannedQuery

    rows(3)
    for url in ("/leases/", "/paged/", "/several/", "/rendered/", "/responded/"):
        fetch(url, DJUST)
    with override_settings(TEMPLATES=settings_for(DJUST)):
        template = engines["django"].from_string(
            "{% for l in data.leases %}\n{{ l.tenant.phone }}{% endfor %}")
        # Rows inside a dict are out of the planner's reach (a documented limit).
        with pytest.raises(UnplannedQuery) as raised:
            template.render({"data": {"leases": Lease.objects.all()}})
    assert raised.value.line == 2 and raised.value.path == "l.tenant.phone"
