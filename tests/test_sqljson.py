"""JSON built by the database (``djust.compiler.sqljson``): the text the
database writes equals, after ``json.loads``, what ``many()`` gives through
DjangoJSONEncoder, in one query; refused trees and querysets say why."""

from __future__ import annotations

import datetime
import json
import uuid
from decimal import Decimal

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import Count, Prefetch
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from djust.compiler import compile_serializer, sqljson
from examples.rentals.models import Lease, MaintenanceRequest, Property, Tenant, Unit
from property_tests.fuzzapp import models as fz
from tests import factories
from tests.testapp import models as lib

pytestmark = pytest.mark.django_db


def strict(a, b, where="") -> None:
    """Equal, and of the same JSON types (1 is not 1.0, True is not 1)."""
    assert type(a) is type(b), (where, a, b)
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), (where, a, b)
        for key in a:
            strict(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), (where, a, b)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            strict(x, y, f"{where}.{i}")
    else:
        assert a == b, (where, a, b)


def expected(serializer, queryset):
    return json.loads(json.dumps(serializer.many(queryset), cls=DjangoJSONEncoder))


def assert_same(model, paths, queryset=None, *, queries=1):
    serializer = compile_serializer(model, paths)
    queryset = model.objects.all() if queryset is None else queryset
    assert sqljson.refusal(serializer) is None, sqljson.describe(serializer)
    with CaptureQueriesContext(connection) as captured:
        text = sqljson.json_text(serializer, queryset)
    assert text is not None, sqljson.queryset_refusal(serializer, queryset)
    assert len(captured) == queries, [q["sql"] for q in captured]
    strict(json.loads(text), expected(serializer, queryset))
    return json.loads(text)


@pytest.fixture
def rentals():
    factories.rentals(7)


@pytest.fixture
def library():
    factories.library(4)


RENTAL_SHAPES = {
    "columns": (Lease, ["end_date", "start_date", "monthly_rent", "deposit", "status",
                        "signed_at", "reference", "pk", "id", "unit_id", "tenant_id"]),
    "forward chains": (Lease, ["tenant.user.email", "tenant.phone", "property.name",
                               "unit.number", "unit.property.city"]),
    "choices display": (Lease, ["get_status_display", "status"]),
    "json and datetime": (Tenant, ["emergency_contact", "moved_in", "user.date_joined",
                                   "user.last_login", "user.is_active"]),
    "to-many levels": (Property, ["name", "units.count", "units.all.*.number",
                                  "units.all.*.maintenance_requests.all.*.title",
                                  "units.all.*.maintenance_requests.all.*.get_priority_display",
                                  "amenities.all.*.name", "amenities.count"]),
    "exists": (Property, ["units.exists", "leases.exists", "amenities.exists"]),
    "to-many below a forward step": (Lease, ["property.units.all.*.number",
                                             "property.amenities.count"]),
    "durations and nullable FKs": (MaintenanceRequest, ["resolved_in", "tenant.user.username",
                                                        "unit.is_available", "created_at"]),
    "sensitive names left out": (Tenant, ["user.password", "user.username"]),
}


@pytest.mark.filterwarnings("ignore::djust.compiler.sensitive.SensitiveFieldWarning")
@pytest.mark.parametrize("shape", RENTAL_SHAPES)
def test_rental_shapes(rentals, shape):
    model, paths = RENTAL_SHAPES[shape]
    MaintenanceRequest.objects.filter(pk__in=MaintenanceRequest.objects.values("pk")[:3]).update(
        resolved_in=datetime.timedelta(days=-2, seconds=7, microseconds=12))
    MaintenanceRequest.objects.filter(title="Request 4").update(
        resolved_in=datetime.timedelta(days=3, hours=4, minutes=5))
    Lease.objects.filter(status="active").update(
        signed_at=datetime.datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=datetime.UTC),
        deposit=Decimal("0.5"))
    Lease.objects.filter(status="pending").update(
        signed_at=datetime.datetime(2024, 3, 1, 9, 30, 15, tzinfo=datetime.UTC))
    assert_same(model, paths)


def test_library_shapes(library):
    assert_same(lib.Book, ["title", "author.name", "publisher.name", "tags.all.*.label",
                           "chapters.all.*.title", "chapters.count"])


def test_filters_ordering_and_slices(rentals):
    paths = ["end_date", "status", "tenant.user.email", "property.units.count"]
    for queryset in (
        Lease.objects.filter(status="active"),
        Lease.objects.order_by("-end_date"),
        Lease.objects.order_by("status", "-id")[1:4],
        Lease.objects.exclude(unit=None).order_by("unit__number")[:2],
        Lease.objects.filter(tenant__user__email__startswith="t1"),
    ):
        got = assert_same(Lease, paths, queryset)
        assert [row["end_date"] for row in got] == [
            lease.end_date.isoformat() for lease in queryset]


