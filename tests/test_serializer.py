"""compile_serializer end to end: every node kind, both modes, parity with
the property tests' independent reference, and the generated function's
metadata and tracebacks."""

import datetime
import decimal
import json
import linecache
import traceback
import types
import uuid

import pytest
from django.contrib.auth.models import User
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Prefetch

from djust.compiler import runtime
from djust.compiler.cache import default_cache
from djust.compiler.modes import plain
from djust.compiler.sensitive import SensitiveFieldWarning
from djust.compiler.serializer import Serializer, compile_serializer
from examples.rentals.models import Amenity, Lease, MaintenanceRequest, Property, Tenant, Unit
from property_tests.reference import reference_json, reference_python

UTC = datetime.UTC
MODES = ["json", "python"]


def reference(mode, instance, paths):
    return (reference_json if mode == "json" else reference_python)(instance, paths)


@pytest.fixture
def rentals(db):
    manager = User.objects.create(username="boss", first_name="Bo", last_name="Ss", email="b@x")
    user = User.objects.create(username="ada", first_name="Ada", last_name="L", email="a@x")
    lonely = User.objects.create(username="lonely")
    tenant = Tenant.objects.create(
        user=user, phone="555", emergency_contact={"name": "Bob", "tags": [1, "x"]},
        moved_in=datetime.datetime(2023, 5, 1, 8, 30, 0, 123456, tzinfo=UTC),
    )
    prop = Property.objects.create(
        name="Elm", address="1 Elm", city="Oslo", monthly_rent=decimal.Decimal("1200.50"),
        manager=manager,
    )
    pool, gym = Amenity.objects.create(name="Pool"), Amenity.objects.create(name="Gym")
    prop.amenities.add(pool, gym)
    Property.objects.create(name="Bare", address="x", city="y", monthly_rent=1)
    units = [
        Unit.objects.create(property=prop, number=n, bedrooms=2, is_available=n != "2B",
                            square_feet=None if n == "1A" else 700)
        for n in ("2B", "1A", "3C")
    ]
    lease = Lease.objects.create(
        property=prop, unit=units[0], tenant=tenant, start_date=datetime.date(2024, 1, 1),
        end_date=datetime.date(2030, 1, 1), monthly_rent=decimal.Decimal("1100.00"),
        signed_at=datetime.datetime(2023, 12, 1, 9, 0, tzinfo=UTC),
    )
    Lease.objects.create(
        property=prop, unit=None, tenant=tenant, start_date=datetime.date(2020, 1, 1),
        end_date=datetime.date(2021, 1, 1), monthly_rent=decimal.Decimal("900"),
        status=Lease.Status.EXPIRED,
    )
    MaintenanceRequest.objects.create(
        unit=units[0], tenant=tenant, title="Leak", priority="high",
        resolved_in=datetime.timedelta(hours=5, minutes=3),
    )
    return {"lease": lease, "tenant": tenant, "property": prop, "user": user, "lonely": lonely}


LEASE_PATHS = [
    "", "property.name", "unit.number", "unit", "tenant.user.get_full_name",
    "tenant.user.email", "end_date", "monthly_rent", "deposit", "get_status_display",
    "days_until_expiration", "is_expiring_soon", "signed_at", "reference", "status",
    "tenant", "tenant.phone", "tenant.emergency_contact.name", "tenant.emergency_contact.tags",
    "tenant.moved_in", "delete", "save", "no_such_thing", "Status.ACTIVE", "pk", "tenant_id",
    "tenant.user.tenant_profile.phone", "property.leases.count", "tenant.leases.all.*.status",
    "property.units.first.number", "property.units.last", "property.units.all.0.number",
]
PROPERTY_PATHS = [
    "name", "units.count", "units.exists", "occupancy_rate", "amenities.all.*.name",
    "amenities.all", "units.all.*.number", "units.all.*.square_feet", "units.first",
    "units.last.number", "manager.username", "manager", "built", "units",
    "units.all.*.maintenance_requests.all.*.resolved_in", "amenities.all.*",
]


