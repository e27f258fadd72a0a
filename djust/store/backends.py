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
import errno
import logging
import os
import re
import secrets
import stat
import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured

from djust.store.entries import ENTRY_FORMAT, KIND_NAMES, KINDS

logger = logging.getLogger("djust.store")


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
    """One file per entry under ``LOCATION/v<format>/<kind>/<ab>/<digest>.entry``.

    Writes are atomic: a temporary file in the target directory, then
    ``os.replace``. Readers see the old entry or the new one, never half.

    The directory may be shared or hostile, so the backend trusts nothing
    in it but what ``LOCATION`` names: ``LOCATION`` must be a directory
    owned by this process's user that neither group nor others can write
    (created ``0o700`` when missing; ``ImproperlyConfigured`` otherwise).
    Below it no link is followed (every component is opened with
    ``O_NOFOLLOW``), only regular files of at most ``MAX_ENTRY_BYTES`` are
    read (opened non-blocking: a FIFO or a device is a miss, not a hang),
    and ``clear`` removes only regular files named as the store names them.
    """

    name = "filesystem"
    SUFFIX = ".entry"
    # An entry larger than this is not read (a miss): bounds what a planted
    # file can make a worker load.
    MAX_ENTRY_BYTES = 64 * 1024 * 1024

    def __init__(self, location: str | os.PathLike) -> None:
        if not location:
            raise ImproperlyConfigured(
                'DJUST["CACHE"]["LOCATION"] must name a directory for the filesystem backend')
        self.location = os.fspath(location)
        self.root = os.path.join(self.location, f"v{ENTRY_FORMAT}")
        if os.path.isdir(self.location):
            _check_private(self.location, os.stat(self.location))

    def path(self, key: str) -> str:
        kind, _, digest = key.partition(":")
        return os.path.join(self.root, kind, digest[:2], digest + self.SUFFIX)

    # -- directories, opened without following links ----------------------

    def _open_location(self, create: bool) -> int | None:
        """A descriptor of ``LOCATION`` once checked (None when missing and not ``create``)."""
        if create:
            with contextlib.suppress(FileExistsError):
                os.makedirs(self.location, mode=0o700)
        try:
            descriptor = os.open(self.location, _DIRECTORY_FLAGS)
        except FileNotFoundError:
            if create:
                raise
            return None
        try:
            _check_private(self.location, os.fstat(descriptor))
        except BaseException:
            os.close(descriptor)
            raise
        return descriptor

    @contextlib.contextmanager
    def _directory(self, parts: tuple[str, ...], *, create: bool) -> Iterator[int | None]:
        """A descriptor of ``LOCATION/v<format>/<parts...>``, None when missing.

        Each component below ``LOCATION`` is opened relative to its parent
        with ``O_NOFOLLOW``: a link planted anywhere raises ``OSError``.
        """
        opened: list[int] = []
        try:
            top = self._open_location(create)
            if top is None:
                yield None
                return
            opened.append(top)
            for part in (f"v{ENTRY_FORMAT}", *parts):
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o700, dir_fd=opened[-1])
                try:
                    opened.append(os.open(part, _DIRECTORY_FLAGS | _NOFOLLOW,
                                          dir_fd=opened[-1]))
                except FileNotFoundError:
                    if create:
                        raise
                    yield None
                    return
                except OSError as exc:
                    if exc.errno not in _NOT_A_DIRECTORY:
                        raise
                    if not create:  # a link or a file: nothing of the store's here
                        yield None
                        return
                    if not stat.S_ISLNK(os.lstat(part, dir_fd=opened[-1]).st_mode):
                        raise
                    # A planted link: remove it (never its target), then
                    # put a real directory in its place.
                    os.unlink(part, dir_fd=opened[-1])
                    os.mkdir(part, 0o700, dir_fd=opened[-1])
                    opened.append(os.open(part, _DIRECTORY_FLAGS | _NOFOLLOW,
                                          dir_fd=opened[-1]))
            yield opened[-1]
        finally:
            for descriptor in opened:
                os.close(descriptor)

    def _split(self, key: str) -> tuple[tuple[str, str], str]:
        kind, _, digest = key.partition(":")
        if kind not in KINDS or not _DIGEST.fullmatch(digest):
            raise StoreError(f"not a store key: {key!r}")
        return (kind, digest[:2]), digest + self.SUFFIX

    def _read(self, directory: int, filename: str, path: str) -> bytes | None:
        """The bytes of a regular file of at most ``MAX_ENTRY_BYTES``, else None."""
        try:
            descriptor = os.open(filename, _FILE_FLAGS, dir_fd=directory)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK):  # a link (O_NOFOLLOW)
                logger.warning("djust store: ignoring %s: %s", path,
                               "a link, not a regular file")
                return None
            raise
        with os.fdopen(descriptor, "rb") as handle:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                logger.warning("djust store: ignoring %s: %s", path, "not a regular file")
                return None
            if status.st_size > self.MAX_ENTRY_BYTES:
                logger.warning("djust store: ignoring %s: %s", path,
                               f"larger than {self.MAX_ENTRY_BYTES} bytes")
                return None
            blob = handle.read(self.MAX_ENTRY_BYTES + 1)
            if len(blob) > self.MAX_ENTRY_BYTES:  # grew since fstat
                logger.warning("djust store: ignoring %s: %s", path,
                               f"larger than {self.MAX_ENTRY_BYTES} bytes")
                return None
            return blob

    # -- the backend API ---------------------------------------------------

    def get(self, key: str) -> bytes | None:
        parts, filename = self._split(key)
        try:
            with self._directory(parts, create=False) as directory:
                if directory is None:
                    return None
                return self._read(directory, filename, self.path(key))
        except OSError as exc:
            raise StoreError(f"cannot read {self.path(key)}: {exc}") from exc

    def set(self, key: str, value: bytes) -> None:
        parts, filename = self._split(key)
        target = self.path(key)
        directory_path = os.path.dirname(target)
        try:
            with self._directory(parts, create=True) as directory:
                assert directory is not None
                temporary = f".tmp-{secrets.token_hex(8)}"
                try:
                    descriptor = os.open(temporary, _CREATE_FLAGS, 0o600, dir_fd=directory)
                except OSError as exc:
                    raise StoreError(f"cannot write under {directory_path}: {exc}") from exc
                try:
                    with os.fdopen(descriptor, "wb") as handle:
                        handle.write(value)
                    os.replace(temporary, filename, src_dir_fd=directory, dst_dir_fd=directory)
                except OSError as exc:
                    with contextlib.suppress(OSError):
                        os.unlink(temporary, dir_fd=directory)
                    raise StoreError(f"cannot write {target}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"cannot write under {directory_path}: {exc}") from exc

    def delete(self, key: str) -> None:
        parts, filename = self._split(key)
        try:
            with self._directory(parts, create=False) as directory:
                if directory is not None:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(filename, dir_fd=directory)
        except OSError as exc:
            raise StoreError(f"cannot delete {self.path(key)}: {exc}") from exc

    def _walk(self, kind: str | None, visit: Callable[[str, int, str, str], None]) -> None:
        """``visit(key, shard descriptor, filename, path)`` for every file the store names.

        Only real directories are entered and only regular files whose
        names the store writes (entries and temporary files) are visited:
        links, FIFOs, devices and foreign names are left alone.
        """
        for each in [kind] if kind else KINDS:
            with self._directory((each,), create=False) as top:
                if top is None:
                    continue
                shards = sorted(entry.name for entry in os.scandir(top)
                                if _SHARD.fullmatch(entry.name)
                                and entry.is_dir(follow_symlinks=False))
                for shard in shards:
                    try:
                        descriptor = os.open(shard, _DIRECTORY_FLAGS | _NOFOLLOW, dir_fd=top)
                    except FileNotFoundError:
                        continue
                    except OSError as exc:
                        if exc.errno in _NOT_A_DIRECTORY:  # swapped for a link
                            continue
                        raise
                    try:
                        names = sorted(entry.name for entry in os.scandir(descriptor)
                                       if entry.is_file(follow_symlinks=False))
                        for filename in names:
                            digest = filename.removesuffix(self.SUFFIX)
                            if (_TEMPORARY.fullmatch(filename) or (
                                    filename.endswith(self.SUFFIX) and _DIGEST.fullmatch(digest)
                                    and digest.startswith(shard))):
                                visit(f"{each}:{digest}", descriptor, filename,
                                      os.path.join(self.root, each, shard, filename))
                    finally:
                        os.close(descriptor)

    def clear(self) -> int:
        removed = [0]

        def remove(key: str, directory: int, filename: str, path: str) -> None:
            with contextlib.suppress(FileNotFoundError):
                # Checked again just before: a file swapped for a link or a
                # FIFO since the listing is left alone (unlink never follows).
                if not stat.S_ISREG(os.stat(filename, dir_fd=directory,
                                            follow_symlinks=False).st_mode):
                    return
                os.unlink(filename, dir_fd=directory)
                removed[0] += filename.endswith(self.SUFFIX)

        try:
            self._walk(None, remove)
        except OSError as exc:
            raise StoreError(f"cannot clear {self.root}: {exc}") from exc
        return removed[0]

    def scan(self, kind: str) -> Iterator[tuple[str, bytes]]:
        found: list[tuple[str, bytes]] = []

        def read(key: str, directory: int, filename: str, path: str) -> None:
            if filename.endswith(self.SUFFIX):
                blob = self._read(directory, filename, path)
                if blob is not None:
                    found.append((key, blob))

        try:
            self._walk(kind, read)
        except OSError as exc:
            raise StoreError(f"cannot read {self.root}: {exc}") from exc
        yield from found

    def stats(self) -> dict[str, Any]:
        sizes = []

        def measure(key: str, directory: int, filename: str, path: str) -> None:
            if filename.endswith(self.SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    status = os.stat(filename, dir_fd=directory, follow_symlinks=False)
                    if stat.S_ISREG(status.st_mode):
                        sizes.append((key, status.st_size))

        try:
            self._walk(None, measure)
        except OSError as exc:
            raise StoreError(f"cannot read {self.root}: {exc}") from exc
        return _count_by_kind(sizes)

    def describe(self) -> str:
        return f"filesystem at {self.root}"

    def close(self) -> None:
        """Release connections (nothing to release here)."""


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = (os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_CLOEXEC", 0))
_CREATE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW
                 | getattr(os, "O_CLOEXEC", 0))
# What opening a link with O_NOFOLLOW (or a file with O_DIRECTORY) raises.
_NOT_A_DIRECTORY = (errno.ENOTDIR, errno.ELOOP, errno.EMLINK)
_DIGEST = re.compile(r"[0-9a-f]{2,128}")
_SHARD = re.compile(r"[0-9a-f]{2}")
_TEMPORARY = re.compile(r"\.tmp-[A-Za-z0-9_]{6,32}")


class UnsafeStoreDirectory(StoreError, ImproperlyConfigured):
    """``LOCATION`` is not a private directory of this process's user.

    An ``ImproperlyConfigured`` when the backend is built; a ``StoreError``
    (a logged failure, compiled locally) if it turns unsafe later.
    """


def _check_private(location: str, status: os.stat_result) -> None:
    """Refuse a ``LOCATION`` that another user owns or others can write."""
    if not stat.S_ISDIR(status.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), location)
    user = os.geteuid() if hasattr(os, "geteuid") else None
    if user is not None and status.st_uid != user:
        raise UnsafeStoreDirectory(
            f'DJUST["CACHE"]["LOCATION"] {location} is owned by uid {status.st_uid}, '
            f"not by this process's user (uid {user}): another user could plant entries "
            "or links in it. Use a directory of this user (chmod 700).")
    if status.st_mode & 0o022:
        raise UnsafeStoreDirectory(
            f'DJUST["CACHE"]["LOCATION"] {location} can be written by group or others '
            f"(mode {stat.S_IMODE(status.st_mode):o}): another user could plant entries or "
            f"links in it. Run chmod go-w {location}, or use a directory of its own.")


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

    Most Django cache backends pickle what they store and unpickle what
    they return, before djust can check an entry's signature: whoever can
    write to the cache server can run code in the workers. This backend
    stores only ``bytes`` (entries and the index) and treats anything else
    read back as a miss, but it cannot stop the cache from unpickling; on a
    cache server others can write, use the filesystem or Redis backend.
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
        blob = self._call(lambda: self.cache.get(self.index_key))
        if not isinstance(blob, bytes):
            return set()
        return set(blob.decode("ascii", "replace").split())

    def _write_index(self, index: set[str]) -> None:
        blob = "\n".join(sorted(index)).encode("ascii")
        self._call(lambda: self.cache.set(self.index_key, blob, None))

    def _get_many(self, keys: list[str]) -> dict[str, bytes]:
        """The ``bytes`` values of ``keys`` (store keys) the cache holds."""
        found = self._call(lambda: self.cache.get_many([self.prefix + k for k in keys]))
        return {k: found[self.prefix + k] for k in keys
                if isinstance(found.get(self.prefix + k), bytes)}

    def get(self, key: str) -> bytes | None:
        value = self._call(lambda: self.cache.get(self.prefix + key))
        return value if isinstance(value, bytes) else None

    def set(self, key: str, value: bytes) -> None:
        if not isinstance(value, bytes):
            raise StoreError(f"cache {self.alias!r}: only bytes are stored, not "
                             f"{type(value).__name__}")
        self._call(lambda: self.cache.set(self.prefix + key, value, self.ttl))
        index = self._index()
        if key not in index:
            index.add(key)
            self._write_index(index)

    def delete(self, key: str) -> None:
        self._call(lambda: self.cache.delete(self.prefix + key))
        index = self._index()
        if key in index:
            index.discard(key)
            self._write_index(index)

    def clear(self) -> int:
        keys = sorted(self._index())
        present = self._get_many(keys)
        self._call(lambda: self.cache.delete_many([self.prefix + k for k in keys]))
        self._call(lambda: self.cache.delete(self.index_key))
        return len(present)

    def scan(self, kind: str) -> Iterator[tuple[str, bytes]]:
        keys = sorted(k for k in self._index() if k.startswith(f"{kind}:"))
        found = self._get_many(keys)
        for key in keys:
            if key in found:
                yield key, found[key]

    def stats(self) -> dict[str, Any]:
        found = self._get_many(sorted(self._index()))
        return _count_by_kind((k, len(v)) for k, v in sorted(found.items()))

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

