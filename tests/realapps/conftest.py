"""Skips with a reason when a real app is missing, and prints the measured
query counts at the end of the run."""

from __future__ import annotations

import importlib.util

import pytest
from django.apps import apps as django_apps
from django.conf import settings as django_settings

from tests.realapps.available import REALAPPS, importable

# (app, page, backend) -> {rows: queries}, filled by the tests.
QUERY_COUNTS: dict[tuple[str, str, str], dict[int, int]] = {}


def djust_backend_missing() -> bool:
    return importlib.util.find_spec("djust.template.backends") is None


def require(app: str) -> None:
    requirement, entries = REALAPPS[app]
    if not importable(app):
        pytest.skip(f"{app} is not installed: pip install '{requirement}' "
                    f"(a test extra) to run its real-app tests")
    if not django_apps.is_installed(app):
        pytest.skip(
            f"{app} is installed but not in INSTALLED_APPS of {django_settings.SETTINGS_MODULE}: "
            f"run with --ds=tests.realapps.settings (it adds {', '.join(entries)})"
        )


def pytest_terminal_summary(terminalreporter):
    if not QUERY_COUNTS:
        return
    terminalreporter.section("realapps: queries per page render")
    for (app, page, backend), counts in sorted(QUERY_COUNTS.items()):
        sizes = ", ".join(f"{rows} rows: {queries}" for rows, queries in sorted(counts.items()))
        terminalreporter.write_line(f"{app:14} {page:12} {backend:15} {sizes}")
