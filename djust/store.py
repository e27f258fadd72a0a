"""The shared store: analysed templates and generated serializers, across processes.

Every worker analyses the same templates and compiles the same serializers.
This module lets them share that work through a backend chosen in settings,
and makes sure nothing stale or tampered is ever used:

    DJUST = {"CACHE": {"BACKEND": "filesystem", "LOCATION": BASE_DIR / "djust-store"}}
    DJUST = {"CACHE": {"BACKEND": "redis", "URL": "redis://127.0.0.1:6379/0",
                       "TIMEOUT": 0.05}}
    DJUST = {"CACHE": {"BACKEND": "django", "ALIAS": "default"}}

``"memory"`` (the default) shares nothing: the in-process caches
(``djust.compiler.extraction`` and ``djust.compiler.cache``) are the only
layer. They always sit in front of a shared backend, so a process asks the
backend at most once per template or serializer.

**Interface.** A backend is a small object with ``get``, ``set``,
``delete``, ``clear``, ``scan`` (the entries of one kind), ``stats`` and
``close``;
values are bytes. ``MemoryBackend``, ``FileSystemBackend``,
``RedisBackend`` and ``DjangoCacheBackend`` implement it. ``Store`` wraps one
backend with signing, versioning and fault handling; ``configured_store()``
is the one the settings describe (None for ``"memory"``).

**What is stored.** Never a pickle or a code object, only analysed
artefacts as JSON:

- an extraction (kind ``x``): the paths per context name, the unanalysed tag
  records, the template names, and the templates it followed (includes and
  parents) with the SHA-256 of their content;
- a serializer (kind ``s``): model label, normalized paths, mode, the
  generated source and the runtime helpers it uses, the access tree's dump
  and the query plan as plain data (with the schema and code digests of
  every model it mentions). Loading one compiles the source and runs
  ``emit.verify`` (the bytecode check every fresh compilation passes) before
  the function exists; the access tree is rebuilt from the live models (it
  is cheap) and must dump exactly as stored; the plan is read back only
  while the models it mentions are unchanged (else the entry is rebuilt);
- a manifest record (kind ``m``): a serializer some worker compiled (model
  label, paths, mode), so ``djust_cache warm`` can compile it ahead of
  traffic in a fresh deployment.

**Entries** are ``django.core.signing`` objects (SECRET_KEY and its
fallbacks, salt ``djust.store``, compressed JSON) holding a header — entry
format, djust, Python (``sys.version_info[:2]``) and Django versions, kind
and key — and the payload. Signing covers the key, so a valid entry copied
under another key is refused. A bad signature, a truncated or corrupt value,
another version or a payload that does not match what was asked is
ignored, logged once per key and reason, and rebuilt (the rebuilt entry
overwrites it). Nothing from the store is executed before it passes both
the signature and the bytecode check.

**Keys** are full SHA-256 hex digests of:

- extraction: how the template is found (by name or from source), its name,
  the SHA-256 of its own source, the engine's tag and filter libraries and
  the versions. The templates it followed (parents and includes, after
  extends/include resolution) are recorded with the SHA-256 of their
  content and checked on every load, each loaded through the engine as
  Django would: an edit of the page itself gives a new key, an edit
  anywhere else in the chain makes the entry stale, so it is walked again
  and overwritten. Either way an edited template takes effect on the next
  request (in DEBUG, where loaders see edits at once). The digest of the
  whole chain is stored as ``chain``;
- serializer: model label, normalized paths, mode, the sensitive-field
  settings, the versions and, for every model the access tree reaches, the
  schema fingerprint (``cache.schema_fingerprint``: fields, their classes,
  options that change output, relations) and ``class_code_digest`` (the
  code of the model class's own functions: the ``__str__``, properties and
  methods used), plus the digest of the tree's dump. Models that only the
  query plan mentions are checked on load the same way. A serializer is
  keyed by its paths, not by the template they came from: the paths are a
  function of the template chain and the context name, so a template edit
  that changes what is read changes the key, and two templates reading the
  same paths share one serializer.

**Faults.** Every backend call is guarded. An error or a timeout (Redis
down or slower than ``TIMEOUT``, a full or read-only disk) makes the store
skip that direction (reads or writes) for ``RETRY_INTERVAL`` seconds and
log a warning at most once per ``WARN_INTERVAL``; the caller compiles
locally and serves. After the interval the next call tries again, so the
store recovers by itself when Redis comes back. Writes on disk go to a
temporary file in the same directory and ``os.replace`` it, so readers see
a whole entry or none, whichever thread or process wins.

    >>> store = Store(MemoryBackend())
    >>> store.put("x", "0" * 64, {"paths": {}})
    True
    >>> store.get("x", "0" * 64)
    {'paths': {}}
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import django
from django.core import signing
from django.core.exceptions import ImproperlyConfigured

import djust

logger = logging.getLogger("djust.store")

# Bumped whenever an entry's layout changes: older entries are then ignored.
# 2: serializers read the list prefetches of Serializer.many().
# 3: serializers carry constants (get_FOO_display tables, model classes).
ENTRY_FORMAT = 3
SALT = "djust.store"
KINDS = ("x", "s", "m")  # extraction, serializer, manifest record
KIND_NAMES = {"x": "extractions", "s": "serializers", "m": "manifest"}

DEFAULT_CONFIG: dict[str, Any] = {
    # "memory" (share nothing), "filesystem", "redis" or "django".
    "BACKEND": "memory",
    # filesystem: the directory entries live in (created when missing).
    "LOCATION": None,
    # redis: the server's URL.
    "URL": None,
    # django: the cache alias.
    "ALIAS": "default",
    # redis: connect and socket timeout in seconds; slower counts as down.
    "TIMEOUT": 0.05,
    # redis and django: seconds an entry lives (None: until evicted).
    "TTL": 7 * 24 * 3600,
    # Keys are prefixed with this (redis, django) to share a server safely.
    "KEY_PREFIX": "djust",
    # After a failure, seconds during which that direction is not tried.
    "RETRY_INTERVAL": 5.0,
    # At most one warning per backend and direction in this many seconds.
    "WARN_INTERVAL": 60.0,
}


class StoreError(Exception):
    """A backend could not do what was asked (down, slow, disk full...)."""


class EntryRejected(Exception):
    """An entry failed verification; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------