def test_empty_querysets_cost_no_query_when_they_match_nothing(rentals):
    serializer = compile_serializer(Lease, ["status"])
    with CaptureQueriesContext(connection) as captured:
        assert sqljson.json_text(serializer, Lease.objects.none()) == "[]"
        assert sqljson.json_text(serializer, Lease.objects.order_by("?")[:0]) == "[]"
    assert len(captured) == 0
    assert sqljson.json_text(serializer, Lease.objects.filter(status="nope")) == "[]"


def test_empty_to_many_relations_are_empty_arrays(rentals):
    Property.objects.create(name="Empty", address="-", city="-", monthly_rent=Decimal("1"))
    got = assert_same(Property, ["name", "units.all.*.number", "units.count", "units.exists"],
                      Property.objects.filter(name="Empty"))
    assert got == [{"name": "Empty", "units": {"all": [], "count": 0, "exists": False}}]


def test_choices_outside_the_table_show_the_value(rentals):
    Lease.objects.filter(status="active").update(status="odd'%value")
    assert_same(Lease, ["get_status_display"])


@pytest.mark.parametrize("use_tz", [True, False])
@pytest.mark.parametrize("zone", ["UTC", "Asia/Kathmandu", "America/St_Johns"])
def test_every_field_type_of_the_fuzz_schema(use_tz, zone):
    with override_settings(USE_TZ=use_tz, TIME_ZONE=zone), timezone.override(zone):
        owner = fz.Owner.objects.create(username="ann")
        moments = [datetime.datetime(2024, 1, 2, 3, 4, 5, micro) for micro in (0, 500, 123456)]
        if use_tz:
            moments = [timezone.make_aware(moment) for moment in moments]
        values = [
            dict(ratio=1.0, precise=Decimal("0.0000001000"), price=Decimal("-0.50"),
                 flag=True, maybe=None, span=datetime.timedelta(days=-1, seconds=5),
                 clock=datetime.time(0, 0, 0, 999), day=datetime.date(2, 1, 2),
                 data={"a": [1, 1.5, None, "x"], "b": True}),
            dict(ratio=-0.0, precise=Decimal("0"), whole=Decimal("12"), maybe=False,
                 span=datetime.timedelta(microseconds=1), clock=datetime.time(23, 59, 59),
                 data=[], ip="2001:db8::1", level=2),
            dict(ratio=1e300, precise=Decimal("1234567890.0123456789")
                 if connection.vendor == "postgresql" else Decimal("12345.0123456789"),
                 maybe=True, data="text", ip="10.0.0.1", level=None,
                 span=datetime.timedelta(days=999_999, hours=23), count=-7),
            dict(ratio=0.1, precise=Decimal("-0.0000000001"), data=None,
                 positive_big=2**63 - 1, big=-(2**63)),
        ]
        for moment, fields in zip(moments * 2, values, strict=False):
            fz.Item.objects.create(title="t", owner=owner, moment=moment, **fields)
        paths = ["pk", "title", "body", "slug", "email", "url", "nickname", "small",
                 "positive", "positive_small", "positive_big", "big", "count", "ratio",
                 "price", "precise", "whole", "flag", "maybe", "day", "moment", "clock",
                 "span", "token", "data", "attachment", "ip", "status", "level",
                 "owner_id", "reviewer_id", "get_status_display", "get_level_display",
                 "owner.username", "reviewer.username"]
        got = assert_same(fz.Item, paths)
        assert type(got[0]["ratio"]) is float and type(got[0]["flag"]) is bool
        assert got[0]["precise"] == "1.000E-7"


def test_uuid_primary_keys_and_through_models():
    owners = [fz.Owner.objects.create(username=name) for name in ("b", "a")]
    group = fz.Group.objects.create(id=uuid.UUID(int=5), name="g")
    for owner in owners:
        fz.Membership.objects.create(group=group, owner=owner, role="r",
                                     joined=datetime.date(2020, 1, 1))
    fz.Membership.objects.create(group=group, owner=owners[0], role="again")
    assert_same(fz.Group, ["pk", "name", "members.all.*.username", "members.count",
                           "memberships.all.*.role", "memberships.all.*.joined",
                           "memberships.all.*.owner.username"])
    assert_same(fz.Owner, ["groups.all.*.id", "groups.all.*.name"])


