"""The compiler's one cache design, and the schema fingerprint.

``LRUCache`` is a bounded, thread-safe LRU with single compilation per
key: two threads asking for the same missing key compile once, the first
compiles and the others wait for its result (or its exception, which is
not cached). A caller may pass a validity check with each request: an
entry that fails it is dropped and compiled again (extraction's cache
checks that the templates a result followed are unchanged). Both of the
compiler's in-process caches are one: compiled serializers
(``default_cache()``) and analysed templates (``extraction``).

Serializer keys are ``(model, schema fingerprint, normalized paths, mode,
sensitive settings, djust version)``. The fingerprint covers every field's
name, class, options that change the tree (null, primary key, choices,
attname) and relation (kind, related model, related name), plus the
model's ``djust_sensitive_fields``; Django recomputes
``_meta.get_fields()`` when a field or relation is registered, and the
fingerprint is recomputed then.

Deriving a full key costs more than the lookup itself, so callers can also
record an *alias* (the request as they received it) with a *stamp* (what
the key was derived from): ``lookup(alias, stamp)`` finds the entry
without deriving the key again, as long as the stamp is unchanged. An alias
only names a key; the entry itself stays subject to the LRU.

    >>> cache = LRUCache(maxsize=2)
    >>> cache.get_or_compile(("k",), lambda: "compiled")
    'compiled'
    >>> cache.get_or_compile(("k",), lambda: "again"), len(cache)
    ('compiled', 1)
    >>> cache.get_or_compile(("k",), lambda: "again", valid=lambda value: False)
    'again'
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable

logger = logging.getLogger("djust.cache")

_FINGERPRINTS: dict[type, tuple[object, tuple, str]] = {}
_FINGERPRINTS_LOCK = threading.Lock()


def schema_fingerprint(model: type) -> str:
    """A short, deterministic digest of ``model``'s schema.

        >>> from examples.rentals.models import Lease
        >>> len(schema_fingerprint(Lease)), schema_fingerprint(Lease) == schema_fingerprint(Lease)
        (16, True)
    """
    fields = model._meta.get_fields(include_hidden=True)
    sensitive = tuple(getattr(model, "djust_sensitive_fields", ()) or ())
    memo = _FINGERPRINTS.get(model)
    if memo is not None and memo[0] is fields and memo[1] == sensitive:
        return memo[2]
    digest = _digest(model, fields, sensitive)
    with _FINGERPRINTS_LOCK:
        _FINGERPRINTS[model] = (fields, sensitive, digest)
    return digest


def _digest(model: type, fields, sensitive) -> str:
    parts = [model._meta.label, repr(sensitive)]
    for field in sorted(fields, key=lambda f: (f.name, type(f).__qualname__)):
        related = getattr(field, "related_model", None)
        parts.append(repr((
            field.name,
            f"{type(field).__module__}.{type(field).__qualname__}",
            getattr(field, "attname", None),
            bool(getattr(field, "null", False)),
            bool(getattr(field, "primary_key", False)),
            repr(getattr(field, "choices", None)),
            field.is_relation,
            bool(field.many_to_many), bool(field.one_to_many),
            bool(field.one_to_one), bool(field.many_to_one),
            related._meta.label if isinstance(related, type) else repr(related),
            getattr(getattr(field, "remote_field", None), "related_name", None),
        )))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


class LRUCache:
    """LRU cache with per-key single compilation and optional validity checks.

    ``maxsize`` is a number, or a function read at each use (a size that
    follows settings); at most that many entries are kept, none at 0.

    ``on_evict(value, live)``, when given, is called for each value that
    leaves the cache (evicted, replaced, dropped as invalid, cleared), with
    the lock held and ``live`` the values still cached: it releases what the
    value holds elsewhere (a serializer's source in ``linecache``) and must
    not call the cache. The hit path never calls it.
    """

    def __init__(self, maxsize: int | Callable[[], int], *,
                 on_evict: Callable[[object, Iterable[object]], None] | None = None):
        self._maxsize = maxsize
        self._on_evict = on_evict
        self._entries: OrderedDict[Hashable, object] = OrderedDict()
        self._pending: dict[Hashable, _Pending] = {}
        # alias -> (stamp, key); read without the lock (one dict lookup is atomic).
        self._aliases: dict[Hashable, tuple[Hashable, Hashable]] = {}
        self._lock = threading.Lock()
        self.compilations = 0

    @property
    def maxsize(self) -> int:
        """How many entries are kept now."""
        size = self._maxsize
        return size() if callable(size) else size

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every entry and alias.

            >>> cache = LRUCache(maxsize=2)
            >>> cache.get_or_compile("k", lambda: 1); cache.clear(); len(cache)
            1
            0
        """
        with self._lock:
            values = list(self._entries.values())
            self._entries.clear()
            self._aliases.clear()
            self._evicted(values)

    def lookup(self, alias: Hashable, stamp: Hashable):
        """The cached value ``alias`` was remembered for with this ``stamp``,
        or None (a new stamp, an unknown alias, an evicted entry).

            >>> cache = LRUCache(maxsize=2)
            >>> cache.remember("as given", "v1", ("key",))
            >>> cache.get_or_compile(("key",), lambda: "compiled")
            'compiled'
            >>> cache.lookup("as given", "v1"), cache.lookup("as given", "v2")
            ('compiled', None)
        """
        entry = self._aliases.get(alias)
        if entry is None or entry[0] != stamp:
            return None
        # Not through get(): on the cache-hit path each call is a tenth of the lookup.
        with self._lock:
            return self._hit(entry[1])

    def remember(self, alias: Hashable, stamp: Hashable, key: Hashable) -> None:
        """Let ``lookup(alias, stamp)`` find the entry of ``key``."""
        with self._lock:
            # Aliases are shortcuts: when callers spell requests in too many
            # ways, forgetting them all is cheaper than tracking their age.
            if len(self._aliases) >= 2 * max(self.maxsize, 1) and alias not in self._aliases:
                self._aliases.clear()
            self._aliases[alias] = (stamp, key)

    def get(self, key: Hashable):
        """The cached value for ``key`` or None (refreshes its recency).

            >>> LRUCache(maxsize=2).get("absent") is None
            True
        """
        with self._lock:
            return self._hit(key)

    def _hit(self, key: Hashable):
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def get_or_compile(self, key: Hashable, compile_: Callable[[], object], *,
                       valid: Callable[[object], bool] | None = None):
        """The value for ``key``, running ``compile_`` once if it is missing.

        ``valid(value)``, when given, is asked about a cached value outside
        the lock (it may read files); a value it refuses is dropped and
        compiled again.
        """
        size = self.maxsize
        if valid is not None and size > 0:
            value = self.get(key)
            if value is not None:
                if valid(value):
                    return value
                self._drop(key, value)
        with self._lock:
            # At size 0 nothing is reused, even what a larger size kept.
            value = self._hit(key) if size > 0 else None
            if value is not None:
                return value
            pending = self._pending.get(key)
            owner = pending is None
            if owner:
                pending = self._pending[key] = _Pending()
        if not owner:
            return pending.wait()
        try:
            value = compile_()
        except BaseException as error:
            with self._lock:
                del self._pending[key]
            pending.fail(error)
            raise
        self._keep(key, value, size)
        pending.succeed(value)
        return value

    def _keep(self, key: Hashable, value, size: int) -> None:
        with self._lock:
            self.compilations += 1
            replaced = self._entries.get(key)
            evicted = [replaced] if replaced is not None and replaced is not value else []
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > max(size, 0):
                old_key, old_value = self._entries.popitem(last=False)
                logger.debug("evicted %r", old_key)
                evicted.append(old_value)
            del self._pending[key]
            self._evicted(evicted)

    def _drop(self, key: Hashable, value) -> None:
        with self._lock:
            # Another thread may have stored a fresh value meanwhile: keep it.
            if self._entries.get(key) is value:
                del self._entries[key]
                self._evicted([value])

    def _evicted(self, values: list) -> None:
        # Called with the lock held, after the entries changed.
        if self._on_evict is None or not values:
            return
        live = self._entries.values()
        for value in values:
            try:
                self._on_evict(value, live)
            except Exception:  # releasing is best effort: the cache stays consistent
                logger.exception("on_evict failed for %r", value)


class _Pending:
    """The result of a compilation other threads wait for."""

    def __init__(self):
        self._done = threading.Event()
        self._value = None
        self._error: BaseException | None = None

    def succeed(self, value) -> None:
        self._value = value
        self._done.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._done.set()

    def wait(self):
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


_DEFAULT: LRUCache | None = None
_DEFAULT_LOCK = threading.Lock()


def default_cache() -> LRUCache:
    """The process-wide cache of compiled serializers, sized by
    ``DJUST["SERIALIZER_CACHE_SIZE"]`` (read at each compilation, so
    ``override_settings`` reaches it). A serializer leaving it takes its
    generated source (and its projection's) out of ``linecache``: the cache
    calls its ``release_sources`` (``serializer.release_sources``).

        >>> default_cache() is default_cache()
        True
    """
    global _DEFAULT
    if _DEFAULT is None:
        from djust import conf

        with _DEFAULT_LOCK:
            if _DEFAULT is None:
                _DEFAULT = LRUCache(lambda: conf.get("SERIALIZER_CACHE_SIZE"),
                                    on_evict=_release_sources)
    return _DEFAULT


def _release_sources(value, live) -> None:
    # The serializer knows its sources; the cache stays below the stages.
    release = getattr(value, "release_sources", None)
    if release is not None:
        release(live)
