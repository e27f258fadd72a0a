"""The honest baseline: what an expert tuning for speed writes by hand.

``values_list()`` over the same joins the template reads, then a dict
comprehension that writes each value the way ``DjangoJSONEncoder`` would
(dates, decimals and datetimes as text), ``get_status_display`` read from a
choices table built once, the template's methods and property inlined
(``days_until_expiration``: ``(end_date - today).days``). To-many levels
(S3) are further ``values_list()`` queries filtered on the parents' keys
and grouped by parent key in Python: the same four queries as the
prefetching contenders. No model instance is built.

    >>> sorted(EXPERT_ROWS)
    ['S1', 'S2', 'S3']
"""

from __future__ import annotations

import datetime

from benchmarks.baseline import iso_datetime
from benchmarks.compare.base import Prepared

S1_COLUMNS = ("end_date", "status", "monthly_rent", "property__name", "signed_at",
              "start_date", "tenant__user__email", "unit__number")
S2_COLUMNS = (*S1_COLUMNS, "tenant__user__first_name", "tenant__user__last_name")


def status_display() -> dict:
    """The choices table ``get_status_display`` reads, built once."""
    from examples.rentals.models import Lease

    return dict(Lease._meta.get_field("status").flatchoices)


def lease_builders(display: dict, rent_text, datetime_text):
    """S1's and S2's dict building, given how a rent and a datetime become
    JSON text: the expert passes ``str`` and ``iso_datetime``, the
    raw-cursor limit the conversions its driver's types need."""

    def build_s1(rows):
        return [
            {
                "end_date": end.isoformat(),
                "get_status_display": display[status],
                "monthly_rent": rent_text(rent),
                "property": {"name": prop},
                "signed_at": None if signed is None else datetime_text(signed),
                "start_date": start.isoformat(),
                "tenant": {"user": {"email": email}},
                "unit": None if number is None else {"number": number},
            }
            for end, status, rent, prop, signed, start, email, number in rows
        ]

    def build_s2(rows):
        today = datetime.date.today()
        out = []
        append = out.append
        for end, status, rent, prop, signed, start, email, number, first, last in rows:
            days = (end - today).days
            append({
                "days_until_expiration": days,
                "end_date": end.isoformat(),
                "get_status_display": display[status],
                "is_expiring_soon": 0 <= days <= 30,
                "monthly_rent": rent_text(rent),
                "property": {"name": prop},
                "signed_at": None if signed is None else datetime_text(signed),
                "start_date": start.isoformat(),
                "tenant": {"user": {"email": email,
                                    "get_full_name": f"{first} {last}".strip()}},
                "unit": None if number is None else {"number": number},
            })
        return out

    return build_s1, build_s2


def expert_s1():
    from examples.rentals.models import Lease

    def fetch():
        return Lease.objects.values_list(*S1_COLUMNS)

    return fetch, lease_builders(status_display(), str, iso_datetime)[0]


def expert_s2():
    from examples.rentals.models import Lease

    def fetch():
        return Lease.objects.values_list(*S2_COLUMNS)

    return fetch, lease_builders(status_display(), str, iso_datetime)[1]


def group_properties(rows) -> list:
    """S3's rows (properties, units, requests, amenities: tuples as the
    queries give them) grouped by parent key into the template's data;
    the raw-cursor limit groups its rows the same way."""
    properties, units, requests, amenities = rows
    requests_of: dict = {}
    for unit, status, title in requests:
        entry = {"status": status, "title": title}
        try:
            requests_of[unit].append(entry)
        except KeyError:
            requests_of[unit] = [entry]
    units_of: dict = {}
    for pk, prop, number in units:
        entry = {"maintenance_requests": {"all": requests_of.get(pk, [])}, "number": number}
        try:
            units_of[prop].append(entry)
        except KeyError:
            units_of[prop] = [entry]
    amenities_of: dict = {}
    for prop, name in amenities:
        try:
            amenities_of[prop].append({"name": name})
        except KeyError:
            amenities_of[prop] = [{"name": name}]
    out = []
    for pk, name in properties:
        its_units = units_of.get(pk, [])
        out.append({"amenities": {"all": amenities_of.get(pk, [])}, "name": name,
                    "units": {"all": its_units, "count": len(its_units)}})
    return out


def expert_s3():
    from examples.rentals.models import MaintenanceRequest, Property, Unit

    through = Property.amenities.through

    def fetch():
        properties = list(Property.objects.values_list("pk", "name"))
        keys = [pk for pk, _ in properties]
        units = list(Unit.objects.filter(property_id__in=keys)
                     .values_list("pk", "property_id", "number"))
        requests = list(MaintenanceRequest.objects.filter(unit_id__in=[u[0] for u in units])
                        .values_list("unit_id", "status", "title"))
        amenities = list(through.objects.filter(property_id__in=keys)
                         .order_by("amenity__name").values_list("property_id", "amenity__name"))
        return properties, units, requests, amenities

    return fetch, group_properties


EXPERT_ROWS = {"S1": expert_s1, "S2": expert_s2, "S3": expert_s3}


def prepare_expert(scenario) -> Prepared:
    fetch, build = EXPERT_ROWS[scenario.name]()
    if scenario.name == "S3":
        return Prepared(load=fetch, build=build, end_to_end=lambda: build(fetch()))

    def load():
        return list(fetch())

    return Prepared(load=load, build=build, end_to_end=lambda: build(fetch()))
