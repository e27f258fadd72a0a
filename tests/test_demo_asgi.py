"""The demo served over ASGI (``examples/asgi.py``, as ``run.py demo`` serves
it with uvicorn): the dashboard page offers its WebSocket, a socket joins it
and its events are answered with diffs, the page in a browser says it is on
the WebSocket; ``djust.broadcast("leases")`` re-reads the rows of an open
dashboard.

The first two tests run the demo's own application and settings in a
uvicorn process (the benchmark's server, ``benchmarks/bench_live_socket.py``);
the broadcast test serves the dashboard of the test URLs in this process
(``tests/asgi_server.py``), so that it can broadcast as a job of the
server's process would. The clients are the benchmark's (wsproto over a
socket, ``http.client``) and Chromium (as tests/test_browser.py drives it).
No sleeps: each client blocks on its socket, the browser waits with
``wait_for_function``."""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import sys
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytest.importorskip("uvicorn", reason="uvicorn comes with the live extra")
pytest.importorskip("wsproto", reason="wsproto comes with the live extra")

from benchmarks import bench_live_socket as bench

ROOT = Path(__file__).resolve().parent.parent


def demo_environment(database: Path) -> dict[str, str]:
    return dict(os.environ, DJANGO_SETTINGS_MODULE="examples.settings",
                DJUST_DEMO_DATABASE=str(database))


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """The demo's application and settings under uvicorn, on a seeded file."""
    if os.environ.get("DJUST_TEST_DB") == "postgres":
        pytest.skip("the demo serves its own SQLite file: the SQLite phases run this")
    env = demo_environment(tmp_path_factory.mktemp("demo") / "rentals.sqlite3")
    for step in (["migrate", "--noinput", "-v", "0"], ["seed_rentals", "--scale", "0.1"]):
        subprocess.run([sys.executable, "-m", "django", *step], cwd=ROOT, env=env,
                       check=True, capture_output=True, timeout=120)
    server = bench.Server(as_demo=True, env=env)
    try:
        yield server
    finally:
        # What the server logged, shown with a failed test's output.
        print(server.output())
        server.stop()


def test_the_demo_application_serves_the_dashboard_and_its_websocket(demo_server):
    jar: dict[str, str] = {}
    page = bench.Page(demo_server.port, jar)
    assert page.socket_url == "/djust/live/" and page.view_id and page.csrf
    # The heading says which transport the page's events take.
    assert 'id="transport"' in page.body and "djust:connected" in page.body
    socket = bench.SocketClient(demo_server.port, page, jar)  # joined, or it raises
    try:
        _ms, first, *_ = socket.event("filter_status", {"status": "pending"})
        _ms, second, *_ = socket.event("sort_by", {"column": "-monthly_rent"})
    finally:
        socket.close()
    assert "html" in first and "(pending, by end_date)" in first["html"]
    assert "diff" in second and "(pending, by -monthly_rent)" in socket.html
    # The demo's comparison paragraph, rendered for each event.
    assert 'id="stats"' in socket.html and first["stats"]["queries"] > 0


def test_the_dashboard_in_a_browser_says_it_is_on_the_websocket(demo_server):
    from tests.test_browser import browser_page

    with browser_page() as (page, errors):
        page.goto(f"http://127.0.0.1:{demo_server.port}/")
        page.wait_for_function(
            "() => document.getElementById('transport').textContent === 'over a WebSocket'")
        page.click("button[data-status='pending']")
        page.wait_for_function("() => document.querySelector('main h2').textContent"
                               ".includes('(pending, by end_date)')")
        # The socket's first render is the whole HTML, the next ones diffs.
        page.click("button[data-column='-monthly_rent']")
        page.wait_for_function("() => document.querySelector('main h2').textContent"
                               ".includes('(pending, by -monthly_rent)')")
        assert page.evaluate("[window.djust.received.renders, window.djust.received.diffs]") \
            == [2, 1]
        assert page.inner_text("#transport") == "over a WebSocket"
        assert errors == []


@contextlib.contextmanager
def in_memory_connections_dropped():
    """The server's threads open their own connections to the tests'
    in-memory SQLite database, which Django never closes (``close()`` would
    destroy the database): they are dropped with the threads' contexts,
    and Python 3.13 warns about each. Those warnings are ignored, and the
    connections collected, while the server runs and before it is left."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "unclosed database", ResourceWarning)
        try:
            yield
        finally:
            gc.collect()


@pytest.mark.django_db(transaction=True)
def test_a_broadcast_re_reads_the_rows_of_an_open_dashboard():
    from django.db.models import F

    import djust
    from examples.rentals.models import Lease
    from examples.rentals.seed import seed
    from tests.asgi_server import asgi_server

    seed(scale=0.1)
    with in_memory_connections_dropped(), asgi_server() as base:
        port = urlsplit(base).port
        jar: dict[str, str] = {}
        page = bench.Page(port, jar, path="/dashboard/")
        socket = bench.SocketClient(port, page, jar)
        try:
            # Answered after the join has subscribed the socket to its groups.
            socket.event("filter_status", {"status": "active"})
            before = socket.html
            lease = bench.shown_lease()
            Lease.objects.filter(pk=lease.pk).update(monthly_rent=F("monthly_rent") + 1000)
            lease.refresh_from_db()
            djust.broadcast("leases")
            pushed = socket.receive()
        finally:
            socket.close()
    assert pushed["t"] == "render" and pushed["ref"] is None and "diff" in pushed
    after = socket.apply(pushed)
    assert str(lease.monthly_rent) in after and str(lease.monthly_rent) not in before
