"""Events keep what the view holds (issue #17, item 10).

A value a LiveView set in ``mount`` renders after an event as it rendered on
the page: instances keep their annotations and field values, QuerySets keep
everything that defines them (and are run again), containers keep their
contents. The first half drives pages and events; the second round-trips
values through ``djust.state`` directly.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pickle
import re
import sys
import threading

import pytest
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import path

from djust import LiveView, event_handler, state
from djust.html import root_inner_html
from examples.rentals.models import Amenity, Lease, Property, Unit
from examples.rentals.seed import seed

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.fixture
def rentals():
    seed(scale=0.1)


@dataclasses.dataclass
class Summary:
    title: str
    leases: list
    properties: object


# ------------------------------------------------------------------ views

class Holds(LiveView):
    """Sets one value in ``hold``; the ``touch`` event changes nothing rendered."""

    def mount(self, request, **kwargs):
        self.touches = 0
        self.hold()

    def hold(self):
        raise NotImplementedError

    @event_handler
    def touch(self):
        self.touches += 1


class AnnotatedInstance(Holds):
    template = "<main dj-root>{{ g.name }}:{{ g.n }}</main>"

    def hold(self):
        self.g = Property.objects.annotate(n=Count("units")).order_by("id")[:1].get()


class AnnotatedQuerySet(Holds):
    template = ("<main dj-root>{% for p in rows %}<i>{{ p.name }}:{{ p.n }}</i>{% endfor %}"
                "</main>")

    def hold(self):
        self.rows = Property.objects.annotate(n=Count("units")).order_by("id")


class PrefetchToAttr(Holds):
    template = ("<main dj-root>{% for p in rows %}<i>{{ p.name }}:"
                "{% for u in p.free_units %}{{ u.number }},{% endfor %}</i>{% endfor %}</main>")

    def hold(self):
        free = Unit.objects.filter(is_available=True).order_by("number")
        self.rows = Property.objects.order_by("id").prefetch_related(
            Prefetch("units", queryset=free, to_attr="free_units"))


class FlatValues(Holds):
    template = "<main dj-root>{% for name in names %}<i>{{ name }}</i>{% endfor %}</main>"

    def hold(self):
        self.names = Property.objects.order_by("id").values_list("name", flat=True)


class SelectedRelated(Holds):
    template = ("<main dj-root>{% for l in rows %}<i>{{ l.tenant.user.email }}</i>{% endfor %}"
                "</main>")

    def hold(self):
        self.rows = Lease.objects.select_related("tenant__user").order_by("id")[:5]


class Containers(Holds):
    template = ("<main dj-root>{% for key, rows in groups.items %}<b>{{ key }}</b>"
                "{% for p in rows %}<i>{{ p.name }}</i>{% endfor %}{% endfor %}"
                "{% for a, b in pairs %}{{ a }}={{ b }};{% endfor %}"
                "{{ numbers|length }}</main>")

    def hold(self):
        properties = list(Property.objects.order_by("id"))
        self.groups = {"first": properties[:2], "rest": properties[2:]}
        self.pairs = [(p.name, p.city) for p in properties]
        self.numbers = {1, 2, 3}


class HoldsADataclass(Holds):
    template = ("<main dj-root>{{ summary.title }}{% for l in summary.leases %}"
                "<i>{{ l.monthly_rent }}</i>{% endfor %}"
                "{% for p in summary.properties %}<b>{{ p.name }}</b>{% endfor %}</main>")

    def hold(self):
        self.summary = Summary("Leases", list(Lease.objects.order_by("id")[:3]),
                               Property.objects.order_by("-id"))


class HoldsAGenerator(Holds):
    template = "<main dj-root>{{ touches }}</main>"

    def hold(self):
        self.rows = (p for p in ())


class HoldsALambda(Holds):
    template = "<main dj-root>{{ touches }}</main>"

    def hold(self):
        self.sort_key = lambda row: row.name


PAGES = {
    "annotated-instance": AnnotatedInstance,
    "annotated-queryset": AnnotatedQuerySet,
    "prefetch-to-attr": PrefetchToAttr,
    "flat-values": FlatValues,
    "select-related": SelectedRelated,
    "containers": Containers,
    "dataclass": HoldsADataclass,
    "generator": HoldsAGenerator,
    "lambda": HoldsALambda,
}
urlpatterns = [path(f"{name}/", view.as_view()) for name, view in PAGES.items()]


# ------------------------------------------------------------------ pages and events

@dataclasses.dataclass
class Trip:
    page: str  # the first render (inner HTML of the dj-root element)
    event: str  # after the event
    page_queries: int
    event_queries: int


def view_attrs(content: str) -> tuple[str, str]:
    view_id = re.search(r'data-djust-id="([^"]+)"', content).group(1)
    token = re.search(r'data-djust-csrf="([^"]+)"', content).group(1)
    return view_id, token


def touch(client: Client, url: str, view_id: str, token: str):
    body = json.dumps({"id": view_id, "event": "touch", "params": {}})
    return client.post(url, data=body, content_type="application/json",
                       headers={"X-CSRFToken": token})


def open_page(client: Client, url: str, between=None) -> Trip:
    """GET ``url``, run ``between()`` (if any), then send the ``touch`` event."""
    with CaptureQueriesContext(connection) as on_page:
        content = client.get(url).content.decode()
    if between:
        between()
    view_id, token = view_attrs(content)
    with CaptureQueriesContext(connection) as on_event:
        response = touch(client, url, view_id, token)
    assert response.status_code == 200, response.content
    return Trip(root_inner_html(content), response.json()["html"],
                len(on_page.captured_queries), len(on_event.captured_queries))


def fresh_render(url: str) -> str:
    return root_inner_html(Client().get(url).content.decode())


def expected_snippet(name: str) -> str:
    """Part of what each page shows, read from the database the plain way."""
    first = Property.objects.order_by("id").first()
    if name == "annotated-instance":
        return f"{first.name}:{first.units.count()}"
    if name == "annotated-queryset":
        return f"<i>{first.name}:{first.units.count()}</i>"
    if name == "prefetch-to-attr":
        free = first.units.filter(is_available=True).order_by("number")
        return f"<i>{first.name}:" + "".join(f"{u.number}," for u in free) + "</i>"
    if name == "flat-values":
        return f"<i>{first.name}</i>"
    if name == "select-related":
        return f"<i>{Lease.objects.order_by('id').first().tenant.user.email}</i>"
    if name == "containers":
        return f"<b>first</b><i>{first.name}</i>"
    return f"<b>{Property.objects.order_by('-id').first().name}</b>"


RENDERED = [name for name in PAGES if name not in ("generator", "lambda")]


@pytest.mark.parametrize("name", RENDERED)
def test_an_event_renders_what_the_page_rendered(rentals, name):
    url = f"/{name}/"
    trip = open_page(Client(enforce_csrf_checks=True), url)
    assert expected_snippet(name) in trip.page
    assert trip.event == trip.page
    assert trip.event == fresh_render(url)
    assert trip.event_queries <= trip.page_queries


@pytest.mark.parametrize("name", RENDERED)
def test_every_later_event_renders_it_too(rentals, name):
    client = Client(enforce_csrf_checks=True)
    url = f"/{name}/"
    content = client.get(url).content.decode()
    view_id, token = view_attrs(content)
    for _ in range(3):
        response = touch(client, url, view_id, token)
        assert response.json()["html"] == root_inner_html(content)


def test_an_annotated_instance_keeps_its_annotation_without_a_query(rentals):
    trip = open_page(Client(enforce_csrf_checks=True), "/annotated-instance/")
    first = Property.objects.order_by("id").first()
    assert trip.event == f"{first.name}:{first.units.count()}"
    # Before: the instance was fetched again by pk (one query) and lost n.
    assert trip.event_queries == 0


def test_an_instance_keeps_the_values_it_had_at_mount(rentals):
    first = Property.objects.order_by("id").first()
    trip = open_page(Client(enforce_csrf_checks=True), "/annotated-instance/",
                     lambda: Property.objects.filter(pk=first.pk).update(name="Renamed"))
    assert trip.event == trip.page == f"{first.name}:{first.units.count()}"


def test_a_deleted_row_the_view_holds_still_renders(rentals):
    first = Property.objects.order_by("id").first()
    trip = open_page(Client(enforce_csrf_checks=True), "/annotated-instance/",
                     lambda: Property.objects.filter(pk=first.pk).delete())
    assert trip.event == trip.page


def test_a_queryset_runs_again_on_the_next_render(rentals):
    first = Property.objects.order_by("id").first()
    trip = open_page(Client(enforce_csrf_checks=True), "/flat-values/",
                     lambda: Property.objects.filter(pk=first.pk).update(name="Renamed"))
    assert f"<i>{first.name}</i>" in trip.page
    assert "<i>Renamed</i>" in trip.event


def test_a_prefetch_keeps_its_to_attr_and_its_query_count(rentals):
    trip = open_page(Client(enforce_csrf_checks=True), "/prefetch-to-attr/")
    free = Unit.objects.filter(is_available=True).order_by("property_id", "number")
    assert free and all(f"{unit.number}," in trip.event for unit in free)
    # The properties and their free units: two queries, on the page and after.
    assert trip.event_queries == trip.page_queries == 2


def test_a_flat_values_list_stays_flat(rentals):
    trip = open_page(Client(enforce_csrf_checks=True), "/flat-values/")
    names = Property.objects.order_by("id").values_list("name", flat=True)
    assert trip.event == "".join(f"<i>{name}</i>" for name in names)
    assert "{" not in trip.event


@pytest.mark.parametrize(("name", "attribute", "what"), [
    ("generator", "HoldsAGenerator.rows", "generator"),
    ("lambda", "HoldsALambda.sort_key", "lambda"),
])
def test_a_value_pickle_cannot_store_fails_the_page_naming_it(rentals, name, attribute, what):
    with pytest.raises(state.StateNotPicklable, match=re.escape(attribute)) as failure:
        Client().get(f"/{name}/")
    assert what in str(failure.value)
    assert isinstance(failure.value, TypeError)


# ------------------------------------------------------------------ djust.state itself

class Owner:
    """Stands for a view class: only its name goes into the cache key."""


def keep(value, request=None):
    """``value`` after a save and a load, as an event sees it."""
    request = request or RequestFactory().get("/")
    view_id = state.save(request, Owner, {"value": value})
    return state.load(request, Owner, view_id)["value"]


def kept_without_queries(value):
    with CaptureQueriesContext(connection) as captured:
        loaded = keep(value)
    assert captured.captured_queries == []
    return loaded


def sql(queryset) -> str:
    try:
        return str(queryset.query)
    except EmptyResultSet:  # .none()
        return "nothing"


def definition(queryset) -> tuple:
    return (type(queryset), queryset.model, sql(queryset), queryset.db,
            queryset._iterable_class, queryset._fields,
            [getattr(lookup, "prefetch_to", lookup)
             for lookup in queryset._prefetch_related_lookups])


QUERYSETS = {
    "plain": lambda: Lease.objects.filter(status="active").order_by("id"),
    "annotated": lambda: Property.objects.annotate(n=Count("units")).order_by("-n", "id"),
    "values": lambda: Property.objects.order_by("id").values("name", "city"),
    "values_list": lambda: Property.objects.order_by("id").values_list("name", "city"),
    "flat": lambda: Property.objects.order_by("id").values_list("name", flat=True),
    "named": lambda: Property.objects.order_by("id").values_list("name", named=True),
    "select_related": lambda: Lease.objects.select_related("tenant__user").order_by("id"),
    "only": lambda: Property.objects.only("name").order_by("id"),
    "defer": lambda: Property.objects.defer("address", "city").order_by("id"),
    "distinct": lambda: Unit.objects.values_list("bedrooms", flat=True).distinct()
    .order_by("bedrooms"),
    "sliced": lambda: Lease.objects.order_by("id")[3:7],
    "union": lambda: Property.objects.filter(pk__lte=2).order_by().values_list("name")
    .union(Amenity.objects.order_by().values_list("name")).order_by("name"),
    "none": lambda: Property.objects.none(),
    "using": lambda: Property.objects.using("default").order_by("id"),
    "related manager": lambda: Property.objects.order_by("id").first().units.all(),
    "subquery": lambda: Property.objects.filter(
        Exists(Unit.objects.filter(property=OuterRef("pk"), is_available=True)),
        pk__in=Unit.objects.filter(bedrooms__gte=2).values("property"),
    ).order_by("id"),
    "prefetch": lambda: Property.objects.prefetch_related("amenities", "units").order_by("id"),
    "prefetch object": lambda: Property.objects.order_by("id").prefetch_related(
        Prefetch("units", queryset=Unit.objects.filter(is_available=True), to_attr="free")),
}


def rows(queryset) -> list:
    """What iterating gives, with prefetched relations spelled out."""
    out = []
    for row in queryset:
        if isinstance(row, Property) and hasattr(row, "free"):
            out.append((row, [unit.pk for unit in row.free]))
        elif isinstance(row, Property) and "amenities" in getattr(
                row, "_prefetched_objects_cache", {}):
            out.append((row, list(row.amenities.all()), list(row.units.all())))
        else:
            out.append(row)
    return out


@pytest.mark.parametrize("kind", QUERYSETS)
def test_a_queryset_keeps_its_definition_and_stays_unevaluated(rentals, kind):
    held = QUERYSETS[kind]()
    loaded = kept_without_queries(held)
    assert loaded._result_cache is None
    assert definition(loaded) == definition(QUERYSETS[kind]())
    fresh = QUERYSETS[kind]()
    with CaptureQueriesContext(connection) as loaded_queries:
        loaded_rows = rows(loaded)
    with CaptureQueriesContext(connection) as fresh_queries:
        fresh_rows = rows(fresh)
    assert loaded_rows == fresh_rows
    assert len(loaded_queries) == len(fresh_queries)


def test_an_evaluated_queryset_comes_back_unevaluated(rentals):
    held = Property.objects.prefetch_related("units").order_by("id")
    before = list(held)
    loaded = kept_without_queries(held)
    assert loaded._result_cache is None and not loaded._prefetch_done
    # The view's own value is left as it was.
    assert held._result_cache == before
    assert list(loaded) == before


def test_a_prefetch_queryset_is_not_evaluated_by_the_save(rentals):
    units = Unit.objects.filter(is_available=True)
    held = Property.objects.prefetch_related(Prefetch("units", queryset=units, to_attr="free"))
    loaded = kept_without_queries(held)
    assert loaded._prefetch_related_lookups[0].queryset._result_cache is None
    assert units._result_cache is None


def test_a_raw_queryset_is_kept_and_runs_again(rentals):
    table = Property._meta.db_table
    held = Property.objects.raw(f"SELECT * FROM {table} WHERE id <= %s ORDER BY id", [3])
    before = list(held)  # an evaluated RawQuery holds its database cursor
    loaded = kept_without_queries(held)
    assert loaded._result_cache is None
    assert list(loaded) == before


def test_an_instance_keeps_annotations_deferral_database_and_adding(rentals):
    held = Property.objects.annotate(n=Count("units")).only("name").order_by("id")[:1].get()
    held.name = "changed in mount, not saved"
    loaded = kept_without_queries(held)
    assert loaded.n == held.n > 0
    assert loaded.name == "changed in mount, not saved"
    assert loaded.get_deferred_fields() == held.get_deferred_fields() >= {"city", "address"}
    assert loaded._state.db == "default" and loaded._state.adding is False


def test_an_instance_keeps_its_related_and_prefetched_caches(rentals):
    lease = Lease.objects.select_related("tenant__user").order_by("id").first()
    prop = Property.objects.prefetch_related("amenities", "units").order_by("id").first()
    loaded_lease, loaded_prop = kept_without_queries((lease, prop))
    with CaptureQueriesContext(connection) as reads:
        email = loaded_lease.tenant.user.email
        amenities = list(loaded_prop.amenities.all())
        units = list(loaded_prop.units.all())
    assert reads.captured_queries == []
    assert email == lease.tenant.user.email
    assert amenities == list(prop.amenities.all()) and units == list(prop.units.all())


def test_a_prefetched_to_attr_list_is_kept(rentals):
    prop = Property.objects.prefetch_related(
        Prefetch("units", queryset=Unit.objects.order_by("number"), to_attr="ordered"),
    ).order_by("id").first()
    loaded = kept_without_queries(prop)
    assert [u.number for u in loaded.ordered] == [u.number for u in prop.ordered]


def test_an_unsaved_instance_stays_unsaved(rentals):
    loaded = kept_without_queries(Property(name="Draft", monthly_rent=1))
    assert loaded.pk is None and loaded._state.adding is True and loaded.name == "Draft"


def test_containers_keep_their_shape_and_what_they_share(rentals):
    leases = list(Lease.objects.order_by("id")[:3])
    queryset = Property.objects.order_by("id")
    held = {
        "leases": leases,
        "current": leases[0],
        "nested": {"pairs": [(1, leases[1]), (2, queryset)], "tags": {"a", "b"},
                   "frozen": frozenset({3})},
        "summary": Summary("t", leases[:1], queryset),
    }
    loaded = kept_without_queries(held)
    assert loaded["current"] is loaded["leases"][0]
    assert loaded["summary"].leases[0] is loaded["leases"][0]
    assert loaded["summary"].properties is loaded["nested"]["pairs"][1][1]
    assert loaded["leases"] == leases
    assert isinstance(loaded["nested"]["pairs"][0], tuple)
    assert loaded["nested"]["tags"] == {"a", "b"}
    assert loaded["nested"]["frozen"] == frozenset({3})
    assert isinstance(loaded["summary"], Summary)
    assert list(loaded["summary"].properties) == list(queryset)


def test_the_view_names_the_attribute_that_cannot_be_pickled():
    request = RequestFactory().get("/")
    with pytest.raises(state.StateNotPicklable, match=r"Owner\.handle cannot be kept") as err:
        state.save(request, Owner, {"fine": [1, 2], "handle": threading.Lock()})
    assert "'_'" in str(err.value)


def test_nothing_is_unpickled_for_a_request_that_does_not_own_the_state(monkeypatch):
    owner = RequestFactory().get("/")
    view_id = state.save(owner, Owner, {"value": 1})
    monkeypatch.setattr(state, "_loads", lambda *args: pytest.fail("unpickled"))
    assert state.load(RequestFactory().get("/"), Owner, view_id) is None


def test_an_entry_from_another_django_version_is_refused(monkeypatch):
    request = RequestFactory().get("/")
    view_id = state.save(request, Owner, {"value": 1})
    monkeypatch.setattr(state, "_FORMAT", ("djust.state", 2, "0.0"))
    assert state.load(request, Owner, view_id) is None


def test_an_entry_of_the_previous_layout_is_refused():
    request = RequestFactory().get("/")
    view_id = state.save(request, Owner, {"value": 1})
    key = state._key(Owner, view_id)
    entry = state._cache().get(key)
    del entry["format"]
    entry["state"] = {"value": 1}
    state._cache().set(key, entry)
    assert state.load(request, Owner, view_id) is None


def test_a_state_whose_class_is_gone_reads_as_expired(monkeypatch, caplog):
    request = RequestFactory().get("/")
    view_id = state.save(request, Owner, {"value": Summary("t", [], None)})
    monkeypatch.delattr(sys.modules[__name__], "Summary")
    caplog.set_level(logging.WARNING, logger="djust.state")
    assert state.load(request, Owner, view_id) is None
    assert "no longer unpickles" in caplog.text


def test_the_state_is_pickled_once_into_the_entry():
    request = RequestFactory().get("/")
    view_id = state.save(request, Owner, {"value": 1})
    entry = state._cache().get(state._key(Owner, view_id))
    assert isinstance(entry["state"], bytes)
    assert pickle.loads(entry["state"]) == {"value": 1}
