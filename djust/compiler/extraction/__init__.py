"""Template path extraction: Django template → ``{context name: paths}``.

The first stage of the compiler. Django's own Lexer and Parser, with the
engine's tag and filter libraries, turn the source into a Node tree; the
walk records, for every context name the template reads, the paths it
looks up on it (see ``djust.compiler.paths``).

    >>> extraction = extract_template_variables(
    ...     "{% for l in leases %}{{ l.tenant.phone }}{% endfor %}")
    >>> dict(extraction)
    {'leases': ('*.tenant.phone',)}

This package holds the public functions and their cache; the rest is one
module per job:

- ``result``: ``Extraction`` and ``Unanalysed``, what a walk returns;
- ``loading``: finding and parsing templates as Django does, and the
  ``Dependency`` records of the templates a walk followed;
- ``walker``: the walk itself, and how each template construct maps to
  paths (a new template tag is a visitor there).

Results are cached (``cache.LRUCache``: bounded, thread-safe, one walk per
key) by the source, the engine and the template name; a cached result is
reused only while every template it followed (includes, parents) still has
the content it had, and every one it could not load (``Unanalysed``: missing,
or not compiling) still fails as it did.
The source itself is the key, not a digest of it: a str caches its hash,
so the engine's cached loader (which hands out the same template, and so
the same source string, until a template changes) makes the key almost
free, where digesting the page cost more than the rest of a cache hit. For
the same reason a followed template is known unchanged, without reading
it, when the loader returns the very object the walk saw.
"""

from __future__ import annotations

import logging

from django.template import Engine, TemplateSyntaxError
from django.template.base import UNKNOWN_SOURCE, Origin

from djust import conf
from djust.compiler import shared
from djust.compiler.cache import LRUCache
from djust.compiler.extraction.loading import (
    Dependency,
    default_engine,
    load_template,
    parse_template,
    syntax_error,
    template_source,
)
from djust.compiler.extraction.result import Extraction, Unanalysed
from djust.compiler.extraction.walker import walk_template

logger = logging.getLogger("djust.extraction")

__all__ = [
    "Dependency",
    "Extraction",
    "Unanalysed",
    "cache_clear",
    "cached_count",
    "default_engine",
    "extract_template_variables",
    "extract_template_variables_from_name",
    "load_template",
    "parse_template",
    "template_source",
    "walk_template",
]


def extract_template_variables(
    source: str, *, engine: Engine | None = None, name: str | None = None
) -> Extraction:
    """Extract the paths a template source reads, per context name.

    ``name`` labels errors and records, and resolves relative includes.

        >>> extract_template_variables("{{ a.b|upper }} {{ c }}")["a"]
        ('b',)
    """
    engine = engine or default_engine()
    source = str(source)
    label = name or UNKNOWN_SOURCE

    def walk():
        return walk_template(engine, parse_template(source, engine, name, label), label)

    def extract():
        origin = Origin(label, template_name=name)
        return _walk_or_load(engine, "source", label, source, origin, walk)

    return _cached(("source", source, engine, name), engine, extract)


def extract_template_variables_from_name(
    template_name: str, *, engine: Engine | None = None
) -> Extraction:
    """Find a template through the engine's loaders and extract its paths.

        >>> extraction = extract_template_variables_from_name("rentals/dashboard.html")
        >>> "*.tenant.user.email" in extraction["expiring_leases"], extraction.templates
        (True, ('rentals/dashboard.html', 'rentals/base.html'))
    """
    engine = engine or default_engine()
    try:
        template = load_template(engine, template_name, skip=None)
    except TemplateSyntaxError as exc:
        raise syntax_error(exc, template_name) from exc
    source = template_source(template)

    def extract():
        return _walk_or_load(engine, "name", template_name, source, template.origin,
                             lambda: walk_template(engine, template, template_name))

    return _cached(("name", source, engine, template_name), engine, extract)


def _walk_or_load(engine: Engine, how: str, label: str, source: str, origin: Origin, walk):
    """``walk()``, or its result from the store other workers share (``shared``)."""
    store = shared.registered()
    if store is None:
        return walk()
    return store.extraction(engine, how=how, label=label, source=source, root_origin=origin,
                            walk=walk)


def cache_clear() -> None:
    """Forget every cached extraction (tests, template reloads).

        >>> cache_clear(); cached_count()
        0
    """
    _CACHE.clear()


def cached_count() -> int:
    """How many extractions this process holds.

        >>> cache_clear(); _ = extract_template_variables("{{ a }}"); cached_count()
        1
    """
    return len(_CACHE)


# Bounded by a setting read at each use; an entry is reused only while every
# template it followed is unchanged (``Dependency.still_same``).
_CACHE = LRUCache(lambda: conf.get("EXTRACTION_CACHE_SIZE"))


def _cached(key, engine: Engine, extract) -> Extraction:
    """The extraction of ``key``, from the cache or ``extract()``."""

    def unchanged(entry) -> bool:
        if all(dependency.still_same(engine) for dependency in entry[1]):
            return True
        logger.debug("an included or parent template changed: re-extracting %s", key[-1])
        return False

    return _CACHE.get_or_compile(key, extract, valid=unchanged)[0]