REFUSED = {
    "a method": (Lease, ["days_until_expiration"], "days_until_expiration is a method"),
    "a property": (Lease, ["is_expiring_soon"], "is_expiring_soon is a property"),
    "a displayed instance": (Lease, ["tenant"], "tenant is displayed"),
    "the row displayed": (Lease, ["", "status"], "<the row itself> is displayed"),
    "a JSON key": (Tenant, ["emergency_contact.name"], "emergency_contact is looked into"),
    "first()": (Property, ["units.first.number"], "units.first is a pick"),
    "an index": (Property, ["units.all.0.number"], "units.all is read other than"),
    "a reverse one-to-one": (lib.Author, ["biography.text"], "biography is a reverse_one"),
    "a generic relation": (lib.Book, ["comments.all.*.text"], "comments is a to-many"),
    "a custom field class": (fz.Item, ["picture"], "picture is a NameOnlyImageField"),
    "a run-time lookup": (Lease, ["nope"], "nope is resolved at run time"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_refused_trees_say_which_path(rentals, case):
    model, paths, reason = REFUSED[case]
    serializer = compile_serializer(model, paths)
    assert sqljson.json_text(serializer, model.objects.all()) is None
    assert reason in sqljson.describe(serializer)
    assert sqljson.describe(serializer).startswith("the Python path: ")


def test_python_mode_is_refused():
    serializer = compile_serializer(Lease, ["status"], mode="python")
    assert sqljson.json_text(serializer, Lease.objects.all()) is None
    assert "mode 'python'" in sqljson.describe(serializer)


def test_refused_querysets_say_why(rentals):
    serializer = compile_serializer(Lease, ["status"])
    assert "JSON built by the database" in sqljson.describe(serializer)
    for queryset, reason in (
        (Lease.objects.values("status"), "values()"),
        (Lease.objects.distinct(), "distinct()"),
        (Lease.objects.annotate(n=Count("property__units")), "groups its rows"),
        (Lease.objects.prefetch_related(Prefetch("property")), "prefetches"),
        (Lease.objects.filter(pk=1).union(Lease.objects.filter(pk=2)), "union()"),
        (Unit.objects.all(), "a QuerySet of rentals.Unit"),
    ):
        assert sqljson.json_text(serializer, queryset) is None
        assert reason in sqljson.queryset_refusal(serializer, queryset)


def test_user_annotations_and_filters_on_relations_are_kept(rentals):
    queryset = (Property.objects.filter(units__number__endswith="-1")
                .annotate(doubled=Count("pk") * 0).order_by("-name"))
    # An aggregate annotation groups: refused. A plain filter across a join is kept.
    serializer = compile_serializer(Property, ["name", "units.all.*.number"])
    assert sqljson.json_text(serializer, queryset) is None
    assert_same(Property, ["name", "units.all.*.number"],
                Property.objects.filter(units__number__endswith="-1").order_by("-name"))


def test_to_many_below_a_nullable_forward_step(rentals):
    # PostgreSQL joins to-many levels in grouped by parent key, except below
    # a nullable step (a CASE cannot hold the join): correlated there.
    assert Lease.objects.filter(unit=None).exists()
    assert_same(Lease, ["unit.number", "unit.maintenance_requests.all.*.title",
                        "unit.maintenance_requests.count", "property.units.count",
                        "property.units.all.*.maintenance_requests.all.*.status"])


def test_counts_beside_rows_and_repeated_parents(rentals):
    # A filter across a to-many relation repeats the parent rows; the count
    # is read before the rows in the tree, and beside an exists.
    queryset = Property.objects.filter(units__bedrooms__gte=0).order_by("-name", "pk")
    assert queryset.count() > Property.objects.count()
    assert_same(Property, ["units.count", "units.exists", "units.all.*.number",
                           "units.all.*.maintenance_requests.count", "name"], queryset)


def test_a_related_manager_matching_nothing_gives_empty_levels(rentals, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the grouped levels are PostgreSQL's")
    from djust.compiler import relations

    real = relations.related_queryset
    monkeypatch.setattr(relations, "related_queryset",
                        lambda model: model.objects.none() if model is Unit else real(model))
    serializer = compile_serializer(Property, ["name", "units.all.*.number", "units.count"])
    got = json.loads(sqljson.json_text(serializer, Property.objects.all()))
    assert got and all(row["units"] == {"all": [], "count": 0} for row in got)


def test_the_postgresql_query_reads_each_level_once(rentals):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite reads to-many levels as correlated subqueries")
    serializer = compile_serializer(Property, ["units.all.*.maintenance_requests.all.*.title"])
    sql, _ = sqljson.compile_query(serializer, Property.objects.all())
    assert sql.startswith("WITH ") and "OuterRef" not in sql
    assert sql.count('FROM "rentals_maintenancerequest"') == 1
