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


@pytest.fixture(autouse=True, scope="session")
def generated_text_means_its_tree():
    """Every module compiled in the tests is re-parsed and compared with its
    AST: the fast renderer (``djust/compiler/unparse.py``) is checked on
    every serializer the suite generates."""
    from djust.compiler import emit

    emit.CHECK_ROUND_TRIP = True
    yield
    emit.CHECK_ROUND_TRIP = False
