import pytest
from django.core.management import CommandError, call_command

from examples.rentals.models import Lease, MaintenanceRequest, Property, Tenant, Unit
from examples.rentals.seed import seed


def snapshot():
    return (
        list(Property.objects.order_by("id").values_list("name", "city", "monthly_rent")),
        list(Unit.objects.order_by("id").values_list("number", "square_feet")),
        list(Lease.objects.order_by("id").values_list("reference", "status", "signed_at")),
        list(MaintenanceRequest.objects.order_by("id").values_list("title", "created_at")),
    )


@pytest.mark.django_db
def test_seed_is_deterministic_and_scaled():
    counts = seed(scale=0.02)
    assert counts == {"amenities": 12, "properties": 1, "units": 10, "tenants": 20,
                      "leases": 40, "requests": 60}
    assert Tenant.objects.count() == 20
    first = snapshot()
    seed(scale=0.02)
    assert snapshot() == first


@pytest.mark.django_db
def test_seed_command_reports_and_rejects_bad_scale(capsys):
    call_command("seed_rentals", "--scale", "0.01")
    assert "Seeded 12 amenities, 1 properties, 5 units" in capsys.readouterr().out
    call_command("seed_rentals", "--if-empty")
    assert "already present" in capsys.readouterr().out
    assert Lease.objects.count() == 20
    with pytest.raises(CommandError, match="--scale"):
        call_command("seed_rentals", "--scale", "0")
