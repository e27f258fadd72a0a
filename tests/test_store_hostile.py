"""The store's backends on a shared or hostile directory or cache (issue #18, items 6-7).

The filesystem backend follows no link below ``LOCATION``, reads only
regular files of bounded size without blocking, removes only the files it
names itself, creates ``LOCATION`` owner-only and refuses one that others
can write or that another user owns. The Django-cache backend stores and
accepts only bytes.
"""

from __future__ import annotations

import os
import stat
import threading

import pytest
from django.core.exceptions import ImproperlyConfigured

from djust import store
from djust.store.backends import UnsafeStoreDirectory

KEY = "ab" + "0" * 62
ENTRY = f"x:{KEY}"


def entry_path(location) -> str:
    return os.path.join(location, f"v{store.ENTRY_FORMAT}", "x", KEY[:2], KEY + ".entry")


@pytest.fixture
def victim(tmp_path):
    """A directory of files a planted link points to: they must survive."""
    directory = tmp_path / "victim"
    directory.mkdir()
    for name in (KEY + ".entry", "precious.txt", ".tmp-abcdef12"):
        (directory / name).write_bytes(b"keep me")
    return directory


def victim_intact(victim) -> bool:
    return sorted(p.name for p in victim.iterdir()) == sorted(
        [KEY + ".entry", "precious.txt", ".tmp-abcdef12"]) and all(
        p.read_bytes() == b"keep me" for p in victim.iterdir())


@pytest.mark.parametrize("linked", ["root", "kind", "shard"])
def test_clear_does_not_follow_a_linked_directory(tmp_path, victim, linked):
    location = tmp_path / "store"
    backend = store.FileSystemBackend(location)
    backend.set(f"s:{KEY}", b"mine")
    root = location / f"v{store.ENTRY_FORMAT}"
    link = {"root": root, "kind": root / "x", "shard": root / "x" / KEY[:2]}[linked]
    if linked == "root":
        root.rename(tmp_path / "old-root")
    elif link.exists():
        link.rmdir()
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(victim, target_is_directory=True)
    backend.clear()
    assert victim_intact(victim)
    assert link.is_symlink()
    assert backend.get(ENTRY) is None  # a miss, not the victim's file
    assert dict(backend.scan("x")) == {}
    backend.set(ENTRY, b"mine")  # the link is replaced by a real directory
    assert not link.is_symlink() and victim_intact(victim)
    assert backend.get(ENTRY) == b"mine"


def test_clear_does_not_follow_a_linked_file_and_leaves_foreign_files(tmp_path, victim):
    location = tmp_path / "store"
    backend = store.FileSystemBackend(location)
    backend.set(ENTRY, b"mine")
    backend.set(f"x:{'cd' + '1' * 62}", b"mine too")
    shard = location / f"v{store.ENTRY_FORMAT}" / "x" / KEY[:2]
    planted = shard / ("ab" + "2" * 62 + ".entry")
    planted.symlink_to(victim / "precious.txt")
    (shard / "notes.txt").write_bytes(b"not the store's")
    assert backend.clear() == 2
    assert victim_intact(victim)
    assert planted.is_symlink() and (shard / "notes.txt").exists()
    assert backend.get(ENTRY) is None


def test_stats_and_scan_skip_what_the_store_did_not_write(tmp_path, victim):
    backend = store.FileSystemBackend(tmp_path / "store")
    backend.set(ENTRY, b"mine")
    shard = tmp_path / "store" / f"v{store.ENTRY_FORMAT}" / "x" / KEY[:2]
    (shard / ("ab" + "3" * 62 + ".entry")).symlink_to(victim / "precious.txt")
    os.mkfifo(shard / ("ab" + "4" * 62 + ".entry"))
    assert dict(backend.scan("x")) == {ENTRY: b"mine"}
    assert backend.stats()["extractions"] == 1


def test_a_fifo_in_place_of_an_entry_is_a_miss_not_a_hang(tmp_path):
    backend = store.FileSystemBackend(tmp_path / "store")
    backend.set(ENTRY, b"mine")
    path = entry_path(tmp_path / "store")
    os.unlink(path)
    os.mkfifo(path)
    results: list = []
    reader = threading.Thread(target=lambda: results.append(backend.get(ENTRY)), daemon=True)
    reader.start()
    reader.join(timeout=1.0)
    if reader.is_alive():  # unblock the reader before failing
        with open(path, "wb"):
            pass
        reader.join()
        pytest.fail("reading a FIFO blocked")
    assert results == [None]
    backend.set(ENTRY, b"rewritten")  # replaces the FIFO itself
    assert backend.get(ENTRY) == b"rewritten"
    assert stat.S_ISREG(os.lstat(path).st_mode)


def test_a_link_to_dev_zero_is_refused(tmp_path):
    backend = store.FileSystemBackend(tmp_path / "store")
    backend.set(ENTRY, b"mine")
    path = entry_path(tmp_path / "store")
    os.unlink(path)
    os.symlink("/dev/zero", path)
    assert backend.get(ENTRY) is None
    shared = store.Store(backend)
    assert shared.get("x", KEY) is None and shared.counters["errors"] == 0


