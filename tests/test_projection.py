import re

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext, isolate_apps
from django.utils.functional import lazy

from djust.compiler import compile_serializer, relations
from djust.compiler.emit import build_function
from djust.compiler.modes import plain
from djust.compiler.projection import (
    Relation,
    fetch,
    is_projectable,
    lower_projection,
    queryset_accepts_projection,
    to_many_relation,
)
from djust.compiler.tree import build_access_tree
from examples.rentals.models import (
    Amenity,
    Lease,
    MaintenanceRequest,
    Property,
    Tenant,
    Unit,
)
from examples.rentals.seed import seed
from tests import factories
from tests.testapp.models import Author, Book, Chapter, Shop, Tag

S1 = ["property.name", "unit.number", "tenant.user.email", "monthly_rent", "start_date",
      "end_date", "get_status_display", "signed_at"]


# PostgreSQL: many keys go as one array, ``x = ANY('{1,2}'::bigint[])``.
_ANY_ARRAY = re.compile(r" = ANY\('\{([-0-9,]*)\}'::bigint\[\]\)")


def as_djangos_sql(sql: str) -> str:
    """A level's SQL with many keys, as Django writes it (``IN (1, 2)``)."""
    return _ANY_ARRAY.sub(lambda match: " IN (" + ", ".join(match.group(1).split(",")) + ")",
                          sql)


def projector(model, paths, mode):
    module, namespace, spec = lower_projection(build_access_tree(model, paths), mode,
                                               name="project")
    function, _, _ = build_function(module, namespace, name="project",
                                    filename="<djust projection test>")
    return function, spec