@pytest.mark.parametrize("mode", MODES)
def test_lease_matches_the_reference(rentals, mode):
    for lease in Lease.objects.all():
        serializer = compile_serializer(Lease, LEASE_PATHS, mode=mode)
        assert plain(serializer(lease)) == reference(mode, lease, LEASE_PATHS)


def as_data(value):
    return plain(value)


@pytest.mark.parametrize("mode", MODES)
def test_property_matches_the_reference_with_and_without_prefetch(rentals, mode):
    serializer = compile_serializer(Property, PROPERTY_PATHS, mode=mode)
    unprefetched = list(Property.objects.all())
    expected = [reference(mode, p, PROPERTY_PATHS) for p in Property.objects.all()]
    assert [as_data(serializer(p)) for p in unprefetched] == expected
    prefetched = Property.objects.prefetch_related(
        "amenities", Prefetch("units", Unit.objects.order_by("-number")),
        "units__maintenance_requests",
    )
    rows = list(prefetched)
    assert [as_data(serializer(p)) for p in rows] == [
        reference(mode, p, PROPERTY_PATHS) for p in rows]


def test_prefetched_rows_answer_without_queries(rentals, django_assert_num_queries):
    serializer = compile_serializer(Property, ["units.count", "units.first.number",
                                               "units.all.*.number", "amenities.all.*.name"])
    rows = list(Property.objects.prefetch_related("units", "amenities"))
    with django_assert_num_queries(0):
        out = [serializer(p) for p in rows]
    elm = next(o for o in out if o["units"]["count"] == 3)
    assert elm["units"]["first"] == {"number": "1A"}  # Unit.Meta.ordering
    assert {a["name"] for a in elm["amenities"]["all"]} == {"Pool", "Gym"}


def test_many_applies_the_plan_to_querysets_and_lists(rentals):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    serializer = compile_serializer(Lease, ["property.name", "tenant.user.email"])
    expected = [serializer(lease) for lease in Lease.objects.all()]
    with CaptureQueriesContext(connection) as context:
        from_queryset = serializer.many(Lease.objects.all())
    assert from_queryset == expected
    assert serializer.many(list(Lease.objects.all())) == expected
    # Without a plan, each lease reads property, tenant and user lazily.
    lazily = 1 + 3 * len(expected)
    assert len(context.captured_queries) == (1 if serializer.plan is not None else lazily)


@pytest.mark.parametrize("mode", MODES)
def test_leaf_encodings(rentals, mode):
    paths = ["signed_at", "monthly_rent", "reference", "end_date", "deposit", "tenant.moved_in",
             "unit.maintenance_requests.all.*.resolved_in", "tenant.emergency_contact"]
    lease = rentals["lease"]
    out = compile_serializer(Lease, paths, mode=mode)(lease)
    if mode == "json":
        assert out["signed_at"] == "2023-12-01T09:00:00Z"
        assert out["tenant"]["moved_in"] == "2023-05-01T08:30:00.123Z"
        assert out["monthly_rent"] == "1100.00"
        assert out["reference"] == str(lease.reference)
        assert out["end_date"] == "2030-01-01"
        assert out["unit"]["maintenance_requests"]["all"] == [{"resolved_in": "P0DT05H03M00S"}]
        assert out == json.loads(json.dumps(out, cls=DjangoJSONEncoder))
    else:
        assert out["signed_at"] == lease.signed_at
        assert out["monthly_rent"] == decimal.Decimal("1100.00")
        assert isinstance(out["reference"], uuid.UUID)
        assert plain(out["unit"]["maintenance_requests"]["all"]) == [
            {"resolved_in": datetime.timedelta(hours=5, minutes=3)}
        ]
    assert out["deposit"] is None
    assert out["tenant"]["emergency_contact"] == {"name": "Bob", "tags": [1, "x"]}


def test_displayed_nodes_in_python_mode_render_as_the_object(rentals):
    out = compile_serializer(Lease, ["", "tenant", "tenant.phone"], mode="python")(
        rentals["lease"]
    )
    # A row: the instance's text, and equal to the instance itself.
    assert isinstance(out, runtime.Row) and out == rentals["lease"]
    assert str(out) == str(rentals["lease"])
    assert str(out["tenant"]) == str(rentals["tenant"]) == out["tenant"]["__str__"]
    assert out["tenant"]["phone"] == "555"