def test_an_oversized_entry_is_refused(tmp_path, monkeypatch):
    backend = store.FileSystemBackend(tmp_path / "store")
    monkeypatch.setattr(backend, "MAX_ENTRY_BYTES", 16)
    backend.set(ENTRY, b"x" * 16)
    assert backend.get(ENTRY) == b"x" * 16
    backend.set(ENTRY, b"x" * 17)
    assert backend.get(ENTRY) is None
    assert dict(backend.scan("x")) == {}


def test_the_directory_is_created_owner_only(tmp_path):
    location = tmp_path / "new" / "store"
    backend = store.FileSystemBackend(location)
    backend.set(ENTRY, b"mine")
    for directory in (location, location / f"v{store.ENTRY_FORMAT}",
                      location / f"v{store.ENTRY_FORMAT}" / "x",
                      location / f"v{store.ENTRY_FORMAT}" / "x" / KEY[:2]):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert stat.S_IMODE(os.stat(entry_path(location)).st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o770])
def test_a_directory_others_can_write_is_refused(tmp_path, mode):
    location = tmp_path / "shared"
    location.mkdir()
    location.chmod(mode)
    with pytest.raises(ImproperlyConfigured, match=rf"{location}.*written by group or others"):
        store.FileSystemBackend(location)


def test_a_directory_made_unsafe_later_is_a_logged_store_failure(tmp_path, caplog):
    location = tmp_path / "store"
    backend = store.FileSystemBackend(location)
    backend.set(ENTRY, b"mine")
    location.chmod(0o777)
    with pytest.raises(UnsafeStoreDirectory):
        backend.get(ENTRY)
    shared = store.Store(backend)
    assert shared.get("x", KEY) is None and shared.counters["errors"] == 1
    assert any("written by group or others" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a directory to another user")
def test_a_directory_another_user_owns_is_refused(tmp_path):
    location = tmp_path / "theirs"
    location.mkdir(mode=0o700)
    os.chown(location, 12345, -1)
    with pytest.raises(ImproperlyConfigured, match=rf"{location} is owned by uid 12345"):
        store.FileSystemBackend(location)


def test_clear_command_reports_an_unsafe_directory(tmp_path, settings):
    from django.core.management import CommandError, call_command

    location = tmp_path / "store"
    settings.DJUST = {"CACHE": {"BACKEND": "filesystem", "LOCATION": str(location)}}
    store.FileSystemBackend(location).set(ENTRY, b"mine")
    store.configured_store()
    location.chmod(0o777)
    with pytest.raises(CommandError, match="written by group or others"):
        call_command("djust_cache", "clear")
    assert os.path.exists(entry_path(location))


def test_djust_cache_refuses_an_unsafe_directory_with_a_command_error(tmp_path, settings):
    from django.core.management import CommandError, call_command

    location = tmp_path / "shared"
    location.mkdir(mode=0o700)
    (location / "precious.txt").write_bytes(b"keep me")
    location.chmod(0o777)
    settings.DJUST = {"CACHE": {"BACKEND": "filesystem", "LOCATION": str(location)}}
    for action in ("stats", "clear"):
        with pytest.raises(CommandError, match=rf"{location} can be written by group or others"):
            call_command("djust_cache", action)
    assert (location / "precious.txt").read_bytes() == b"keep me"


# -- the Django-cache backend ----------------------------------------------------


@pytest.fixture
def cache_backend(settings, tmp_path):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": f"djust-hostile-{id(tmp_path)}"}}
    return store.DjangoCacheBackend("default", prefix="djust-test", ttl=60)


@pytest.mark.parametrize("planted", ["a string", {"a": "dict"}, 42, bytearray(b"x")])
def test_django_cache_reads_only_bytes(cache_backend, planted):
    cache_backend.set(ENTRY, b"mine")
    cache_backend.cache.set(cache_backend.prefix + ENTRY, planted)
    assert cache_backend.get(ENTRY) is None
    assert dict(cache_backend.scan("x")) == {}
    assert cache_backend.stats()["extractions"] == 0
    assert store.Store(cache_backend).get("x", KEY) is None


def test_django_cache_stores_only_bytes(cache_backend):
    with pytest.raises(store.StoreError, match="only bytes"):
        cache_backend.set(ENTRY, "not bytes")  # type: ignore[arg-type]
    cache_backend.set(ENTRY, b"mine")
    assert isinstance(cache_backend.cache.get(cache_backend.index_key), bytes)
    assert cache_backend.get(ENTRY) == b"mine"


def test_django_cache_ignores_an_index_that_is_not_bytes(cache_backend):
    cache_backend.set(ENTRY, b"mine")
    cache_backend.cache.set(cache_backend.index_key, [ENTRY])
    assert dict(cache_backend.scan("x")) == {}
    assert cache_backend.get(ENTRY) == b"mine"
