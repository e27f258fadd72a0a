"""A throwaway PostgreSQL server for the test suite and the benchmarks.

``running()`` finds Debian's PostgreSQL binaries (installing the
``postgresql`` package when they are missing and we are root), initialises a
cluster in a temporary directory, starts it on a free loopback port and
yields the environment variables the test settings read. The server and its
files are removed on exit. PostgreSQL refuses to run as root, so as root the
cluster belongs to the ``postgres`` system user. ``Server`` is the object
behind it: ``run.py test`` restarts a server that stopped between two
phases on the same port and data directory, so the variables stay valid.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import debian

USER = "djust"
# A start or stop that takes longer than this is a broken server, not a slow one.
CONTROL_TIMEOUT = 30


class PostgresUnavailable(RuntimeError):
    pass


def find_bindir() -> str | None:
    """Debian's PostgreSQL binaries (the last version by name), else pg_config's, else None."""
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if versions:
        return os.path.dirname(versions[0])
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidate = out.stdout.strip()
        if os.path.exists(os.path.join(candidate, "initdb")):
            return candidate
    return None


def _install() -> None:
    if not debian.install("postgresql"):
        raise PostgresUnavailable(
            "PostgreSQL server binaries were not found. Install Debian's `postgresql` "
            "package (apt-get install postgresql) and run the tests again."
        )


def ensure_bindir() -> str:
    """The directory of ``initdb`` and ``pg_ctl``, installing them when we may."""
    bindir = find_bindir()
    if bindir is None:
        _install()
        bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable("the postgresql package installed no initdb")
    return bindir


def _cluster_owner() -> str | None:
    """The system user the cluster must belong to: ``postgres`` as root, else us."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PostgresUnavailable("running as root but there is no `postgres` user") from exc
    return "postgres"


def _as_owner(command: list[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *command] if user else command


class Server:
    """One PostgreSQL cluster in a temporary directory, on a fixed loopback
    port; ``stop()`` and ``start()`` may be called again and reuse the data
    directory (``initdb`` runs on the first start only)."""

    name = "PostgreSQL"

    def __init__(self, bindir: str, port: int | None = None):
        self.bindir = bindir
        self.owner = _cluster_owner()
        self.port = port or debian.free_port()
        self.workdir = tempfile.mkdtemp(prefix="djust-pg-")
        self.data = os.path.join(self.workdir, "data")
        if self.owner:
            shutil.chown(self.workdir, self.owner)

    @property
    def environment(self) -> dict[str, str]:
        """What the test settings read to connect."""
        return {"DJUST_PG_HOST": "127.0.0.1", "DJUST_PG_PORT": str(self.port),
                "DJUST_PG_USER": USER}

    def _control(self, program: str, *args: str) -> subprocess.CompletedProcess:
        command = _as_owner([os.path.join(self.bindir, program), *args], self.owner)
        return subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, check=False)

    def _initialise(self) -> None:
        done = self._control("initdb", "-D", self.data, "-U", USER, "--auth=trust",
                             "--encoding=UTF8", "--no-sync")
        if done.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {done.stderr.strip()}")

    def start(self) -> None:
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            self._initialise()
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        done = self._control("pg_ctl", "-D", self.data, "-o", options, "-w",
                             "-t", str(CONTROL_TIMEOUT), "-l", self.log, "start")
        if done.returncode != 0:
            raise PostgresUnavailable(
                f"pg_ctl start failed on port {self.port}: {done.stderr.strip()} "
                f"(server log: {self.log})")

    @property
    def log(self) -> str:
        return os.path.join(self.workdir, "log")

    def alive(self) -> bool:
        """Whether the server accepts connections (``pg_isready``)."""
        probe = subprocess.run(
            [os.path.join(self.bindir, "pg_isready"), "-q", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", USER, "-d", "postgres", "-t", "5"],
            check=False,
        )
        return probe.returncode == 0

    def stop(self) -> None:
        # Fails harmlessly when the server is not running.
        self._control("pg_ctl", "-D", self.data, "-m", "fast", "-w",
                      "-t", str(CONTROL_TIMEOUT), "stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def server():
    """A started ``Server``, removed on exit."""
    return debian.started(Server(ensure_bindir()))


@contextlib.contextmanager
def running() -> Iterator[dict[str, str]]:
    """Start a server and yield the ``DJUST_PG_*`` variables."""
    with server() as instance:
        print(f"[pgserver] PostgreSQL ({instance.bindir}) on 127.0.0.1:{instance.port}",
              flush=True)
        yield instance.environment


if __name__ == "__main__":
    # Development helper: run a command with a server, e.g.
    # python scripts/pgserver.py env DJUST_TEST_DB=postgres .venv/py3.11/bin/python -m pytest
    sys.exit(debian.run_with(running, sys.argv[1:]))
