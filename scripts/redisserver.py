"""A throwaway Redis server for the test suite and the benchmarks.

``running()`` finds ``redis-server`` (installing Debian's ``redis-server``
package when it is missing and we are root), starts it on a free loopback
port with persistence off (no RDB snapshots, no append-only file, its
working directory a temporary one) and yields the environment variables the
tests read: ``DJUST_TEST_REDIS_URL``. ``Server`` is the object behind it: the
fault tests stop and restart the same server on the same port to check that
djust recovers.

    >>> with running() as env:                                 # doctest: +SKIP
    ...     env["DJUST_TEST_REDIS_URL"]
    'redis://127.0.0.1:40123/0'
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import debian

ENV_VAR = "DJUST_TEST_REDIS_URL"
# How long a start may take before we give up (the server is up in ms).
START_TIMEOUT = 10.0


class RedisUnavailable(RuntimeError):
    pass


def find_binary() -> str | None:
    """The ``redis-server`` executable, or None."""
    found = shutil.which("redis-server")
    if found:
        return found
    candidate = "/usr/bin/redis-server"
    return candidate if os.access(candidate, os.X_OK) else None


def install() -> None:
    """Install Debian's ``redis-server`` package (root and apt-get only)."""
    # --no-install-recommends: the server alone, without its systemd wiring.
    if not debian.install("redis-server", no_recommends=True):
        raise RedisUnavailable(
            "redis-server was not found. Install Debian's `redis-server` package "
            "(apt-get install redis-server) and run the tests again."
        )


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class Server:
    """One redis-server process on a fixed loopback port; ``stop()`` and
    ``start()`` may be called again (the fault tests do, and ``run.py test``
    restarts a server that stopped between two phases)."""

    name = "redis-server"

    def __init__(self, binary: str, port: int | None = None):
        self.binary = binary
        self.port = port or debian.free_port()
        self.workdir = tempfile.mkdtemp(prefix="djust-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def environment(self) -> dict[str, str]:
        """What the tests read to connect."""
        return {ENV_VAR: self.url}

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.workdir,
             "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers_ping(self.port):
            if self.process.poll() is not None:
                raise RedisUnavailable(f"redis-server exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RedisUnavailable(f"redis-server did not answer on port {self.port}")
            # Polling a just-spawned server: not a synchronisation between our threads.
            time.sleep(0.01)

    def alive(self) -> bool:
        """Whether the server answers PING."""
        return _answers_ping(self.port)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def ensure_binary() -> str:
    binary = find_binary()
    if binary is None:
        install()
        binary = find_binary()
    if binary is None:
        raise RedisUnavailable("the redis-server package installed no redis-server")
    return binary


def server():
    """A started ``Server``, removed on exit."""
    return debian.started(Server(ensure_binary()))


@contextlib.contextmanager
def running() -> Iterator[dict[str, str]]:
    """Start a server and yield ``{"DJUST_TEST_REDIS_URL": url}``."""
    with server() as instance:
        print(f"[redisserver] redis-server ({instance.binary}) on 127.0.0.1:{instance.port}",
              flush=True)
        yield instance.environment


if __name__ == "__main__":
    # Development helper: run a command with a server, e.g.
    # python scripts/redisserver.py .venv/py3.11/bin/python -m pytest tests/test_store_redis.py
    sys.exit(debian.run_with(running, sys.argv[1:]))
