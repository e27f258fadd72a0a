"""A throwaway PostgreSQL server for the test suite.

``running()`` finds Debian's PostgreSQL binaries (installing the
``postgresql`` package when they are missing and we are root), initialises a
cluster in a temporary directory, starts it on a free loopback port and
yields the environment variables the test settings read. The server and its
files are removed on exit. PostgreSQL refuses to run as root, so as root the
cluster belongs to the ``postgres`` system user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import debian


class PostgresUnavailable(RuntimeError):
    pass


def _bindir() -> str | None:
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


def _as_owner(command: list[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *command] if user else command


@contextlib.contextmanager
def running() -> Iterator[dict[str, str]]:
    bindir = _bindir()
    if bindir is None:
        _install()
        bindir = _bindir()
    if bindir is None:
        raise PostgresUnavailable("the postgresql package installed no initdb")
    user = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise PostgresUnavailable("running as root but there is no `postgres` user") from exc
        user = "postgres"
    workdir = tempfile.mkdtemp(prefix="djust-pg-")
    data = os.path.join(workdir, "data")
    port = debian.free_port()
    if user:
        shutil.chown(workdir, user)
    subprocess.run(
        _as_owner([f"{bindir}/initdb", "-D", data, "-U", "djust", "--auth=trust",
                   "--encoding=UTF8", "--no-sync"], user),
        check=True, stdout=subprocess.DEVNULL,
    )
    options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_owner([f"{bindir}/pg_ctl", "-D", data, "-o", options, "-w", "-l",
                   os.path.join(workdir, "log"), "start"], user),
        check=True, stdout=subprocess.DEVNULL,
    )
    print(f"[pgserver] PostgreSQL ({bindir}) on 127.0.0.1:{port}", flush=True)
    try:
        yield {"DJUST_PG_HOST": "127.0.0.1", "DJUST_PG_PORT": str(port), "DJUST_PG_USER": "djust"}
    finally:
        subprocess.run(
            _as_owner([f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"], user),
            check=False, stdout=subprocess.DEVNULL,
        )
        shutil.rmtree(workdir, ignore_errors=True)
