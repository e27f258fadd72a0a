"""The demo dashboard: its own query count stays flat as the data grows."""

import re

import pytest
from django.test import Client

from examples.rentals.seed import seed

pytestmark = pytest.mark.django_db


def costs(content: str) -> tuple[int, int]:
    with_djust = int(re.search(r'data-queries="(\d+)"', content).group(1))
    without = int(re.search(r'data-queries-off="(\d+)"', content).group(1))
    return with_djust, without


def test_dashboard_queries_do_not_grow_with_the_data():
    seed(scale=0.02)
    small = costs(Client().get("/dashboard/").content.decode())
    seed(scale=0.2)
    large = costs(Client().get("/dashboard/").content.decode())
    assert small[0] == large[0]
    # The same page without djust is N+1: it grows with the data.
    assert large[1] > small[1] > small[0]


def test_dashboard_events_keep_the_query_count(settings):
    seed(scale=0.05)
    client = Client(enforce_csrf_checks=True)
    page = client.get("/dashboard/").content.decode()
    view_id = re.search(r'data-djust-id="([^"]+)"', page).group(1)
    token = re.search(r'data-djust-csrf="([^"]+)"', page).group(1)
    first = costs(page)[0]
    for event, params in [("filter_status", {"status": "pending"}),
                          ("sort_by", {"column": "-monthly_rent"}),
                          ("filter_city", {"value": "Porto"})]:
        response = client.post("/dashboard/", content_type="application/json",
                               data={"id": view_id, "event": event, "params": params},
                               headers={"X-CSRFToken": token})
        assert response.status_code == 200, response.content
        assert costs(response.json()["html"])[0] <= first


def test_event_stats_report_the_render_the_page_shows():
    seed(scale=0.05)
    client = Client()
    page = client.get("/dashboard/").content.decode()
    view_id = re.search(r'data-djust-id="([^"]+)"', page).group(1)
    response = client.post("/dashboard/", content_type="application/json",
                           data={"id": view_id, "event": "filter_status",
                                 "params": {"status": "pending"}})
    shown = re.search(r"([\d.]+) ms serializing", response.json()["html"]).group(1)
    stats = response.json()["stats"]
    # The JIT-off comparison render must not overwrite the figures of the
    # render the page shows.
    assert f"{stats['serialize_ms']:.1f}" == shown
    assert stats["queries"] == costs(response.json()["html"])[0]
