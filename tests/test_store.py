"""The shared store (djust.store): entries, backends, keys, faults, serializers, extractions."""

from __future__ import annotations

import datetime
import errno
import json
import logging
import os
import threading

import pytest
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.template import Engine
from django.test import override_settings

from djust import store
from djust.compiler import extraction as ex
from djust.compiler import plan as plan_module
from djust.compiler.paths import normalize_paths
from djust.compiler.tree import build_access_tree
from examples.rentals.models import Lease, Property, Unit
from tests import factories

KEY = "ab" * 32
LEASE_PATHS = normalize_paths([
    "property.name", "unit.number", "tenant.user.email", "end_date", "monthly_rent",
    "get_status_display", "tenant", "tenant.phone",
])


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FlakyBackend(store.MemoryBackend):
    """A memory backend whose reads and writes can be made to fail."""

    def __init__(self) -> None:
        super().__init__()
        self.reads_fail = False
        self.writes_fail = False
        self.calls = 0

    def get(self, key):
        self.calls += 1
        if self.reads_fail:
            raise store.StoreError("reads are down")
        return super().get(key)

    def set(self, key, value):
        self.calls += 1
        if self.writes_fail:
            raise store.StoreError("writes are down")
        super().set(key, value)


def store_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "djust.store" and r.levelno >= logging.WARNING]


# -- entries --------------------------------------------------------------------


def test_entry_round_trip_keeps_the_payload():
    payload = {"paths": {"leases": ["*.tenant.phone"]}, "n": [1, None, "é"]}
    blob = store.encode_entry("x", KEY, payload)
    assert store.decode_entry("x", KEY, blob) == payload


