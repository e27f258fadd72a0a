"""Lowering hand-built access trees: per-kind code, hostile segment names,
and golden files of the generated source.

Set ``DJUST_REGENERATE_GOLDEN=1`` to rewrite the golden files after an
intended change; the test still compares afterwards.
"""

import ast
import datetime
import decimal

import pytest
from django.db import models

from djust.compiler import astbuild, lowering, relations, runtime
from djust.compiler.nodes import Kind, Node
from djust.compiler.serializer import compile_tree
from examples.rentals.models import Amenity, Lease, Property, Tenant, Unit
from tests.golden import assert_matches_golden


def field(segment, field_class=models.CharField, **kw):
    return Node(segment, Kind.FIELD, field=segment, field_class=field_class, bare=True, **kw)


def unknown(segment, *children, bare=True):
    return Node(segment, Kind.UNKNOWN, bare=bare, children=children)


def root(model, *children, bare=False):
    return Node("", Kind.ROOT, model=model, bare=bare).with_children(children)


def lease_tree():
    unit = Node("unit", Kind.FORWARD, model=Unit, nullable=True, bare=True,
                children=(field("number"),))
    tenant = Node("tenant", Kind.FORWARD, model=Tenant, children=(
        field("emergency_contact", models.JSONField),
        field("moved_in", models.DateTimeField),
        field("phone"),
    ))
    return root(
        Lease,
        Node("days_until_expiration", Kind.METHOD, field="days_until_expiration", bare=True),
        Node("delete", Kind.METHOD, field="delete", bare=True),
        field("deposit", models.DecimalField, nullable=True),
        field("end_date", models.DateField),
        Node("get_status_display", Kind.DISPLAY, field="status",
             field_class=models.CharField, bare=True),
        Node("is_expiring_soon", Kind.PROPERTY, field="is_expiring_soon", bare=True),
        field("monthly_rent", models.DecimalField),
        field("reference", models.UUIDField),
        field("signed_at", models.DateTimeField, nullable=True),
        tenant,
        unit,
        bare=True,
    )


def property_tree():
    units = Node("units", Kind.TO_MANY, model=Unit, field="units", children=(
        Node("all", Kind.ALL, model=Unit, children=(
            Node("*", Kind.EACH, model=Unit, children=(field("number"),)),
        )),
        Node("count", Kind.AGGREGATE, model=Unit, bare=True),
        Node("first", Kind.PICK, model=Unit, nullable=True, children=(field("number"),)),
        Node("last", Kind.PICK, model=Unit, nullable=True, bare=True),
    ))
    amenities = Node("amenities", Kind.TO_MANY, model=Amenity, field="amenities", children=(
        Node("all", Kind.ALL, model=Amenity, bare=True),
    ))
    return root(Property, amenities, field("name"), units)


HOSTILE = ['a"); import os; ("', "__class__", "class", "ünïcødé", "it's", "x\ny", "0", "_x"]


def hostile_tree():
    return root(Lease, *[unknown(s) for s in HOSTILE],
                Node("__class__", Kind.FIELD, field="__class__", bare=True),
                Node("import", Kind.FIELD, field="import", bare=True),
                unknown("nested", unknown("__init__"), unknown("a'b")))


def make_lease():
    prop = Property(id=1, name="Elm", monthly_rent=decimal.Decimal("1"))
    unit = Unit(id=2, property=prop, number="4B")
    tenant = Tenant(id=3, phone="555", emergency_contact={"name": "Bob"},
                    moved_in=datetime.datetime(2024, 1, 2, 3, 4, 5, 600000, tzinfo=datetime.UTC))
    return Lease(id=4, property=prop, unit=unit, tenant=tenant,
                 end_date=datetime.date(2030, 1, 1), monthly_rent=decimal.Decimal("9.90"))


def loaded(model, rows):
    queryset = model.objects.all()
    queryset._result_cache = list(rows)
    queryset._prefetch_done = True
    return queryset


@pytest.mark.parametrize(("name", "build", "model", "mode"), [
    ("lease_json", lease_tree, Lease, "json"),
    ("lease_python", lease_tree, Lease, "python"),
    ("property_json", property_tree, Property, "json"),
    ("hostile_json", hostile_tree, Lease, "json"),
])
def test_golden_source(name, build, model, mode):
    source = compile_tree(model, build(), ("golden",), mode).source
    module, _ = lowering.lower(build(), mode, name=f"serialize_rentals_{model._meta.model_name}",
                               paths=("golden",))
    assert ast.dump(ast.parse(source)) == ast.dump(module)
    assert_matches_golden(name, source)


