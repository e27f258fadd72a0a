"""``run.py``: the servers check before each test phase, the summary's
counts, and the demo stopping cleanly on SIGTERM and on Ctrl-C.

The phases here are tiny pytest runs of files written to ``tmp_path``, not
the suite; the servers are this module's own throwaway ones.
"""

from __future__ import annotations

import http.client
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.scripts import loaded_script

ROOT = Path(__file__).resolve().parent.parent
if os.environ.get("DJUST_TEST_DB") == "postgres":
    pytest.skip("run.py's tests use no database: they run in the SQLite phases only",
                allow_module_level=True)
# Generous: the machines running the suite may be busy with other work.
DEADLINE = 60.0

SERVICE_TESTS = '''
import os
import socket

import psycopg


def test_redis_answers_ping():
    port = int(os.environ["DJUST_TEST_REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"PING\\r\\n")
        assert sock.recv(16).startswith(b"+PONG")


def test_postgres_runs_a_query():
    with psycopg.connect(host=os.environ["DJUST_PG_HOST"], port=os.environ["DJUST_PG_PORT"],
                         user=os.environ["DJUST_PG_USER"], dbname="postgres") as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)
'''

KNOWN_OUTCOMES = '''
import pytest


def test_passes_1():
    pass


def test_passes_2():
    pass


def test_passes_3():
    pass


def test_fails_1():
    assert 1 == 2


def test_fails_2():
    assert "a" == "b"


@pytest.fixture
def broken():
    raise RuntimeError("a fixture that fails is an error, not a failure")


def test_errors(broken):
    pass


@pytest.mark.skip(reason="known")
def test_skipped_by_mark():
    pass


def test_skipped_inside():
    pytest.skip("known")


@pytest.mark.xfail(reason="known", strict=True)
def test_expected_failure():
    assert 1 == 2
'''


def missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run these tests: see run.py test)")
    pytest.skip(f"{reason}: `python3 run.py test` installs and prepares what they need")


@pytest.fixture(scope="module")
def run():
    with loaded_script("run.py", "djust_run_script") as module:
        yield module


@pytest.fixture(scope="module")
def servers(run):
    """This module's own Redis and PostgreSQL servers (run.py put scripts/
    on the path)."""
    import pgserver
    import redisserver

    redis_binary, bindir = redisserver.find_binary(), pgserver.find_bindir()
    if redis_binary is None or bindir is None:
        missing("redis-server or PostgreSQL's binaries are not installed")
    redis, postgres = redisserver.Server(redis_binary), pgserver.Server(bindir)
    try:
        redis.start()
        postgres.start()
        yield redis, postgres
    finally:
        redis.remove()
        postgres.remove()


def child_environment(**extra: str) -> dict[str, str]:
    """This process's environment for a tiny pytest run outside the project."""
    env = {name: value for name, value in os.environ.items()
           if name != "DJANGO_SETTINGS_MODULE" and not name.startswith("PYTEST_")}
    return dict(env, **extra)


def tiny_pytest_phase(run, label: str, test_file: Path, services=(), **env: str):
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:django",
               str(test_file)]
    return run.Phase(label, command, child_environment(**env), services, pytest=True,
                     cwd=test_file.parent)


def summary_row(run, summary, label: str) -> list[str]:
    (row,) = [line for line in run.summary_lines(summary) if line.startswith(label)]
    return row[len(label):].split()


def test_a_server_stopped_between_phases_is_restarted_before_the_next(
        run, servers, tmp_path, capfd):
    redis, postgres = servers
    test_file = tmp_path / "test_services.py"
    test_file.write_text(SERVICE_TESTS)

    def phase(label):
        return tiny_pytest_phase(run, label, test_file, (redis, postgres),
                                 **redis.environment, **postgres.environment)

    first = run.run_phase(phase("first"))
    # As something outside run.py would: Redis killed, PostgreSQL shut down.
    redis.process.kill()
    redis.process.wait()
    postgres.stop()
    assert not redis.alive() and not postgres.alive()
    second = run.run_phase(phase("second"))

    output = capfd.readouterr().out
    assert (f"[run.py] redis-server on 127.0.0.1:{redis.port} was not answering before "
            f"phase 'second': restarted") in output
    assert (f"[run.py] PostgreSQL on 127.0.0.1:{postgres.port} was not answering before "
            f"phase 'second': restarted") in output
    assert output.count("restarted") == 2
    assert redis.alive() and postgres.alive()
    assert first.ok and second.ok
    assert first.counts == second.counts == run.Counts(passed=2)
    summary = run.Summary([first, second], seconds=first.seconds + second.seconds)
    # passed, failed, errors, skipped, xfailed; then the time and the result.
    row = summary_row(run, summary, "second")
    assert row[:5] == ["2", "0", "0", "0", "0"] and row[-1] == "passed"
    assert summary_row(run, summary, "total")[-3:] == ["all", "phases", "passed"]


