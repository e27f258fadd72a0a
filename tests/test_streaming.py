"""``streaming.stream`` and ``http.StreamingJsonResponse``: the JSON text of
``many()``, byte for byte, fetched and encoded a chunk at a time."""

import datetime
import decimal
import json
import math

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext

from djust.compiler import compile_serializer
from djust.compiler.streaming import stream
from djust.http import StreamingJsonResponse
from examples.rentals.models import Lease, Property, Unit
from property_tests.fuzzapp.models import Item, Owner
from tests import factories

pytestmark = pytest.mark.django_db

S1 = ["property.name", "unit.number", "tenant.user.email", "monthly_rent", "start_date",
      "end_date", "get_status_display", "signed_at"]
# Two nested to-many levels and a ManyToMany one below the properties.
S3 = ["name", "units.count", "units.all.*.number", "units.all.*.maintenance_requests.all.*.title",
      "amenities.all.*.name"]
# A displayed row and a JSON key: model instances needed.
INSTANCES = ["pk", "tenant", "tenant.emergency_contact.name", "unit.number", "end_date"]
CHUNK_SIZES = [1, 2, 7, 10**6]


@pytest.fixture
def rows():
    factories.rentals(9)


def expected(serializer, queryset) -> str:
    return json.dumps(serializer.many(queryset), cls=DjangoJSONEncoder)


def streamed(serializer, queryset, chunk_size) -> str:
    return "".join(stream(serializer, queryset, chunk_size=chunk_size))


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
@pytest.mark.parametrize(("model", "paths", "how"), [
    (Lease, S1, "text"),
    # Methods may leave a key out of a row: the rows' dicts, then encoded.
    (Lease, ["days_until_expiration", "is_expiring_soon", "tenant.phone"], "dicts"),
    (Property, S3, "text"),
    (Lease, INSTANCES, "instances"),
    (Property, ["name", "units.all.*", "leases.first.end_date"], "instances"),
])
def test_text_is_json_dumps_of_many(rows, model, paths, how, chunk_size):
    serializer = compile_serializer(model, paths)
    queryset = model.objects.all()
    text = streamed(serializer, queryset, chunk_size)
    assert bool(serializer.text_projection) is (how == "text")
    if how != "text":
        assert bool(serializer.projection) is (how == "dicts")
    assert text == expected(serializer, queryset)
    assert json.loads(text) == json.loads(expected(serializer, queryset))
    assert len(json.loads(text)) == queryset.count()


@pytest.mark.parametrize("paths", [S1, INSTANCES])
def test_chunks_are_parts_of_one_array(rows, paths):
    serializer = compile_serializer(Lease, paths)
    chunks = list(stream(serializer, Lease.objects.all(), chunk_size=4))
    # 9 rows: three chunks of rows, then the closing bracket.
    assert len(chunks) == 4
    assert chunks[0].startswith("[{") and chunks[1].startswith(", {") and chunks[-1] == "]"
    assert all(isinstance(chunk, str) for chunk in chunks)


@pytest.mark.parametrize("chunk_size", [1, 2, 10**6])
@pytest.mark.parametrize("paths", [S1, INSTANCES, ["name", "units.count"]])
def test_empty_querysets(rows, paths, chunk_size):
    model = Property if paths[0] == "name" else Lease
    serializer = compile_serializer(model, paths)
    for queryset in (model.objects.none(), model.objects.filter(pk__in=[])):
        assert list(stream(serializer, queryset, chunk_size=chunk_size)) == ["[]"]
        assert expected(serializer, queryset) == "[]"


@pytest.mark.parametrize("paths", [S1, INSTANCES])
@pytest.mark.parametrize("order", [("-monthly_rent", "-id"), ("-end_date",), ("tenant__phone",)])
def test_ordering_kept(rows, paths, order):
    serializer = compile_serializer(Lease, paths)
    queryset = Lease.objects.order_by(*order)
    assert streamed(serializer, queryset, 2) == expected(serializer, queryset)
    queryset = Lease.objects.filter(status="active").order_by(*order)[1:5]
    assert streamed(serializer, queryset, 3) == expected(serializer, queryset)


