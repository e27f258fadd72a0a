import os

import pytest


def pytest_report_header(config):
    import django

    database = os.environ.get("DJUST_TEST_DB", "sqlite")
    return f"djust tests: Django {django.get_version()}, database {database}"


@pytest.fixture
def postgres_only(settings):
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("PostgreSQL-specific: runs in the PostgreSQL pass of run.py test")