@pytest.mark.parametrize(("model", "paths", "expected"), [
    (Lease, S1, True),
    (Lease, ["pk", "tenant_id", "deposit", "unit"], False),          # a displayed row
    (Lease, ["days_until_expiration"], True),                        # a method, on a stand-in
    (Lease, ["is_expiring_soon"], True),                             # a property, too
    (Property, ["units.count"], True),                               # a level's count
    (Property, ["units.all.*.number", "amenities.all.*.name"], True),
    (Property, ["units.all.*.maintenance_requests.all.*.title"], True),  # nested levels
    (Amenity, ["properties.all.*.units.count"], False),              # below a ManyToMany
    (Lease, ["property.units.count"], False),                        # through a forward step
    (Property, ["units"], False),                                    # a displayed manager
    (Property, ["units.all"], False),                                # displayed rows
    (Property, ["units.all.*"], False),                              # a displayed row
    (Property, ["units.first.number"], False),
    (Property, ["units.exists"], False),
    (Property, ["units.all.0.number"], False),
    (Book, ["comments.all.*.body"], False),                          # a generic relation
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
    function, spec = projector(model, paths, mode)
    queryset = model.objects.all()
    expected = plain(compile_serializer(model, paths, mode=mode).many(queryset))
    assert plain(function(*fetch(queryset, spec))) == expected
    if model is Lease:
        assert any(row.get("unit", {}) is None for row in expected) or "unit.number" not in paths


def test_nullable_relation_adds_its_key_column():
    *_, spec = lower_projection(build_access_tree(Lease, ["unit.number"]), "json", name="p")
    assert spec.columns == ("unit__number", "unit") and spec.levels == ()


@pytest.mark.django_db
def test_projection_reads_one_query():
    seed(scale=0.02)
    function, spec = projector(Lease, S1, "json")
    with CaptureQueriesContext(connection) as captured:
        rows = function(*fetch(Lease.objects.all(), spec))
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
    # "id" breaks ties of end_date: each query below must pick the same seven.
    latest = Lease.objects.order_by("-end_date", "id")
    instances = list(latest[:7])
    expected = [serializer(lease) for lease in instances]
    created = []
    original = Lease.from_db.__func__
    monkeypatch.setattr(Lease, "from_db", classmethod(
        lambda cls, *args, **kwargs: created.append(1) or original(cls, *args, **kwargs)))
    with CaptureQueriesContext(connection) as captured:
        projected = serializer.many(latest[:7])
    assert projected == expected
    assert len(captured.captured_queries) == 1
    assert created == []  # no model instance was built
    # A queryset that asks for prefetching keeps the instance path.
    loaded = serializer.many(latest.prefetch_related("tenant")[:7])
    assert loaded == expected and created


@pytest.mark.django_db
def test_many_refuses_querysets_of_plain_rows():
    serializer = compile_serializer(Lease, S1)
    for queryset in (Lease.objects.values("id"), Lease.objects.values_list("id")):
        with pytest.raises(TypeError, match=r"needs model instances.*values\(\)"):
            serializer.many(queryset)


# ----------------------------------------------------------- to-many levels

S3 = ["name", "units.count", "units.all.*.number", "amenities.all.*.name",
      "units.all.*.maintenance_requests.all.*.title",
      "units.all.*.maintenance_requests.all.*.status"]


def instance_path(serializer, queryset):
    """What many() answered before levels: the planned instances, serialized."""
    return [serializer(row) for row in serializer.plan.apply(queryset)]


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["json", "python"])
@pytest.mark.parametrize(("model", "paths", "queryset"), [
    (Property, S3, lambda: Property.objects.all()),
    (Property, S3, lambda: Property.objects.order_by("-name")[1:4]),
    (Property, S3, lambda: Property.objects.none()),
    (Property, ["units.count"], lambda: Property.objects.all()),
    (Amenity, ["name", "properties.count", "properties.all.*.name", "properties.all.*.city"],
     lambda: Amenity.objects.all()),
    (Unit, ["number", "leases.all.*.monthly_rent", "leases.all.*.tenant.user.email",
            "leases.all.*.get_status_display", "leases.all.*.unit.number",
            "maintenance_requests.count"], lambda: Unit.objects.all()),
    (Tenant, ["phone", "leases.all.*.signed_at", "leases.all.*.end_date",
              "maintenance_requests.all.*.resolved_in"], lambda: Tenant.objects.order_by("pk")),
])
def test_levels_equal_the_instance_serializer(model, paths, queryset, mode):
    seed(scale=0.05)
    serializer = compile_serializer(model, paths, mode=mode)
    assert serializer.build_projection()[1].levels
    expected = instance_path(serializer, queryset())
    with CaptureQueriesContext(connection) as captured:
        projected = serializer.many(queryset())
    assert projected == expected
    if expected:
        assert len(captured.captured_queries) == 1 + len(serializer.build_projection()[1].levels)


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["json", "python"])
@pytest.mark.parametrize(("model", "paths", "queryset"), [
    (Property, S3, lambda: Property.objects.all()),
    (Amenity, ["name", "properties.count", "properties.all.*.name"],
     lambda: Amenity.objects.all()),
    (Tenant, ["phone", "leases.all.*.signed_at", "leases.all.*.end_date",
              "maintenance_requests.all.*.resolved_in"], lambda: Tenant.objects.order_by("pk")),
    (Author, ["name", "books.all.*.title", "books.all.*.chapters.all.*.title",
              "books.all.*.tags.all.*.label", "books.all.*.chapters.count"],
     lambda: Author.objects.all()),
])
def test_levels_of_many_keys_run_djangos_queries(model, paths, queryset, mode, monkeypatch):
    """Many parent keys (``MANY_KEYS``, lowered to 2): the level's SQL is
    written from Django's for two of the keys, and is Django's for all of
    them, custom managers and through models included."""
    from djust.compiler import projection

    seed(scale=0.05)
    factories.library(4)
    serializer = compile_serializer(model, paths, mode=mode)
    written = []
    original = projection._many_keys_rows

    def spy(*arguments):
        rows = original(*arguments)
        written.append(rows is not None)
        return rows

    monkeypatch.setattr(projection, "_many_keys_rows", spy)
    runs = []
    for threshold in (10 ** 9, 2):
        monkeypatch.setattr(projection, "MANY_KEYS", threshold)
        with CaptureQueriesContext(connection) as captured:
            output = serializer.many(queryset())
        runs.append((output, [as_djangos_sql(query["sql"])
                              for query in captured.captured_queries]))
    assert runs[0] == runs[1]
    assert len(runs[1][1]) == 1 + len(serializer.build_projection()[1].levels)
    # Each level with two keys or more took the written query.
    assert written and all(written)


@pytest.mark.django_db
@pytest.mark.parametrize(("model", "paths"), [
    (Author, ["name", "books.count", "books.all.*.title", "books.all.*.chapters.all.*.title",
              "books.all.*.tags.all.*.label", "books.all.*.chapters.count"]),
    (Tag, ["label", "books.all.*.title", "books.count"]),
    (Shop, ["name", "books.all.*.title"]),
    (Book, ["title", "shops.all.*.name", "chapters.all.*.number"]),
])
def test_levels_follow_custom_managers_and_through_models(model, paths):
    factories.library(4)
    serializer = compile_serializer(model, paths)
    assert serializer.build_projection()
    assert serializer.many(model.objects.all()) == instance_path(serializer, model.objects.all())
    if model is Book:
        # Chapter's default manager hides drafts: so do the related managers.
        drafts = Chapter._base_manager.exclude(pk__in=Chapter.objects.values("pk"))
        assert drafts.exists()