def test_a_server_that_cannot_be_restarted_fails_the_phase_unrun(run, tmp_path, capfd):
    class GoneForGood:
        name, port = "redis-server", 6399

        def alive(self):
            return False

        def stop(self):
            pass

        def start(self):
            raise RuntimeError("its binary was removed")

    marker = tmp_path / "ran"
    phase = run.Phase("needs redis", [sys.executable, "-c", f"open({str(marker)!r}, 'w')"],
                      services=(GoneForGood(),))
    outcome = run.run_phase(phase)
    assert outcome.ok is False and not marker.exists()
    expected = ("redis-server on 127.0.0.1:6399 was not answering before phase 'needs redis' "
                "and could not be restarted: its binary was removed")
    assert outcome.note == expected
    assert f"[run.py] {expected}: phase failed without running" in capfd.readouterr().out


def test_the_summary_counts_each_kind_of_outcome(run, tmp_path, capfd):
    test_file = tmp_path / "test_known.py"
    test_file.write_text(KNOWN_OUTCOMES)
    outcome = run.run_phase(tiny_pytest_phase(run, "known outcomes", test_file))
    assert outcome.counts == run.Counts(passed=3, failed=2, errors=1, skipped=2, xfailed=1)
    assert outcome.ok is False and outcome.note == "exit status 1"
    # pytest's own report went through to the console as it ran.
    assert "2 failed, 3 passed, 2 skipped, 1 xfailed, 1 error" in capfd.readouterr().out
    summary = run.Summary([outcome], seconds=3.0, setup_seconds=60.0)
    assert summary_row(run, summary, "known outcomes")[:5] == ["3", "2", "1", "2", "1"]
    assert "FAILED (exit status 1)" in run.summary_lines(summary)[2]
    assert summary_row(run, summary, "setup") == ["1", "min", "00", "s"]
    assert summary_row(run, summary, "total") == ["1", "min", "03", "s", "some", "phases",
                                                  "failed"]


def test_a_pytest_phase_that_collects_nothing_fails(run, tmp_path):
    test_file = tmp_path / "test_nothing.py"
    test_file.write_text("")
    outcome = run.run_phase(tiny_pytest_phase(run, "nothing", test_file))
    assert outcome.ok is False
    assert outcome.note == "pytest collected no tests: treated as a failure"
    assert outcome.counts == run.Counts()


def test_a_failed_gate_leaves_the_later_phases_unrun(run, tmp_path):
    marker = tmp_path / "ran"
    summary = run.run_phases([
        run.Phase("lint", [sys.executable, "-c", "raise SystemExit(1)"], gate=True),
        run.Phase("tests", [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]),
    ])
    assert [outcome.ok for outcome in summary.outcomes] == [False, None]
    assert not marker.exists()
    rows = run.summary_lines(summary)
    assert rows[1].startswith("lint") and "FAILED (exit status 1)" in rows[1]
    assert rows[2].startswith("tests") and "not run (lint failed)" in rows[2]
    assert summary_row(run, summary, "lint")[:5] == ["-"] * 5


def test_the_suite_s_phases(run):
    class Server:
        environment = {"SERVER": "1"}

    pythons = [("3.11", "Django 5", Path("py311")), ("3.13", "Django 6", Path("py313"))]
    phases = run.suite_phases(pythons, ["-x"], Server(), Server())
    assert [phase.label for phase in phases] == [
        "ruff check", "Python 3.11, Django 5, SQLite", "Python 3.11, Django 5, PostgreSQL",
        "Python 3.11, Django 5, Django's template tests via djust",
        "Python 3.13, Django 6, SQLite (unordered scans reversed)",
        "Python 3.13, Django 6, PostgreSQL",
        "Python 3.13, Django 6, Django's template tests via djust"]
    assert [phase.command[3:] for phase in phases[1:3]] == [["-x"], ["tests", "-x"]]
    suites = [phase for phase in phases[1:] if phase.pytest]
    reversed_scans = [phase.env.get("DJUST_TEST_REVERSE_UNORDERED") for phase in suites]
    assert reversed_scans == [None, None, "1", None]
    assert [phase.env.get("DJUST_TEST_DB") for phase in suites] == [
        None, "postgres", None, "postgres"]
    # The oracle runs on each target's own Python; pytest's arguments are not its.
    oracles = [phase for phase in phases if "template tests" in phase.label]
    assert [phase.command[0] for phase in oracles] == ["py311", "py313"]
    assert all(phase.command[1].endswith("django_template_oracle.py") for phase in oracles)
    named = run.suite_phases(pythons, ["tests/test_seed.py::test_seed_is_deterministic", "-x"],
                             Server(), Server())
    assert named[2].command[3:] == ["tests/test_seed.py::test_seed_is_deterministic", "-x"]


# ----------------------------------------------------------------- the demo

def test_a_demo_child_has_a_session_of_its_own(run, capfd):
    # So a Ctrl-C at the terminal reaches run.py alone, which stops the child
    # with SIGTERM: a Django command stopped by SIGINT prints a traceback.
    code = run.run_child(
        [sys.executable, "-c", "import os; print('own session:', os.getsid(0) == os.getpid())"],
        None)
    assert code == 0 and "own session: True" in capfd.readouterr().out


