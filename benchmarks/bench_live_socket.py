"""LiveView events over the WebSocket vs over the HTTP POST fallback.

Run: ``python -m benchmarks.bench_live_socket`` from the repository root
(the live extra: uvicorn, wsproto, channels). It seeds the rentals example
(``examples.settings``, ``examples.rentals.seed`` at scale 1.0) into a
temporary SQLite file and starts the real ASGI application
(``examples/asgi.py``: ``live_application()``) under uvicorn (h11 for HTTP,
wsproto for WebSockets) in a process of its own, on a loopback socket this
process opened and handed over. Then, as a browser would:

- two ``GET /``, one cookie jar (the CSRF cookie): two pages of the
  dashboard, each with its view id (``data-djust-id``) and CSRF token
  (``data-djust-csrf``) on the dj-root element;
- page A joins ``DJUST["WEBSOCKET_URL"]`` (``{"t": "join", ..., "diff":
  true}``) over a socket driven by wsproto, offering permessage-deflate as
  browsers do; page B sends the same events as JSON POSTs to ``/`` over one
  kept-alive ``http.client`` connection (djust.js's fallback).

The events cycle ``filter_status`` pending → active, ``sort_by`` rent →
end date; each goes to A and then B (or B then A, alternating), so the two
transports are measured side by side, in one run, on the same states. The
round trip is from the send to the whole reply received (its JSON not yet
read, on either transport); p50, p99, and the same less the server's render
of the page (timed in the server, sent in the reply's ``stats``): the
transport's share, with the state's storing, the diff and the HTTP request
handling. Events per second of one sequential client are the inverse of the
mean round trip. Then ``--connections`` clients at once (each its own page)
send as many events again over each transport, in four rounds taking turns:
the events per second of the one server process, and its CPU time per event
meanwhile (``/proc``; less
sensitive than the clock to other work on the machine).

Bytes per event, medians: the WebSocket's reply message (its JSON text: a
diff against the HTML the socket sent last, after the first render) and
what came on the wire for it (compressed frames), against the POST's
response body (the whole inner HTML and the state; Django sends it
uncompressed without GZipMiddleware), for:

- ``filter (status)`` and ``sort``: the cycle's events;
- ``one row changed``: this process (not the server) raises one displayed
  lease's rent in the database, then each page sends ``filter_status`` with
  the status it already shows. The handler reloads its QuerySets, so the
  render reads the new row: what a page sends after someone else's edit
  (``djust.broadcast`` would have the server render it unasked; the bytes are
  the same). Only that row's cell changes;
- ``nothing changed``: the same event again, the database untouched.

Every reply is checked: the WebSocket page's HTML rebuilt with
``djust.diff.apply_diff`` from the previous one must equal the HTML of the
POST's reply for the same state, and the states must be equal, or the run
stops.

The dashboard is served without the demo's side-by-side comparison (its
``render_page`` override renders the page twice, the second time N+1, and
prints timings that change on every event), as ``bench_page_render`` does,
so that the transports' share of the round trip shows; ``--as-demo`` keeps
it (the timings paragraph is left out of the comparison).

Options: ``--events N`` (300), ``--rows N`` (30), ``--connections N`` (4),
``--scale X`` (1.0), ``--as-demo``, ``--json PATH`` (the figures, for tests).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import http.client
import http.cookies
import json
import math
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120.0
CYCLE = [
    ("filter (status)", "filter_status", {"status": "pending"}),
    ("filter (status)", "filter_status", {"status": "active"}),
    ("sort", "sort_by", {"column": "-monthly_rent"}),
    ("sort", "sort_by", {"column": "end_date"}),
]
# The demo's timings paragraph (--as-demo): different on every render.
STATS = re.compile(r'<p class="stats" id="stats">.*?</p>', re.S)
ATTRIBUTE = 'data-djust-{}="([^"]*)"'


class Mismatch(Exception):
    """A WebSocket reply did not rebuild the POST's HTML for the same state."""


