from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_example_migrations_match_the_models(settings):
    # The suite runs with --no-migrations; the check needs the real modules.
    settings.MIGRATION_MODULES = {}
    out = StringIO()
    call_command("makemigrations", "rentals", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