@pytest.mark.django_db
def test_levels_build_no_model_instance(monkeypatch):
    seed(scale=0.02)
    serializer = compile_serializer(Property, S3)
    expected = instance_path(serializer, Property.objects.all())
    created = []
    for model in (Property, Unit, MaintenanceRequest, Amenity):
        original = model.from_db.__func__
        monkeypatch.setattr(model, "from_db", classmethod(
            lambda cls, *args, _original=original, **kwargs:
                created.append(cls) or _original(cls, *args, **kwargs)))
    assert serializer.many(Property.objects.all()) == expected
    assert created == []


@pytest.mark.django_db
def test_repeated_rows_keep_the_instance_path():
    seed(scale=0.05)
    serializer = compile_serializer(Property, ["name", "units.all.*.number"])
    # A filter across a to-many relation repeats the property once per unit.
    repeated = Property.objects.filter(units__bedrooms__gte=0)
    assert repeated.count() > repeated.distinct().count()
    rows = serializer.many(repeated)
    assert rows == instance_path(serializer, repeated)
    assert rows[0]["units"]["all"] is not rows[1]["units"]["all"]


@pytest.mark.django_db
def test_level_lists_are_never_shared():
    seed(scale=0.1)
    serializer = compile_serializer(Property, ["units.all.*.number"])
    Unit.objects.all().delete()
    rows = serializer.many(Property.objects.all())
    assert len(rows) > 1 and all(row == {"units": {"all": []}} for row in rows)
    rows[0]["units"]["all"].append("mine")
    assert rows[1]["units"]["all"] == []


def test_explain_says_which_queries_many_runs():
    levels = compile_serializer(Property, S3).explain()
    assert "values_list() rows, no model instances" in levels
    assert "rentals.MaintenanceRequest where unit__in the parent keys" in levels
    methods = compile_serializer(Lease, ["days_until_expiration", "tenant.user.get_full_name"])
    assert ("run per row on one blank instance per call, its columns written in:\n"
            "  rentals.Lease: days_until_expiration()\n"
            "  auth.User at tenant__user: get_full_name()") in methods.explain()
    # occupancy_rate reads the property's units: only instances will do.
    relation = compile_serializer(Property, ["occupancy_rate"]).explain()
    assert "the query plan above, on model instances" in relation


@isolate_apps("tests.testapp")
def test_many_to_many_keyed_by_another_column_keeps_the_instance_path():
    class Code(models.Model):
        code = models.CharField(max_length=5, unique=True)

        class Meta:
            app_label = "testapp"

    class Holder(models.Model):
        codes = models.ManyToManyField(Code, through="Link", related_name="holders")
        plain = models.ManyToManyField(Code, related_name="plain_holders")

        class Meta:
            app_label = "testapp"

    class Link(models.Model):
        holder = models.ForeignKey(Holder, on_delete=models.CASCADE)
        code = models.ForeignKey(Code, to_field="code", on_delete=models.CASCADE)

        class Meta:
            app_label = "testapp"

    assert to_many_relation(Holder, "codes") is None
    assert to_many_relation(Code, "holders") is None
    assert to_many_relation(Holder, "plain") == Relation(Code, "plain_holders", True)
    assert to_many_relation(Code, "plain_holders") == Relation(Holder, "plain", True)


@pytest.mark.django_db
def test_a_related_manager_that_is_not_plain_rows_keeps_the_instance_path(monkeypatch):
    seed(scale=0.05)
    serializer = compile_serializer(Property, S3)
    original = relations.related_queryset
    # A default manager returning distinct() rows: values_list() would
    # collapse equal tuples that are different rows.
    monkeypatch.setattr(relations, "related_queryset",
                        lambda model: original(model).distinct())
    assert fetch(Property.objects.all(), serializer.build_projection()[1]) is None
    assert serializer.many(Property.objects.all()) == instance_path(
        serializer, Property.objects.all())


