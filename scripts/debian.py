"""What the test servers and the browser test need from the machine.

``install(package)`` installs a Debian package when we may (root, apt-get);
otherwise it returns False so the caller can say what is missing.
``free_port()`` finds a free loopback port for a throwaway server;
``started(server)`` and ``run_with(running, argv)`` are what the PostgreSQL
and Redis scripts share.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess

# apt-get update once per process: run.py installs up to three packages.
_package_lists_fresh = False


def can_install() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def install(package: str, *, no_recommends: bool = False) -> bool:
    """Install Debian's ``package``; False when this machine does not let us."""
    if not can_install():
        return False
    print(f"[debian] installing Debian's {package} package", flush=True)
    global _package_lists_fresh
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    quiet = {"stdout": subprocess.DEVNULL}
    if not _package_lists_fresh:
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, **quiet)
        _package_lists_fresh = True
    extra = ["--no-install-recommends"] if no_recommends else []
    subprocess.run(["apt-get", "install", "-y", "-q", *extra, package], check=True, env=env,
                   **quiet)
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def started(instance):
    """Start a throwaway server (``pgserver.Server``, ``redisserver.Server``)
    and remove it, with its files, on exit."""
    try:
        instance.start()
        yield instance
    finally:
        instance.remove()


def run_with(running, argv: list[str]) -> int:
    """Run ``argv`` (default ``true``) with the variables ``running()`` yields:
    each server script's development helper."""
    with running() as extra:
        return subprocess.run(argv or ["true"], env=dict(os.environ, **extra)).returncode
