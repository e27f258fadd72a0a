"""Generated sources leave ``linecache`` with their serializer (issue #18, item 11)."""

from __future__ import annotations

import linecache
import traceback

import pytest

from djust.compiler import cache as cache_module
from djust.compiler.cache import LRUCache, default_cache
from djust.compiler.serializer import compile_serializer, projection_of, release_sources
from examples.rentals.models import Lease, Unit

SIZE = 4
# Fields of Unit to combine into many distinct path lists.
FIELDS = ["number", "bedrooms", "square_feet", "is_available", "property.name",
          "property.city"]


def _path_lists(count: int):
    for index in range(1, count + 1):
        yield [field for bit, field in enumerate(FIELDS) if index >> bit & 1]


def _djust_sources() -> set[str]:
    return {name for name in linecache.cache if name.startswith("<djust serializer")}


@pytest.fixture
def small_cache(settings, monkeypatch):
    """The process-wide serializer cache, empty and bounded to SIZE entries."""
    original = cache_module._DEFAULT
    monkeypatch.setattr(cache_module, "_DEFAULT", None)
    settings.DJUST = {"SERIALIZER_CACHE_SIZE": SIZE}
    cache = default_cache()
    yield cache
    cache.clear()
    if original is not None:
        # Serializers it holds may share a filename with ones released here:
        # later tests compile them again, sources registered.
        original.clear()


def test_evicted_serializers_leave_linecache(small_cache):
    before = _djust_sources()
    compiled = [compile_serializer(Unit, paths) for paths in _path_lists(40)]
    for serializer in compiled[-SIZE:]:
        projection_of(serializer)  # their projection functions register sources too
    assert len(small_cache) == SIZE
    assert small_cache.compilations == 40
    added = _djust_sources() - before
    # At most the function and the projection of each cached serializer.
    assert len(added) <= 2 * SIZE
    assert {s.filename for s in compiled[:-SIZE]}.isdisjoint(_djust_sources())
    for serializer in compiled[-SIZE:]:
        assert "".join(linecache.getlines(serializer.filename)) == serializer.source
        assert linecache.getlines(serializer.filename[:-1] + " rows>")


def test_a_live_serializer_traceback_shows_its_source(small_cache):
    for paths in _path_lists(10):
        compile_serializer(Unit, paths)
    live = compile_serializer(Lease, ["tenant.phone", "end_date"])
    try:
        live(object())  # no such attributes: fails inside the generated code
    except Exception as exc:
        frames = traceback.extract_tb(exc.__traceback__)
    generated = [frame for frame in frames if frame.filename == live.filename]
    assert generated and generated[-1].line


def test_clear_releases_every_source(small_cache):
    compiled = [compile_serializer(Unit, paths) for paths in _path_lists(3)]
    assert all(s.filename in linecache.cache for s in compiled)
    small_cache.clear()
    assert not any(s.filename in linecache.cache for s in compiled)


def test_a_source_registered_since_under_the_same_name_stays():
    cache = LRUCache(maxsize=1, on_evict=release_sources)
    first = cache.get_or_compile("a", lambda: compile_serializer_uncached(["number"]))
    second = cache.get_or_compile("b", lambda: compile_serializer_uncached(["number"]))
    assert first.filename == second.filename and first is not second
    # ``first`` left; the same filename is ``second``'s, which stays readable.
    assert "".join(linecache.getlines(second.filename)) == second.source
    cache.clear()
    assert second.filename not in linecache.cache


def test_a_live_serializer_under_the_same_name_keeps_its_source():
    cache = LRUCache(maxsize=2, on_evict=release_sources)
    first = cache.get_or_compile("a", lambda: compile_serializer_uncached(["bedrooms"]))
    second = cache.get_or_compile("b", lambda: compile_serializer_uncached(["bedrooms"]))
    assert first.filename == second.filename
    cache.get("a")  # ``second`` is now the least recently used
    cache.get_or_compile("c", lambda: compile_serializer_uncached(["square_feet"]))
    # ``second``'s source left with it; ``first``, still cached, has its own again.
    assert linecache.cache[first.filename] is first.linecache_entry
    cache.clear()
    assert first.filename not in linecache.cache


def compile_serializer_uncached(paths):
    from djust.compiler.serializer import build_serializer
    from djust.compiler.tree import build_access_tree

    return build_serializer(Unit, build_access_tree(Unit, tuple(paths)), tuple(paths), "json")