# Versions, keys, entries


def version_header() -> dict[str, Any]:
    """What an entry must have been written by to be used here.

        >>> version_header()["format"] == ENTRY_FORMAT
        True
    """
    return {
        "format": ENTRY_FORMAT,
        "djust": djust.__version__,
        "python": list(sys.version_info[:2]),
        # VERSION, not get_version(): a development checkout runs git for the latter.
        "django": ".".join(str(part) for part in django.VERSION),
    }


def content_key(kind: str, parts: list) -> str:
    """The full SHA-256 of ``parts`` (JSON) and the versions: an entry's key.

        >>> len(content_key("s", ["rentals.Lease", "tenant.phone"]))
        64
    """
    text = json.dumps([kind, version_header(), parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT)


def encode_entry(kind: str, key: str, payload: dict) -> bytes:
    """Sign ``payload`` with its header; the bytes a backend stores.

        >>> blob = encode_entry("x", "0" * 64, {"a": 1})
        >>> decode_entry("x", "0" * 64, blob)
        {'a': 1}
    """
    header = dict(version_header(), kind=kind, key=key)
    signed = _signer().sign_object({"h": header, "p": payload}, compress=True)
    return signed.encode("ascii")


def decode_entry(kind: str, key: str, blob: bytes) -> dict:
    """The payload of a stored entry; ``EntryRejected`` when it must not be used."""
    try:
        text = blob.decode("ascii")
        entry = _signer().unsign_object(text)
    except signing.BadSignature as exc:
        raise EntryRejected("bad signature (tampered, truncated or another SECRET_KEY)") \
            from exc
    except (UnicodeDecodeError, ValueError, TypeError) as exc:
        raise EntryRejected(f"corrupt entry ({type(exc).__name__})") from exc
    if not isinstance(entry, dict) or not isinstance(entry.get("p"), dict):
        raise EntryRejected("corrupt entry (no payload)")
    header = entry.get("h")
    if header != dict(version_header(), kind=kind, key=key):
        raise EntryRejected(f"written by another version or for another key: {header!r}")
    return entry["p"]


# --------------------------------------------------------------------------
# Backends


class MemoryBackend:
    """A dict in this process: for tests, and to try the store without I/O."""

    name = "memory"

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        return self._data.get(key)

    def set(self, key: str, value: bytes) -> None:
        with self._lock:
            self._data[key] = value

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> int:
        with self._lock:
            count = len(self._data)
            self._data.clear()
        return count

    def scan(self, kind: str) -> Iterator[tuple[str, bytes]]:
        prefix = f"{kind}:"
        yield from [(k, v) for k, v in list(self._data.items()) if k.startswith(prefix)]

    def stats(self) -> dict[str, Any]:
        return _count_by_kind((k, len(v)) for k, v in list(self._data.items()))

    def describe(self) -> str:
        return "memory (this process only)"

    def close(self) -> None:
        """Release connections (nothing to release here)."""


class FileSystemBackend:
    """One file per entry under ``LOCATION/v<format>/<kind>/<ab>/<digest>``.

    Writes are atomic: a temporary file in the target directory, then
    ``os.replace``. Readers see the old entry or the new one, never half.
    """

    name = "filesystem"
    SUFFIX = ".entry"

    def __init__(self, location: str | os.PathLike) -> None:
        if not location:
            raise ImproperlyConfigured(
                'DJUST["CACHE"]["LOCATION"] must name a directory for the filesystem backend')
        self.root = os.path.join(os.fspath(location), f"v{ENTRY_FORMAT}")

    def path(self, key: str) -> str:
        kind, _, digest = key.partition(":")
        return os.path.join(self.root, kind, digest[:2], digest + self.SUFFIX)

    def get(self, key: str) -> bytes | None:
        try:
            with open(self.path(key), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read {self.path(key)}: {exc}") from exc

    def set(self, key: str, value: bytes) -> None:
        target = self.path(key)
        directory = os.path.dirname(target)
        try:
            os.makedirs(directory, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        except OSError as exc:
            raise StoreError(f"cannot write under {directory}: {exc}") from exc
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(value)
            os.replace(temporary, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise StoreError(f"cannot write {target}: {exc}") from exc

    def delete(self, key: str) -> None:
        try:
            os.unlink(self.path(key))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StoreError(f"cannot delete {self.path(key)}: {exc}") from exc

    def _files(self, kind: str | None = None) -> Iterator[tuple[str, str]]:
        """``(key, path)`` of every entry (and leftover temporary file)."""
        kinds = [kind] if kind else KINDS
        for each in kinds:
            top = os.path.join(self.root, each)
            if not os.path.isdir(top):
                continue
            for shard in sorted(os.listdir(top)):
                shard_dir = os.path.join(top, shard)
                if not os.path.isdir(shard_dir):
                    continue
                for filename in sorted(os.listdir(shard_dir)):
                    digest = filename.removesuffix(self.SUFFIX)
                    yield f"{each}:{digest}", os.path.join(shard_dir, filename)

    def clear(self) -> int:
        count = 0
        try:
            for key, path in list(self._files()):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                    count += not key.rpartition(":")[2].startswith(".tmp-")
        except OSError as exc:
            raise StoreError(f"cannot clear {self.root}: {exc}") from exc
        return count

    def scan(self, kind: str) -> Iterator[tuple[str, bytes]]:
        for key, path in list(self._files(kind)):
            if not path.endswith(self.SUFFIX):
                continue
            with contextlib.suppress(FileNotFoundError), open(path, "rb") as handle:
                yield key, handle.read()

    def stats(self) -> dict[str, Any]:
        sizes = []
        for key, path in self._files():
            if path.endswith(self.SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    sizes.append((key, os.path.getsize(path)))
        return _count_by_kind(sizes)

    def describe(self) -> str:
        return f"filesystem at {self.root}"

    def close(self) -> None:
        """Release connections (nothing to release here)."""


class RedisBackend:
    """Redis through redis-py (imported only when this backend is used).

    Connect and socket timeouts are ``TIMEOUT``; redis-py retries only a
    broken connection, once, because the store's fault handling decides
    when to try again.
    """

    name = "redis"

    def __init__(self, url: str, *, timeout: float, prefix: str, ttl: int | None) -> None:
        if not url:
            raise ImproperlyConfigured('DJUST["CACHE"]["URL"] must be set for the redis backend')
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError as exc:
            raise ImproperlyConfigured(
                "the redis backend needs redis-py: pip install 'djust[redis]'") from exc
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self.url = url
        self.prefix = f"{prefix}:v{ENTRY_FORMAT}:"
        self.ttl = ttl
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout,
            # One immediate retry on a broken connection (a server restart
            # leaves dead sockets in the pool); none on a timeout.
            retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
            health_check_interval=0,
        )

    def _call(self, operation: Callable[[], Any]) -> Any:
        try:
            return operation()
        except self._errors as exc:
            raise StoreError(f"redis at {self.url}: {type(exc).__name__}: {exc}") from exc

    def get(self, key: str) -> bytes | None:
        return self._call(lambda: self.client.get(self.prefix + key))

    def set(self, key: str, value: bytes) -> None:
        self._call(lambda: self.client.set(self.prefix + key, value, ex=self.ttl))

    def delete(self, key: str) -> None:
        self._call(lambda: self.client.delete(self.prefix + key))

    def _keys(self, kind: str | None = None) -> list[bytes]:
        pattern = f"{self.prefix}{kind}:*" if kind else f"{self.prefix}*"
        return self._call(lambda: list(self.client.scan_iter(match=pattern, count=500)))

    def clear(self) -> int:
        keys = self._keys()
        for start in range(0, len(keys), 500):
            self._call(lambda chunk=keys[start:start + 500]: self.client.delete(*chunk))
        return len(keys)

    def scan(self, kind: str) -> Iterator[tuple[str, bytes]]:
        keys = self._keys(kind)
        values = self._call(lambda: self.client.mget(keys)) if keys else []
        for raw, value in zip(keys, values, strict=True):
            if value is not None:
                yield raw.decode()[len(self.prefix):], value

    def stats(self) -> dict[str, Any]:
        keys = self._keys()
        sizes = []
        for raw in keys:
            length = self._call(lambda raw=raw: self.client.strlen(raw))
            sizes.append((raw.decode()[len(self.prefix):], length))
        return _count_by_kind(sizes)

    def describe(self) -> str:
        return f"redis at {self.url}"

    def close(self) -> None:
        """Close the pooled connections (a later call reconnects)."""
        with contextlib.suppress(*self._errors):
            self.client.close()


class DjangoCacheBackend:
    """One of the project's Django caches (``CACHES[ALIAS]``).

    Django's cache API cannot list keys, so the store keeps an index of the
    keys it wrote (one cache entry, updated read-modify-write: a lost update
    only means ``clear``/``stats``/``warm`` miss that key until it is
    written again).
    """

    name = "django"

    def __init__(self, alias: str, *, prefix: str, ttl: int | None) -> None:
        from django.core.cache import caches

        self.alias = alias
        self.cache = caches[alias]
        self.prefix = f"{prefix}:v{ENTRY_FORMAT}:"
        self.index_key = self.prefix + "index"
        self.ttl = ttl

    def _call(self, operation: Callable[[], Any]) -> Any:
        try:
            return operation()
        except Exception as exc:  # each cache backend raises its own errors
            raise StoreError(f"cache {self.alias!r}: {type(exc).__name__}: {exc}") from exc

    def _index(self) -> set[str]:
        return set(self._call(lambda: self.cache.get(self.index_key)) or ())

    def get(self, key: str) -> bytes | None:
        return self._call(lambda: self.cache.get(self.prefix + key))

    def set(self, key: str, value: bytes) -> None:
        self._call(lambda: self.cache.set(self.prefix + key, value, self.ttl))
        index = self._index()
        if key not in index:
            index.add(key)
            self._call(lambda: self.cache.set(self.index_key, sorted(index), None))

    def delete(self, key: str) -> None:
        self._call(lambda: self.cache.delete(self.prefix + key))
        index = self._index()
        if key in index:
            index.discard(key)
            self._call(lambda: self.cache.set(self.index_key, sorted(index), None))

    def clear(self) -> int:
        keys = [self.prefix + k for k in self._index()]
        present = self._call(lambda: self.cache.get_many(keys))
        self._call(lambda: self.cache.delete_many(keys))
        self._call(lambda: self.cache.delete(self.index_key))
        return len(present)

    def scan(self, kind: str) -> Iterator[tuple[str, bytes]]:
        keys = sorted(k for k in self._index() if k.startswith(f"{kind}:"))
        found = self._call(lambda: self.cache.get_many([self.prefix + k for k in keys]))
        for key in keys:
            value = found.get(self.prefix + key)
            if value is not None:
                yield key, value

    def stats(self) -> dict[str, Any]:
        keys = sorted(self._index())
        found = self._call(lambda: self.cache.get_many([self.prefix + k for k in keys]))
        return _count_by_kind((k, len(found[self.prefix + k])) for k in keys
                              if self.prefix + k in found)

    def describe(self) -> str:
        return f"django cache {self.alias!r}"

    def close(self) -> None:
        """Release connections: Django closes its caches after each request."""


def _count_by_kind(sizes) -> dict[str, Any]:
    counts = {name: 0 for name in KIND_NAMES.values()}
    total = 0
    for key, size in sizes:
        kind = key.partition(":")[0]
        if kind in KIND_NAMES:
            counts[KIND_NAMES[kind]] += 1
            total += size
    return {**counts, "bytes": total}


# --------------------------------------------------------------------------
# The guarded store


class _Direction:
    """Fault state of reads or of writes: when to try them again."""

    def __init__(self) -> None:
        self.down_until = 0.0
        self.failing = False


class Store:
    """A backend behind signing, versioning and fault handling.

    ``get``/``put`` never raise for backend trouble: they return None/False
    and the caller builds what it needs locally. ``clock`` is injectable so
    tests can move time without sleeping.
    """

    def __init__(self, backend, *, retry_interval: float = 5.0, warn_interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.backend = backend
        self.retry_interval = retry_interval
        self.warn_interval = warn_interval
        self.clock = clock
        self.counters = {name: 0 for name in (
            "hits", "misses", "rejected", "writes", "errors", "skipped")}
        # Reads and writes fail apart (a read-only disk still serves reads);
        # one warning per interval covers both.
        self._directions = {"read": _Direction(), "write": _Direction()}
        self._warned_at: float | None = None
        self._lock = threading.Lock()
        self._rejections_logged: set[tuple[str, str]] = set()

    def __repr__(self) -> str:
        return f"<Store {self.backend.describe()}>"

    # -- fault handling ---------------------------------------------------

    def _guarded(self, direction: str, operation: Callable[[], Any]) -> tuple[bool, Any]:
        state = self._directions[direction]
        now = self.clock()
        if now < state.down_until:
            self._count("skipped")
            return False, None
        try:
            result = operation()
        except StoreError as exc:
            self._failed(direction, state, exc, now)
            return False, None
        if state.failing:
            state.failing = False
            logger.warning("djust store: %s %ss work again", self.backend.describe(), direction)
        return True, result

    def _failed(self, direction: str, state: _Direction, exc: StoreError, now: float) -> None:
        self._count("errors")
        with self._lock:
            state.down_until = now + self.retry_interval
            state.failing = True
            warn = self._warned_at is None or now - self._warned_at >= self.warn_interval
            if warn:
                self._warned_at = now
        if warn:
            logger.warning(
                "djust store: %s failed (%s); compiling locally, retrying in %ss",
                direction, exc, self.retry_interval,
            )
        else:
            logger.debug("djust store: %s failed again: %s", direction, exc)

    def _count(self, name: str) -> None:
        with self._lock:
            self.counters[name] += 1

    def _reject(self, kind: str, key: str, reason: str) -> None:
        self._count("rejected")
        marker = (key, reason)
        with self._lock:
            first = marker not in self._rejections_logged
            if first:
                if len(self._rejections_logged) > 10_000:
                    self._rejections_logged.clear()
                self._rejections_logged.add(marker)
        if first:
            logger.warning("djust store: ignoring %s entry %s…: %s; rebuilding it",
                           KIND_NAMES.get(kind, kind), key[:12], reason)

    # -- entries ----------------------------------------------------------

    def get(self, kind: str, key: str) -> dict | None:
        """The verified payload stored under ``(kind, key)``, or None."""
        ok, blob = self._guarded("read", lambda: self.backend.get(f"{kind}:{key}"))
        if not ok or blob is None:
            if ok:
                self._count("misses")
            return None
        try:
            payload = decode_entry(kind, key, bytes(blob))
        except EntryRejected as exc:
            self._reject(kind, key, exc.reason)
            return None
        self._count("hits")
        return payload

    def put(self, kind: str, key: str, payload: dict) -> bool:
        """Sign and store ``payload``; False when the backend could not."""
        blob = encode_entry(kind, key, payload)
        ok, _ = self._guarded("write", lambda: self.backend.set(f"{kind}:{key}", blob))
        if ok:
            self._count("writes")
        return ok

    def reject(self, kind: str, key: str, reason: str) -> None:
        """A caller found a verified payload unusable (it is rebuilt and overwritten)."""
        with self._lock:
            self.counters["hits"] -= 1  # get() counted it as a hit
        self._reject(kind, key, reason)

    def stale(self, kind: str, key: str) -> None:
        """A verified entry describes content that has changed since: a miss."""
        with self._lock:
            self.counters["hits"] -= 1
            self.counters["misses"] += 1
        logger.debug("djust store: %s entry %s… is outdated", KIND_NAMES.get(kind, kind), key[:12])

    def entries(self, kind: str) -> Iterator[tuple[str, dict]]:
        """Every verified ``(key, payload)`` of one kind (rejected ones are skipped)."""
        ok, items = self._guarded("read", lambda: list(self.backend.scan(kind)))
        for full_key, blob in items if ok else ():
            key = full_key.partition(":")[2]
            try:
                yield key, decode_entry(kind, key, bytes(blob))
            except EntryRejected as exc:
                self._reject(kind, key, exc.reason)

    def delete(self, kind: str, key: str) -> bool:
        ok, _ = self._guarded("write", lambda: self.backend.delete(f"{kind}:{key}"))
        return ok

    def clear(self) -> int:
        """Remove every entry; raises ``StoreError`` (an explicit command should fail)."""
        return self.backend.clear()

    def stats(self) -> dict[str, Any]:
        """Counters of this process plus what the backend holds."""
        ok, held = self._guarded("read", self.backend.stats)
        return {"backend": self.backend.describe(), **self.counters,
                "stored": held if ok else "unavailable"}


# --------------------------------------------------------------------------
# Configuration


def cache_config() -> dict[str, Any]:
    """``DJUST["CACHE"]`` merged over the defaults, checked.

        >>> cache_config()["BACKEND"]
        'memory'
    """
    from djust import conf

    user = conf.get("CACHE") or {}
    if not isinstance(user, dict):
        raise ImproperlyConfigured('DJUST["CACHE"] must be a dict')
    unknown = set(user) - set(DEFAULT_CONFIG)
    if unknown:
        raise ImproperlyConfigured(f'unknown key(s) in DJUST["CACHE"]: {sorted(unknown)}')
    config = {**DEFAULT_CONFIG, **user}
    if config["BACKEND"] not in ("memory", "filesystem", "redis", "django"):
        raise ImproperlyConfigured(
            f'DJUST["CACHE"]["BACKEND"] is {config["BACKEND"]!r}: expected "memory", '
            '"filesystem", "redis" or "django"')
    return config


def build_backend(config: dict[str, Any]):
    """The backend ``config`` describes; None for ``"memory"`` (nothing shared)."""
    backend = config["BACKEND"]
    if backend == "filesystem":
        return FileSystemBackend(config["LOCATION"])
    if backend == "redis":
        return RedisBackend(config["URL"], timeout=float(config["TIMEOUT"]),
                            prefix=config["KEY_PREFIX"], ttl=config["TTL"])
    if backend == "django":
        return DjangoCacheBackend(config["ALIAS"], prefix=config["KEY_PREFIX"],
                                  ttl=config["TTL"])
    return None


_CONFIGURED: tuple[str, Store | None] | None = None
_CONFIGURED_LOCK = threading.Lock()


def configured_store() -> Store | None:
    """The store the settings describe (rebuilt when they change), or None.

        >>> configured_store() is None   # the default "memory" backend
        True
    """
    global _CONFIGURED
    config = cache_config()
    if config["BACKEND"] == "memory":
        return None
    signature = json.dumps(config, sort_keys=True, default=str)
    current = _CONFIGURED
    if current is not None and current[0] == signature:
        return current[1]
    with _CONFIGURED_LOCK:
        if _CONFIGURED is None or _CONFIGURED[0] != signature:
            store = Store(build_backend(config),
                          retry_interval=float(config["RETRY_INTERVAL"]),
                          warn_interval=float(config["WARN_INTERVAL"]))
            logger.debug("djust store: using %s", store.backend.describe())
            previous, _CONFIGURED = _CONFIGURED, (signature, store)
            if previous is not None and previous[1] is not None:
                previous[1].backend.close()  # the settings changed (tests)
        return _CONFIGURED[1]


def reset() -> None:
    """Close and forget the configured store (the next call builds it from settings)."""
    global _CONFIGURED
    with _CONFIGURED_LOCK:
        previous, _CONFIGURED = _CONFIGURED, None
    if previous is not None and previous[1] is not None:
        previous[1].backend.close()


# --------------------------------------------------------------------------
# Serializers

# Weak: models built by tests (isolate_apps) must not be kept alive here.
_CLASS_CODE: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()
# Constants hashed by value; anything else by its type (an address in a repr
# would differ between processes).
_PLAIN_CONSTANTS = (str, bytes, int, float, complex, bool, type(None), type(Ellipsis))


def class_code_digest(model: type) -> str:
    """SHA-256 of the code of ``model``'s own methods and properties.

    Covers every function, property, cached_property, staticmethod and
    classmethod defined in the model's class body and in its project-defined
    bases: the ``__str__``, properties and methods a serializer calls. The
    bytecode, names and constants are hashed, not the source text: no file is
    read, and moving a method within its file or deploying to another
    directory keeps the key. Django's own classes are covered by the Django
    version in every key.

        >>> from examples.rentals.models import Lease, Unit
        >>> len(class_code_digest(Lease)), class_code_digest(Lease) != class_code_digest(Unit)
        (64, True)
    """
    cached = _CLASS_CODE.get(model)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    for klass in model.__mro__:
        module = getattr(klass, "__module__", "") or ""
        if module.split(".")[0] in ("django", "builtins"):
            continue
        digest.update(f"class {module}.{klass.__qualname__}\n".encode())
        for name, value in sorted(vars(klass).items()):
            for function in _functions_of(value):
                digest.update(f"def {name}\n".encode())
                _hash_code(digest, function.__code__)
    result = digest.hexdigest()
    _CLASS_CODE[model] = result
    return result


def _functions_of(value) -> list:
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        return [f for f in (value.fget, value.fset, value.fdel) if hasattr(f, "__code__")]
    # functools.cached_property keeps ``func``; Django's keeps ``real_func``.
    inner = getattr(value, "real_func", None) or getattr(value, "func", None)
    if hasattr(inner, "__code__") and not hasattr(value, "__code__"):
        return [inner]
    return [value] if hasattr(value, "__code__") else []


def _hash_code(digest, code) -> None:
    digest.update(code.co_code)
    digest.update(repr((code.co_names, code.co_varnames, code.co_freevars, code.co_argcount,
                        code.co_kwonlyargcount, code.co_flags)).encode())
    for constant in code.co_consts:
        _hash_constant(digest, constant)


def _hash_constant(digest, constant) -> None:
    if hasattr(constant, "co_code"):
        _hash_code(digest, constant)
    elif isinstance(constant, _PLAIN_CONSTANTS):
        digest.update(repr(constant).encode())
    elif isinstance(constant, tuple):
        for item in constant:
            _hash_constant(digest, item)
    elif isinstance(constant, frozenset):
        # A set's iteration order follows string hashing, which varies per process.
        digest.update(repr(sorted(repr(item) for item in constant)).encode())
    else:
        digest.update(type(constant).__qualname__.encode())


def tree_models(tree) -> list[type]:
    """Every model class the access tree reaches, the root's first."""
    seen: dict[type, None] = {}
    for _segments, node in tree.walk():
        if isinstance(node.model, type):
            seen[node.model] = None
    return list(seen)


def serializer_key(model: type, tree, paths: tuple[str, ...], mode: str) -> str:
    """The store key of the serializer of ``model`` for ``paths`` in ``mode``."""
    from djust import conf
    from djust.compiler.cache import schema_fingerprint

    models = [
        [m._meta.label, schema_fingerprint(m), class_code_digest(m)]
        for m in tree_models(tree)
    ]
    return content_key("s", [
        model._meta.label, list(paths), mode, list(conf.get("SENSITIVE_FIELDS")),
        models, sha256_text(tree.dump()),
    ])


def serializer_payload(serializer) -> dict[str, Any]:
    """What is stored for a compiled serializer: text, never code."""
    from djust.compiler.runtime import CONSTANTS_KEY

    own_name = serializer.__name__
    scope = serializer.__globals__
    constants = scope.get(CONSTANTS_KEY, {})
    helpers = sorted(name for name in scope
                     if name not in ("__builtins__", CONSTANTS_KEY, own_name, *constants))
    return {
        "model": serializer.model._meta.label,
        "paths": list(serializer.paths),
        "mode": serializer.mode,
        "name": serializer.__name__,
        "filename": serializer.filename,
        "source": serializer.source,
        "helpers": helpers,
        "constants": {name: list(spec) for name, spec in sorted(constants.items())},
        "tree": serializer.tree.dump(),
        "plan": plan_to_plain(serializer.plan),
        "plan_models": _model_digests(_plan_models(serializer.plan)),
    }


def _model_digests(models) -> list[list[str]]:
    from djust.compiler.cache import schema_fingerprint

    return [[m._meta.label, schema_fingerprint(m), class_code_digest(m)] for m in models]


# --------------------------------------------------------------------------
# Query plans as plain data
#
# A plan is frozen dataclasses (djust.compiler.plan) holding strings,
# tuples and model classes. They are written field by field, whatever fields
# the classes have: a model as {"$model": label}, a tuple as {"$tuple": [...]},
# a dataclass as {"$plan": class name, "fields": {...}}. Only dataclasses of
# djust.compiler.plan and installed models are read back.


def plan_to_plain(plan) -> Any:
    """The plan as JSON-ready data, or None when it holds something else.

        >>> from examples.rentals.models import Unit
        >>> from djust.compiler.plan import plan_queries
        >>> from djust.compiler.tree import build_access_tree
        >>> plan = plan_queries(build_access_tree(Unit, ["property.name"]))
        >>> plan_from_plain(json.loads(json.dumps(plan_to_plain(plan)))) == plan
        True
    """
    if plan is None:
        return None
    try:
        return _to_plain(plan)
    except TypeError as exc:
        logger.debug("djust store: plan not stored (%s): it is derived again on load", exc)
        return None


def _to_plain(value) -> Any:
    import dataclasses

    from django.db import models

    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, tuple):
        return {"$tuple": [_to_plain(item) for item in value]}
    if isinstance(value, type) and issubclass(value, models.Model):
        return {"$model": value._meta.label}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"$plan": type(value).__name__, "fields": fields}
    raise TypeError(f"cannot store a {type(value).__name__} in a plan")


def plan_from_plain(data) -> Any:
    """The plan ``plan_to_plain`` wrote; ``EntryRejected`` when it is not one."""
    if data is None:
        return None
    try:
        return _from_plain(data)
    except (LookupError, TypeError, ValueError, AttributeError) as exc:
        raise EntryRejected(f"unreadable query plan ({type(exc).__name__}: {exc})") from exc


def _from_plain(data) -> Any:
    import dataclasses

    from django.apps import apps

    from djust.compiler import plan as plan_module

    if data is None or isinstance(data, (str, int, float, bool)):
        return data
    if isinstance(data, dict) and "$tuple" in data:
        return tuple(_from_plain(item) for item in data["$tuple"])
    if isinstance(data, dict) and "$model" in data:
        return apps.get_model(data["$model"])
    if isinstance(data, dict) and "$plan" in data:
        cls = getattr(plan_module, data["$plan"], None)
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)
                and cls.__module__ == plan_module.__name__):
            raise TypeError(f"{data['$plan']!r} is not a query plan class")
        return cls(**{name: _from_plain(value) for name, value in data["fields"].items()})
    raise TypeError(f"unexpected {type(data).__name__} in a stored plan")


def _plan_models(plan) -> list[type]:
    """Every model class a plan mentions (its joins, prefetches and targets)."""
    import dataclasses

    from django.db import models

    found: dict[type, None] = {}

    def visit(value) -> None:
        if isinstance(value, type) and issubclass(value, models.Model):
            found[value] = None
        elif isinstance(value, tuple):
            for item in value:
                visit(item)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                visit(getattr(value, f.name))

    if plan is not None:
        visit(plan)
    return list(found)


def _namespace(helpers: list[str], mode: str, constants: dict[str, list]) -> dict[str, Any]:
    """The globals a stored serializer asked for, exactly as lowering gives them."""
    import builtins

    from djust.compiler import runtime
    from djust.compiler.runtime import ALLOWED_BUILTINS, CONSTANTS_KEY, HELPERS, resolve_constant

    namespace: dict[str, Any] = {}
    for name in helpers:
        if name == "_encode":
            namespace[name] = runtime.encoder_for(mode)
        elif name in HELPERS:
            namespace[name] = HELPERS[name]
        else:
            raise EntryRejected(f"asks for an unknown helper {name!r}")
    namespace["__builtins__"] = {name: getattr(builtins, name) for name in ALLOWED_BUILTINS}
    for name, spec in constants.items():
        if not (name.startswith("_") and name.isidentifier()) or name in namespace:
            raise EntryRejected(f"asks for a constant under the name {name!r}")
        try:
            namespace[name] = resolve_constant(tuple(spec))
        except (LookupError, ValueError, TypeError) as exc:
            raise EntryRejected(f"constant {name!r}: {exc}") from exc
    namespace[CONSTANTS_KEY] = {name: tuple(spec) for name, spec in constants.items()}
    return namespace


def function_from_source(source: str, namespace: dict, *, name: str, filename: str):
    """Compile stored source, verify its bytecode, and return ``(function, verification)``.

    The verification is the one ``emit.build_function`` runs on a fresh
    compilation; a failure raises ``emit.VerificationError`` before the
    module body (which only defines the function) runs.

        >>> ns = {"__builtins__": {}}
        >>> f, report = function_from_source("def f(o):\\n    return o\\n", ns,
        ...                                  name="f", filename="<djust doc>")
        >>> f(2), report.code_objects
        (2, 2)
    """
    import linecache

    from djust.compiler import emit

    code = compile(source, filename, "exec", dont_inherit=True)
    verification = emit.verify(code, namespace, filename=filename)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    scope = dict(namespace)
    exec(code, scope)
    function = scope.get(name)
    if not callable(function):
        raise EntryRejected(f"the source defines no function {name!r}")
    function.source = source
    return function, verification


def load_serializer(store: Store, key: str, *, model: type, tree,
                    paths: tuple[str, ...], mode: str):
    """The stored serializer under ``key`` rebuilt for the live ``tree``, or None.

    Its query plan is read back too, and used only while every model it
    mentions has the schema and code it had when it was derived; otherwise
    the entry is stale and rebuilt.
    """
    from djust.compiler.emit import VerificationError
    from djust.compiler.serializer import _plan_for, make_serializer

    payload = store.get("s", key)
    if payload is None:
        return None
    try:
        expected = (model._meta.label, list(paths), mode, tree.dump())
        found = (payload["model"], payload["paths"], payload["mode"], payload["tree"])
        if found != expected:
            raise EntryRejected("does not describe the serializer asked for")
        plan = plan_from_plain(payload["plan"])
        if plan is not None and _model_digests(_plan_models(plan)) != payload["plan_models"]:
            store.stale("s", key)
            return None
        if plan is None:
            plan = _plan_for(tree)
        namespace = _namespace(list(payload["helpers"]), mode, dict(payload["constants"]))
        function, verification = function_from_source(
            payload["source"], namespace, name=payload["name"], filename=payload["filename"])
    except (EntryRejected, VerificationError, SyntaxError, KeyError, TypeError,
            ValueError) as exc:
        reason = exc.reason if isinstance(exc, EntryRejected) else f"{type(exc).__name__}: {exc}"
        store.reject("s", key, reason)
        return None
    return make_serializer(function, model=model, paths=paths, mode=mode, tree=tree, plan=plan,
                           source=payload["source"], filename=payload["filename"],
                           verification=verification)


def manifest_record(model: type, paths: tuple[str, ...], mode: str) -> tuple[str, dict]:
    """The manifest key and record of a compiled serializer."""
    from djust.compiler.paths import normalize_paths

    record = {"model": model._meta.label, "paths": list(normalize_paths(paths)), "mode": mode}
    return content_key("m", [record["model"], record["paths"], mode]), record


def compile_shared(store: Store, model: type, paths: tuple[str, ...], mode: str):
    """The serializer from the store, or compiled here and stored for other workers.

    The access tree is rebuilt either way (it is cheap, comes from the live
    models and is part of the key); a hit skips deriving the query plan,
    lowering and code generation. ``serializer._compile`` calls this when a
    store is configured.
    """
    from djust.compiler.paths import normalize_paths
    from djust.compiler.serializer import _plan_for, compile_tree
    from djust.compiler.tree import build_access_tree

    paths = normalize_paths(paths)
    tree = build_access_tree(model, paths)
    key = serializer_key(model, tree, paths, mode)
    serializer = load_serializer(store, key, model=model, tree=tree, paths=paths, mode=mode)
    if serializer is not None:
        return serializer
    serializer = compile_tree(model, tree, paths, mode, plan=_plan_for(tree))
    if store.put("s", key, serializer_payload(serializer)):
        store.put("m", *manifest_record(model, paths, mode))
    return serializer


# --------------------------------------------------------------------------
# Extractions


def engine_signature(engine) -> list:
    """What, besides template content, decides how an engine parses."""
    return [sorted(engine.libraries.items()), list(engine.builtins), bool(engine.autoescape)]


def extraction_key(engine, how: str, label: str, source: str) -> str:
    """Key of the extraction of a template found ``how`` ("name"/"source")."""
    return content_key("x", [how, label, sha256_text(source), engine_signature(engine)])


def chain_key(root_source: str, dependencies: list[dict]) -> str:
    """The digest of a template's whole chain after extends/include resolution."""
    return sha256_text(json.dumps([sha256_text(root_source), dependencies], sort_keys=True))


def extraction_payload(extraction, dependencies: list[dict], root_source: str) -> dict:
    return {
        "paths": extraction.as_dict(),
        "unanalysed": [[u.tag, u.template, u.line, u.reason] for u in extraction.unanalysed],
        "templates": list(extraction.templates),
        "dependencies": dependencies,
        "chain": chain_key(root_source, dependencies),
    }


def describe_dependencies(engine, root_origin, dependencies) -> list[dict] | None:
    """Replay the loads of a walk: ``[{"name", "skip", "sha256"}]``, or None.

    ``skip`` (the origins an ``extends`` must not find again) is stored as
    indices: -1 is the root template, ``i`` the template of dependency
    ``i``. None when a dependency cannot be replayed or has changed since
    the walk (then nothing is stored).
    """
    from djust.compiler import extraction as ex

    origins = {_origin_id(root_origin): -1}
    described = []
    for index, dependency in enumerate(dependencies):
        skip = None
        if dependency.skip is not None:
            skip = [origins.get(_origin_id(origin)) for origin in dependency.skip]
            if None in skip:
                return None
        try:
            template = ex._load(engine, dependency.name, dependency.skip)
        except Exception:
            return None
        source = ex._source_of(template)
        if ex._digest(source) != dependency.digest:
            return None
        origins.setdefault(_origin_id(template.origin), index)
        described.append({"name": dependency.name, "skip": skip, "sha256": sha256_text(source)})
    return described


def _origin_id(origin) -> tuple:
    return (origin.name, id(getattr(origin, "loader", None)))


def load_extraction(store: Store, engine, *, how: str, label: str, source: str, root_origin):
    """The stored extraction when every template of its chain is unchanged.

    Returns ``(Extraction, dependencies)`` (the in-process cache's
    dependency records) or None.
    """
    from djust.compiler import extraction as ex

    key = extraction_key(engine, how, label, source)
    payload = store.get("x", key)
    if payload is None:
        return None
    try:
        origins = []
        dependencies = []
        for record in payload["dependencies"]:
            skip = None if record["skip"] is None else tuple(
                origins[i] if i >= 0 else root_origin for i in record["skip"])
            template = ex._load(engine, record["name"], skip)
            content = ex._source_of(template)
            if sha256_text(content) != record["sha256"]:
                store.stale("x", key)
                return None
            origins.append(template.origin)
            dependencies.append(ex._dependency(record["name"], skip, template))
        extraction = ex.Extraction(
            payload["paths"],
            [ex.Unanalysed(*u) for u in payload["unanalysed"]],
            payload["templates"],
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        store.reject("x", key, f"malformed payload ({type(exc).__name__})")
        return None
    except Exception as exc:  # a template of the chain is gone or broken: re-extract
        logger.debug("djust store: chain of %s no longer loads: %s", label, exc)
        store.stale("x", key)
        return None
    return extraction, tuple(dependencies)


def save_extraction(store: Store, engine, *, how: str, label: str, source: str, root_origin,
                    extraction, dependencies) -> bool:
    """Store a fresh extraction; False when it could not be (fault or unreplayable)."""
    described = describe_dependencies(engine, root_origin, dependencies)
    if described is None:
        logger.debug("djust store: the chain of %s cannot be replayed: not stored", label)
        return False
    key = extraction_key(engine, how, label, source)
    return store.put("x", key, extraction_payload(extraction, described, source))



def extract_shared(store: Store, engine, *, how: str, label: str, source: str, root_origin,
                   walk: Callable[[], tuple[Any, tuple]]) -> tuple[Any, tuple]:
    """``(Extraction, dependencies)`` from the store, or from ``walk()`` and then stored.

    ``walk`` is the extraction module's own walk of the template; this is
    how ``extraction`` and ``djust_cache warm`` go through the store.
    """
    found = load_extraction(store, engine, how=how, label=label, source=source,
                            root_origin=root_origin)
    if found is not None:
        return found
    extraction, dependencies = walk()
    save_extraction(store, engine, how=how, label=label, source=source, root_origin=root_origin,
                    extraction=extraction, dependencies=dependencies)
    return extraction, dependencies