def test_nested_level_order_and_repeated_rows(rows):
    serializer = compile_serializer(Property, S3)
    # A join in the filters repeats the properties: many() reads instances,
    # the stream projects; the text is the same.
    queryset = Property.objects.filter(units__bedrooms__gte=1).order_by("-name")
    assert queryset.count() == 2 * Property.objects.count()
    assert streamed(serializer, queryset, 3) == expected(serializer, queryset)


def queries(serializer, queryset, chunk_size) -> int:
    with CaptureQueriesContext(connection) as captured:
        streamed(serializer, queryset, chunk_size)
    return len(captured)


@pytest.mark.parametrize(("chunk_size", "chunks"), [(1, 9), (2, 5), (4, 3), (9, 1), (100, 1)])
def test_queries_per_chunk(rows, chunk_size, chunks):
    # Projected: one query for the rows (read through a cursor), one per
    # level per chunk.
    assert queries(compile_serializer(Lease, S1), Lease.objects.all(), chunk_size) == 1
    levels = compile_serializer(Property, S3)
    assert queries(levels, Property.objects.all(), chunk_size) == 1 + 3 * chunks
    # Instances: one query for the rows, the plan's prefetches per chunk.
    instances = compile_serializer(Property, ["name", "units.all.*"])
    assert queries(instances, Property.objects.all(), chunk_size) == 1 + chunks
    assert queries(compile_serializer(Lease, INSTANCES), Lease.objects.all(), chunk_size) == 1


def test_rows_fetched_lazily(rows):
    serializer = compile_serializer(Property, S3)
    with CaptureQueriesContext(connection) as captured:
        chunks = stream(serializer, Property.objects.all(), chunk_size=2)
        assert len(captured) == 0
        first = next(chunks)
        # The root rows' query and the first chunk's three levels, no more.
        assert len(captured) == 4
        assert len(json.loads(first + "]")) == 2
        second = next(chunks)
        assert len(captured) == 7
        rest = "".join(chunks)
    assert first + second + rest == expected(serializer, Property.objects.all())


def test_instance_rows_fetched_lazily(rows):
    serializer = compile_serializer(Property, ["name", "units.all.*"])
    with CaptureQueriesContext(connection) as captured:
        chunks = stream(serializer, Property.objects.all(), chunk_size=4)
        first = next(chunks)
        assert len(captured) == 2 and len(json.loads(first + "]")) == 4
        list(chunks)
        assert len(captured) == 4


def test_combined_querysets_and_instances(rows):
    serializer = compile_serializer(Lease, ["tenant.user.email", "unit.number", "end_date"])
    combined = Lease.objects.filter(status="active").order_by().union(
        Lease.objects.filter(status="expired").order_by())
    assert streamed(serializer, combined.order_by("end_date"), 2) == \
        expected(serializer, combined.order_by("end_date"))
    fetched = Lease.objects.filter(status="active").order_by().union(
        Lease.objects.filter(status="pending").order_by()).order_by("-end_date")
    list(fetched)
    assert streamed(serializer, fetched, 2) == expected(serializer, fetched)
    instances = list(Lease.objects.order_by("-id"))
    assert streamed(serializer, iter(instances), 4) == expected(serializer, instances)
    assert streamed(serializer, [], 4) == "[]"


