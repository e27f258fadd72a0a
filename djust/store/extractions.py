"""What the store keeps for extractions: keys, payloads, the template chain.

An extraction entry (kind ``x``) holds the paths per context name, the
unanalysed tag records, the template names, and the templates the walk
followed (includes and parents) with the SHA-256 of their content, or, for
one that did not load (missing, or not compiling), the digest of that
failure under ``failure`` instead of ``sha256``: once it loads, or fails
otherwise, the entry is stale. Its key
covers how the template is found (by name or from source), its name, the
SHA-256 of its own source, the engine's tag and filter libraries and the
versions: an edit of the page itself gives a new key. The templates it
followed are checked on every load, each loaded through the engine as
Django would: an edit anywhere else in the chain makes the entry stale, so
it is walked again and overwritten. The digest of the whole chain is
stored as ``chain``.

An unanalysed record is stored as ``[tag, template, line, reason, names]``.
``LAYOUT``, the layout of these payloads, is part of every key: when it
changes, entries of the older layout are never looked up again (they are
walked again and stored under the new key), and a payload whose records do
not have the current shape is refused, never misread.

    >>> chain_key("{{ a }}", []) == chain_key("{{ a }}", [])
    True
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from djust.compiler.extraction import (
    Dependency,
    Extraction,
    Unanalysed,
    load_template,
    template_source,
)
from djust.store.core import Store
from djust.store.entries import content_key, sha256_text

logger = logging.getLogger("djust.store")

# Bumped whenever an extraction payload's layout changes (keys change with it).
# 2: unanalysed records carry the context names the tag's arguments read.
LAYOUT = 2


def engine_signature(engine) -> list:
    """What, besides template content, decides how an engine parses."""
    return [sorted(engine.libraries.items()), list(engine.builtins), bool(engine.autoescape)]


def extraction_key(engine, how: str, label: str, source: str) -> str:
    """Key of the extraction of a template found ``how`` ("name"/"source")."""
    return content_key("x", [LAYOUT, how, label, sha256_text(source), engine_signature(engine)])


def chain_key(root_source: str, dependencies: list[dict]) -> str:
    """The digest of a template's whole chain after extends/include resolution."""
    return sha256_text(json.dumps([sha256_text(root_source), dependencies], sort_keys=True))


def extraction_payload(extraction, dependencies: list[dict], root_source: str) -> dict:
    """What is stored for an extraction: its paths, records and chain.

        >>> from djust.compiler.extraction import Extraction
        >>> extraction_payload(Extraction({"a": ["b"]}), [], "{{ a.b }}")["paths"]
        {'a': ['b']}
    """
    return {
        "paths": extraction.as_dict(),
        "unanalysed": [[u.tag, u.template, u.line, u.reason, list(u.names)]
                       for u in extraction.unanalysed],
        "templates": list(extraction.templates),
        "dependencies": dependencies,
        "chain": chain_key(root_source, dependencies),
    }


def describe_dependencies(engine, root_origin, dependencies) -> list[dict] | None:
    """Replay the loads of a walk: ``[{"name", "skip", "sha256" or "failure"}]``,
    or None.

    ``skip`` (the origins an ``extends`` must not find again) is stored as
    indices: -1 is the root template, ``i`` the template of dependency
    ``i``. None when a dependency cannot be replayed or has changed since
    the walk (then nothing is stored).
    """
    origins = {_origin_id(root_origin): -1}
    described = []
    for index, dependency in enumerate(dependencies):
        skip = None
        if dependency.skip is not None:
            skip = [origins.get(_origin_id(origin)) for origin in dependency.skip]
            if None in skip:
                return None
        if dependency.failed:
            # No origin to refer to: nothing the walk loaded after it skips it.
            if not dependency.still_same(engine):
                return None
            described.append({"name": dependency.name, "skip": skip,
                              "failure": dependency.digest})
            continue
        try:
            template = load_template(engine, dependency.name, dependency.skip)
        except Exception:
            return None
        source = template_source(template)
        if not dependency.matches(source):
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
            if "failure" in record:
                failed = Dependency(record["name"], skip, record["failure"])
                if not failed.failed or not failed.still_same(engine):
                    store.stale("x", key)
                    return None
                origins.append(None)  # keeps the indices of the later records
                dependencies.append(failed)
                continue
            template = load_template(engine, record["name"], skip)
            content = template_source(template)
            if sha256_text(content) != record["sha256"]:
                store.stale("x", key)
                return None
            origins.append(template.origin)
            dependencies.append(Dependency.of(record["name"], skip, template))
        extraction = Extraction(
            payload["paths"],
            [_unanalysed(record) for record in payload["unanalysed"]],
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


def _unanalysed(record) -> Unanalysed:
    """A stored ``[tag, template, line, reason, names]``; ValueError if malformed."""
    tag, template, line, reason, names = record
    if not (isinstance(tag, str) and isinstance(template, str) and isinstance(reason, str)
            and (line is None or type(line) is int) and isinstance(names, list)
            and all(isinstance(name, str) for name in names)):
        raise ValueError("malformed unanalysed record")
    return Unanalysed(tag, template, line, reason, tuple(names))


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