@pytest.mark.parametrize("damage", [
    pytest.param(lambda b: b[:-1] + (b"A" if b[-1:] != b"A" else b"B"), id="signature"),
    pytest.param(lambda b: b[:1] + (b"x" if b[1:2] != b"x" else b"y") + b[2:], id="payload"),
    pytest.param(lambda b: b[: len(b) // 2], id="truncated"),
    pytest.param(lambda b: b"", id="empty"),
    pytest.param(lambda b: b"\xff\xfe" + b, id="not-ascii"),
])
def test_damaged_entries_are_rejected(damage):
    blob = store.encode_entry("s", KEY, {"source": "def f(o):\n    return o\n"})
    with pytest.raises(store.EntryRejected):
        store.decode_entry("s", KEY, damage(blob))


def test_entry_signed_with_another_secret_key_is_rejected():
    with override_settings(SECRET_KEY="another-secret-key"):
        blob = store.encode_entry("x", KEY, {"a": 1})
    with pytest.raises(store.EntryRejected, match="signature"):
        store.decode_entry("x", KEY, blob)


def test_entry_copied_under_another_key_or_kind_is_rejected():
    blob = store.encode_entry("x", KEY, {"a": 1})
    with pytest.raises(store.EntryRejected, match="another key"):
        store.decode_entry("x", "cd" * 32, blob)
    with pytest.raises(store.EntryRejected, match="another key"):
        store.decode_entry("s", KEY, blob)


@pytest.mark.parametrize("field, value", [
    ("format", store.ENTRY_FORMAT + 1), ("python", [2, 7]), ("djust", "0.0.1"),
    ("django", "1.11.0.final.0"),
])
def test_entry_from_another_version_is_rejected(field, value):
    header = dict(store.version_header(), kind="x", key=KEY, **{field: value})
    signed = signing.Signer(salt=store.SALT).sign_object({"h": header, "p": {"a": 1}},
                                                        compress=True)
    with pytest.raises(store.EntryRejected, match="another version"):
        store.decode_entry("x", KEY, signed.encode())


def test_keys_are_full_sha256_and_depend_on_every_part():
    key = store.content_key("s", ["rentals.Lease", ["end_date"], "json"])
    assert len(key) == 64 and int(key, 16) >= 0
    assert key != store.content_key("s", ["rentals.Lease", ["end_date"], "python"])
    assert key != store.content_key("x", ["rentals.Lease", ["end_date"], "json"])


# -- backends -------------------------------------------------------------------


@pytest.fixture(params=["memory", "filesystem", "django"])
def backend(request, tmp_path, settings):
    if request.param == "memory":
        return store.MemoryBackend()
    if request.param == "filesystem":
        return store.FileSystemBackend(tmp_path / "store")
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": f"djust-store-{id(tmp_path)}"}}
    return store.DjangoCacheBackend("default", prefix="djust-test", ttl=60)


def test_backend_get_set_delete_scan_clear(backend):
    assert backend.get("x:" + KEY) is None
    backend.set("x:" + KEY, b"one")
    backend.set("s:" + KEY, b"two!")
    backend.set("x:" + KEY, b"three")
    assert backend.get("x:" + KEY) == b"three"
    assert dict(backend.scan("x")) == {"x:" + KEY: b"three"}
    assert backend.stats() == {"extractions": 1, "serializers": 1, "manifest": 0, "bytes": 9}
    backend.delete("s:" + KEY)
    assert backend.get("s:" + KEY) is None
    assert backend.clear() == 1
    assert backend.get("x:" + KEY) is None
    assert backend.stats()["extractions"] == 0


def test_store_put_get_entries_through_each_backend(backend):
    shared = store.Store(backend)
    assert shared.get("m", KEY) is None
    assert shared.put("m", KEY, {"model": "rentals.Lease"})
    assert shared.get("m", KEY) == {"model": "rentals.Lease"}
    assert list(shared.entries("m")) == [(KEY, {"model": "rentals.Lease"})]
    assert shared.counters["hits"] == 1 and shared.counters["misses"] == 1
    assert shared.stats()["stored"]["manifest"] == 1


def test_filesystem_writes_leave_no_temporary_files(tmp_path):
    backend = store.FileSystemBackend(tmp_path)
    for index in range(5):
        backend.set(f"s:{index:064x}", b"x" * 1000)
    names = [name for _dir, _subdirs, files in os.walk(tmp_path) for name in files]
    assert len(names) == 5 and all(name.endswith(".entry") for name in names)


def test_concurrent_filesystem_writers_never_leave_a_torn_entry(tmp_path):
    shared = store.Store(store.FileSystemBackend(tmp_path))
    payloads = [{"writer": w, "blob": chr(65 + w) * 200_000} for w in range(4)]
    seen: list = []
    stop = threading.Event()

    def write(payload):
        for _ in range(15):
            assert shared.put("s", KEY, payload)

    def read():
        while not stop.is_set():
            seen.append(shared.get("s", KEY))

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    reader.join()
    assert shared.counters["rejected"] == 0
    assert all(entry is None or entry in payloads for entry in seen)
    assert shared.get("s", KEY) in payloads


@pytest.mark.parametrize("damage", [
    pytest.param(lambda data: data[: len(data) // 3], id="truncated"),
    pytest.param(lambda data: data.replace(b":", b"!", 1), id="corrupt"),
    pytest.param(lambda data: b"", id="empty"),
])
def test_damaged_file_is_ignored_logged_once_and_rebuilt(tmp_path, caplog, damage):
    writer = store.Store(store.FileSystemBackend(tmp_path))
    fresh = store.compile_shared(writer, Unit, ("number", "bedrooms"), "json")
    (entry,) = (tmp_path / f"v{store.ENTRY_FORMAT}" / "s").rglob("*.entry")
    entry.write_bytes(damage(entry.read_bytes()))
    worker = store.Store(store.FileSystemBackend(tmp_path))
    rebuilt = store.compile_shared(worker, Unit, ("number", "bedrooms"), "json")
    assert rebuilt.source == fresh.source
    assert worker.counters["rejected"] == 1 and worker.counters["writes"] == 2
    assert len([m for m in store_warnings(caplog) if "ignoring" in m]) == 1
    later = store.Store(store.FileSystemBackend(tmp_path))
    store.compile_shared(later, Unit, ("number", "bedrooms"), "json")
    assert later.counters["hits"] == 1 and later.counters["rejected"] == 0


# -- faults ---------------------------------------------------------------------


def test_failing_backend_is_skipped_warned_once_and_recovers(caplog):
    backend, clock = FlakyBackend(), FakeClock()
    shared = store.Store(backend, retry_interval=5, warn_interval=60, clock=clock)
    assert shared.put("x", KEY, {"a": 1})
    backend.reads_fail = True
    assert shared.get("x", KEY) is None
    calls = backend.calls
    assert shared.get("x", KEY) is None  # within the retry interval: not even tried
    assert backend.calls == calls and shared.counters["skipped"] == 1
    clock.now += 5
    assert shared.get("x", KEY) is None  # tried again, still down: no second warning
    assert backend.calls == calls + 1
    assert len([m for m in store_warnings(caplog) if "failed" in m]) == 1
    backend.reads_fail = False
    clock.now += 5
    assert shared.get("x", KEY) == {"a": 1}
    assert any("work again" in m for m in store_warnings(caplog))
    assert shared.counters["errors"] == 2


def test_failing_writes_do_not_stop_reads(caplog):
    backend, clock = FlakyBackend(), FakeClock()
    shared = store.Store(backend, clock=clock)
    assert shared.put("x", KEY, {"a": 1})
    backend.writes_fail = True
    assert not shared.put("x", "cd" * 32, {"b": 2})
    assert shared.get("x", KEY) == {"a": 1}


def test_warning_repeats_after_the_warn_interval(caplog):
    backend, clock = FlakyBackend(), FakeClock()
    shared = store.Store(backend, retry_interval=1, warn_interval=10, clock=clock)
    backend.reads_fail = True
    for _ in range(25):
        shared.get("x", KEY)
        clock.now += 1
    assert len([m for m in store_warnings(caplog) if "failed" in m]) == 3


def test_rejected_entry_is_logged_once_per_key(caplog):
    backend = store.MemoryBackend()
    shared = store.Store(backend)
    backend.set("x:" + KEY, b"garbage")
    assert shared.get("x", KEY) is None
    assert shared.get("x", KEY) is None
    assert shared.counters["rejected"] == 2
    assert len([m for m in store_warnings(caplog) if "ignoring" in m]) == 1


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_full_or_read_only_disk_compiles_locally(tmp_path, monkeypatch, caplog, code):
    shared = store.Store(store.FileSystemBackend(tmp_path))
    real_fdopen = os.fdopen

    class FailingFile:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: FailingFile(real_fdopen(fd, mode)))
    serializer = store.compile_shared(shared, Unit, ("number",), "json")
    assert serializer(Unit(number="4B")) == {"number": "4B"}
    assert shared.counters["errors"] == 1 and shared.counters["writes"] == 0
    assert any(os.strerror(code) in m for m in store_warnings(caplog))
    leftovers = [n for _d, _s, files in os.walk(tmp_path) for n in files]
    assert leftovers == []


def test_unwritable_location_compiles_locally(tmp_path, caplog):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's directory should be")
    shared = store.Store(store.FileSystemBackend(blocker))
    serializer = store.compile_shared(shared, Unit, ("number",), "json")
    assert serializer(Unit(number="7")) == {"number": "7"}
    assert shared.counters["errors"] >= 1
    assert store_warnings(caplog)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions; "
                    "test_full_or_read_only_disk_compiles_locally covers EROFS")
def test_read_only_directory_compiles_locally(tmp_path):
    (tmp_path / f"v{store.ENTRY_FORMAT}").mkdir()
    tmp_path.chmod(0o555)
    (tmp_path / f"v{store.ENTRY_FORMAT}").chmod(0o555)
    try:
        shared = store.Store(store.FileSystemBackend(tmp_path))
        serializer = store.compile_shared(shared, Unit, ("number",), "json")
        assert serializer(Unit(number="9")) == {"number": "9"}
        assert shared.counters["errors"] == 1
    finally:
        (tmp_path / f"v{store.ENTRY_FORMAT}").chmod(0o755)
        tmp_path.chmod(0o755)


# -- serializers ----------------------------------------------------------------


def stored_serializer_key(model, paths, mode="json"):
    return store.serializer_key(model, build_access_tree(model, paths), paths, mode)


@pytest.mark.django_db
def test_stored_serializer_is_loaded_and_serializes_like_a_fresh_one(monkeypatch):
    factories.rentals(3)
    shared = store.Store(store.MemoryBackend())
    fresh = store.compile_shared(shared, Lease, LEASE_PATHS, "json")
    assert shared.counters["misses"] == 1 and shared.counters["writes"] == 2

    def no_planning(*args, **kwargs):
        raise AssertionError("a stored serializer's plan must not be derived again")

    # The plan comes from the store; the code is generated here, always.
    monkeypatch.setattr(plan_module, "plan_queries", no_planning)
    loaded = store.compile_shared(shared, Lease, LEASE_PATHS, "json")
    assert shared.counters["hits"] == 1
    assert loaded is not fresh
    assert loaded.source == fresh.source and loaded.filename == fresh.filename
    assert loaded.verification == fresh.verification
    leases = Lease.objects.order_by("id")
    assert loaded.many(leases) == fresh.many(leases)
    assert loaded.plan == fresh.plan and loaded.plan.select_related


@pytest.mark.parametrize("model, paths", [
    (Lease, LEASE_PATHS),
    (Property, ("name", "units.all.*.number", "amenities.all.*.name", "units.count",
                "occupancy_rate", "manager.email")),
    (Unit, ("", "property", "maintenance_requests.all.*.title")),
])
def test_query_plans_survive_the_store(model, paths):
    plan = plan_module.plan_queries(build_access_tree(model, paths))
    plain = json.loads(json.dumps(store.plan_to_plain(plan)))
    assert store.plan_from_plain(plain) == plan


@pytest.mark.parametrize("plain", [
    {"$plan": "Level", "fields": {"model": {"$model": "rentals.Nope"}}},
    {"$plan": "Node", "fields": {}},
    {"$plan": "QueryPlan", "fields": {"model": {"$model": "rentals.Unit"}, "bogus": 1}},
    {"$set": [1]},
])
def test_unreadable_plans_are_rejected(plain):
    with pytest.raises(store.EntryRejected, match="unreadable query plan"):
        store.plan_from_plain(plain)


def test_stored_plan_of_a_changed_model_is_stale():
    shared = store.Store(store.MemoryBackend())
    paths = ("number", "property.name")
    store.compile_shared(shared, Unit, paths, "json")
    key = stored_serializer_key(Unit, paths)
    payload = shared.get("s", key)
    assert [m[0] for m in payload["plan_models"]] == ["rentals.Unit", "rentals.Property"]
    payload["plan_models"][1][2] = "0" * 64  # Property's code when the plan was derived
    shared.put("s", key, payload)
    store.compile_shared(shared, Unit, paths, "json")
    assert shared.counters["misses"] == 2 and shared.counters["rejected"] == 0
    assert shared.get("s", key)["plan_models"][1][2] == store.class_code_digest(Property)


def test_no_code_from_the_store_runs(tmp_path):
    # A correctly signed entry (a leaked key, write access to the store)
    # carrying code that would leave a marker file: no worker runs it.
    marker = tmp_path / "marker"
    shared = store.Store(store.MemoryBackend())
    paths = ("number",)
    fresh = store.compile_shared(shared, Unit, paths, "json")
    key = stored_serializer_key(Unit, paths)
    planted = (f"def serialize_rentals_unit(obj):\n"
               f"    open({str(marker)!r}, 'w').close()\n    return {{}}\n")
    for extra in ({"source": planted, "name": "serialize_rentals_unit",
                   "filename": "<planted>", "helpers": [], "constants": {}},
                  {"source": planted}):
        shared.put("s", key, dict(store.serializer_payload(fresh), **extra))
        serializer = store.compile_shared(shared, Unit, paths, "json")
        assert serializer(Unit(number="1A")) == {"number": "1A"}
        assert serializer.source == fresh.source
    assert not marker.exists()
    assert shared.counters["rejected"] == 2
    # The entry that replaced the planted one holds data only.
    assert set(shared.get("s", key)) == store.PAYLOAD_FIELDS


@pytest.mark.parametrize("field, value", [
    ("tree", "<root>: root rentals.Unit"), ("paths", ["bedrooms"]),
    ("model", "rentals.Lease"),
    # Fields of the entries that held code: refused whatever they say.
    ("helpers", ["_lookup", "os"]), ("constants", {"_model_1": ["model", "rentals.Unit"]}),
])
def test_stored_serializer_that_does_not_match_is_rebuilt(field, value):
    shared = store.Store(store.MemoryBackend())
    paths = ("number", "property.name")
    fresh = store.compile_shared(shared, Unit, paths, "json")
    key = stored_serializer_key(Unit, paths)
    payload = dict(store.serializer_payload(fresh), **{field: value})
    shared.put("s", key, payload)
    rebuilt = store.compile_shared(shared, Unit, paths, "json")
    assert shared.counters["rejected"] == 1
    assert rebuilt.source == fresh.source


def test_a_stored_serializer_with_constants_is_generated_here():
    shared = store.Store(store.MemoryBackend())
    paths = ("end_date", "get_status_display")
    fresh = store.compile_shared(shared, Lease, paths, "json")
    loaded = store.compile_shared(shared, Lease, paths, "json")
    assert shared.counters["hits"] == 1 and shared.counters["rejected"] == 0
    assert loaded is not fresh and loaded.source == fresh.source
    payload = shared.get("s", stored_serializer_key(Lease, paths))
    assert set(payload) == store.PAYLOAD_FIELDS  # no source, helpers or constants
    lease = Lease(status=Lease.Status.TERMINATED, end_date=datetime.date(2024, 5, 1))
    assert loaded(lease) == fresh(lease) == {
        "end_date": "2024-05-01", "get_status_display": lease.get_status_display()}


def test_serializer_key_follows_the_models_the_tree_reaches(monkeypatch):
    through_property = ("property.name", "number")
    own_fields = ("number", "bedrooms")

    def keys():
        return (stored_serializer_key(Unit, through_property),
                stored_serializer_key(Unit, own_fields))

    before = keys()
    # Property's code changed.
    monkeypatch.setitem(store.serializers._CLASS_CODE, Property, "0" * 64)
    after = keys()
    assert before[0] != after[0]
    assert before[1] == after[1]


def test_serializer_key_follows_the_schema_mode_paths_and_settings(monkeypatch, settings):
    from djust.compiler import cache

    paths = ("number",)
    key = stored_serializer_key(Unit, paths)
    assert key == stored_serializer_key(Unit, paths)
    assert key != stored_serializer_key(Unit, paths, "python")
    assert key != stored_serializer_key(Unit, ("number", "bedrooms"))
    settings.DJUST = {"SENSITIVE_FIELDS": ["password", "bedrooms"]}
    assert key != stored_serializer_key(Unit, paths)
    settings.DJUST = {}
    real = cache.schema_fingerprint
    monkeypatch.setattr(store.serializers, "schema_fingerprint",
                        lambda m: "changed" if m is Unit else real(m))
    assert key != stored_serializer_key(Unit, paths)


def test_class_code_digest_follows_each_method_and_property():
    from django.utils.functional import cached_property

    def build(label_body, rate_body, size_body):
        namespace = {}
        exec(  # three versions of one model's methods, as a developer edits them
            "def __str__(self):\n    return " + label_body + "\n"
            "def rate(self):\n    return " + rate_body + "\n"
            "def size(self):\n    return " + size_body + "\n", namespace)
        # A plain class: the digest reads the class bodies, whatever the base.
        return type("Flat", (), {
            "__module__": "tests.flats", "__str__": namespace["__str__"],
            "rate": property(namespace["rate"]), "size": cached_property(namespace["size"])})

    digests = [store.class_code_digest(build(*bodies)) for bodies in [
        ("self.name", "1", "{'a', 'b'}"),
        ("self.name", "1", "{'a', 'b'}"),
        ("self.name.upper()", "1", "{'a', 'b'}"),
        ("self.name", "2", "{'a', 'b'}"),
        ("self.name", "1", "{'a', 'c'}"),
    ]]
    assert digests[0] == digests[1]
    assert len(set(digests[1:])) == 4


def test_class_code_digest_is_the_same_in_another_process():
    import subprocess
    import sys

    code = ("import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'tests.settings'; "
            "django.setup(); from djust import store; "
            "from examples.rentals.models import Lease; print(store.class_code_digest(Lease))")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env=env, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert other.stdout.strip() == store.class_code_digest(Lease)


def test_compiled_serializers_are_recorded_in_the_manifest():
    shared = store.Store(store.MemoryBackend())
    store.compile_shared(shared, Unit, ("number",), "json")
    store.compile_shared(shared, Unit, ("number",), "json")  # a hit adds nothing
    store.compile_shared(shared, Unit, ("bedrooms",), "python")
    records = sorted((r["model"], tuple(r["paths"]), r["mode"])
                     for _key, r in shared.entries("m"))
    assert records == [("rentals.Unit", ("bedrooms",), "python"),
                       ("rentals.Unit", ("number",), "json")]


# -- extractions ----------------------------------------------------------------


@pytest.fixture
def template_dir(tmp_path):
    (tmp_path / "base.html").write_text(
        "<h1>{{ title }}</h1>{% block body %}{% endblock %}")
    (tmp_path / "row.html").write_text("{{ lease.tenant.phone }}")
    (tmp_path / "page.html").write_text(
        '{% extends "base.html" %}{% block body %}{% for lease in leases %}'
        '{% include "row.html" %}{% endfor %}{% endblock %}')
    return tmp_path


def plain_engine(directory) -> Engine:
    # No cached loader: an edit on disk is what the next load sees.
    return Engine(dirs=[str(directory)], loaders=["django.template.loaders.filesystem.Loader"])


def extract_through(shared, engine, name):
    template = ex.load_template(engine, name)
    return store.extract_shared(
        shared, engine, how="name", label=name, source=ex.template_source(template),
        root_origin=template.origin, walk=lambda: ex.walk_template(engine, template, name))


@pytest.mark.parametrize("edited, content", [
    ("row.html", "{{ lease.tenant.user.email }}"),
    ("base.html", "<h1>{{ heading }}</h1>{% block body %}{% endblock %}"),
])
def test_stored_extraction_is_reused_until_a_template_of_the_chain_changes(
        template_dir, edited, content):
    shared = store.Store(store.MemoryBackend())
    engine = plain_engine(template_dir)
    first, dependencies = extract_through(shared, engine, "page.html")
    assert first.as_dict() == {"leases": ["*.tenant.phone"], "title": [""]}
    again, loaded_dependencies = extract_through(shared, engine, "page.html")
    assert shared.counters["hits"] == 1
    assert again == first and loaded_dependencies == dependencies
    (template_dir / edited).write_text(content)
    changed, _ = extract_through(shared, engine, "page.html")
    expected = ex.walk_template(engine, ex.load_template(engine, "page.html"), "page.html")[0]
    assert changed == expected and changed != first
    assert shared.counters["misses"] == 2  # the first extraction and the edit


def test_edited_root_template_gets_a_new_key(template_dir):
    engine = plain_engine(template_dir)
    source = (template_dir / "page.html").read_text()
    key = store.extraction_key(engine, "name", "page.html", source)
    assert key != store.extraction_key(engine, "name", "page.html", source + " ")
    assert key != store.extraction_key(engine, "source", "page.html", source)
    other = Engine(dirs=[str(template_dir)], libraries={"extra": "django.templatetags.static"})
    assert key != store.extraction_key(other, "name", "page.html", source)


def test_extraction_payload_keeps_unanalysed_records_and_the_chain(template_dir):
    (template_dir / "page.html").write_text("{% debug %}{{ a.b }}")
    shared = store.Store(store.MemoryBackend())
    engine = plain_engine(template_dir)
    first, _ = extract_through(shared, engine, "page.html")
    again, _ = extract_through(shared, engine, "page.html")
    assert first.unanalysed and again.unanalysed == first.unanalysed
    assert again.templates == first.templates == ("page.html",)
    (payload,) = [p for _k, p in shared.entries("x")]
    assert len(payload["chain"]) == 64
    assert json.loads(json.dumps(payload)) == payload


# -- configuration --------------------------------------------------------------


def test_default_configuration_shares_nothing():
    store.reset()
    assert store.configured_store() is None


def test_configured_store_follows_the_settings(settings, tmp_path):
    store.reset()
    settings.DJUST = {"CACHE": {"BACKEND": "filesystem", "LOCATION": str(tmp_path)}}
    first = store.configured_store()
    assert isinstance(first.backend, store.FileSystemBackend)
    assert store.configured_store() is first
    settings.DJUST = {"CACHE": {"BACKEND": "filesystem", "LOCATION": str(tmp_path / "b"),
                                "RETRY_INTERVAL": 1}}
    second = store.configured_store()
    assert second is not first and second.retry_interval == 1
    store.reset()


@pytest.mark.parametrize("cache, message", [
    ({"BACKEND": "memcached"}, "expected"),
    ({"BACKEND": "filesystem"}, "LOCATION"),
    ({"BACKEND": "redis"}, "URL"),
    ({"BACKEND": "memory", "LOCATON": "/x"}, "unknown key"),
])
def test_bad_configuration_is_reported(settings, cache, message):
    store.reset()
    settings.DJUST = {"CACHE": cache}
    with pytest.raises(ImproperlyConfigured, match=message):
        store.configured_store()
    store.reset()


def test_the_module_examples_run():
    import doctest

    store.reset()
    modules = [store, store.entries, store.backends, store.core, store.serializers,
               store.extractions, store.configured]
    results = [doctest.testmod(module, optionflags=doctest.ELLIPSIS) for module in modules]
    assert sum(r.failed for r in results) == 0 and sum(r.attempted for r in results) >= 15
