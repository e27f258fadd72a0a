"""Django for a benchmark worker: settings, schema, seeded data, and what
the report says about the machine (never its name).

    >>> scale_for(1_000)
    0.5
"""

from __future__ import annotations

import os
import platform

import django
from django.conf import settings

DATABASES = ("sqlite", "postgres")


def database_settings(database: str) -> dict:
    if database == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    if database == "postgres":
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("DJUST_PG_NAME", "postgres"),
            "USER": os.environ.get("DJUST_PG_USER", "djust"),
            "HOST": os.environ.get("DJUST_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("DJUST_PG_PORT", "5432"),
        }
    raise ValueError(f"unknown database {database!r}: expected one of {DATABASES}")


def configure(database: str) -> None:
    """Configure and set up Django for ``database``, then create the schema."""
    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.auth", "django.contrib.contenttypes", "rest_framework",
            "djust", "examples.rentals",
        ],
        DATABASES={"default": database_settings(database)},
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates"}],
        USE_TZ=True, TIME_ZONE="UTC", DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        SECRET_KEY="djust-benchmarks-not-secret", DEBUG=False,
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, run_syncdb=True)


def scale_for(leases: int) -> float:
    """The seed scale that writes ``leases`` leases (the other tables scale
    with it: 1 property per 40 leases, 1 unit per 4, 1 tenant per 2)."""
    from examples.rentals.seed import SIZES

    return leases / SIZES["leases"]


def seed_leases(leases: int) -> dict[str, int]:
    """Replace the rentals data with the deterministic set of ``leases``
    leases; refresh PostgreSQL's planner statistics afterwards."""
    from django.db import connection

    from examples.rentals.seed import seed

    counts = seed(scale=scale_for(leases))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return counts


def describe_database() -> str:
    from django.db import connection

    connection.ensure_connection()
    if connection.vendor == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version} (in memory)"
    major, rest = divmod(connection.pg_version, 10000)
    return f"PostgreSQL {major}.{rest % 100} (local server, loopback TCP, fsync off)"


def djust_revision() -> str:
    """The commit djust's code was measured at: the last commit that touched
    ``djust/``, and whether the working tree's ``djust/`` differed from it."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]

    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              check=False).stdout.strip()

    try:
        commit = git("log", "-1", "--format=%h", "--", "djust")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "djust")
    except OSError:
        return "unknown"
    return f"{commit}{' + uncommitted changes' if dirty else ''}" if commit else "unknown"


def describe_machine() -> dict[str, str]:
    """Machine type, CPU model and count, OS, Python and Django versions."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs{', ' + cpu if cpu else ''}",
        "os": platform.system(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "django": django.get_version(),
        "djust": djust_revision(),
    }
