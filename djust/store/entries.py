"""Store entries: the format, the keys, and signing.

An entry is a ``django.core.signing`` object (SECRET_KEY and its fallbacks,
salt ``djust.store``, compressed JSON) holding a header — entry format,
djust, Python (``sys.version_info[:2]``) and Django versions, kind and key —
and the payload. Signing covers the key, so a valid entry copied under
another key is refused. Keys are full SHA-256 hex digests of what the entry
depends on and the versions (``content_key``).

    >>> blob = encode_entry("x", "0" * 64, {"paths": {}})
    >>> decode_entry("x", "0" * 64, blob)
    {'paths': {}}
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

import django
from django.core import signing

import djust

# Bumped whenever an entry's layout changes: older entries are then ignored.
# 2: serializers read the list prefetches of Serializer.many().
# 3: serializers carry constants (get_FOO_display tables, model classes).
# 4: python mode builds rows; a lookup that raised is kept (python) or left
#    out (JSON), never re-raised while serializing.
# 5: serializer entries hold the analysis (tree, plan), never code.
ENTRY_FORMAT = 5
SALT = "djust.store"
KINDS = ("x", "s", "m")  # extraction, serializer, manifest record
KIND_NAMES = {"x": "extractions", "s": "serializers", "m": "manifest"}


class EntryRejected(Exception):
    """An entry failed verification; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


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
    """The SHA-256 hex digest of ``text`` (lone surrogates included).

        >>> sha256_text("")[:12]
        'e3b0c44298fc'
    """
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