# ------------------------------------------------------------------ the server

def serve(fd: int, as_demo: bool) -> None:
    """The server process: uvicorn on the listening socket ``fd``."""
    import uvicorn

    import examples.asgi  # sets Django up, before the imports below
    from djust.live import LiveView
    from examples.rentals.views import Dashboard

    # Without --as-demo, the LiveView the dashboard subclasses, without the
    # comparison render; either way timed, in the reply's stats.
    Dashboard.render_page = timed_render(
        Dashboard.render_page if as_demo else LiveView.render_page)
    listener = socket.socket(fileno=fd)
    config = uvicorn.Config(examples.asgi.application, ws="wsproto", http="h11", lifespan="off",
                            loop="asyncio", log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[listener])


def timed_render(render_page):
    """``render_page`` reporting its milliseconds as ``stats["render_ms"]``."""

    def timed(view, request):
        started = time.perf_counter()
        page, browser_state = render_page(view, request)
        view.last_stats = dict(view.last_stats or {},
                               render_ms=(time.perf_counter() - started) * 1000)
        return page, browser_state

    return timed


class Server:
    """The ASGI application in a child process; the listening socket is
    opened here, so requests wait in its backlog until the child serves."""

    def __init__(self, as_demo: bool, env: dict[str, str] | None = None) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        command = [sys.executable, "-m", "benchmarks.bench_live_socket",
                   "--serve", str(listener.fileno())] + (["--as-demo"] if as_demo else [])
        self.process = subprocess.Popen(command, cwd=ROOT, pass_fds=[listener.fileno()],
                                        stdout=self.log, stderr=subprocess.STDOUT, env=env)
        listener.close()

    def cpu_seconds(self) -> float | None:
        """The server's CPU time so far (user + system), where /proc says."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


# ------------------------------------------------------------------ the clients

class Page:
    """One page of the dashboard: GET ``path`` with the browser's cookie jar."""

    def __init__(self, port: int, jar: dict[str, str], path: str = "/") -> None:
        self.path = path
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        headers = {"Cookie": cookie_header(jar)} if jar else {}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        self.body = body = response.read().decode()
        connection.close()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}: {body[:300]}")
        for header in response.headers.get_all("Set-Cookie") or ():
            for name, morsel in http.cookies.SimpleCookie(header).items():
                jar[name] = morsel.value
        self.view_id, self.csrf, self.socket_url = (
            read_attribute(body, name) for name in ("id", "csrf", "ws"))
        if not self.socket_url:
            raise RuntimeError("the page offers no WebSocket (data-djust-ws)")


def read_attribute(page: str, name: str) -> str | None:
    match = re.search(ATTRIBUTE.format(name), page)
    return match.group(1) if match else None


def cookie_header(jar: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in jar.items())


class HttpClient:
    """djust.js's fallback: the event as a JSON POST to the page's URL."""

    def __init__(self, port: int, page: Page, jar: dict[str, str]) -> None:
        self.page = page
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        self.connection.connect()
        self.connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.headers = {"Content-Type": "application/json", "X-CSRFToken": page.csrf,
                        "X-Requested-With": "djust", "Cookie": cookie_header(jar),
                        "Origin": f"http://127.0.0.1:{port}"}

    def event(self, name: str, params: dict) -> tuple[float, dict, int, int]:
        """Milliseconds, the reply, its body's bytes, its bytes with the headers."""
        body = json.dumps({"id": self.page.view_id, "event": name, "params": params}).encode()
        started = time.perf_counter()
        self.connection.request("POST", self.page.path, body=body, headers=self.headers)
        response = self.connection.getresponse()
        content = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"POST {name} answered {response.status}: {content[:300]!r}")
        head = len(f"HTTP/1.1 {response.status} {response.reason}\r\n\r\n") + sum(
            len(f"{key}: {value}\r\n") for key, value in response.getheaders())
        return elapsed, json.loads(content), len(content), len(content) + head

    def close(self) -> None:
        self.connection.close()


