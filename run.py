"""Developer entry points: ``python3 run.py demo`` and ``python3 run.py test``.

Both need nothing but a Python 3.11+ interpreter. Each target gets its own
virtual environment under ``.venv/`` (created on first use, refreshed when
``pyproject.toml`` or the pinned Django range changes).

``test`` runs ruff and then the whole suite (``tests/`` and
``property_tests/``) on SQLite on every target of ``TEST_TARGETS``: Python
3.11 with Django 5.2 LTS, and Python 3.13 with the newest Django; then
``tests/`` again on a throwaway PostgreSQL server that this script starts
itself (see ``scripts/pgserver.py``) and stops afterwards. A throwaway
Redis server (``scripts/redisserver.py``) serves the store's tests.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
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
TEST_EXTRAS = "test,postgres,browser,redis,bench"


def say(message: str) -> None:
    print(f"[run.py] {message}", flush=True)


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


def ensure_venv(version: str, django_spec: str, extras: str) -> Path:
    """Create or refresh ``.venv/py<version>`` and return its python."""
    python = find_python(version)
    if python is None:
        sys.exit(
            f"[run.py] Python {version} is needed but was not found on PATH or under "
            f"~/.pyenv/versions. Install it (for example `pyenv install {version}`) and retry."
        )
    venv = VENVS / f"py{version}"
    venv_python = venv / "bin" / "python"
    stamp = venv / ".djust-stamp"
    wanted = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + django_spec.encode() + extras.encode()
    ).hexdigest()
    if venv_python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return venv_python
    say(f"preparing {venv.relative_to(ROOT)} ({python}, {django_spec})")
    if not venv_python.exists():
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [str(venv_python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-e", f"{ROOT}[{extras}]", django_spec], check=True)
    stamp.write_text(wanted)
    return venv_python


def run_demo(args: list[str]) -> int:
    """Migrate and seed the example's SQLite database, then serve the dashboard.

    ``python3 run.py demo explain TEMPLATE ...`` runs ``python -m djust`` instead.
    """
    version, django_spec = TEST_TARGETS[0]
    python = str(ensure_venv(version, django_spec, TEST_EXTRAS))
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="examples.settings")
    if args:
        return subprocess.run([python, "-m", "djust", *args], cwd=ROOT, env=env).returncode
    django = [python, "-m", "django"]
    subprocess.run([*django, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([*django, "seed_rentals", "--if-empty"], cwd=ROOT, env=env, check=True)
    say("the rentals dashboard is at http://127.0.0.1:8000/ (Ctrl-C stops it)")
    return subprocess.run([*django, "runserver", "127.0.0.1:8000", "--noreload"],
                          cwd=ROOT, env=env).returncode


def ensure_chromium() -> None:
    """The browser test drives Debian's Chromium; install it when missing."""
    if shutil.which("chromium"):
        return
    if not debian.install("chromium"):
        say("Chromium is missing and cannot be installed here: the browser test will "
            "say so (install Debian's `chromium` package)")


def run_pytest(python: Path, label: str, env: dict[str, str], extra: list[str]) -> bool:
    say(f"pytest on {label}")
    code = subprocess.run([str(python), "-m", "pytest", *extra], cwd=ROOT, env=env).returncode
    if code == PYTEST_NO_TESTS_COLLECTED:
        say(f"pytest collected no tests on {label}: treating that as a failure")
        return False
    if code != 0:
        say(f"pytest failed on {label} (exit {code})")
        return False
    return True


def run_tests(args: list[str]) -> int:
    import pgserver
    import redisserver

    pythons = [(v, spec, ensure_venv(v, spec, TEST_EXTRAS))
               for v, spec in TEST_TARGETS]
    ensure_chromium()
    first = pythons[0][2]
    say("ruff check")
    if subprocess.run([str(first), "-m", "ruff", "check", "."], cwd=ROOT).returncode != 0:
        return 1
    ok = True
    with pgserver.running() as pg_env, redisserver.running() as redis_env:
        for version, spec, python in pythons:
            base = dict(os.environ, **redis_env)
            base.pop("DJUST_TEST_DB", None)
            ok &= run_pytest(python, f"Python {version}, {spec}, SQLite", base, args)
            # The database-independent property suite runs once per Python,
            # on SQLite; everything under tests/ runs on both databases.
            pg = dict(base, DJUST_TEST_DB="postgres", **pg_env)
            ok &= run_pytest(python, f"Python {version}, {spec}, PostgreSQL", pg,
                             args or ["tests"])
    say("all suites passed" if ok else "some suites failed")
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    commands = {"demo": run_demo, "test": run_tests}
    if not argv or argv[0] not in commands:
        print(__doc__)
        print("usage: python3 run.py {demo|test} [extra arguments]")
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