def test_a_signal_while_a_child_starts_stops_the_child_once_started(run):
    stop = run.STOP_SIGNALS
    with stop.installed():
        # As if SIGTERM had come while Popen ran: held, not raised there.
        stop.holding = True
        os.kill(os.getpid(), signal.SIGTERM)
        stop.holding = False
        assert stop.held == signal.SIGTERM
        # The child waits for input that never comes: unless it is stopped,
        # it ends after the deadline with status 0.
        waits = f"import select, sys; select.select([sys.stdin], [], [], {DEADLINE})"
        with pytest.raises(run.Stopped) as stopped:
            run.run_child([sys.executable, "-c", waits], None, stdin=subprocess.PIPE)
    assert stopped.value.signum == signal.SIGTERM and stop.held is None

class Lines:
    """A child's output, read by a thread as it comes, so that a test can
    wait for a line with a deadline."""

    def __init__(self, stream):
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str) -> bool:
        """Whether a line containing ``text`` came before the end or the deadline."""
        deadline = time.monotonic() + DEADLINE
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                return False
            if line is None:
                return False
            self.seen.append(line)
            if text in line:
                return True
        return False

    def all(self) -> str:
        """Everything, once the output ended (or the deadline passed)."""
        self.wait_for("\0never printed\0")
        return "".join(self.seen)


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return True
    except ConnectionRefusedError:
        return False


def http_status(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE)
    try:
        connection.request("GET", "/")
        return connection.getresponse().status
    finally:
        connection.close()


def wait_until_answering(port: int) -> None:
    # uvicorn prints its "running on" line once it listens: the loop ends
    # at its first try, and needs no pause.
    deadline = time.monotonic() + DEADLINE
    while not answers(port):
        assert time.monotonic() < deadline, f"nothing answers on port {port}"


def demo_processes(database: Path) -> list[int]:
    """Pids of the processes run.py started for the demo on ``database``:
    it hands them the file in their environment."""
    marker = f"DJUST_DEMO_DATABASE={database.resolve()}".encode()
    pids = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            variables = environ.read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        if marker in variables:
            pids.append(int(environ.parent.name))
    return pids


@pytest.fixture(scope="module")
def demo_database(run, tmp_path_factory):
    version, spec = run.TEST_TARGETS[0]
    if not run.venv_is_current(version, spec, run.TEST_EXTRAS):
        missing(f".venv/py{version} (the demo's environment) is not prepared")
    return tmp_path_factory.mktemp("demo") / "rentals.sqlite3"


@pytest.fixture
def start_demo(demo_database):
    started = []

    def start() -> tuple[subprocess.Popen, Lines, int]:
        import debian  # scripts/, on the path since run.py was loaded

        port = debian.free_port()
        # A session of its own, as a shell's foreground job: a Ctrl-C below
        # reaches run.py's process group, as the terminal's would.
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "run.py"), "demo", "--port", str(port),
             "--database", str(demo_database)],
            cwd=ROOT, env=dict(child_environment(), PYTHONUNBUFFERED="1"),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )
        started.append(process)
        return process, Lines(process.stdout), port

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()
    # Children left behind hold the output pipe open: closing it while the
    # reading thread waits on it would block.
    for pid in demo_processes(demo_database):
        os.kill(pid, signal.SIGKILL)
    for process in started:
        process.stdout.close()


def joined_socket(port: int):
    """A WebSocket joined to a dashboard page (the benchmark's client)."""
    pytest.importorskip("wsproto", reason="wsproto comes with the live extra")
    from benchmarks.bench_live_socket import Page, SocketClient

    jar: dict[str, str] = {}
    return SocketClient(port, Page(port, jar), jar)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_the_demo_stops_its_server_on_sigterm_and_ctrl_c(start_demo, demo_database, signum,
                                                         status):
    process, lines, port = start_demo()
    assert lines.wait_for("Uvicorn running on"), "".join(lines.seen)
    wait_until_answering(port)
    # Any HTTP answer will do: the dashboard's own tests judge the page.
    assert http_status(port) in range(200, 600)
    # The page's events go over its WebSocket, still open when the server stops.
    socket = joined_socket(port)
    try:
        if signum == signal.SIGINT:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
        assert process.wait(timeout=DEADLINE) == status
    finally:
        socket.close()
    assert not answers(port) and demo_processes(demo_database) == []
    output = lines.all()
    assert "Traceback" not in output
    name = signal.Signals(signum).name
    assert output.strip().splitlines()[-1] == f"[run.py] stopped by {name}"


def test_ctrl_c_while_the_demo_migrates_prints_no_traceback(start_demo, demo_database):
    demo_database.unlink(missing_ok=True)  # so that migrate and seed_rentals have work to do
    process, lines, _port = start_demo()
    assert lines.wait_for("[run.py] migrating"), "".join(lines.seen)
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=DEADLINE) == 130
    assert demo_processes(demo_database) == []
    output = lines.all()
    assert "Traceback" not in output and "Uvicorn running" not in output
    assert output.strip().splitlines()[-1] == "[run.py] stopped by SIGINT"
