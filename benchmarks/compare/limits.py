"""The physical limits: how fast the same JSON can be made at all, so that
the report can say how far each contender is from it. They are yardsticks,
not competitors (nobody writes a view this way):

- **raw cursor**: ``connection.cursor()``, the SQL the expert's
  ``values_list()`` queries run (taken once from ``query.sql_with_params()``
  for S1 and S2, written by hand for S3's four queries), ``fetchall()`` and
  the tightest dict-building loop, with only the conversions the JSON needs
  (the driver's types as they come: on SQLite a decimal column is a float
  and a datetime a naive UTC ``datetime``, both written the way
  ``DjangoJSONEncoder`` writes the ``Decimal`` and aware ``datetime`` the
  ORM would have made), then the same ``json.dumps``.
- **JSON built in SQL**: one query whose single value is the JSON text
  (``json_group_array(json_object(...))`` on SQLite,
  ``json_agg(json_build_object(...))`` on PostgreSQL, nested for S3's
  to-many levels), the database formatting dates, decimals and datetimes as
  ``DjangoJSONEncoder`` would. No ``json.dumps``.

Both must produce JSON equal (after ``json.loads``) to every other
contender's; the harness checks it like any other.

    >>> naive_utc_text(datetime.datetime(2026, 1, 2, 3, 4, 5, 678901))
    '2026-01-02T03:04:05.678Z'
    >>> naive_utc_text(datetime.datetime(2026, 1, 2, 3, 4, 5))
    '2026-01-02T03:04:05Z'
"""

from __future__ import annotations

import datetime

from benchmarks.baseline import iso_datetime
from benchmarks.compare.base import Prepared, Unavailable
from benchmarks.compare.expert import (
    S1_COLUMNS,
    S2_COLUMNS,
    group_properties,
    lease_builders,
    status_display,
)

VENDORS = ("sqlite", "postgresql")


def naive_utc_text(value: datetime.datetime) -> str:
    """``DjangoJSONEncoder``'s text for the aware UTC datetime a naive UTC
    one stands for (SQLite's driver gives naive values)."""
    text = value.isoformat()
    return (text[:23] if value.microsecond else text) + "Z"


def conversions(vendor: str):
    """(decimal → text, datetime → text) for what the driver returns."""
    if vendor == "sqlite":
        return "%.2f".__mod__, naive_utc_text
    return str, iso_datetime


def tables() -> dict[str, str]:
    from django.contrib.auth import get_user_model

    from examples.rentals.models import Amenity, Lease, MaintenanceRequest, Property, Tenant, Unit

    return {
        "lease": Lease._meta.db_table, "property": Property._meta.db_table,
        "unit": Unit._meta.db_table, "tenant": Tenant._meta.db_table,
        "user": get_user_model()._meta.db_table, "amenity": Amenity._meta.db_table,
        "through": Property.amenities.through._meta.db_table,
        "request": MaintenanceRequest._meta.db_table,
    }


def placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


# --------------------------------------------------------------------------
# raw cursor


def raw_leases(scenario, vendor: str):
    """S1/S2: the expert's ``values_list()`` SQL, run on the bare cursor."""
    from django.db import connection

    from examples.rentals.models import Lease

    columns = S1_COLUMNS if scenario.name == "S1" else S2_COLUMNS
    sql, params = Lease.objects.values_list(*columns).query.sql_with_params()
    display = status_display()
    rent_text, datetime_text = conversions(vendor)

    def load():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    build_s1, build_s2 = lease_builders(display, rent_text, datetime_text)
    return load, build_s1 if scenario.name == "S1" else build_s2