def test_lease_values_per_kind_json():
    lease = make_lease()
    out = compile_tree(Lease, lease_tree(), ("x",), "json")(lease)
    assert out["__str__"] == str(lease)
    assert "delete" not in out
    assert out["deposit"] is None
    assert out["end_date"] == "2030-01-01"
    assert out["get_status_display"] == "Active"
    assert out["monthly_rent"] == "9.90"
    assert out["signed_at"] is None
    assert out["tenant"] == {"emergency_contact": {"name": "Bob"}, "phone": "555",
                             "moved_in": "2024-01-02T03:04:05.600Z"}
    assert out["unit"] == {"__str__": "Unit 4B", "number": "4B"}
    assert isinstance(out["days_until_expiration"], int)
    assert out["is_expiring_soon"] is False


def test_lease_values_python_mode_keep_python_values():
    lease = make_lease()
    out = compile_tree(Lease, lease_tree(), ("x",), "python")(lease)
    assert out["monthly_rent"] == decimal.Decimal("9.90")
    assert out["end_date"] == datetime.date(2030, 1, 1)
    assert out["tenant"]["moved_in"] == lease.tenant.moved_in
    assert str(out["unit"]) == "Unit 4B"


def test_to_many_reads_prefetched_rows_without_queries():
    prop = Property(id=1, name="Elm", monthly_rent=1)
    rows = [Unit(id=9, number="9"), Unit(id=1, number="1")]
    prop._prefetched_objects_cache = {
        "units": loaded(Unit, rows), "amenities": loaded(Amenity, [Amenity(id=1, name="Gym")]),
    }
    out = compile_tree(Property, property_tree(), ("x",), "json")(prop)
    assert out == {
        "name": "Elm",
        "amenities": {"all": ["Gym"]},
        "units": {"all": [{"number": "9"}, {"number": "1"}], "count": 2,
                  "first": {"number": "9"}, "last": "Unit 1"},
    }


def test_each_over_a_json_value_and_rows_in_python_mode():
    tree = root(Tenant, Node("emergency_contact", Kind.FIELD, field="emergency_contact",
                             field_class=models.JSONField, children=(
                                 Node("*", Kind.EACH, children=(unknown("n"),)),
                                 unknown("0"),
                             )))
    tenant = Tenant(emergency_contact=[{"n": 1}, {"m": 2}])
    # Index 0 is displayed, so element 0 merges it and carries "__str__".
    assert compile_tree(Tenant, tree, ("x",), "json")(tenant) == {
        "emergency_contact": [{"__str__": "{'n': 1}", "n": 1}, {}]
    }
    python = compile_tree(Tenant, tree, ("x",), "python")(tenant)["emergency_contact"]
    # Python mode keeps the JSON value itself: it answers every lookup as it does live.
    assert python is tenant.emergency_contact


class Hostile:
    def __getitem__(self, key):
        if key == 'a"); import os; ("':
            return "quoted"
        raise KeyError(key)

    ünïcødé = "unicode"

    def __init__(self):
        setattr(self, "import", "keyword attribute")


def test_hostile_segments_compile_safely_and_run_no_code():
    serializer = compile_tree(Lease, hostile_tree(), ("x",), "json")
    source = serializer.source
    tree = ast.parse(source)
    attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    # The only dunder read is the generated type check ``value.__class__ in _PLAIN``.
    assert {a for a in attributes if a.startswith("_")} <= {"__class__"}
    assert "'__class__'" not in source and "'_x'" not in source
    assert "class" not in attributes and "import" not in attributes
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert imports == []
    out = serializer(Hostile())
    assert out == {'a"); import os; ("': "quoted", "ünïcødé": "unicode",
                   "import": "keyword attribute"}


def test_is_plain_identifier():
    assert astbuild.is_plain_identifier("number")
    for bad in ["class", "__class__", "_x", "a b", "1a", 'a")']:
        assert not astbuild.is_plain_identifier(bad)


def test_lower_returns_only_the_helpers_it_uses():
    module, namespace = lowering.lower(root(Unit, field("number")), "json", name="f")
    assert isinstance(module, ast.Module)
    assert set(namespace) == {"__builtins__"}
    assert set(namespace["__builtins__"]) == set(runtime.ALLOWED_BUILTINS)


def test_lower_rejects_a_bad_mode_or_name():
    with pytest.raises(ValueError, match="'xml'"):
        lowering.lower(root(Unit), "xml", name="f")
    with pytest.raises(ValueError, match="identifier"):
        lowering.lower(root(Unit), "json", name="not-a-name")


def test_prefetch_cache_names():
    from django.contrib.auth.models import User

    assert relations.prefetch_cache_name(Property, "units") == "units"
    assert relations.prefetch_cache_name(Property, "amenities") == "amenities"
    assert relations.prefetch_cache_name(Amenity, "properties") == "properties"
    assert relations.prefetch_cache_name(User, "groups") == "groups"
    assert relations.prefetch_cache_name(Property, "name") is None


def test_a_kind_the_lowerer_has_no_method_for_fails_loudly():
    # One dispatch per stage (nodes.NodeVisitor): no silent fallback.
    with pytest.raises(NotImplementedError, match="Lowerer has no visit_root"):
        lowering.lower(root(Unit, Node("x", Kind.ROOT)), "json", name="f")
