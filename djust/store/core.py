"""The Store: a backend behind signing, versioning and fault handling.

Every backend call is guarded. An error or a timeout (Redis down or slower
than ``TIMEOUT``, a full or read-only disk) makes the store skip that
direction (reads or writes) for ``RETRY_INTERVAL`` seconds and log a
warning at most once per ``WARN_INTERVAL``; the caller builds locally and
serves. After the interval the next call tries again, so the store recovers
by itself when the backend comes back. Nothing read back is used before it
passes the entry's signature and header check (``entries``).

    >>> from djust.store.backends import MemoryBackend
    >>> store = Store(MemoryBackend())
    >>> store.put("x", "0" * 64, {"paths": {}})
    True
    >>> store.get("x", "0" * 64), store.counters["hits"]
    ({'paths': {}}, 1)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from djust.store.backends import StoreError
from djust.store.entries import KIND_NAMES, EntryRejected, decode_entry, encode_entry

logger = logging.getLogger("djust.store")


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