def raw_properties():
    """S3: four hand-written queries (the rows the prefetches read), each
    to-many level filtered on its parents' keys, grouped in Python."""
    from django.db import connection

    t = tables()
    properties_sql = f"SELECT id, name FROM {t['property']} ORDER BY name"
    units_sql = (f"SELECT id, property_id, number FROM {t['unit']} "
                 "WHERE property_id IN ({}) ORDER BY property_id, number")
    requests_sql = (f"SELECT unit_id, status, title FROM {t['request']} "
                    "WHERE unit_id IN ({}) ORDER BY created_at DESC, id")
    amenities_sql = (f"SELECT t.property_id, a.name FROM {t['through']} t "
                     f"JOIN {t['amenity']} a ON a.id = t.amenity_id "
                     "WHERE t.property_id IN ({}) ORDER BY a.name")

    def load():
        with connection.cursor() as cursor:
            cursor.execute(properties_sql)
            properties = cursor.fetchall()
            keys = [row[0] for row in properties]
            if not keys:
                return properties, [], [], []
            cursor.execute(units_sql.format(placeholders(len(keys))), keys)
            units = cursor.fetchall()
            cursor.execute(amenities_sql.format(placeholders(len(keys))), keys)
            amenities = cursor.fetchall()
            requests = []
            if units:
                unit_keys = [row[0] for row in units]
                cursor.execute(requests_sql.format(placeholders(len(unit_keys))), unit_keys)
                requests = cursor.fetchall()
            return properties, units, requests, amenities

    return load, group_properties


def prepare_raw(scenario) -> Prepared:
    from django.db import connection

    if connection.vendor not in VENDORS:
        raise Unavailable(f"no conversions written for {connection.vendor}")
    if scenario.name == "S3":
        load, build = raw_properties()
    else:
        load, build = raw_leases(scenario, connection.vendor)
    return Prepared(load=load, build=build, end_to_end=lambda: build(load()))


# --------------------------------------------------------------------------
# JSON built in SQL


def display_case(column: str) -> str:
    """``get_status_display`` as a SQL ``CASE`` over the choices table."""
    whens = " ".join(f"WHEN '{value}' THEN '{label}'"
                     for value, label in status_display().items())
    return f"CASE {column} {whens} ELSE {column} END"


def sqlite_json(scenario) -> str:
    t = tables()
    if scenario.name == "S3":
        return f"""
SELECT json_group_array(json(item)) FROM (
  SELECT json_object(
    'amenities', json_object('all', json((
      SELECT json_group_array(json_object('name', name)) FROM (
        SELECT a.name AS name FROM {t['through']} pa JOIN {t['amenity']} a ON a.id = pa.amenity_id
        WHERE pa.property_id = p.id ORDER BY a.name)))),
    'name', p.name,
    'units', json_object(
      'all', json((
        SELECT json_group_array(json(unit_item)) FROM (
          SELECT json_object(
            'maintenance_requests', json_object('all', json((
              SELECT json_group_array(json_object('status', status, 'title', title)) FROM (
                SELECT r.status AS status, r.title AS title FROM {t['request']} r
                WHERE r.unit_id = u.id ORDER BY r.created_at DESC, r.id)))),
            'number', u.number) AS unit_item
          FROM {t['unit']} u WHERE u.property_id = p.id ORDER BY u.number))),
      'count', (SELECT count(*) FROM {t['unit']} c WHERE c.property_id = p.id))
  ) AS item
  FROM {t['property']} p ORDER BY p.name)"""
    # Django stores an aware datetime as naive UTC text, with six fractional
    # digits unless the microsecond is 0; DjangoJSONEncoder writes three.
    signed = ("CASE WHEN l.signed_at IS NULL THEN NULL "
              "WHEN length(l.signed_at) > 19 "
              "THEN substr(l.signed_at, 1, 10) || 'T' || substr(l.signed_at, 12, 12) || 'Z' "
              "ELSE substr(l.signed_at, 1, 10) || 'T' || substr(l.signed_at, 12) || 'Z' END")
    user = "json_object('email', us.email)"
    extra = ""
    if scenario.name == "S2":
        days = "CAST(julianday(l.end_date) - julianday(date('now')) AS INTEGER)"
        user = ("json_object('email', us.email, "
                "'get_full_name', trim(us.first_name || ' ' || us.last_name))")
        extra = (f", 'days_until_expiration', {days}, 'is_expiring_soon', "
                 f"json(CASE WHEN {days} BETWEEN 0 AND 30 THEN 'true' ELSE 'false' END)")
    return f"""
SELECT json_group_array(json(item)) FROM (
  SELECT json_object(
    'end_date', l.end_date,
    'get_status_display', {display_case('l.status')},
    'monthly_rent', printf('%.2f', l.monthly_rent),
    'property', json_object('name', p.name),
    'signed_at', {signed},
    'start_date', l.start_date,
    'tenant', json_object('user', {user}),
    'unit', json(CASE WHEN un.id IS NULL THEN NULL ELSE json_object('number', un.number) END)
    {extra}
  ) AS item
  FROM {t['lease']} l
  JOIN {t['property']} p ON p.id = l.property_id
  LEFT JOIN {t['unit']} un ON un.id = l.unit_id
  JOIN {t['tenant']} te ON te.id = l.tenant_id
  JOIN {t['user']} us ON us.id = te.user_id
  ORDER BY l.end_date, l.id)"""


