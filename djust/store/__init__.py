"""The shared store: analysed templates and generated serializers, across processes.

Every worker analyses the same templates and compiles the same serializers.
This package lets them share that work through a backend chosen in
settings, and makes sure nothing stale or tampered is ever used:

    DJUST = {"CACHE": {"BACKEND": "filesystem", "LOCATION": BASE_DIR / "djust-store"}}
    DJUST = {"CACHE": {"BACKEND": "redis", "URL": "redis://127.0.0.1:6379/0",
                       "TIMEOUT": 0.05}}
    DJUST = {"CACHE": {"BACKEND": "django", "ALIAS": "default"}}

``"memory"`` (the default) shares nothing: the in-process caches
(``djust.compiler.extraction`` and ``djust.compiler.cache``) are the only
layer. They always sit in front of a shared backend, so a process asks the
backend at most once per template or serializer.

The store depends on the compiler, never the reverse: the compiler asks
whatever ``djust.compiler.shared`` has registered, and ``install()``
registers the configured store when the app is ready. One module per job:

- ``entries``: the entry format, keys and signing (``ENTRY_FORMAT``);
- ``backends``: memory, filesystem, Redis and Django-cache backends;
- ``core``: ``Store``, a backend behind signing, versioning and fault
  handling;
- ``serializers`` and ``extractions``: what is stored for each, and how
  it is checked when read back (manifest records with the serializers);
- ``configured``: ``DEFAULT_CONFIG``, ``configured_store()`` and what the
  compiler is given.

Never a pickle, a code object or source is stored, only analysed
artefacts as JSON, used only once their signature checks out: nothing from the
store is ever executed, each worker generates (and verifies) every
serializer function itself. A bad signature, a truncated or corrupt
value, another version or a payload that does not match what was asked is
ignored, logged once per key and reason, and rebuilt (the rebuilt entry
overwrites it).

    >>> store = Store(MemoryBackend())
    >>> store.put("x", "0" * 64, {"paths": {}})
    True
    >>> store.get("x", "0" * 64)
    {'paths': {}}
"""

from djust.store.backends import (
    DjangoCacheBackend,
    FileSystemBackend,
    MemoryBackend,
    RedisBackend,
    StoreError,
    build_backend,
)
from djust.store.configured import (
    CONFIGURED,
    DEFAULT_CONFIG,
    ConfiguredStore,
    cache_config,
    configured_store,
    install,
    reset,
)
from djust.store.core import Store
from djust.store.entries import (
    ENTRY_FORMAT,
    KIND_NAMES,
    KINDS,
    SALT,
    EntryRejected,
    content_key,
    decode_entry,
    encode_entry,
    sha256_text,
    version_header,
)
from djust.store.extractions import (
    chain_key,
    describe_dependencies,
    engine_signature,
    extract_shared,
    extraction_key,
    extraction_payload,
    load_extraction,
    save_extraction,
)
from djust.store.serializers import (
    PAYLOAD_FIELDS,
    class_code_digest,
    compile_shared,
    load_serializer,
    manifest_record,
    plan_from_plain,
    plan_to_plain,
    serializer_key,
    serializer_payload,
    shared_serializer,
    tree_models,
)

__all__ = [
    "CONFIGURED",
    "DEFAULT_CONFIG",
    "ENTRY_FORMAT",
    "KINDS",
    "KIND_NAMES",
    "PAYLOAD_FIELDS",
    "SALT",
    "ConfiguredStore",
    "DjangoCacheBackend",
    "EntryRejected",
    "FileSystemBackend",
    "MemoryBackend",
    "RedisBackend",
    "Store",
    "StoreError",
    "build_backend",
    "cache_config",
    "chain_key",
    "class_code_digest",
    "compile_shared",
    "configured_store",
    "content_key",
    "decode_entry",
    "describe_dependencies",
    "encode_entry",
    "engine_signature",
    "extract_shared",
    "extraction_key",
    "extraction_payload",
    "install",
    "load_extraction",
    "load_serializer",
    "manifest_record",
    "plan_from_plain",
    "plan_to_plain",
    "reset",
    "save_extraction",
    "serializer_key",
    "serializer_payload",
    "sha256_text",
    "shared_serializer",
    "tree_models",
    "version_header",
]
