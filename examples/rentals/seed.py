"""Deterministic rentals data: the same rows for the same seed and scale.

``seed(scale=1.0)`` writes the design's sizes (50 properties, 500 units,
1,000 tenants, 2,000 leases, 3,000 maintenance requests, 12 amenities) times
``scale``, with a fixed random seed, so that every figure the project quotes
is measured on the same data. Dates are relative to a fixed day, not today,
for the same reason; ``TODAY`` is that day.

    >>> from examples.rentals.seed import seed
    >>> counts = seed(scale=0.01)   # doctest: +SKIP
"""

from __future__ import annotations

import datetime
import random
import uuid
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction

from .models import Amenity, Lease, MaintenanceRequest, Property, Tenant, Unit

SIZES = {
    "amenities": 12,
    "properties": 50,
    "units": 500,
    "tenants": 1000,
    "leases": 2000,
    "requests": 3000,
}
TODAY = datetime.date(2026, 1, 15)
CITIES = ["Lisbon", "Porto", "Braga", "Coimbra", "Faro", "Aveiro", "Évora"]
STREETS = ["Rua Augusta", "Avenida da Liberdade", "Rua das Flores", "Largo do Carmo"]
FIRST = ["Ana", "João", "Maria", "Pedro", "Inês", "Rui", "Sofia", "Tiago", "Zoë", "Åsa"]
LAST = ["Silva", "Santos", "Ferreira", "Pereira", "Costa", "O'Neil", "Müller", "Nguyễn"]
AMENITIES = ["Gym", "Pool", "Parking", "Elevator", "Garden", "Concierge", "Laundry",
             "Storage", "Rooftop", "Bike room", "Sauna", "Playground"]
TITLES = ["Leaking tap", "Broken heater", "Door lock stuck", "Mould in bathroom",
          "Window won't close", "No hot water", "Noisy pipes", "Light fitting <flickers>"]


def _count(name: str, scale: float) -> int:
    return max(1, round(SIZES[name] * scale))


@transaction.atomic
def seed(scale: float = 1.0, random_seed: int = 20260115) -> dict[str, int]:
    """Delete every rentals row and write the deterministic data set.

    Returns the number of rows written per model name.
    """
    rng = random.Random(random_seed)
    User = get_user_model()
    for model in (MaintenanceRequest, Lease, Tenant, Unit, Property, Amenity):
        model.objects.all().delete()
    User.objects.filter(username__startswith="seed-").delete()

    amenities = Amenity.objects.bulk_create(
        Amenity(name=AMENITIES[i % len(AMENITIES)] + ("" if i < len(AMENITIES) else f" {i}"))
        for i in range(_count("amenities", max(scale, 1.0)))
    )
    managers = User.objects.bulk_create(
        User(username=f"seed-manager-{i}", first_name=rng.choice(FIRST),
             last_name=rng.choice(LAST), email=f"manager{i}@example.com",
             password="!unusable")
        for i in range(5)
    )
    properties = Property.objects.bulk_create(
        Property(
            name=f"{rng.choice(STREETS)} {i + 1}",
            address=f"{rng.randint(1, 300)} {rng.choice(STREETS)}",
            city=rng.choice(CITIES),
            monthly_rent=Decimal(rng.randint(60000, 350000)) / 100,
            built=None if i % 7 == 0 else datetime.date(rng.randint(1900, 2024), 1, 1)
            + datetime.timedelta(days=rng.randint(0, 364)),
            manager=None if i % 5 == 0 else rng.choice(managers),
        )
        for i in range(_count("properties", scale))
    )
    through = Property.amenities.through
    through.objects.bulk_create(
        through(property_id=p.pk, amenity_id=a.pk)
        for p in properties
        for a in rng.sample(amenities, rng.randint(0, min(5, len(amenities))))
    )
    units = Unit.objects.bulk_create(
        Unit(
            property=properties[i % len(properties)],
            number=f"{(i // len(properties)) + 1}{'ABCD'[i % 4]}",
            bedrooms=rng.randint(0, 4),
            square_feet=None if i % 11 == 0 else rng.randint(300, 2500),
            is_available=rng.random() < 0.3,
        )
        for i in range(_count("units", scale))
    )
    users = User.objects.bulk_create(
        User(username=f"seed-tenant-{i}", first_name=rng.choice(FIRST),
             last_name=rng.choice(LAST), email=f"tenant{i}@example.com",
             password="!unusable")
        for i in range(_count("tenants", scale))
    )
    tenants = Tenant.objects.bulk_create(
        Tenant(
            user=user,
            phone=f"+351 9{rng.randint(10000000, 99999999)}",
            emergency_contact={"name": rng.choice(FIRST), "phone": f"+351 {rng.randint(1, 9)}"},
            moved_in=datetime.datetime(2015, 1, 1, tzinfo=datetime.UTC)
            + datetime.timedelta(minutes=rng.randint(0, 5_000_000)),
        )
        for user in users
    )
    statuses = [s for s, _ in Lease.Status.choices]
    leases = []
    for _ in range(_count("leases", scale)):
        unit = rng.choice(units)
        start = TODAY - datetime.timedelta(days=rng.randint(0, 900))
        leases.append(Lease(
            property_id=unit.property_id,
            unit=None if rng.random() < 0.05 else unit,
            tenant=rng.choice(tenants),
            start_date=start,
            end_date=start + datetime.timedelta(days=rng.choice([180, 365, 730])),
            monthly_rent=Decimal(rng.randint(50000, 400000)) / 100,
            deposit=None if rng.random() < 0.2 else Decimal(rng.randint(0, 800000)) / 100,
            status=rng.choices(statuses, weights=[6, 2, 2, 1])[0],
            signed_at=None if rng.random() < 0.1 else datetime.datetime.combine(
                start, datetime.time(rng.randint(8, 19), rng.randint(0, 59),
                                     rng.randint(0, 59), rng.randint(0, 999_999)),
                tzinfo=datetime.UTC),
            reference=uuid.UUID(int=rng.getrandbits(128), version=4),
        ))
    Lease.objects.bulk_create(leases)
    priorities = [p for p, _ in MaintenanceRequest.Priority.choices]
    request_statuses = [s for s, _ in MaintenanceRequest.Status.choices]
    requests = MaintenanceRequest.objects.bulk_create(
        MaintenanceRequest(
            unit=rng.choice(units),
            tenant=None if rng.random() < 0.3 else rng.choice(tenants),
            title=rng.choice(TITLES),
            description="Reported by phone.\nSecond line.",
            priority=rng.choice(priorities),
            status=rng.choices(request_statuses, weights=[5, 2, 3])[0],
            resolved_in=None if rng.random() < 0.5
            else datetime.timedelta(hours=rng.randint(1, 500)),
        )
        for _ in range(_count("requests", scale))
    )
    # auto_now_add ignores the value given to bulk_create: spread the dates.
    for index, request in enumerate(requests):
        request.created_at = datetime.datetime(2025, 6, 1, tzinfo=datetime.UTC) + \
            datetime.timedelta(minutes=index * 97)
    MaintenanceRequest.objects.bulk_update(requests, ["created_at"], batch_size=500)
    return {
        "amenities": len(amenities), "properties": len(properties), "units": len(units),
        "tenants": len(tenants), "leases": len(leases), "requests": len(requests),
    }
