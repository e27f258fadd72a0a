"""A pytest plugin: djust's strict mode for the tests that ask for it.

Load it in the project's pytest configuration, either
``addopts = "-p djust.testing"`` (``pyproject.toml``'s
``[tool.pytest.ini_options]``) or ``pytest_plugins = ["djust.testing"]`` in
the root ``conftest.py``. Then a test asks for strict mode with the
``djust_strict`` fixture or the ``@pytest.mark.djust_strict`` marker
(registered here, so ``--strict-markers`` accepts it)::

    @pytest.mark.djust_strict
    def test_leases_page(client):
        client.get("/leases/")     # fails on a query djust did not plan

    def test_units_page(client, djust_strict):
        ...

Both set ``DJUST["STRICT"] = True`` for the test, keeping the project's
other ``DJUST`` keys (``override_settings``); the template backend then
renders every template inside ``djust.template.strict.strict_queries``,
which raises ``UnplannedQuery`` naming the template, the line and the path
of a lazy load.

Nothing here touches Django before a test runs: the plugin can be loaded
before settings are configured.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

MARKER = "djust_strict"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}: render this test's templates in djust's strict mode "
        "(DJUST['STRICT'] = True): a query the plan did not predict fails the render.",
    )


@pytest.fixture
def djust_strict() -> Iterator[None]:
    """Strict mode (``DJUST["STRICT"] = True``) for the test."""
    from django.conf import settings
    from django.test import override_settings

    current = getattr(settings, "DJUST", None) or {}
    with override_settings(DJUST={**current, "STRICT": True}):
        yield


@pytest.fixture(autouse=True)
def _djust_strict_marker(request: pytest.FixtureRequest) -> None:
    """``@pytest.mark.djust_strict``: the ``djust_strict`` fixture for the
    marked test."""
    if request.node.get_closest_marker(MARKER) is not None:
        request.getfixturevalue("djust_strict")
