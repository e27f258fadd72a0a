"""Fixtures for every test directory (``tests``, ``property_tests``, the doctests)."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def generated_text_means_its_tree():
    """Every module compiled in the tests is re-parsed and compared with its
    AST: the fast renderer (``djust/compiler/unparse.py``) is checked on
    every serializer the suites generate."""
    from djust.compiler import emit

    emit.CHECK_ROUND_TRIP = True
    yield
    emit.CHECK_ROUND_TRIP = False