def postgres_json(scenario) -> str:
    t = tables()
    if scenario.name == "S3":
        return f"""
SELECT COALESCE(json_agg(json_build_object(
    'amenities', json_build_object('all', (
      SELECT COALESCE(json_agg(json_build_object('name', a.name) ORDER BY a.name), '[]')
      FROM {t['through']} pa JOIN {t['amenity']} a ON a.id = pa.amenity_id
      WHERE pa.property_id = p.id)),
    'name', p.name,
    'units', json_build_object(
      'all', (
        SELECT COALESCE(json_agg(json_build_object(
          'maintenance_requests', json_build_object('all', (
            SELECT COALESCE(json_agg(json_build_object('status', r.status, 'title', r.title)
                                     ORDER BY r.created_at DESC, r.id), '[]')
            FROM {t['request']} r WHERE r.unit_id = u.id)),
          'number', u.number) ORDER BY u.number), '[]')
        FROM {t['unit']} u WHERE u.property_id = p.id),
      'count', (SELECT count(*) FROM {t['unit']} c WHERE c.property_id = p.id))
  ) ORDER BY p.name), '[]')::text
FROM {t['property']} p"""
    utc = "(l.signed_at AT TIME ZONE 'UTC')"
    signed = (f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
              f"CASE WHEN to_char({utc}, 'US') = '000000' THEN '' "
              f"ELSE '.' || to_char({utc}, 'MS') END || 'Z'")
    user = "json_build_object('email', us.email)"
    extra = ""
    if scenario.name == "S2":
        days = "(l.end_date - CURRENT_DATE)"
        user = ("json_build_object('email', us.email, "
                "'get_full_name', btrim(us.first_name || ' ' || us.last_name))")
        extra = (f", 'days_until_expiration', {days}, "
                 f"'is_expiring_soon', {days} BETWEEN 0 AND 30")
    return f"""
SELECT COALESCE(json_agg(json_build_object(
    'end_date', l.end_date,
    'get_status_display', {display_case('l.status')},
    'monthly_rent', l.monthly_rent::text,
    'property', json_build_object('name', p.name),
    'signed_at', {signed},
    'start_date', l.start_date,
    'tenant', json_build_object('user', {user}),
    'unit', CASE WHEN un.id IS NULL THEN NULL ELSE json_build_object('number', un.number) END
    {extra}
  ) ORDER BY l.end_date, l.id), '[]')::text
FROM {t['lease']} l
JOIN {t['property']} p ON p.id = l.property_id
LEFT JOIN {t['unit']} un ON un.id = l.unit_id
JOIN {t['tenant']} te ON te.id = l.tenant_id
JOIN {t['user']} us ON us.id = te.user_id"""


JSON_SQL = {"sqlite": sqlite_json, "postgresql": postgres_json}


def prepare_json_sql(scenario) -> Prepared:
    from django.db import connection

    write_sql = JSON_SQL.get(connection.vendor)
    if write_sql is None:
        raise Unavailable(f"no JSON functions written for {connection.vendor}")
    sql = write_sql(scenario)

    def end_to_end():
        with connection.cursor() as cursor:
            # No parameters: the driver leaves the SQL's % signs alone.
            cursor.execute(sql)
            return cursor.fetchone()[0]

    return Prepared(load=None, build=lambda text: text, end_to_end=end_to_end,
                    encode=lambda text: text)
