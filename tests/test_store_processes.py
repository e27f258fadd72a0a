"""``djust_cache`` (stats, clear, warm) and several processes sharing one store."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from djust import store
from djust.management.commands.djust_cache import live_view_templates
from examples.rentals.models import Lease, Unit

ROOT = Path(__file__).resolve().parent.parent

# A worker: configures the filesystem store, says "ready", waits for the
# parent's go (so that both workers warm at the same time), then warms.
WORKER = """
import os, sys
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
django.setup()
from django.core.management import call_command
from django.test.utils import override_settings
with override_settings(DJUST={"CACHE": {"BACKEND": "filesystem", "LOCATION": sys.argv[1]}}):
    print("ready", flush=True)
    sys.stdin.readline()
    call_command("djust_cache", "warm")
"""


@pytest.fixture
def filesystem_store(settings, tmp_path):
    store.reset()
    settings.DJUST = {"CACHE": {"BACKEND": "filesystem", "LOCATION": str(tmp_path)}}
    yield store.configured_store()
    store.reset()


def run(*args) -> str:
    out = io.StringIO()
    call_command("djust_cache", *args, stdout=out)
    return out.getvalue()


def test_live_views_of_the_urlconf_are_found():
    found = {(label.rsplit(".", 1)[-1], name) for label, name, _source in live_view_templates()}
    assert ("Dashboard", "rentals/dashboard.html") in found
    assert all(name for _label, name in found)


def test_warm_stores_every_live_view_template_and_manifest_serializer(filesystem_store):
    filesystem_store.put("m", *store.manifest_record(Unit, ("number",), "json"))
    filesystem_store.put("m", *store.manifest_record(Lease, ("end_date", "tenant.phone"),
                                                     "python"))
    templates = len(live_view_templates())
    output = run("warm")
    assert f"templates: {templates} analysed, 0 already stored" in output
    assert "serializers: 2 compiled, 0 already stored, 0 skipped" in output
    stats = filesystem_store.backend.stats()
    assert stats["serializers"] == 2 and stats["extractions"] == templates
    again = run("warm")
    assert f"templates: 0 analysed, {templates} already stored" in again
    assert "serializers: 0 compiled, 2 already stored" in again


def test_warm_analyses_extra_templates(filesystem_store):
    templates = len(live_view_templates())
    output = run("warm", "--template", "live/included.html")
    assert f"templates: {templates + 1} analysed" in output
    assert filesystem_store.backend.stats()["extractions"] == templates + 1


def test_warm_skips_manifest_records_of_models_that_are_gone(filesystem_store):
    filesystem_store.put("m", *store.manifest_record(Unit, ("number",), "json"))
    filesystem_store.put("m", "ee" * 32, {"model": "rentals.Gone", "paths": ["x"],
                                          "mode": "json"})
    output = run("warm")
    assert "serializers: 1 compiled, 0 already stored, 1 skipped" in output


def test_stats_and_clear(filesystem_store):
    store.compile_shared(filesystem_store, Unit, ("number",), "json")
    stats = run("stats")
    assert "backend: filesystem at" in stats
    assert "serializers: 1" in stats and "manifest: 1" in stats
    assert "removed 2 entries" in run("clear")
    assert "serializers: 0" in run("stats")


def test_warm_needs_a_shared_backend(settings):
    store.reset()
    settings.DJUST = {}
    with pytest.raises(CommandError, match="nothing to warm"):
        run("warm")
    assert "memory (nothing shared" in run("stats")


def start_worker(location: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(location)], cwd=ROOT, env=env, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert worker.stdout.readline().strip() == "ready", worker.stderr.read()
    return worker


def test_two_processes_warming_at_once_leave_whole_entries(tmp_path):
    seed = store.Store(store.FileSystemBackend(tmp_path))
    for paths in [("number",), ("number", "bedrooms"), ("property.name", "number")]:
        seed.put("m", *store.manifest_record(Unit, paths, "json"))
    seed.put("m", *store.manifest_record(Lease, ("tenant.user.email", "end_date"), "json"))
    workers = [start_worker(tmp_path) for _ in range(2)]
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    outputs = [worker.communicate(timeout=120) for worker in workers]
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
        assert "serializers:" in out

    files = [Path(d) / n for d, _s, names in os.walk(tmp_path) for n in names]
    assert files and all(f.suffix == ".entry" for f in files)  # no temporary file left
    reader = store.Store(store.FileSystemBackend(tmp_path))
    for kind in store.KINDS:
        list(reader.entries(kind))
    assert reader.counters["rejected"] == 0
    assert reader.backend.stats()["serializers"] == 4

    third = start_worker(tmp_path)
    out, err = third.communicate("go\n", timeout=120)
    assert third.returncode == 0, err
    assert "templates: 0 analysed" in out and "serializers: 0 compiled, 4 already stored" in out