@isolate_apps("tests.testapp")
@pytest.mark.parametrize("mode", ["json", "python"])
def test_projected_labels_are_django_s_for_every_value(mode):
    counter = iter(range(1000))
    lazy_label = lazy(lambda: f"lazy {next(counter)}", str)()

    class Dial(models.Model):
        kind = models.CharField(max_length=5, choices=[
            ("a", lazy_label), ("b", "plain"), ("Group", [("c", "grouped")]), (1, 2)])

        class Meta:
            app_label = "testapp"

    function, spec = projector(Dial, ["get_kind_display"], mode)
    # Python mode's rows carry their primary key: they compare as instances.
    assert spec.columns == (("kind",) if mode == "json" else ("kind", "pk"))
    values = ["b", "c", 1, "zz", None]
    def rows(given):
        return plain(function([(*row, None)[:len(spec.columns)] for row in given]))

    assert rows([(value,) for value in values]) == [
        {"get_kind_display": Dial(kind=value).get_kind_display()} for value in values]
    # A lazy label is turned into text on every call (in the language active
    # for it), once per call rather than once per row.
    first, again = rows([("a",), ("a",)]), rows([("a",)])
    assert type(first[0]["get_kind_display"]) is str
    assert first[0] == first[1] != again[0]
    assert again[0]["get_kind_display"].startswith("lazy ")


@pytest.mark.django_db
def test_a_relation_named_like_a_level_variable_keeps_its_own_name():
    # User.groups: its rows' local was once "groups_1", the name of the
    # dict grouping level 1's rows.
    from django.contrib.auth.models import Group, User

    group = Group.objects.create(name="staff")
    User.objects.create(username="ann").groups.add(group)
    User.objects.create(username="bob")
    serializer = compile_serializer(User, ["username", "groups.count", "groups.all.*.name"])
    assert serializer.build_projection()[1].levels
    rows = serializer.many(User.objects.order_by("username"))
    assert rows == [serializer(user) for user in User.objects.order_by("username")]
    assert rows[0]["groups"] == {"count": 1, "all": [{"name": "staff"}]}


@pytest.mark.django_db
def test_many_keys_sql_is_written_only_where_the_key_list_is_unambiguous():
    """The two keys' parameters found at two places (the level's own
    queryset filters on the same values): Django writes the query."""
    from djust.compiler import projection

    seed(scale=0.2)
    keys = list(Property.objects.values_list("pk", flat=True))
    assert len(keys) > 2
    level = projection.Level(model=Unit, lookup="property", columns=("property", "number"),
                             parent=0, key=0)
    pk = Property._meta.pk
    plain = Unit.objects.order_by("pk")
    rows = projection._many_keys_rows(plain, "property__in", level, keys, pk)
    with CaptureQueriesContext(connection) as captured:
        expected = list(plain.filter(property__in=keys).values_list("property", "number"))
    assert rows == expected and rows
    with CaptureQueriesContext(connection) as ours:
        projection._many_keys_rows(plain, "property__in", level, keys, pk)
    assert [as_djangos_sql(q["sql"]) for q in ours.captured_queries] == [
        q["sql"] for q in captured.captured_queries]
    twice = Unit.objects.filter(property__in=keys[:2])
    assert projection._many_keys_rows(twice, "property__in", level, keys, pk) is None
    assert projection.level_rows(twice, level, set(keys), pk) == list(
        twice.filter(property__in=keys).values_list("property", "number"))


@pytest.mark.django_db
def test_postgresql_writes_the_json_text_of_dates_decimals_datetimes(postgres_only):
    """JSON mode on PostgreSQL: S1's dates, rent and signing time come as
    the database's text (``to_char``, ``::text``), the rest of the query is
    Django's own (same joins, order, parameters), still one query, and the
    output is the instance path's."""
    import json

    from django.core.serializers.json import DjangoJSONEncoder

    seed(scale=0.05)
    serializer = compile_serializer(Lease, S1, mode="json")
    queryset = Lease.objects.order_by("end_date", "pk")
    expected = instance_path(serializer, queryset)
    with CaptureQueriesContext(connection) as captured:
        projected = serializer.many(queryset)
    assert json.loads(json.dumps(projected, cls=DjangoJSONEncoder)) == json.loads(
        json.dumps(expected, cls=DjangoJSONEncoder))
    (query,) = captured.captured_queries
    columns = serializer.build_projection()[1].columns
    django_sql = str(queryset.values_list(*columns).query)
    assert query["sql"].count("to_char") >= 3
    assert '"rentals_lease"."monthly_rent"::text' in query["sql"]
    assert query["sql"].split(" FROM ", 1)[1] == django_sql.split(" FROM ", 1)[1]
    assert all(type(row["start_date"]) is str and type(row["monthly_rent"]) is str
               for row in projected)
