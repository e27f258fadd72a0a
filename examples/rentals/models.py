"""The rentals example schema (the design's ``rentals.md``).

Every benchmark and the demo read this schema, so that figures compare.
"""

import builtins
import datetime
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Amenity(models.Model):
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "amenities"

    def __str__(self):
        return self.name


class Property(models.Model):
    name = models.CharField(max_length=200)
    address = models.CharField(max_length=300)
    city = models.CharField(max_length=100)
    monthly_rent = models.DecimalField(max_digits=10, decimal_places=2)
    built = models.DateField(null=True, blank=True)
    amenities = models.ManyToManyField(Amenity, related_name="properties", blank=True)
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="managed_properties",
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "properties"

    def __str__(self):
        return self.name

    @property
    def occupancy_rate(self):
        units = list(self.units.all())
        if not units:
            return 0
        occupied = sum(1 for unit in units if not unit.is_available)
        return round(100 * occupied / len(units), 1)


class Unit(models.Model):
    property = models.ForeignKey(Property, on_delete=models.CASCADE, related_name="units")
    number = models.CharField(max_length=20)
    bedrooms = models.PositiveSmallIntegerField(default=1)
    square_feet = models.IntegerField(null=True, blank=True)
    is_available = models.BooleanField(default=True)

    class Meta:
        ordering = ["property_id", "number"]

    def __str__(self):
        return f"Unit {self.number}"


class Tenant(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tenant_profile"
    )
    phone = models.CharField(max_length=30, blank=True)
    emergency_contact = models.JSONField(default=dict, blank=True)
    moved_in = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.user.get_full_name() or self.user.username


class Lease(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PENDING = "pending", "Pending"
        EXPIRED = "expired", "Expired"
        TERMINATED = "terminated", "Terminated"

    property = models.ForeignKey(Property, on_delete=models.CASCADE, related_name="leases")
    unit = models.ForeignKey(
        Unit, null=True, blank=True, on_delete=models.SET_NULL, related_name="leases"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="leases")
    start_date = models.DateField()
    end_date = models.DateField()
    monthly_rent = models.DecimalField(max_digits=10, decimal_places=2)
    deposit = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    signed_at = models.DateTimeField(null=True, blank=True)
    reference = models.UUIDField(default=uuid.uuid4, unique=True)

    class Meta:
        ordering = ["end_date", "id"]

    def __str__(self):
        return f"Lease {self.reference}"

    def days_until_expiration(self):
        return (self.end_date - datetime.date.today()).days

    # The ``property`` field above shadows the builtin inside this class body.
    @builtins.property
    def is_expiring_soon(self):
        return 0 <= self.days_until_expiration() <= 30


class MaintenanceRequest(models.Model):
    class Priority(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        URGENT = "urgent", "Urgent"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        RESOLVED = "resolved", "Resolved"

    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="maintenance_requests")
    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="maintenance_requests",
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_in = models.DurationField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self):
        return self.title
