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
- **raw cursor, DB text**: the same, but the SQL (written by hand, the
  expert's joins and order) has the database write S1's dates, decimal and
  datetime as their JSON text (``to_char``, ``::text`` on PostgreSQL;
  the stored text, ``printf``, ``substr`` on SQLite), so the driver parses
  none of them and the loop copies them (S2 reads the end date once more,
  as a date, for its days); S3 reads none, its queries are the raw
  cursor's.
- **raw cursor, text written**: the DB-text query's rows (S3: the raw
  cursor's four queries) written straight to the JSON text by hand: one
  ``%`` format per row, strings escaped by ``json``'s own C function
  (``encode_basestring_ascii``), ``null`` for None, S3's to-many levels'
  row texts grouped by parent key and joined into their parent's format.
  No dict and no ``json.dumps``: the tightest Python that writes the text
  (what ``serializer.json(..., in_database=False)`` does from its rows).
- **JSON built in SQL**: one query returning the JSON text
  (``json_group_array(json_object(...))`` on SQLite, nested for S3's
  to-many levels; on PostgreSQL the text concatenated with ``||``, a row per
  lease for S1/S2, S3's to-many levels each read once and grouped by parent
  key), the database formatting dates, decimals and datetimes as
  ``DjangoJSONEncoder`` would. No ``json.dumps``.

All must produce JSON equal (after ``json.loads``) to every other
contender's; the harness checks it like any other.

    >>> naive_utc_text(datetime.datetime(2026, 1, 2, 3, 4, 5, 678901))
    '2026-01-02T03:04:05.678Z'
    >>> naive_utc_text(datetime.datetime(2026, 1, 2, 3, 4, 5))
    '2026-01-02T03:04:05Z'
"""

from __future__ import annotations

import datetime
import json
from collections import defaultdict
from json.encoder import encode_basestring_ascii

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


def lease_joins(t: dict[str, str]) -> str:
    """The FROM and ORDER BY every hand-written lease query shares (the
    expert's joins, in the expert's order)."""
    return f"""FROM {t['lease']} l
JOIN {t['property']} p ON p.id = l.property_id
LEFT JOIN {t['unit']} un ON un.id = l.unit_id
JOIN {t['tenant']} te ON te.id = l.tenant_id
JOIN {t['user']} us ON us.id = te.user_id
ORDER BY l.end_date, l.id"""


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


def key_filter(vendor: str):
    """The function giving a to-many level's key condition and its
    parameters, ``(sql, params)``, from its parents' keys. On PostgreSQL
    one array parameter (``= ANY``, as djust reads its to-many levels):
    binding thousands of separate parameters costs more than the query
    (measured: a third of S3's load at 10,000 leases)."""
    if vendor == "postgresql":
        def array(keys):
            return "= ANY(%s::bigint[])", ["{%s}" % ",".join(map(str, keys))]  # noqa: UP031
        return array

    def listed(keys):
        return f"IN ({placeholders(len(keys))})", keys
    return listed


def raw_properties():
    """S3: four hand-written queries (the rows the prefetches read), each
    to-many level filtered on its parents' keys, grouped in Python."""
    from django.db import connection

    t = tables()
    properties_sql = f"SELECT id, name FROM {t['property']} ORDER BY name"
    units_sql = (f"SELECT id, property_id, number FROM {t['unit']} "
                 "WHERE property_id {} ORDER BY property_id, number")
    requests_sql = (f"SELECT unit_id, status, title FROM {t['request']} "
                    "WHERE unit_id {} ORDER BY created_at DESC, id")
    amenities_sql = (f"SELECT t.property_id, a.name FROM {t['through']} t "
                     f"JOIN {t['amenity']} a ON a.id = t.amenity_id "
                     "WHERE t.property_id {} ORDER BY a.name")
    keyed = key_filter(connection.vendor)

    def load():
        with connection.cursor() as cursor:
            cursor.execute(properties_sql)
            properties = cursor.fetchall()
            if not properties:
                return properties, [], [], []
            condition, params = keyed([row[0] for row in properties])
            cursor.execute(units_sql.format(condition), params)
            units = cursor.fetchall()
            cursor.execute(amenities_sql.format(condition), params)
            amenities = cursor.fetchall()
            requests = []
            if units:
                condition, params = keyed([row[0] for row in units])
                cursor.execute(requests_sql.format(condition), params)
                requests = cursor.fetchall()
            return properties, units, requests, amenities

    return load, group_properties


def _prepare_cursor(scenario, leases, missing: str) -> Prepared:
    """S3 from the raw cursor's queries; S1 and S2 from ``leases``."""
    from django.db import connection

    if connection.vendor not in VENDORS:
        raise Unavailable(f"no {missing} written for {connection.vendor}")
    if scenario.name == "S3":
        load, build = raw_properties()
    else:
        load, build = leases(scenario, connection.vendor)
    return Prepared(load=load, build=build, end_to_end=lambda: build(load()))


def prepare_raw(scenario) -> Prepared:
    return _prepare_cursor(scenario, raw_leases, "conversions")


# --------------------------------------------------------------------------
# raw cursor, the database writing the text


def text_columns(vendor: str) -> dict[str, str]:
    """S1's and S2's date, decimal and datetime columns as the SQL that
    writes their JSON text (strings, NULL kept)."""
    if vendor == "sqlite":
        # Stored as text; an expression has no declared type, so the driver
        # parses nothing. The datetime as JSON in SQL writes it.
        signed = ("CASE WHEN l.signed_at IS NULL THEN NULL "
                  "WHEN length(l.signed_at) > 19 "
                  "THEN substr(l.signed_at, 1, 10) || 'T' || substr(l.signed_at, 12, 12) || 'Z' "
                  "ELSE substr(l.signed_at, 1, 10) || 'T' || substr(l.signed_at, 12) || 'Z' END")
        return {"end_date": "CAST(l.end_date AS TEXT)",
                "monthly_rent": "printf('%.2f', l.monthly_rent)",
                "signed_at": signed, "start_date": "CAST(l.start_date AS TEXT)"}
    utc = "(l.signed_at AT TIME ZONE 'UTC')"
    signed = (f"CASE WHEN date_trunc('second', {utc}) = {utc} "
              f"THEN to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
              f"ELSE to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') END")
    return {"end_date": "to_char(l.end_date, 'YYYY-MM-DD')",
            "monthly_rent": "l.monthly_rent::text", "signed_at": signed,
            "start_date": "to_char(l.start_date, 'YYYY-MM-DD')"}


def text_lease_loader(scenario, vendor: str):
    """The rows of S1's or S2's query with the dates, decimal and datetime
    written as text by the database (S2 adds the user's first and last
    name and the end date once more, as a date)."""
    from django.db import connection

    written = text_columns(vendor)
    extra = ""
    if scenario.name == "S2":
        extra = ", us.first_name, us.last_name, l.end_date"
    sql = f"""
SELECT {written['end_date']}, l.status, {written['monthly_rent']}, p.name,
       {written['signed_at']}, {written['start_date']}, us.email, un.number{extra}
{lease_joins(tables())}"""

    def load():
        with connection.cursor() as cursor:
            # No parameters: the driver leaves the SQL's % signs alone.
            cursor.execute(sql)
            return cursor.fetchall()

    return load


def raw_text_leases(scenario, vendor: str):
    """S1 and S2: the expert's joins and order, the dates, decimal and
    datetime written as their JSON text by the database; the dict loop
    copies them. S2's days until the end date are the expert's, from the
    end date read once more as a date."""
    load = text_lease_loader(scenario, vendor)
    display = status_display()

    def build_s1(rows):
        return [
            {
                "end_date": end,
                "get_status_display": display[status],
                "monthly_rent": rent,
                "property": {"name": prop},
                "signed_at": signed,
                "start_date": start,
                "tenant": {"user": {"email": email}},
                "unit": None if number is None else {"number": number},
            }
            for end, status, rent, prop, signed, start, email, number in rows
        ]

    def build_s2(rows):
        today = datetime.date.today()
        out = []
        append = out.append
        for end, status, rent, prop, signed, start, email, number, first, last, day in rows:
            days = (day - today).days
            append({
                "days_until_expiration": days,
                "end_date": end,
                "get_status_display": display[status],
                "is_expiring_soon": 0 <= days <= 30,
                "monthly_rent": rent,
                "property": {"name": prop},
                "signed_at": signed,
                "start_date": start,
                "tenant": {"user": {"email": email,
                                    "get_full_name": f"{first} {last}".strip()}},
                "unit": None if number is None else {"number": number},
            })
        return out

    return load, build_s1 if scenario.name == "S1" else build_s2


def prepare_raw_text(scenario) -> Prepared:
    """S1 and S2 with the text written by the database; S3 reads no date,
    decimal or datetime, so its queries are the raw cursor's."""
    return _prepare_cursor(scenario, raw_text_leases, "SQL formatting")


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
  {lease_joins(t)})"""


def json_string(column: str) -> str:
    """PostgreSQL: a text column as a JSON string (escaped by ``to_json``)."""
    return f"to_json({column})::text"


def postgres_json(scenario) -> str:
    """The JSON text concatenated (``||``), not built by ``json_build_object``
    (which looks each argument's type up again for every row: twice as
    slow); S3's to-many levels each read once, grouped by parent key from a
    sorted subquery (``string_agg`` keeps its order) and joined, not one
    correlated subquery per parent row. S1 returns a row per lease (joined
    in Python: as fast as aggregating them in the database), S3 one value."""
    t = tables()
    if scenario.name == "S3":
        return f"""
WITH requests AS (
  SELECT unit_id, '[' || string_agg(item, ',') || ']' AS items FROM (
    SELECT unit_id, '{{"status":' || {json_string('status')} || ',"title":' ||
           {json_string('title')} || '}}' AS item
    FROM {t['request']} ORDER BY unit_id, created_at DESC, id) s
  GROUP BY unit_id),
units AS (
  SELECT property_id, '[' || string_agg(item, ',') || ']' AS items, count(*) AS n FROM (
    SELECT u.property_id, '{{"maintenance_requests":{{"all":' || COALESCE(r.items, '[]') ||
           '}},"number":' || {json_string('u.number')} || '}}' AS item
    FROM {t['unit']} u LEFT JOIN requests r ON r.unit_id = u.id
    ORDER BY u.property_id, u.number) s
  GROUP BY property_id),
amenities AS (
  SELECT property_id, '[' || string_agg(item, ',') || ']' AS items FROM (
    SELECT pa.property_id, '{{"name":' || {json_string('a.name')} || '}}' AS item
    FROM {t['through']} pa JOIN {t['amenity']} a ON a.id = pa.amenity_id
    ORDER BY pa.property_id, a.name) s
  GROUP BY property_id)
SELECT COALESCE('[' || string_agg(
    '{{"amenities":{{"all":' || COALESCE(a.items, '[]') || '}},"name":' ||
    {json_string('p.name')} || ',"units":{{"all":' || COALESCE(u.items, '[]') ||
    ',"count":' || COALESCE(u.n, 0)::text || '}}}}', ',' ORDER BY p.name) || ']', '[]')
FROM {t['property']} p
LEFT JOIN units u ON u.property_id = p.id
LEFT JOIN amenities a ON a.property_id = p.id"""
    utc = "(l.signed_at AT TIME ZONE 'UTC')"
    # to_char's MS cuts to milliseconds; \" in its pattern writes a '"'.
    signed = (f"CASE WHEN l.signed_at IS NULL THEN 'null' "
              f"WHEN date_trunc('second', {utc}) = {utc} "
              f"THEN to_char({utc}, '\\\"YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"\\\"') "
              f"ELSE to_char({utc}, '\\\"YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"\\\"') END")
    whens = " ".join(f"WHEN '{value}' THEN '{json.dumps(label)}'"
                     for value, label in status_display().items())
    user = f"'{{\"email\":' || {json_string('us.email')}"
    extra = ""
    if scenario.name == "S2":
        days = "(l.end_date - CURRENT_DATE)"
        full_name = json_string("btrim(us.first_name || ' ' || us.last_name)")
        user += f" || ',\"get_full_name\":' || {full_name}"
        extra = (f" || ',\"days_until_expiration\":' || {days}::text || "
                 f"',\"is_expiring_soon\":' || CASE WHEN {days} BETWEEN 0 AND 30 "
                 "THEN 'true' ELSE 'false' END")
    # The keys in their sorted order, as the other contenders' dicts dump them.
    return f"""
SELECT '{{"end_date":"' || l.end_date::text ||
  '","get_status_display":' || CASE l.status {whens} ELSE {json_string('l.status')} END ||
  ',"monthly_rent":"' || l.monthly_rent::text ||
  '","property":{{"name":' || {json_string('p.name')} ||
  '}},"signed_at":' || {signed} ||
  ',"start_date":"' || l.start_date::text ||
  '","tenant":{{"user":' || {user} || '}}}},"unit":' ||
  CASE WHEN un.id IS NULL THEN 'null' ELSE '{{"number":' || {json_string('un.number')} || '}}' END
  {extra} || '}}'
{lease_joins(t)}"""


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
            rows = cursor.fetchall()
        if len(rows) == 1 and rows[0][0].startswith("["):
            return rows[0][0]
        # One object text per row (PostgreSQL's S1, S2).
        return "[" + ",".join([text for (text,) in rows]) + "]"

    return Prepared(load=None, build=lambda text: text, end_to_end=end_to_end,
                    encode=lambda text: text)


# --------------------------------------------------------------------------
# raw cursor, the text written by hand


# Every format below is a literal of %s only with a tuple of arguments,
# written inline: CPython compiles that into an f-string's code (no format
# parsed per row), which a format held in a variable does not get
# (measured: a third of S3's build). '[%s]' % copies the joined rows once,
# '[' + rows + ']' twice.


def written_leases(scenario, vendor: str):
    """S1 and S2: the rows of the DB-text query (dates, decimal, datetime
    already text, written inside quotes as they are), each written with one
    ``%`` format, the keys in the other contenders' order with
    ``json.dumps``'s separators. A lease with no unit takes its own format
    (measured ahead of a nested format for the unit)."""
    load = text_lease_loader(scenario, vendor)
    # Labels escaped once: a row only looks its label up.
    display = {value: encode_basestring_ascii(label)
               for value, label in status_display().items()}
    esc = encode_basestring_ascii

    def build_s1(rows):
        return "[%s]" % ", ".join([  # noqa: UP031
            '{"end_date": "%s", "get_status_display": %s, "monthly_rent": "%s", '  # noqa: UP031
            '"property": {"name": %s}, "signed_at": %s, "start_date": "%s", '
            '"tenant": {"user": {"email": %s}}, "unit": null}' % (
                end, display[status], rent, esc(prop),
                "null" if signed is None else esc(signed), start, esc(email))
            if number is None else
            '{"end_date": "%s", "get_status_display": %s, "monthly_rent": "%s", '  # noqa: UP031
            '"property": {"name": %s}, "signed_at": %s, "start_date": "%s", '
            '"tenant": {"user": {"email": %s}}, "unit": {"number": %s}}' % (
                end, display[status], rent, esc(prop),
                "null" if signed is None else esc(signed), start, esc(email), esc(number))
            for end, status, rent, prop, signed, start, email, number in rows])

    def build_s2(rows):
        today = datetime.date.today()
        return "[%s]" % ", ".join([  # noqa: UP031
            '{"days_until_expiration": %s, "end_date": "%s", "get_status_display": %s, '  # noqa: UP031
            '"is_expiring_soon": %s, "monthly_rent": "%s", "property": {"name": %s}, '
            '"signed_at": %s, "start_date": "%s", '
            '"tenant": {"user": {"email": %s, "get_full_name": %s}}, "unit": null}' % (
                days, end, display[status], "true" if 0 <= days <= 30 else "false", rent,
                esc(prop), "null" if signed is None else esc(signed), start, esc(email),
                esc(f"{first} {last}".strip()))
            if number is None else
            '{"days_until_expiration": %s, "end_date": "%s", "get_status_display": %s, '  # noqa: UP031
            '"is_expiring_soon": %s, "monthly_rent": "%s", "property": {"name": %s}, '
            '"signed_at": %s, "start_date": "%s", '
            '"tenant": {"user": {"email": %s, "get_full_name": %s}}, '
            '"unit": {"number": %s}}' % (
                days, end, display[status], "true" if 0 <= days <= 30 else "false", rent,
                esc(prop), "null" if signed is None else esc(signed), start, esc(email),
                esc(f"{first} {last}".strip()), esc(number))
            for end, status, rent, prop, signed, start, email, number, first, last, day in rows
            for days in [(day - today).days]])

    return load, build_s1 if scenario.name == "S1" else build_s2


def write_properties(rows) -> str:
    """S3's four queries' rows written as text, each to-many level's row
    texts grouped by parent key and joined into the parent's format
    (defaultdict's lookup measured ahead of try/except KeyError)."""
    properties, units, requests, amenities = rows
    esc = encode_basestring_ascii
    requests_of = defaultdict(list)
    for unit, status, title in requests:
        requests_of[unit].append(
            '{"status": %s, "title": %s}' % (esc(status), esc(title)))  # noqa: UP031
    none = ()
    requests_get = requests_of.get
    units_of = defaultdict(list)
    for pk, prop, number in units:
        units_of[prop].append('{"maintenance_requests": {"all": [%s]}, "number": %s}' % (  # noqa: UP031
            ", ".join(requests_get(pk, none)), esc(number)))
    amenities_of = defaultdict(list)
    for prop, name in amenities:
        amenities_of[prop].append('{"name": %s}' % (esc(name),))  # noqa: UP031
    units_get, amenities_get = units_of.get, amenities_of.get
    return "[%s]" % ", ".join([  # noqa: UP031
        '{"amenities": {"all": [%s]}, "name": %s, "units": {"all": [%s], "count": %s}}' % (  # noqa: UP031
            ", ".join(amenities_get(pk, none)), esc(name), ", ".join(its), len(its))
        for pk, name in properties for its in [units_get(pk, none)]])


def prepare_raw_written(scenario) -> Prepared:
    """The DB-text query's rows (S3: the raw cursor's) written as JSON
    text by hand: no dict, no ``json.dumps``."""
    from django.db import connection

    if connection.vendor not in VENDORS:
        raise Unavailable(f"no SQL formatting written for {connection.vendor}")
    if scenario.name == "S3":
        load, _ = raw_properties()
        build = write_properties
    else:
        load, build = written_leases(scenario, connection.vendor)
    return Prepared(load=load, build=build, end_to_end=lambda: build(load()),
                    encode=lambda text: text)
