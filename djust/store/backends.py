"""Store backends: where entries live.

A backend is a small object with ``get``, ``set``, ``delete``, ``clear``,
``scan`` (the entries of one kind), ``stats``, ``describe`` and ``close``;
keys are ``"<kind>:<digest>"`` and values are bytes. A backend raises
``StoreError`` when it cannot do what was asked; the ``Store`` in front of
it turns that into a local build. To add a backend, implement these
methods and name it in ``build_backend``.

    >>> backend = MemoryBackend()
    >>> backend.set("x:00", b"entry"); backend.get("x:00"), backend.stats()["extractions"]
    (b'entry', 1)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured

from djust.store.entries import ENTRY_FORMAT, KIND_NAMES, KINDS


class StoreError(Exception):
    """A backend could not do what was asked (down, slow, disk full...)."""


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


def build_backend(config: dict[str, Any]):
    """The backend ``config`` describes; None for ``"memory"`` (nothing shared).

        >>> build_backend({"BACKEND": "memory"}) is None
        True
    """
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

