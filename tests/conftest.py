import os

import pytest


def pytest_report_header(config):
    import django

    database = os.environ.get("DJUST_TEST_DB", "sqlite")
    return f"djust tests: Django {django.get_version()}, database {database}"


# Chromium drives the pages' JavaScript in the SQLite phases (both
# Pythons); what those pages ask of the server runs on PostgreSQL through
# the test client and the consumer's own tests. Skipped here, they keep the
# whole run well inside its time budget (about 40 s a phase).
_BROWSER_ON_POSTGRES = pytest.mark.skip(
    reason="browser tests run in the SQLite phases: the page's JavaScript does not "
           "depend on the database, and the server side is tested on PostgreSQL without it")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("DJUST_TEST_DB") != "postgres":
        return
    for item in items:
        if item.path.name.startswith("test_browser"):
            item.add_marker(_BROWSER_ON_POSTGRES)


@pytest.fixture
def postgres_only(settings):
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("PostgreSQL-specific: runs in the PostgreSQL pass of run.py test")


@pytest.fixture
def filesystem_store(settings, tmp_path):
    """A filesystem store in a fresh directory, as a new deployment's workers
    share one; this process starts with empty caches (a new worker)."""
    from djust import store
    from tests.test_store_integration import forget_this_process

    store.reset()
    forget_this_process()
    settings.DJUST = {"CACHE": {"BACKEND": "filesystem", "LOCATION": str(tmp_path / "store")}}
    yield store.configured_store()
    forget_this_process()
    store.reset()