def test_text_as_json_dumps_writes_it(db):
    """Floats by repr, NaN and infinities as json.dumps writes them, text
    escaped to ASCII, decimals and dates as JSON mode writes them."""
    owner = Owner.objects.create(username="Zoë 😀")
    ratios = [0.1, 1e16, -2.5e-7, 1 / 3, float("inf"), float("-inf"), float("nan"), None, 3.0]
    for index, ratio in enumerate(ratios):
        Item.objects.create(
            title=f"<ünïcode> \"{index}\" \u2028 \\", owner=owner, ratio=ratio,
            precise=decimal.Decimal("1.5000000000") if index % 2 else None,
            day=datetime.date(2024, 2, index + 1),
            moment=datetime.datetime(2024, 1, 1, 9, 30, 0, index * 1234, tzinfo=datetime.UTC),
            span=datetime.timedelta(hours=index, microseconds=index),
            data={"é": [index, 1.25, True, None, {"k": "ø"}]},
        )
    paths = ["title", "ratio", "precise", "day", "moment", "span", "data", "token",
             "owner.username", "get_status_display"]
    serializer = compile_serializer(Item, paths)
    queryset = Item.objects.order_by("id")
    text = streamed(serializer, queryset, 4)
    assert text == expected(serializer, queryset)
    assert text.isascii()
    if connection.vendor == "postgresql":
        assert "NaN" in text and "-Infinity" in text
    parsed = json.loads(text)
    assert [row["ratio"] for row in parsed][:4] == [0.1, 1e16, -2.5e-7, 1 / 3]
    assert not any(isinstance(row["ratio"], float) and math.isnan(row["ratio"])
                   for row in parsed) or connection.vendor == "postgresql"


def test_refusals(rows):
    with pytest.raises(TypeError, match="mode='json'"):
        stream(compile_serializer(Lease, S1, mode="python"), Lease.objects.all())
    serializer = compile_serializer(Lease, S1)
    with pytest.raises(TypeError, match="yields plain rows"):
        stream(serializer, Lease.objects.values("pk"))
    for size in (0, -1, 2.0, "2"):
        with pytest.raises(ValueError, match="chunk_size"):
            stream(serializer, Lease.objects.all(), chunk_size=size)


@pytest.mark.parametrize("paths", [S1, INSTANCES])
def test_response_streams(rows, paths):
    serializer = compile_serializer(Lease, paths)
    queryset = Lease.objects.all()
    with CaptureQueriesContext(connection) as captured:
        response = StreamingJsonResponse(serializer, queryset, chunk_size=4)
        assert len(captured) == 0
    assert isinstance(response, StreamingHttpResponse) and response.streaming
    assert response["Content-Type"] == "application/json"
    assert response.status_code == 200
    parts = list(response.streaming_content)
    assert len(parts) == 4 and all(isinstance(part, bytes) for part in parts)
    assert b"".join(parts).decode() == expected(serializer, queryset)
    assert json.loads(b"".join(parts)) == serializer.many(queryset)


def test_response_options(rows):
    serializer = compile_serializer(Unit, ["number"])
    response = StreamingJsonResponse(serializer, Unit.objects.none(), status=201,
                                     headers={"X-Rows": "none"})
    assert response.status_code == 201 and response["X-Rows"] == "none"
    assert b"".join(response.streaming_content) == b"[]"
    with pytest.raises(TypeError, match="mode='json'"):
        StreamingJsonResponse(compile_serializer(Unit, ["number"], mode="python"),
                              Unit.objects.all())


def test_view_streams(rows, client, settings):
    from django.urls import path

    serializer = compile_serializer(Lease, S1)

    def view(request):
        return StreamingJsonResponse(serializer, Lease.objects.all(), chunk_size=3)

    settings.ROOT_URLCONF = type("urls", (), {"urlpatterns": [path("leases/", view)]})
    response = client.get("/leases/")
    assert response.streaming
    assert response["Content-Type"] == "application/json"
    assert b"".join(response.streaming_content).decode() == \
        expected(serializer, Lease.objects.all())


def test_memory_bounded_by_a_chunk(db):
    """The peak of streaming 150 rows 10 at a time is a fraction of
    ``json.dumps(many())``'s: no chunk outlives its text."""
    import tracemalloc

    factories.rentals(150)
    serializer = compile_serializer(Lease, S1)
    queryset = Lease.objects.all()

    def peak(function) -> int:
        function()  # warm: compiled queries, caches
        tracemalloc.start()
        try:
            function()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    def consume():
        for _ in stream(serializer, queryset, chunk_size=10):
            pass

    assert peak(consume) * 3 < peak(lambda: expected(serializer, queryset))
