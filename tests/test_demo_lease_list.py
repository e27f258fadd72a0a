"""The demo's plain Django page (issue #19, item 7): a ListView with no djust
code, its queries planned by the project's TEMPLATES backend, showing its
query count with and without djust."""

import re

import pytest
from django.test import Client, override_settings

from examples import settings as demo_settings
from examples.rentals.seed import seed

pytestmark = [pytest.mark.django_db, pytest.mark.urls("examples.urls")]


@pytest.fixture
def demo_templates():
    assert demo_settings.TEMPLATES[0]["BACKEND"] == "djust.template.backends.DjustTemplates"
    with override_settings(TEMPLATES=demo_settings.TEMPLATES):
        yield


def counts(page: str) -> tuple[int, int]:
    with_djust = int(re.search(r'data-queries="(\d+)"', page).group(1))
    without = int(re.search(r'data-queries-off="(\d+)"', page).group(1))
    return with_djust, without


def test_the_plain_list_page_shows_both_query_counts(demo_templates):
    seed(scale=0.05)
    page = Client().get("/leases/").content.decode()
    with_djust, without = counts(page)
    rows = page.count("<tr><td>")
    assert rows == 25
    # A query per lease for each relation without djust; a fixed handful with.
    print("with djust", with_djust, "without", without)
    assert without > rows and with_djust <= 4, (with_djust, without)
    second = Client().get("/leases/?page=2").content.decode()
    assert counts(second)[0] == with_djust
