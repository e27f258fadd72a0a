"""Developer entry points: ``python3 run.py demo`` and ``python3 run.py test``.

Both need nothing but a Python 3.11+ interpreter. Each target gets its own
virtual environment under ``.venv/`` (created on first use, refreshed when
``pyproject.toml`` or the pinned Django range changes).

``demo [--port N] [--database PATH]`` migrates and seeds the rentals
example's SQLite database (``examples/rentals.sqlite3`` unless ``--database``
names another file) and serves the dashboard on 127.0.0.1, port 8000 unless
``--port`` says otherwise, with uvicorn (``examples/asgi.py``: the pages over
HTTP, their events over a WebSocket). Ctrl-C or SIGTERM stops the server and
exits with 130 or 143. ``demo explain TEMPLATE ...`` runs ``python -m djust``
instead.

``test`` runs ruff and then the whole suite (``tests/`` and
``property_tests/``) on SQLite on every target of ``TEST_TARGETS``: Python
3.11 with Django 5.2 LTS, and Python 3.13 with the newest Django; then
``tests/`` again on a throwaway PostgreSQL server that this script starts
itself (see ``scripts/pgserver.py``) and stops afterwards. A throwaway
Redis server (``scripts/redisserver.py``) serves the store's tests. Before
each phase the servers it needs are checked, and one that stopped answering
is restarted on the same port (or the phase fails, saying why). The last
SQLite phase makes SQLite scan tables backwards
(``DJUST_TEST_REVERSE_UNORDERED``), so a test relying on an order no query
asked for fails. On each target, Django's own template tests then run with
djust in the loop (``scripts/django_template_oracle.py``): every template
they render is also extracted, serialized as a LiveView page is and
rendered again, and any difference fails the phase. The run ends with a
table of every phase's counts, time and result. Extra arguments go to
pytest (the PostgreSQL phases collect ``tests/`` unless the arguments name
what to collect).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "scripts"))
import debian  # noqa: E402  (scripts/ is not a package: it is put on the path just above)

VENVS = ROOT / ".venv"

# (python version, Django requirement). The first is also the demo's target.
TEST_TARGETS = [
    ("3.11", "Django>=5.2,<5.3"),
    ("3.13", "Django>=6.0"),
]
PYTEST_NO_TESTS_COLLECTED = 5
# One set of extras for every command, so switching never reinstalls.
TEST_EXTRAS = "test,postgres,browser,redis,bench,realapps,live"
DEMO_PORT = 8000
# How long a stopped child may take to exit before it is killed.
CHILD_STOP_TIMEOUT = 10


def say(message: str) -> None:
    print(f"[run.py] {message}", flush=True)


# ------------------------------------------------------------------ environments

def find_python(version: str) -> str | None:
    """Return an interpreter for ``version`` ("3.11"), or None.

    Looks on PATH first, then in pyenv's versions folder, which is where
    these machines keep the non-default interpreters.
    """
    candidates = []
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        candidates.append(sys.executable)
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(on_path)
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{version}*/bin/python{version}"),
                         reverse=True)
    for candidate in candidates:
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def venv_python(version: str) -> Path:
    return VENVS / f"py{version}" / "bin" / "python"


def venv_stamp(django_spec: str, extras: str) -> str:
    """What a prepared environment records: it is current while this matches."""
    return hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + django_spec.encode() + extras.encode()
    ).hexdigest()


def venv_is_current(version: str, django_spec: str, extras: str) -> bool:
    stamp = VENVS / f"py{version}" / ".djust-stamp"
    return (venv_python(version).exists() and stamp.exists()
            and stamp.read_text() == venv_stamp(django_spec, extras))


def ensure_venv(version: str, django_spec: str, extras: str) -> Path:
    """Create or refresh ``.venv/py<version>`` and return its python."""
    if venv_is_current(version, django_spec, extras):
        return venv_python(version)
    python = find_python(version)
    if python is None:
        sys.exit(
            f"[run.py] Python {version} is needed but was not found on PATH or under "
            f"~/.pyenv/versions. Install it (for example `pyenv install {version}`) and retry."
        )
    venv = VENVS / f"py{version}"
    say(f"preparing {venv.relative_to(ROOT)} ({python}, {django_spec})")
    if not venv_python(version).exists():
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [str(venv_python(version)), "-m", "pip", "install", "--quiet",
           "--disable-pip-version-check"]
    subprocess.run([*pip, "-e", f"{ROOT}[{extras}]", django_spec], check=True)
    (venv / ".djust-stamp").write_text(venv_stamp(django_spec, extras))
    return venv_python(version)


# ------------------------------------------------------------------ the demo

class Stopped(Exception):
    """run.py received SIGINT or SIGTERM."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopSignals:
    """Turns SIGINT and SIGTERM into ``Stopped``; while a child is being
    started the signal is held until the child is known, so that it is
    stopped too rather than left running."""

    def __init__(self) -> None:
        self.holding = False
        self.held: int | None = None

    def __call__(self, signum: int, frame: object) -> None:
        if self.holding:
            self.held = signum
        else:
            raise Stopped(signum)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        previous = {signum: signal.signal(signum, self)
                    for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def start(self, command: list[str], **options) -> subprocess.Popen:
        self.holding = True
        try:
            return subprocess.Popen(command, **options)
        finally:
            self.holding = False

    def raise_held(self) -> None:
        held, self.held = self.held, None
        if held is not None:
            raise Stopped(held)


STOP_SIGNALS = StopSignals()


def stop_child(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=CHILD_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_child(command: list[str], announcement: str | None, **options) -> int:
    """Start ``command``, say ``announcement`` (if any), and return the
    command's exit status; on SIGINT or SIGTERM stop it first, then raise
    ``Stopped``."""
    # A session of its own: Ctrl-C at the terminal reaches run.py alone,
    # which stops the child with SIGTERM, so no child prints a traceback.
    process = STOP_SIGNALS.start(command, start_new_session=True, **options)
    with process:
        try:
            STOP_SIGNALS.raise_held()
            # Said once the child exists, so that whoever stops run.py on
            # seeing it stops the child too.
            if announcement:
                say(announcement)
            return process.wait()
        except Stopped:
            stop_child(process)
            raise


def demo_options(args: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python3 run.py demo")
    parser.add_argument("--port", type=int, default=DEMO_PORT,
                        help=f"port to serve on, on 127.0.0.1 (default {DEMO_PORT})")
    parser.add_argument("--database", type=Path,
                        help="SQLite file to migrate, seed and serve "
                             "(default examples/rentals.sqlite3)")
    return parser.parse_args(args)


def demo_environment(database: Path | None) -> dict[str, str]:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="examples.settings")
    if database is not None:
        env["DJUST_DEMO_DATABASE"] = str(database.resolve())
    return env


def serve_demo(python: str, options: argparse.Namespace) -> int:
    env = demo_environment(options.database)
    django = [python, "-m", "django"]
    database = options.database or "examples/rentals.sqlite3"
    steps = [(["migrate", "--noinput", "-v", "0"], f"migrating {database}"),
             (["seed_rentals", "--if-empty"], f"seeding {database} unless it holds rentals data")]
    for step, announcement in steps:
        code = run_child([*django, *step], announcement, cwd=ROOT, env=env)
        if code != 0:
            say(f"{step[0]} failed (exit {code})")
            return code
    # One uvicorn process serves the pages and their WebSockets
    # (examples/asgi.py); the in-memory channel layer reaches its own pages.
    server = [python, "-m", "uvicorn", "examples.asgi:application", "--host", "127.0.0.1",
              "--port", str(options.port), "--ws", "wsproto", "--http", "h11",
              "--lifespan", "off"]
    return run_child(server, f"the rentals dashboard is at http://127.0.0.1:{options.port}/ "
                             "(events over a WebSocket; Ctrl-C stops it)", cwd=ROOT, env=env)


def run_demo(args: list[str]) -> int:
    """Migrate and seed the example's SQLite database, then serve the dashboard.

    ``python3 run.py demo explain TEMPLATE ...`` runs ``python -m djust`` instead.
    """
    command_line = bool(args) and not args[0].startswith("-")
    # Parsed first: --help or a mistyped option needs no environment.
    options = None if command_line else demo_options(args)
    with STOP_SIGNALS.installed():
        try:
            python = str(ensure_venv(*TEST_TARGETS[0], TEST_EXTRAS))
            if options is None:
                env = dict(os.environ, DJANGO_SETTINGS_MODULE="examples.settings")
                return run_child([python, "-m", "djust", *args], None, cwd=ROOT, env=env)
            return serve_demo(python, options)
        except Stopped as stopped:
            say(f"stopped by {stopped}")
            return 128 + stopped.signum


# ------------------------------------------------------------------ test phases

@dataclass
class Counts:
    """What one pytest run reported (its ``--junitxml`` report)."""

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    xfailed: int = 0


@dataclass
class Phase:
    label: str
    command: list[str]
    env: dict[str, str] | None = None
    # Servers (scripts/redisserver.py, scripts/pgserver.py) the phase needs answering.
    services: Sequence = ()
    pytest: bool = False
    cwd: Path = ROOT
    # A failed gate (ruff) leaves the later phases unrun.
    gate: bool = False


@dataclass
class Outcome:
    label: str
    ok: bool | None  # None: not run
    seconds: float = 0.0
    counts: Counts | None = None
    note: str = ""


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0  # the phases'
    setup_seconds: float = 0.0  # environments, Debian packages, servers

    @property
    def ok(self) -> bool:
        return all(outcome.ok for outcome in self.outcomes)


def ensure_answering(server, label: str) -> str | None:
    """Restart ``server`` if it stopped answering; None when it answers,
    otherwise why the phase ``label`` cannot run."""
    if server.alive():
        return None
    where = f"{server.name} on 127.0.0.1:{server.port}"
    try:
        server.stop()
        server.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return (f"{where} was not answering before phase '{label}' and could not be "
                f"restarted: {exc}")
    if not server.alive():
        return f"{where} was not answering before phase '{label}', nor after a restart"
    say(f"{where} was not answering before phase '{label}': restarted")
    return None


def services_problem(phase: Phase) -> str | None:
    for server in phase.services:
        problem = ensure_answering(server, phase.label)
        if problem:
            return problem
    return None


def read_counts(report: Path) -> Counts | None:
    """The counts of a ``--junitxml`` report; None when pytest wrote none
    (it stopped before the end, or was told to write elsewhere)."""
    try:
        root = ET.parse(report).getroot()
    except (OSError, ET.ParseError):
        return None
    counts = Counts()
    for suite in root.iter("testsuite"):
        failed, errors, skipped = (int(suite.get(name, 0))
                                   for name in ("failures", "errors", "skipped"))
        # pytest reports an expected failure as a skip of type pytest.xfail.
        xfailed = sum(1 for skip in suite.iter("skipped") if skip.get("type") == "pytest.xfail")
        counts.passed += int(suite.get("tests", 0)) - failed - errors - skipped
        counts.failed += failed
        counts.errors += errors
        counts.skipped += skipped - xfailed
        counts.xfailed += xfailed
    return counts


def judge(phase: Phase, code: int) -> tuple[bool, str]:
    if phase.pytest and code == PYTEST_NO_TESTS_COLLECTED:
        return False, "pytest collected no tests: treated as a failure"
    if code != 0:
        return False, f"exit status {code}"
    return True, ""


def run_phase(phase: Phase) -> Outcome:
    """Check the phase's servers, run its command (pytest's output streams
    through) and say how it went."""
    say(f"phase: {phase.label}")
    started = time.monotonic()
    problem = services_problem(phase)
    if problem:
        say(f"{problem}: phase failed without running")
        return Outcome(phase.label, False, time.monotonic() - started, note=problem)
    with tempfile.TemporaryDirectory(prefix="djust-run-") as scratch:
        report = Path(scratch) / "report.xml"
        extra = [f"--junitxml={report}"] if phase.pytest else []
        code = subprocess.run([*phase.command, *extra], cwd=phase.cwd, env=phase.env).returncode
        counts = read_counts(report) if phase.pytest else None
    ok, note = judge(phase, code)
    if not ok:
        say(f"{phase.label} failed ({note})")
    return Outcome(phase.label, ok, time.monotonic() - started, counts, note)


def run_phases(phases: Sequence[Phase]) -> Summary:
    started = time.monotonic()
    summary = Summary()
    for position, phase in enumerate(phases):
        outcome = run_phase(phase)
        summary.outcomes.append(outcome)
        if phase.gate and not outcome.ok:
            summary.outcomes += [Outcome(later.label, None, note=f"{phase.label} failed")
                                 for later in phases[position + 1:]]
            break
    summary.seconds = time.monotonic() - started
    return summary


def duration(seconds: float) -> str:
    """``"42.1 s"``, ``"3 min 07 s"``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def result_word(outcome: Outcome) -> str:
    if outcome.ok is None:
        return "not run"
    return "passed" if outcome.ok else "FAILED"


SUMMARY_COLUMNS = ("passed", "failed", "errors", "skipped", "xfailed")


def summary_lines(summary: Summary) -> list[str]:
    width = max([len("phase"), *(len(outcome.label) for outcome in summary.outcomes)])
    numbers = "".join(f"{name:>9}" for name in SUMMARY_COLUMNS)
    lines = [f"{'phase':<{width}}{numbers}{'time':>12}  result"]
    blank = " " * (9 * len(SUMMARY_COLUMNS))
    if summary.setup_seconds:
        lines.append(f"{'setup':<{width}}{blank}{duration(summary.setup_seconds):>12}")
    for outcome in summary.outcomes:
        counts = outcome.counts
        cells = "".join(f"{getattr(counts, name) if counts else '-':>9}"
                        for name in SUMMARY_COLUMNS)
        line = f"{outcome.label:<{width}}{cells}{duration(outcome.seconds):>12}  "
        lines.append(line + result_word(outcome) + (f" ({outcome.note})" if outcome.note else ""))
    verdict = "all phases passed" if summary.ok else "some phases failed"
    total = summary.setup_seconds + summary.seconds
    lines.append(f"{'total':<{width}}{blank}{duration(total):>12}  {verdict}")
    return lines


def print_summary(summary: Summary) -> None:
    say("summary")
    for line in summary_lines(summary):
        print(f"  {line}", flush=True)


# ------------------------------------------------------------------ run.py test

def ensure_chromium() -> None:
    """The browser test drives Debian's Chromium; install it when missing."""
    if shutil.which("chromium"):
        return
    if not debian.install("chromium"):
        say("Chromium is missing and cannot be installed here: the browser test will "
            "say so (install Debian's `chromium` package)")


def ensure_debian_packages() -> None:
    """Chromium, PostgreSQL and Redis, installed when missing and we may."""
    import pgserver
    import redisserver

    ensure_chromium()
    for ensure in (pgserver.ensure_bindir, redisserver.ensure_binary):
        # What cannot be installed is reported when the servers start.
        with contextlib.suppress(pgserver.PostgresUnavailable, redisserver.RedisUnavailable):
            ensure()


def prepare(targets: list[tuple[str, str]]) -> list[tuple[str, str, Path]]:
    """The targets with their environments' pythons; Debian's packages
    installed meanwhile, as apt-get and pip wait on different downloads."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        packages = pool.submit(ensure_debian_packages)
        pythons = [(version, spec, ensure_venv(version, spec, TEST_EXTRAS))
                   for version, spec in targets]
        packages.result()
    return pythons


def suite_environment(redis, **extra: str) -> dict[str, str]:
    env = dict(os.environ, **redis.environment)
    for name in ("DJUST_TEST_DB", "DJUST_TEST_REVERSE_UNORDERED"):
        env.pop(name, None)
    return dict(env, **extra)


def names_paths(args: list[str]) -> bool:
    """Whether pytest's arguments say what to collect (a path or a test id)."""
    return any((ROOT / arg.split("::")[0]).exists() for arg in args if not arg.startswith("-"))


def suite_phases(pythons: list[tuple[str, str, Path]], args: list[str], redis, postgres,
                ) -> list[Phase]:
    phases = [Phase("ruff check", [str(pythons[0][2]), "-m", "ruff", "check", "."], gate=True)]
    for position, (version, spec, python) in enumerate(pythons):
        pytest = [str(python), "-m", "pytest"]
        # One SQLite phase reverses unordered scans; it costs nothing.
        reversed_scans = position == len(pythons) - 1
        sqlite_env = suite_environment(redis, **(
            {"DJUST_TEST_REVERSE_UNORDERED": "1"} if reversed_scans else {}))
        sqlite_label = f"Python {version}, {spec}, SQLite" + (
            " (unordered scans reversed)" if reversed_scans else "")
        phases.append(Phase(sqlite_label, [*pytest, *args], sqlite_env, (redis,), pytest=True))
        # The database-independent property suite runs once per Python, on
        # SQLite; everything under tests/ runs on both databases.
        pg_env = suite_environment(redis, DJUST_TEST_DB="postgres", **postgres.environment)
        pg_args = args if names_paths(args) else ["tests", *args]
        phases.append(Phase(f"Python {version}, {spec}, PostgreSQL", [*pytest, *pg_args],
                            pg_env, (redis, postgres), pytest=True))
        # Django's own template tests, every render also made through djust
        # (scripts/django_template_oracle.py): fails on any difference.
        phases.append(Phase(f"Python {version}, {spec}, Django's template tests via djust",
                            [str(python), str(ROOT / "scripts" / "django_template_oracle.py")]))
    return phases


class ServersUnavailable(RuntimeError):
    pass


@contextlib.contextmanager
def suite_servers() -> Iterator[tuple]:
    """A started Redis server and PostgreSQL server, removed on exit."""
    import pgserver
    import redisserver

    with contextlib.ExitStack() as stack:
        try:
            redis = stack.enter_context(redisserver.server())
            postgres = stack.enter_context(pgserver.server())
        except (redisserver.RedisUnavailable, pgserver.PostgresUnavailable) as exc:
            raise ServersUnavailable(str(exc)) from exc
        for server in (redis, postgres):
            say(f"{server.name} on 127.0.0.1:{server.port}")
        yield redis, postgres


def run_tests(args: list[str]) -> int:
    started = time.monotonic()
    pythons = prepare(TEST_TARGETS)
    try:
        with suite_servers() as (redis, postgres):
            setup_seconds = time.monotonic() - started
            summary = run_phases(suite_phases(pythons, args, redis, postgres))
    except ServersUnavailable as exc:
        say(f"cannot start the test servers: {exc}")
        return 1
    summary.setup_seconds = setup_seconds
    print_summary(summary)
    return 0 if summary.ok else 1


def main(argv: list[str]) -> int:
    commands = {"demo": run_demo, "test": run_tests}
    if not argv or argv[0] not in commands:
        print(__doc__)
        print("usage: python3 run.py {demo|test} [extra arguments]")
        return 2
    try:
        return commands[argv[0]](argv[1:])
    except KeyboardInterrupt:
        say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