class SocketClient:
    """A blocking WebSocket client: wsproto (sans-IO) over a plain socket."""

    def __init__(self, port: int, page: Page, jar: dict[str, str], deflate: bool = True):
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import AcceptConnection, Request
        from wsproto.extensions import PerMessageDeflate

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending: collections.deque = collections.deque()
        self.wire = 0  # bytes received since the last send
        headers = [(b"cookie", cookie_header(jar).encode()),
                   (b"origin", f"http://127.0.0.1:{port}".encode())]
        self.sock.sendall(self.ws.send(Request(
            host=f"127.0.0.1:{port}", target=page.socket_url, extra_headers=headers,
            extensions=[PerMessageDeflate()] if deflate else [])))
        accepted = self._next()
        if not isinstance(accepted, AcceptConnection):
            raise RuntimeError(f"the WebSocket handshake was refused: {accepted!r}")
        self.deflate = bool(accepted.extensions)
        self.ref = 0
        self.send({"t": "join", "path": page.path, "id": page.view_id, "csrf": page.csrf,
                   "diff": True, "rejoin": False})
        joined = self.receive()
        if joined.get("t") != "joined":
            raise RuntimeError(f"the join was refused: {joined}")
        self.html: str | None = None  # the inner HTML as the page would hold it
        self.state_text: str | None = None  # the browser state's JSON text it holds
        self.state: dict | None = None
        self.diffs = 0

    def _next(self):
        while not self.pending:
            data = self.sock.recv(1 << 16)
            if not data:
                raise ConnectionError("the server closed the WebSocket")
            self.wire += len(data)
            self.ws.receive_data(data)
            self.pending.extend(self.ws.events())
        return self.pending.popleft()

    def send(self, message: dict) -> None:
        from wsproto.events import Message

        self.wire = 0
        self.sock.sendall(self.ws.send(Message(data=json.dumps(message))))

    def receive(self) -> dict:
        return json.loads(self.receive_text())

    def receive_text(self) -> str:
        from wsproto.events import CloseConnection, Ping, TextMessage

        parts = []
        while True:
            event = self._next()
            if isinstance(event, TextMessage):
                parts.append(event.data)
                if event.message_finished:
                    return "".join(parts)
            elif isinstance(event, Ping):
                self.sock.sendall(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                raise ConnectionError(f"the server closed the WebSocket ({event.code})")

    def event(self, name: str, params: dict) -> tuple[float, dict, int, int]:
        """Milliseconds, the reply, its message's bytes, the wire's bytes."""
        self.ref += 1
        started = time.perf_counter()
        self.send({"t": "event", "ref": self.ref, "event": name, "params": params})
        text = self.receive_text()
        elapsed = (time.perf_counter() - started) * 1000  # as for the POST: JSON not read
        reply = json.loads(text)
        if reply.get("t") != "render" or reply.get("ref") != self.ref:
            raise RuntimeError(f"event {name}: unexpected reply {reply}")
        self.apply(reply)
        return elapsed, reply, len(text.encode()), self.wire

    def apply(self, reply: dict) -> str:
        """The page's inner HTML after a render (an event's or a push's), as
        djust.js rebuilds it."""
        from djust.diff import apply_render

        self.diffs += "diff" in reply
        self.html, self.state_text = apply_render(self.html, self.state_text, reply)
        self.state = reply["state"] if "state" in reply else json.loads(self.state_text)
        return self.html

    def close(self) -> None:
        from wsproto.events import CloseConnection

        with contextlib.suppress(OSError):
            self.sock.sendall(self.ws.send(CloseConnection(code=1000)))
        self.sock.close()


# ------------------------------------------------------------------ measuring

class Results:
    def __init__(self) -> None:
        self.ms = {"websocket": [], "http": []}
        # The round trip less the server's render: the transport's share.
        self.outside = {"websocket": [], "http": []}
        self.bytes: dict[str, dict[str, list[int]]] = collections.defaultdict(
            lambda: {"ws message": [], "ws wire": [], "ws diff": [], "state": [],
                     "http body": [], "http response": []})
        self.checked = 0


def check(case: str, ws: SocketClient, ws_reply: dict, http_reply: dict) -> None:
    if STATS.sub("", ws.html) != STATS.sub("", http_reply["html"]):
        raise Mismatch(f"{case}: the WebSocket page's HTML differs from the POST's")
    if ws.state != http_reply["state"]:
        raise Mismatch(f"{case}: the WebSocket reply's state differs from the POST's")


def pair(results: Results, case: str, ws: SocketClient, web: HttpClient, name: str,
         params: dict, ws_first: bool, timed: bool = True) -> None:
    """One event on each page, side by side; checked; recorded."""
    order = [ws, web] if ws_first else [web, ws]
    answers = {id(client): client.event(name, params) for client in order}
    ws_ms, ws_reply, ws_message, ws_wire = answers[id(ws)]
    http_ms, http_reply, http_body, http_response = answers[id(web)]
    check(case, ws, ws_reply, http_reply)
    results.checked += 1
    if timed:
        results.ms["websocket"].append(ws_ms)
        results.ms["http"].append(http_ms)
        results.outside["websocket"].append(ws_ms - ws_reply["stats"]["render_ms"])
        results.outside["http"].append(http_ms - http_reply["stats"]["render_ms"])
    sizes = results.bytes[case]
    sizes["ws message"].append(ws_message)
    sizes["ws wire"].append(ws_wire)
    changes = ws_reply["diff"] if "diff" in ws_reply else ws_reply["html"]
    sizes["ws diff"].append(len(json.dumps(changes).encode()))
    state = next((ws_reply[key] for key in ("sdiff", "stext", "state") if key in ws_reply), "")
    sizes["state"].append(len(json.dumps(state).encode()) if state != "" else 0)
    sizes["http body"].append(http_body)
    sizes["http response"].append(http_response)


def shown_lease():
    """The first lease the dashboard shows (active, ends within 90 days, by
    end date)."""
    import datetime

    from examples.rentals.models import Lease

    today = datetime.date.today()
    lease = Lease.objects.filter(
        status="active", end_date__range=(today, today + datetime.timedelta(days=90)),
    ).order_by("end_date", "pk").first()
    if lease is None:
        raise RuntimeError("no lease on the dashboard to change: use a larger --scale")
    return lease


def change_one_row() -> None:
    """Raise the rent of the first lease the dashboard shows, from this
    process, through the ORM."""
    from django.db.models import F

    from examples.rentals.models import Lease

    Lease.objects.filter(pk=shown_lease().pk).update(monthly_rent=F("monthly_rent") + 1)


def concurrent(server: Server, jar: dict[str, str], transport: str, connections: int,
               events: int) -> tuple[float, float | None]:
    """Events per second of ``connections`` clients at once, each its own
    page, and the server's CPU milliseconds per event meanwhile."""
    port = server.port
    clients = []
    for _ in range(connections):
        page = Page(port, jar)
        clients.append(SocketClient(port, page, jar) if transport == "websocket"
                       else HttpClient(port, page, jar))
    each = max(1, events // connections)
    barrier = threading.Barrier(connections + 1)
    failures = []

    def run(client) -> None:
        barrier.wait()
        try:
            for index in range(each):
                _case, name, params = CYCLE[index % len(CYCLE)]
                client.event(name, params)
        except Exception as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    cpu_before = server.cpu_seconds()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu_after = server.cpu_seconds()
    for client in clients:
        client.close()
    if failures:
        raise failures[0]
    cpu = None if cpu_before is None or cpu_after is None else (
        (cpu_after - cpu_before) * 1000 / (each * connections))
    return each * connections / elapsed, cpu


def concurrent_rounds(server: Server, jar: dict[str, str], options: argparse.Namespace,
                      rounds: int = 4) -> dict[str, tuple[float, float | None]]:
    """``concurrent`` for each transport in turn, over ``rounds`` rounds
    (the order swapped each round), so that other work on the machine
    weighs on both alike: events per second and CPU ms per event."""
    events = max(options.connections, options.events // rounds)
    totals = {"websocket": [0.0, 0.0, 0], "http": [0.0, 0.0, 0]}  # seconds, CPU ms, events
    cpu_known = True
    for index in range(rounds):
        order = ("websocket", "http") if index % 2 == 0 else ("http", "websocket")
        for transport in order:
            rate, cpu = concurrent(server, jar, transport, options.connections, events)
            done = max(1, events // options.connections) * options.connections
            totals[transport][0] += done / rate
            totals[transport][1] += (cpu or 0.0) * done
            totals[transport][2] += done
            cpu_known = cpu_known and cpu is not None
    return {transport: (count / seconds, cpu_ms / count if cpu_known else None)
            for transport, (seconds, cpu_ms, count) in totals.items()}


def percentile(values: list[float], rank: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)]


def measure(server: Server, options: argparse.Namespace) -> dict:
    jar: dict[str, str] = {}
    ws_page = Page(server.port, jar)
    http_page = Page(server.port, jar)
    ws = SocketClient(server.port, ws_page, jar)
    web = HttpClient(server.port, http_page, jar)
    results = Results()
    try:
        # Warm-up (not timed): the socket's first render sends the whole HTML.
        for index in range(len(CYCLE)):
            case, name, params = CYCLE[index]
            pair(results, "warm-up", ws, web, name, params, True, timed=False)
        for index in range(options.events):
            case, name, params = CYCLE[index % len(CYCLE)]
            pair(results, case, ws, web, name, params, ws_first=index % 2 == 0)
        # The cycle ends on active, by end date: the rows change_one_row picks.
        for index in range(options.rows):
            change_one_row()
            pair(results, "one row changed", ws, web, "filter_status", {"status": "active"},
                 ws_first=index % 2 == 0, timed=False)
            pair(results, "nothing changed", ws, web, "filter_status", {"status": "active"},
                 ws_first=index % 2 == 1, timed=False)
        deflate, diffs = ws.deflate, ws.diffs
    finally:
        ws.close()
        web.close()
    sequential = {transport: len(ms) / (sum(ms) / 1000) for transport, ms in results.ms.items()}
    parallel = concurrent_rounds(server, jar, options) if options.connections > 1 else {}
    results.bytes.pop("warm-up")
    return {
        "events": options.events, "rows": options.rows, "connections": options.connections,
        "deflate": deflate, "diffs": diffs, "checked": results.checked,
        "round_trip_ms": {transport: {"p50": percentile(ms, 50), "p99": percentile(ms, 99),
                                      "mean": statistics.fmean(ms)}
                          for transport, ms in results.ms.items()},
        "outside_render_ms": {transport: {"p50": percentile(ms, 50),
                                          "p99": percentile(ms, 99)}
                              for transport, ms in results.outside.items()},
        "events_per_second": {"1 sequential": sequential,
                              **({f"{options.connections} concurrent": {
                                  transport: rate for transport, (rate, _cpu) in parallel.items()}}
                                 if parallel else {})},
        "server_cpu_ms_per_event": {transport: cpu for transport, (_rate, cpu)
                                    in parallel.items() if cpu is not None},
        "bytes": {case: {kind: statistics.median(values) for kind, values in sizes.items()}
                  for case, sizes in results.bytes.items()},
    }


# ------------------------------------------------------------------ the report

def prepare_database(path: Path, scale: float) -> int:
    os.environ["DJANGO_SETTINGS_MODULE"] = "examples.settings"
    os.environ["DJUST_DEMO_DATABASE"] = str(path)
    import django

    django.setup()
    from django.core.management import call_command

    from examples.rentals.seed import seed

    call_command("migrate", verbosity=0, interactive=False)
    return seed(scale=scale)["leases"]


def machine() -> str:
    import django

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} "
            f"{platform.release()}; CPython {platform.python_version()}, Django "
            f"{django.get_version()}; load average {load} at the end")


def ratio(a: float, b: float, digits: int = 2) -> str:
    return f"{a / b:.{digits}f}x" if b else "-"


def print_report(figures: dict, options: argparse.Namespace, leases: int) -> None:
    served = ("the demo's Dashboard (with its JIT-off comparison render)" if options.as_demo
              else "the Dashboard LiveView (without the demo's comparison render)")
    print(machine())
    print(f"rentals dashboard, scale {options.scale} ({leases} leases): {served}, served by "
          "uvicorn (h11, wsproto) in one process")
    print(f"{figures['events']} events per transport, side by side, one sequential client; "
          f"permessage-deflate {'negotiated' if figures['deflate'] else 'off'}")
    print()
    times = figures["round_trip_ms"]
    print(f"{'round trip (ms)':<26}{'WebSocket':>11}{'HTTP POST':>11}{'WS/HTTP':>9}")
    for name in ("p50", "p99", "mean"):
        ws, web = times["websocket"][name], times["http"][name]
        print(f"  {name:<24}{ws:>11.2f}{web:>11.2f}{ratio(ws, web):>9}")
    outside = figures["outside_render_ms"]
    for name in ("p50", "p99"):
        ws, web = outside["websocket"][name], outside["http"][name]
        print(f"  {name + ' less the render':<24}{ws:>11.2f}{web:>11.2f}{ratio(ws, web):>9}")
    print(f"{'events per second':<26}")
    for label, rates in figures["events_per_second"].items():
        ws, web = rates["websocket"], rates["http"]
        print(f"  {label + ' client(s)':<24}{ws:>11.0f}{web:>11.0f}{ratio(ws, web):>9}")
    cpu = figures["server_cpu_ms_per_event"]
    if cpu:
        ws, web = cpu["websocket"], cpu["http"]
        print(f"{'server CPU ms per event':<26}{ws:>11.2f}{web:>11.2f}{ratio(ws, web):>9}"
              "  (during the concurrent clients' events)")
    print()
    print(f"{'bytes per event (median)':<26}{'WS message':>11}{'WS/HTTP':>9}{'HTTP body':>11}"
          f"{'of which: diff':>16}{'state':>7}{'WS wire':>9}{'HTTP+headers':>14}")
    for case, sizes in figures["bytes"].items():
        message, body = sizes["ws message"], sizes["http body"]
        print(f"  {case:<24}{message:>11.0f}{ratio(message, body, 3):>9}{body:>11.0f}"
              f"{sizes['ws diff']:>16.0f}{sizes['state']:>7.0f}{sizes['ws wire']:>9.0f}"
              f"{sizes['http response']:>14.0f}")
    print("  (WS message: the reply's JSON text; of which the diff (or the first HTML) and\n"
          "   the state's (its text, a diff of it, or 0 when unchanged); WS wire: the frames "
          "as received, "
          f"permessage-deflate {'on' if figures['deflate'] else 'off'})")
    print()
    print(f"checked: {figures['checked']} WebSocket replies ({figures['diffs']} diffs applied "
          "with djust.diff.apply_diff) rebuilt the POST's HTML and state")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_live_socket")
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rows", type=int, default=30)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--as-demo", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.serve is not None:
        serve(options.serve, options.as_demo)
        return
    with tempfile.TemporaryDirectory(prefix="djust-bench-socket-") as scratch:
        leases = prepare_database(Path(scratch) / "rentals.sqlite3", options.scale)
        server = Server(options.as_demo)
        try:
            figures = measure(server, options)
        except Mismatch as exc:
            sys.exit(f"{exc}; no figures")
        except Exception:
            print(server.output(), file=sys.stderr)
            raise
        finally:
            server.stop()
    print_report(figures, options, leases)
    if options.json:
        options.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
