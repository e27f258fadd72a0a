"""Deterministic rows for tests: the rentals schema and the test schema.

``rentals(n)`` creates ``n`` leases (each with its own property, unit,
tenant and user), maintenance requests and amenities; ``library(n)`` creates
``n`` books with every relation of ``tests.testapp`` filled in. Both return
nothing: tests query what they need.
"""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType

from examples.rentals import models as rentals_models
from tests.testapp import models as lib

TODAY = datetime.date(2024, 1, 1)


def rentals(n: int) -> None:
    """``n`` leases with their property, unit, tenant, user and requests."""
    user_model = get_user_model()
    amenities = [rentals_models.Amenity.objects.create(name=f"Amenity {i}") for i in range(3)]
    for i in range(n):
        manager = user_model.objects.create(username=f"manager{i}", email=f"m{i}@example.com")
        prop = rentals_models.Property.objects.create(
            name=f"Property {i:03d}", address=f"{i} Main St", city="Springfield",
            monthly_rent=Decimal("1000.00") + i, manager=manager if i % 2 else None,
        )
        prop.amenities.set(amenities[: i % 3 + 1])
        units = [
            rentals_models.Unit.objects.create(
                property=prop, number=f"{i}-{k}", bedrooms=k + 1, is_available=bool(k % 2)
            )
            for k in range(2)
        ]
        user = user_model.objects.create(
            username=f"tenant{i}", first_name=f"First{i}", last_name=f"Last{i}",
            email=f"t{i}@example.com",
        )
        tenant = rentals_models.Tenant.objects.create(
            user=user, phone=f"555-{i:04d}", emergency_contact={"name": f"EC {i}", "tags": [i]},
        )
        rentals_models.Lease.objects.create(
            property=prop, unit=units[0] if i % 3 else None, tenant=tenant,
            start_date=TODAY, end_date=TODAY + datetime.timedelta(days=30 + i),
            monthly_rent=Decimal("1200.50"), status=["active", "pending", "expired"][i % 3],
            reference=uuid.UUID(int=i + 1),
        )
        rentals_models.MaintenanceRequest.objects.create(
            unit=units[1], tenant=tenant if i % 2 else None, title=f"Request {i}",
            priority=["low", "high", "urgent"][i % 3],
        )


def library(n: int) -> None:
    """``n`` books, each with author, biography (every other), publisher
    (every other), tags, chapters (one draft), comments, shops, restaurant."""
    user_model = get_user_model()
    tags = [lib.Tag.objects.create(id=uuid.UUID(int=t + 1), label=f"tag{t}") for t in range(3)]
    shop = lib.Shop.objects.create(name="Corner shop")
    publishers = [lib.Publisher.objects.create(code=f"P{p}", name=f"Publisher {p}")
                  for p in range(2)]
    book_type = ContentType.objects.get_for_model(lib.Book)
    for i in range(n):
        user = user_model.objects.create(username=f"author{i}", first_name=f"A{i}")
        author = lib.Author.objects.create(
            name=f"Author {i:03d}", api_token=f"secret{i}", profile={"city": f"C{i}", "n": [i]},
            user=user if i % 2 else None,
        )
        if i % 2 == 0:
            lib.Biography.objects.create(author=author, text=f"Life of {i}")
        book = lib.Book.objects.create(
            title=f"Book {i:03d}", author=author,
            publisher=publishers[i % 2] if i % 2 else None,
            genre=["novel", "poetry", "essay"][i % 3], pages=100 * (i % 5),
            metadata={"isbn": f"isbn-{i}", "editions": [{"year": 2000 + i}]},
        )
        book.tags.set(tags[: i % 3 + 1])
        for number in (2, 1, 3):
            lib.Chapter.objects.create(book=book, number=number, title=f"Ch {number}",
                                       draft=number == 3)
        lib.Comment.objects.create(content_type=book_type, object_id=book.pk, body=f"nice {i}")
        lib.Stock.objects.create(shop=shop, book=book, quantity=i)
        lib.Restaurant.objects.create(name=f"Diner {i}", serves_pizza=bool(i % 2),
                                      chef=author if i % 2 else None)
