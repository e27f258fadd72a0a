"""Hypothesis profiles for the property suite.

``default`` keeps the whole property suite to a few minutes on a small
machine; ``thorough`` runs many more examples for a soak before a release:

    HYPOTHESIS_PROFILE=thorough python -m pytest property_tests -q
"""

import os

from hypothesis import HealthCheck, Phase, settings

PROFILE_ENV = "HYPOTHESIS_PROFILE"

settings.register_profile(
    "default",
    max_examples=25,
    # Examples create rows and compile serializers: their run time depends on
    # the database and the machine's load, never on the code under test.
    deadline=None,
    # Generating a whole world of rows per example is inherently slow-ish;
    # that is the cost of fuzzing through a real database, not a bug.
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
    # The explain phase re-runs a shrunk failure hundreds of times through the
    # database; the shrunk example is what a reader needs.
    phases=[p for p in Phase if p is not Phase.explain],
)
settings.register_profile(
    "thorough",
    settings.get_profile("default"),
    max_examples=500,
    # A soak can afford the explain phase.
    phases=list(Phase),
)
ACTIVE_PROFILE = os.environ.get(PROFILE_ENV, "default")
settings.load_profile(ACTIVE_PROFILE)


def pytest_report_header(config):
    return f"hypothesis profile: {ACTIVE_PROFILE} (set {PROFILE_ENV} to change)"
