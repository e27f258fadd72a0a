"""The contenders: every way measured to turn a scenario's rows into the
same JSON.

The baseline every ratio is quoted against is ``expert values_list``
(``expert.py``): what an expert tuning for speed writes by hand, with no
model instance. ``hand-written`` is the model-instance optimum
(``select_related``/``Prefetch`` + ``only()``), kept as a second reference.
``raw cursor``, ``JSON in SQL``, ``raw cursor, DB text`` and ``raw cursor,
text written`` (``limits.py``) are physical limits, reported as distances,
not competitors.

Every contender is prepared once per scenario (serializer classes built,
djust's cache warmed) and exposes three callables:

- ``load()``: the rows, fully fetched (the queryset evaluated, its
  prefetches done), ready to serialize;
- ``build(rows)``: the JSON-ready data for those rows;
- ``end_to_end()``: queryset to data, the way the contender is used.

The harness turns every contender's data into text with the same
``json.dumps(data, cls=DjangoJSONEncoder)`` call (what ``JsonResponse``
does), so a contender may leave dates and decimals to the encoder (naive,
django-readers, serpy) or write them itself (hand-written, djust, DRF).

    >>> names = [c.name for c in CONTENDERS]
    >>> names[0], names[1], names[-1]
    ('expert values_list', 'hand-written', 'raw cursor, text written')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from benchmarks.baseline import iso_datetime
from benchmarks.compare.base import Contender, Prepared, Unavailable
from benchmarks.compare.expert import prepare_expert
from benchmarks.compare.limits import (
    prepare_json_sql,
    prepare_raw,
    prepare_raw_text,
    prepare_raw_written,
)

__all__ = ["BASELINE", "CONTENDERS", "DISTANCES", "LIMITS", "PYTHON_TEXT", "REFERENCE",
           "TEXT_LIMIT", "Contender", "Prepared", "Unavailable"]


def _from_queryset(queryset_for, build) -> Prepared:
    def load():
        return list(queryset_for())

    def end_to_end():
        return build(queryset_for())

    return Prepared(load=load, build=build, end_to_end=end_to_end)


# --------------------------------------------------------------------------
# The hand-tuned querysets (shared by the hand-written optimum, DRF, serpy)


def tuned_queryset(scenario, *, prune: bool):
    """The ``select_related``/``prefetch_related`` an expert writes for the
    scenario; ``prune`` adds the ``only()`` columns too (the optimum's)."""
    from django.db.models import Prefetch

    from examples.rentals.models import Amenity, Lease, MaintenanceRequest, Property, Unit

    def only(queryset, *fields):
        return queryset.only(*fields) if prune else queryset

    if scenario.name in ("S1", "S2"):
        fields = ["end_date", "status", "monthly_rent", "signed_at", "start_date",
                  "property__name", "unit__number", "tenant__user__email"]
        if scenario.name == "S2":
            fields += ["tenant__user__first_name", "tenant__user__last_name"]
        joined = Lease.objects.select_related("property", "unit", "tenant__user")
        return only(joined, *fields)
    requests = only(MaintenanceRequest.objects.all(), "title", "status", "unit")
    units = only(Unit.objects.all(), "number", "property").prefetch_related(
        Prefetch("maintenance_requests", queryset=requests))
    return only(Property.objects.all(), "name").prefetch_related(
        Prefetch("units", queryset=units),
        Prefetch("amenities", queryset=only(Amenity.objects.all(), "name")),
    )


# --------------------------------------------------------------------------
# Hand-written optimum


def hand_lease(lease) -> dict:
    unit = lease.unit
    signed = lease.signed_at
    return {
        "end_date": lease.end_date.isoformat(),
        "get_status_display": lease.get_status_display(),
        "monthly_rent": str(lease.monthly_rent),
        "property": {"name": lease.property.name},
        "signed_at": None if signed is None else iso_datetime(signed),
        "start_date": lease.start_date.isoformat(),
        "tenant": {"user": {"email": lease.tenant.user.email}},
        "unit": None if unit is None else {"number": unit.number},
    }


def hand_lease_s2(lease) -> dict:
    unit = lease.unit
    signed = lease.signed_at
    user = lease.tenant.user
    return {
        "days_until_expiration": lease.days_until_expiration(),
        "end_date": lease.end_date.isoformat(),
        "get_status_display": lease.get_status_display(),
        "is_expiring_soon": lease.is_expiring_soon,
        "monthly_rent": str(lease.monthly_rent),
        "property": {"name": lease.property.name},
        "signed_at": None if signed is None else iso_datetime(signed),
        "start_date": lease.start_date.isoformat(),
        "tenant": {"user": {"email": user.email, "get_full_name": user.get_full_name()}},
        "unit": None if unit is None else {"number": unit.number},
    }


def hand_property(prop) -> dict:
    # Reads the plain lists that hand_queryset's Prefetch(to_attr=...) fills.
    units = prop.unit_list
    return {
        "amenities": {"all": [{"name": a.name} for a in prop.amenity_list]},
        "name": prop.name,
        "units": {
            "all": [
                {
                    "maintenance_requests": {"all": [
                        {"status": r.status, "title": r.title} for r in u.request_list
                    ]},
                    "number": u.number,
                }
                for u in units
            ],
            "count": len(units),
        },
    }


def hand_queryset(scenario):
    """The optimum's queryset: the tuned one, pruned with ``only()``; for
    S3, prefetched into plain lists (``to_attr``) so rows read no manager."""
    from django.db.models import Prefetch

    from examples.rentals.models import Amenity, MaintenanceRequest, Property, Unit

    if scenario.name != "S3":
        return tuned_queryset(scenario, prune=True)
    requests = MaintenanceRequest.objects.only("title", "status", "unit")
    units = Unit.objects.only("number", "property").prefetch_related(
        Prefetch("maintenance_requests", queryset=requests, to_attr="request_list"))
    return Property.objects.only("name").prefetch_related(
        Prefetch("units", queryset=units, to_attr="unit_list"),
        Prefetch("amenities", queryset=Amenity.objects.only("name"), to_attr="amenity_list"),
    )


HAND_ROWS = {"S1": hand_lease, "S2": hand_lease_s2, "S3": hand_property}


def prepare_hand(scenario) -> Prepared:
    row = HAND_ROWS[scenario.name]

    def build(rows):
        return [row(r) for r in rows]

    return _from_queryset(lambda: hand_queryset(scenario), build)


# --------------------------------------------------------------------------
# Naive: no plan, every path resolved generically with Django's Variable


def path_trie(paths) -> dict:
    """``["a.b", "a.c"]`` → ``{"a": {"b": {}, "c": {}}}``.

        >>> path_trie(["units.all.*.number", "name"])
        {'units': {'all': {'*': {'number': {}}}}, 'name': {}}
    """
    trie: dict = {}
    for path in paths:
        node = trie
        for segment in path.split("."):
            node = node.setdefault(segment, {})
    return trie


def naive_resolver(paths) -> Callable[[object], dict]:
    """A generic serializer: each segment is one Django ``Variable`` lookup
    (attribute, key, index or call, as the template engine does it)."""
    from django.template import Variable, VariableDoesNotExist

    lookups: dict[str, Variable] = {}

    def lookup(obj, segment):
        variable = lookups.get(segment)
        if variable is None:
            variable = lookups[segment] = Variable(f"obj.{segment}")
        return variable.resolve({"obj": obj})

    def resolve(obj, trie) -> dict:
        out = {}
        for segment, below in trie.items():
            try:
                value = lookup(obj, segment)
            except VariableDoesNotExist:
                continue
            if not below or value is None:
                out[segment] = value
            elif list(below) == ["*"]:
                out[segment] = [resolve(item, below["*"]) for item in value]
            else:
                out[segment] = resolve(value, below)
        return out

    trie = path_trie(paths)
    return lambda obj: resolve(obj, trie)


def prepare_naive(scenario) -> Prepared:
    row = naive_resolver(scenario.paths())

    def build(rows):
        return [row(r) for r in rows]

    return _from_queryset(scenario.base_queryset, build)


# --------------------------------------------------------------------------
# djust (warm cache)


def prepare_djust(scenario) -> Prepared:
    """djust as a view uses it: ``compile_serializer(...).many(queryset)``.

    ``load``/``build`` split what ``many`` does the same way: when the
    paths allow a ``values_list()`` projection (all three scenarios), the
    rows are those tuples (the queryset's and each to-many level's) and the
    build is the projection function, which runs S2's methods and property
    on stand-ins; otherwise the rows are the planned queryset's instances
    and the build is the serializer.
    """
    from djust.compiler import compile_serializer
    from djust.compiler.projection import fetch, text_rows

    model, paths = scenario.model, scenario.paths()
    serializer = compile_serializer(model, paths)
    projection = serializer.build_projection()

    if projection:
        project, spec = projection
        # Serialize-only starts from the rows values_list() gives (the
        # expert's): the JSON text of dates, datetimes and decimals, which
        # many() writes while reading them, is written in the build.
        as_values = dataclasses.replace(spec, text=(), levels=tuple(
            dataclasses.replace(level, text=()) for level in spec.levels))
        texts = [spec.text, *(level.text for level in spec.levels)]

        def load():
            return fetch(scenario.base_queryset(), as_values)

        def build(rows):
            return project(*map(text_rows, rows, texts))
    else:
        def load():
            # The same variant ``many`` applies (listed relations).
            return list(serializer.plan.apply(scenario.base_queryset(), lists=True))

        def build(rows):
            return [serializer(r) for r in rows]

    def end_to_end():
        # The cache lookup is part of every request a view serves.
        return compile_serializer(model, paths).many(scenario.base_queryset())

    return Prepared(load=load, build=build, end_to_end=end_to_end)


def prepare_djust_json(scenario) -> Prepared:
    """djust's fastest road to text: ``serializer.json(queryset)``, the
    JSON written by the database in one query where it can express the
    paths (S1, S3), else ``json.dumps`` of ``many()`` (S2's methods)."""
    from djust.compiler import compile_serializer

    model, paths = scenario.model, scenario.paths()
    compile_serializer(model, paths)

    def end_to_end():
        return compile_serializer(model, paths).json(scenario.base_queryset())

    return Prepared(load=None, build=lambda text: text, end_to_end=end_to_end,
                    encode=lambda text: text)


def prepare_djust_json_python(scenario) -> Prepared:
    """``serializer.json(queryset, in_database=False)``: the text written
    in Python from the ``values_list()`` rows, one ``%`` format per row
    (S1, S3), else ``json.dumps`` of ``many()`` (S2's methods).

    ``load``/``build`` split it where it writes from rows: the rows its
    projection fetches, then the function writing them, so that its
    serialize-only figure compares with the text-writing limit's."""
    from djust.compiler import compile_serializer

    model, paths = scenario.model, scenario.paths()
    serializer = compile_serializer(model, paths)

    def end_to_end():
        # The cache lookup is part of every request a view serves.
        return compile_serializer(model, paths).json(scenario.base_queryset(),
                                                     in_database=False)

    load = build = None
    projected = text_projection(serializer)
    if projected:
        from djust.compiler.projection import fetch

        write, spec = projected

        def load():
            return fetch(scenario.base_queryset(), spec)

        def build(rows):
            return write(*rows)

    return Prepared(load=load, build=build or (lambda text: text), end_to_end=end_to_end,
                    encode=lambda text: text)


def text_projection(serializer):
    """djust's text writer and its projection, or None where it writes
    none (a path that may drop a key)."""
    from djust.compiler.serializer import text_projection_of

    return text_projection_of(serializer) or None


# --------------------------------------------------------------------------
# Django REST Framework: ModelSerializer, nested serializers


def drf_serializer_class(scenario):
    """The ``ModelSerializer`` tree whose output has the scenario's shape."""
    from django.contrib.auth import get_user_model
    from rest_framework import serializers

    from examples.rentals.models import Amenity, Lease, MaintenanceRequest, Property, Unit

    def model_serializer(model, fields, **declared):
        meta = type("Meta", (), {"model": model, "fields": fields})
        return type(f"{model.__name__}Serializer", (serializers.ModelSerializer,),
                    {"Meta": meta, **declared})

    def plain_serializer(class_name, **declared):
        return type(class_name, (serializers.Serializer,), declared)

    if scenario.name in ("S1", "S2"):
        user_fields = ["email"]
        user_declared = {}
        lease_declared = {}
        if scenario.name == "S2":
            user_fields.append("get_full_name")
            user_declared["get_full_name"] = serializers.CharField(read_only=True)
            lease_declared = {
                "days_until_expiration": serializers.IntegerField(read_only=True),
                "is_expiring_soon": serializers.BooleanField(read_only=True),
            }
        user = model_serializer(get_user_model(), user_fields, **user_declared)
        tenant = plain_serializer("TenantSerializer", user=user(read_only=True))
        fields = ["end_date", "get_status_display", "monthly_rent", "property", "signed_at",
                  "start_date", "tenant", "unit", *lease_declared]
        return model_serializer(
            Lease, fields,
            property=model_serializer(Property, ["name"])(read_only=True),
            unit=model_serializer(Unit, ["number"])(read_only=True),
            tenant=tenant(read_only=True),
            get_status_display=serializers.CharField(read_only=True),
            **lease_declared,
        )
    # Managers are nested serializers too: "all" and "count" are read (and
    # called) on the related manager, so the shape matches the template's.
    request = model_serializer(MaintenanceRequest, ["status", "title"])
    requests = plain_serializer("RequestsSerializer", all=request(many=True, read_only=True))
    unit = model_serializer(Unit, ["maintenance_requests", "number"],
                            maintenance_requests=requests(read_only=True))
    units = plain_serializer("UnitsSerializer", all=unit(many=True, read_only=True),
                             count=serializers.IntegerField(read_only=True))
    amenity = model_serializer(Amenity, ["name"])
    amenities = plain_serializer("AmenitiesSerializer",
                                 all=amenity(many=True, read_only=True))
    return model_serializer(Property, ["amenities", "name", "units"],
                            amenities=amenities(read_only=True), units=units(read_only=True))


def prepare_drf(scenario) -> Prepared:
    serializer_class = drf_serializer_class(scenario)

    def build(rows):
        return serializer_class(rows, many=True).data

    return _from_queryset(lambda: tuned_queryset(scenario, prune=False), build)


# --------------------------------------------------------------------------
# django-readers: specs, its own prefetches


def readers_spec(scenario) -> list:
    """The django-readers spec with the scenario's shape. Methods and
    properties are producer pairs; ``{"all": ..., "count": ...}`` wrappers
    are custom pairs over django-readers' own relationship prefetch."""
    from django_readers import pairs, producers, qs, specs

    def method(name, *fields):
        return qs.include_fields(*fields), producers.method(name)

    def attribute(name, *fields):
        return qs.include_fields(*fields), producers.attr(name)

    def related_rows(name, spec, *, count=False):
        prepare_related, project = specs.process(spec)

        def produce(instance):
            rows = getattr(instance, name).all()
            out = {"all": [project(row) for row in rows]}
            if count:
                out["count"] = len(rows)
            return out

        return qs.auto_prefetch_relationship(name, prepare_related), produce

    if scenario.name in ("S1", "S2"):
        user = ["email"]
        lease = [
            "end_date", {"get_status_display": pairs.field_display("status")},
            "monthly_rent", {"property": ["name"]}, "signed_at", "start_date",
            {"tenant": [{"user": user}]}, {"unit": ["number"]},
        ]
        if scenario.name == "S2":
            user.append({"get_full_name": method("get_full_name", "first_name", "last_name")})
            lease += [
                {"days_until_expiration": method("days_until_expiration", "end_date")},
                {"is_expiring_soon": attribute("is_expiring_soon", "end_date")},
            ]
        return lease
    requests = related_rows("maintenance_requests", ["status", "title"])
    units = related_rows("units", [{"maintenance_requests": requests}, "number"], count=True)
    return [{"amenities": related_rows("amenities", ["name"])}, "name", {"units": units}]


def prepare_readers(scenario) -> Prepared:
    from django_readers import specs

    prepare, project = specs.process(readers_spec(scenario))

    def build(rows):
        return [project(r) for r in rows]

    return _from_queryset(lambda: prepare(scenario.base_queryset()), build)


# --------------------------------------------------------------------------
# serpy: nested Serializer classes over the hand-tuned queryset


def serpy_serializer_class(scenario):
    import serpy

    def serializer(class_name, **fields):
        return type(class_name, (serpy.Serializer,), fields)

    if scenario.name in ("S1", "S2"):
        user = {"email": serpy.Field()}
        lease = {}
        if scenario.name == "S2":
            user["get_full_name"] = serpy.Field(call=True)
            lease = {"days_until_expiration": serpy.Field(call=True),
                     "is_expiring_soon": serpy.Field()}
        tenant = serializer("Tenant", user=serializer("User", **user)())
        return serializer(
            "Lease",
            end_date=serpy.Field(), get_status_display=serpy.Field(call=True),
            monthly_rent=serpy.Field(), property=serializer("Property", name=serpy.Field())(),
            signed_at=serpy.Field(), start_date=serpy.Field(), tenant=tenant(),
            unit=serializer("Unit", number=serpy.Field())(required=False),
            **lease,
        )
    request = serializer("Request", status=serpy.Field(), title=serpy.Field())
    requests = serializer("Requests", all=request(many=True, call=True))
    unit = serializer("Unit", maintenance_requests=requests(), number=serpy.Field())
    units = serializer("Units", all=unit(many=True, call=True), count=serpy.Field(call=True))
    amenities = serializer("Amenities", all=serializer("Amenity", name=serpy.Field())(
        many=True, call=True))
    return serializer("Property", amenities=amenities(), name=serpy.Field(), units=units())


def prepare_serpy(scenario) -> Prepared:
    serializer_class = serpy_serializer_class(scenario)

    def build(rows):
        return serializer_class(rows, many=True).data

    return _from_queryset(lambda: tuned_queryset(scenario, prune=False), build)


CONTENDERS = (
    Contender("expert values_list", prepare_expert,
              "THE BASELINE: values_list() over the same joins + a dict comprehension "
              "writing DjangoJSONEncoder's text, get_status_display from a choices table "
              "built once, methods and property inlined; S3's to-many levels as three "
              "more values_list() queries filtered on the parents' keys, grouped in "
              "Python (same queries as the prefetches); no model instance"),
    Contender("hand-written", prepare_hand,
              "the model-instance optimum (second reference): select_related/Prefetch "
              "+ only(), a function per row, DjangoJSONEncoder rules", role="reference"),
    Contender("naive", prepare_naive,
              "the view's queryset as is, every path resolved with django.template.Variable",
              slow=True),
    Contender("DRF", prepare_drf,
              "ModelSerializer with nested serializers, hand-tuned select/prefetch_related"),
    Contender("django-readers", prepare_readers,
              "a spec; django-readers prefetches every relation with only() columns"),
    Contender("serpy", prepare_serpy,
              "nested serpy.Serializer classes, hand-tuned select/prefetch_related"),
    Contender("djust", prepare_djust,
              "compile_serializer from the template's paths (warm cache), then .many(): "
              "values_list() rows, one query per to-many level, when every path is a "
              "column, a to-many relation's rows and count, or a method or property "
              "reading only columns (S1, S2, S3); else the plan"),
    Contender("djust json()", prepare_djust_json,
              "compile_serializer(...).json(): the JSON text written by the database in "
              "one query where it can express the paths (S1, S3), else json.dumps of "
              "many() (S2's methods)"),
    Contender("djust json(), Python path", prepare_djust_json_python,
              "compile_serializer(...).json(queryset, in_database=False): the text "
              "written straight from the values_list() rows, one % format per row "
              "(keys and separators constants of the format, strings through json's own "
              "C escaping), no dict and no json.dumps; json.dumps of many() where a path "
              "may drop a key (S2's methods)"),
    Contender("raw cursor", prepare_raw,
              "LIMIT, not a competitor: connection.cursor(), the expert's SQL, fetchall(), "
              "the tightest dict loop with only the conversions the JSON needs (driver "
              "types as they come), json.dumps", role="limit"),
    Contender("JSON in SQL", prepare_json_sql,
              "LIMIT, not a competitor: one query returning the JSON text "
              "(json_group_array(json_object()) on SQLite; on PostgreSQL each row's text "
              "joined with || and each to-many level read once, grouped by parent key "
              "with string_agg), dates, decimals and datetimes formatted by the database "
              "as DjangoJSONEncoder writes them; no json.dumps",
              role="limit"),
    Contender("raw cursor, DB text", prepare_raw_text,
              "LIMIT, not a competitor: the raw cursor with the database writing the "
              "dates, decimals and datetimes as their JSON text in its SQL (to_char, "
              "::text on PostgreSQL; stored text, printf, substr on SQLite), so the "
              "driver parses none (S2 reads the end date once more for its days); S3 as "
              "the raw cursor (no such column)",
              role="text limit"),
    Contender("raw cursor, text written", prepare_raw_written,
              "LIMIT, not a competitor: the rows of raw cursor, DB text (S3: the raw "
              "cursor's four queries) written straight to the JSON text by hand: one % "
              "format per row, json.encoder.encode_basestring_ascii for strings, null "
              "for None, S3's to-many row texts grouped by parent key and joined into "
              "their parent's format; no dict, no json.dumps: the tightest Python that "
              "writes the text", role="text limit"),
)
BASELINE = "expert values_list"
REFERENCE = "hand-written"
# Issue #20's pair: djust writing the text in Python, and the tightest
# hand-written Python that writes the same text.
PYTHON_TEXT = "djust json(), Python path"
TEXT_LIMIT = "raw cursor, text written"
LIMITS = tuple(c.name for c in CONTENDERS if c.role == "limit")
# Every limit the report gives distances to: the two above, then the raw
# cursors whose SQL has the database write the values' text ("text limit"),
# the dict loop's and the hand-written text's.
DISTANCES = (*LIMITS, *(c.name for c in CONTENDERS if c.role == "text limit"))