def test_silent_failures_are_absent_and_none_is_kept(rentals):
    out = compile_serializer(User, ["tenant_profile.phone", "username"])(rentals["lonely"])
    assert out == {"username": "lonely"}
    lease = Lease.objects.get(unit=None)
    assert compile_serializer(Lease, ["unit.number"])(lease) == {"unit": None}
    unsaved = Lease(end_date=datetime.date(2030, 1, 1))
    assert compile_serializer(Lease, ["tenant.phone", "end_date"])(unsaved) == {
        "end_date": "2030-01-01"
    }


def test_methods_follow_the_template_rules(rentals):
    out = compile_serializer(Lease, ["delete", "save", "days_until_expiration",
                                     "get_status_display"])(rentals["lease"])
    assert "delete" not in out and "save" not in out
    assert out["days_until_expiration"] == rentals["lease"].days_until_expiration()
    assert out["get_status_display"] == "Active"
    assert Lease.objects.filter(pk=rentals["lease"].pk).exists()


def test_sensitive_fields_are_never_emitted(rentals):
    with pytest.warns(SensitiveFieldWarning):
        serializer = compile_serializer(
            Lease, ["tenant.user.password", "tenant.user.get_session_auth_hash",
                    "tenant.user.username"],
        )
    out = serializer(rentals["lease"])
    assert out == {"tenant": {"user": {"username": "ada"}}}
    code = serializer.source.split('"""')[-1]  # the paths stay listed in the docstring
    assert "password" not in code and "auth_hash" not in code


def test_exceptions_raise_where_read_with_the_generated_line(rentals, monkeypatch):
    def broken(self):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(Property, "occupancy_rate", property(broken))
    default_cache().clear()
    serializer = compile_serializer(Property, ["occupancy_rate", "name"], mode="python")
    row = serializer(rentals["property"])
    # Raised when the template reads the key, with the generated line.
    try:
        row["name"], row.occupancy_rate
    except ZeroDivisionError:
        formatted = traceback.format_exc()
    else:
        pytest.fail("the property's exception must propagate")
    # JSON has no template to raise it in: the key is left out.
    assert compile_serializer(Property, ["occupancy_rate", "name"])(rentals["property"]) == {
        "name": rentals["property"].name}
    assert serializer.filename in formatted
    assert "obj.occupancy_rate" in formatted
    default_cache().clear()


def test_function_metadata_and_linecache(rentals):
    serializer = compile_serializer(Unit, ["number", "property.name"])
    # The serializer is the generated function: no wrapper frame per call.
    assert isinstance(serializer, types.FunctionType)
    assert serializer.__name__ == serializer.__qualname__ == "serialize_rentals_unit"
    assert "'property.name'" in serializer.__doc__
    assert serializer.__code__.co_filename == serializer.filename
    assert serializer.filename.startswith("<djust serializer rentals.Unit ")
    assert "".join(linecache.getlines(serializer.filename)) == serializer.source
    assert serializer.paths == ("number", "property.name")
    assert serializer.mode == "json" and serializer.model is Unit
    assert isinstance(serializer, Serializer)
    explained = serializer.explain()
    for part in ("access tree", "query plan", serializer.source.strip(), "runtime-lookup calls"):
        assert part in explained


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="'yaml'"):
        compile_serializer(Unit, ["number"], mode="yaml")


def test_same_request_is_served_from_the_cache():
    first = compile_serializer(Unit, ["number", "bedrooms"], mode="python")
    assert compile_serializer(Unit, ["bedrooms", "number", "number"], mode="python") is first
    assert compile_serializer(Unit, ["number", "bedrooms"], mode="json") is not first


@pytest.mark.parametrize("mode", MODES)
def test_unknown_segments_resolve_at_run_time(rentals, mode):
    paths = ["Status.ACTIVE", "no_such_thing", "property.units.all.5", "tenant.leases.all.0"]
    serializer = compile_serializer(Lease, paths, mode=mode)
    lease = rentals["lease"]
    assert plain(serializer(lease)) == reference(mode, lease, paths)
    assert serializer.verification.lookup_calls >= 2
