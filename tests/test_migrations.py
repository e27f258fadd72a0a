from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_example_migrations_match_the_models():
    out = StringIO()
    call_command("makemigrations", "rentals", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_example_migrations_apply_from_zero():
    call_command("migrate", "rentals", "zero", verbosity=0)
    call_command("migrate", "rentals", verbosity=0)
    from examples.rentals.models import Lease

    assert Lease.objects.count() == 0
