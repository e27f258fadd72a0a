import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from djust.compiler import compile_serializer
from djust.compiler.emit import build_function
from djust.compiler.projection import (
    is_projectable,
    lower_projection,
    queryset_accepts_projection,
)
from djust.compiler.tree import build_access_tree
from examples.rentals.models import Lease, MaintenanceRequest, Property
from examples.rentals.seed import seed

S1 = ["property.name", "unit.number", "tenant.user.email", "monthly_rent", "start_date",
      "end_date", "get_status_display", "signed_at"]


def projector(model, paths, mode):
    module, namespace, columns = lower_projection(build_access_tree(model, paths), mode,
                                                  name="project")
    function, _, _ = build_function(module, namespace, name="project",
                                    filename="<djust projection test>")
    return function, columns


@pytest.mark.parametrize(("model", "paths", "expected"), [
    (Lease, S1, True),
    (Lease, ["pk", "tenant_id", "deposit", "unit"], False),          # a displayed row
    (Lease, ["days_until_expiration"], False),                       # a method
    (Lease, ["is_expiring_soon"], False),                            # a property
    (Property, ["units.count"], False),                              # to-many
    (Lease, ["tenant.emergency_contact.name"], False),               # a JSON key
    (Lease, ["nothing_here"], False),                                # run-time lookup
    (Lease, ["", "pk"], False),                                      # the row displayed
    (MaintenanceRequest, ["unit.property.name", "tenant.phone", "get_priority_display"],
     True),
])
def test_projectable_trees(model, paths, expected):
    assert is_projectable(build_access_tree(model, paths)) is expected


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["json", "python"])
@pytest.mark.parametrize(("model", "paths"), [
    (Lease, S1),
    (Lease, ["pk", "tenant_id", "deposit", "reference", "unit.bedrooms", "unit.square_feet"]),
    (Lease, ["tenant.phone"]),  # one column: rows are still 1-tuples
    (MaintenanceRequest, ["title", "unit.property.name", "get_priority_display", "created_at",
                          "resolved_in", "tenant.phone", "tenant.user.first_name"]),
])
def test_projection_equals_the_instance_serializer(model, paths, mode):
    seed(scale=0.05)
    # A value outside the choices displays as itself, as get_FOO_display() does.
    Lease.objects.filter(pk=Lease.objects.order_by("pk").first().pk).update(status="odd")
    function, columns = projector(model, paths, mode)
    queryset = model.objects.all()
    expected = compile_serializer(model, paths, mode=mode).many(queryset)
    assert function(queryset.values_list(*columns)) == expected
    if model is Lease:
        assert any(row.get("unit", {}) is None for row in expected) or "unit.number" not in paths


def test_nullable_relation_adds_its_key_column():
    *_, columns = lower_projection(build_access_tree(Lease, ["unit.number"]), "json",
                                   name="p")
    assert columns == ("unit__number", "unit")


@pytest.mark.django_db
def test_projection_reads_one_query():
    seed(scale=0.02)
    function, columns = projector(Lease, S1, "json")
    with CaptureQueriesContext(connection) as captured:
        rows = function(Lease.objects.all().values_list(*columns))
    assert len(rows) == Lease.objects.count()
    assert len(captured.captured_queries) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("make", "accepted"), [
    (lambda: Lease.objects.filter(status="active").order_by("-end_date")[:10], True),
    (lambda: Lease.objects.select_related("unit").only("id"), True),
    (lambda: Lease.objects.values("id"), False),
    (lambda: Lease.objects.values_list("id"), False),
    (lambda: Lease.objects.distinct(), False),
    (lambda: Lease.objects.prefetch_related("property"), False),
    (lambda: Lease.objects.filter(pk=1).union(Lease.objects.filter(pk=2)), False),
])
def test_which_querysets_can_be_projected(make, accepted):
    assert queryset_accepts_projection(make()) is accepted


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["json", "python"])
def test_many_projects_querysets_and_loads_instances_otherwise(mode, monkeypatch):
    seed(scale=0.02)
    serializer = compile_serializer(Lease, S1, mode=mode)
    instances = list(Lease.objects.order_by("-end_date")[:7])
    expected = [serializer(lease) for lease in instances]
    created = []
    original = Lease.from_db.__func__
    monkeypatch.setattr(Lease, "from_db", classmethod(
        lambda cls, *args, **kwargs: created.append(1) or original(cls, *args, **kwargs)))
    with CaptureQueriesContext(connection) as captured:
        projected = serializer.many(Lease.objects.order_by("-end_date")[:7])
    assert projected == expected
    assert len(captured.captured_queries) == 1
    assert created == []  # no model instance was built
    # A queryset that asks for prefetching keeps the instance path.
    loaded = serializer.many(Lease.objects.order_by("-end_date").prefetch_related("tenant")[:7])
    assert loaded == expected and created


@pytest.mark.django_db
def test_many_refuses_querysets_of_plain_rows():
    serializer = compile_serializer(Lease, S1)
    for queryset in (Lease.objects.values("id"), Lease.objects.values_list("id")):
        with pytest.raises(TypeError, match=r"needs model instances.*values\(\)"):
            serializer.many(queryset)
