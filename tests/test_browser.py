"""The dashboard in a real browser: Debian's Chromium driven by Playwright.

``run.py test`` installs Chromium when it is missing. Run directly with
pytest on a machine without it, this module is skipped with that reason;
under CI (``CI`` set) a missing browser is a failure instead.
"""

import contextlib
import os
import shutil

import pytest

from examples.rentals.models import Lease
from examples.rentals.seed import seed

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@contextlib.contextmanager
def browser_page():
    if CHROMIUM is None:
        message = "Chromium is not installed (python3 run.py test installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is installed by python3 run.py test")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            errors = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            yield page, errors
        finally:
            browser.close()


@pytest.mark.django_db(transaction=True)
def test_dashboard_filter_changes_the_table(live_server):
    seed(scale=0.2)
    # Counted before the browser starts: Playwright's event loop makes the
    # ORM refuse to run in this thread afterwards.
    expected = max(1, _expiring("terminated"))  # the {% empty %} row when there are none
    with browser_page() as (page, errors):
        check_filter(page, errors, live_server.url + "/dashboard/", expected)


def check_filter(page, errors, url, expected):
    page.goto(url)
    stats = page.inner_text("#stats")
    assert "With djust" in stats and "Without djust" in stats

    page.click("button[data-status='terminated']")
    page.wait_for_function("() => window.djust.state.status === 'terminated'")
    heading = page.inner_text("section h2")
    assert "terminated" in heading
    assert page.locator("#leases tr").count() == expected
    assert page.evaluate("window.djust.state.status") == "terminated"
    assert errors == []


def _expiring(status: str) -> int:
    import datetime

    today = datetime.date.today()
    return min(50, Lease.objects.filter(
        status=status, end_date__range=(today, today + datetime.timedelta(days=90))).count())
