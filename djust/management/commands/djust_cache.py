"""``manage.py djust_cache {stats,clear,warm}``: the store shared by workers.

- ``stats``: which backend, what it holds (extractions, serializers,
  manifest records, bytes) and this process's in-memory caches.
- ``clear``: empty the shared store and this process's caches.
- ``warm``: analyse the template of every LiveView the URLconf routes to,
  then compile every serializer of the store's manifest (what workers
  compiled at run time), so a fresh deployment serves its first requests
  from the store. ``--template NAME`` adds templates no LiveView routes to.

    $ python -m django djust_cache warm
    templates: 3 analysed, 1 already stored; serializers: 5 compiled, 0 already stored
"""

from __future__ import annotations

import logging

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.template.base import Origin

from djust import store
from djust.compiler import extraction
from djust.compiler.cache import default_cache
from djust.compiler.paths import normalize_paths
from djust.compiler.serializer import check_mode
from djust.warmup import live_view_templates, manifest_records

logger = logging.getLogger("djust.management")


def warm_template(shared: store.Store, name: str, source: str | None) -> None:
    """Analyse one template through the store (stored when it was not)."""
    engine = extraction.default_engine()
    if source is None:
        template = extraction.load_template(engine, name)
        root_origin, text = template.origin, extraction.template_source(template)
        how = "name"
    else:
        template = extraction.parse_template(source, engine, name, name)
        root_origin, text, how = template.origin, source, "source"
    if not isinstance(root_origin, Origin):
        raise CommandError(f"{name}: not a template djust can analyse")
    store.extract_shared(shared, engine, how=how, label=name, source=text,
                         root_origin=root_origin,
                         walk=lambda: extraction.walk_template(engine, template, name))


def warm_serializer(shared: store.Store, record: dict) -> bool:
    """Compile one manifest record through the store; False when it no longer applies."""
    try:
        model = apps.get_model(record["model"])
        paths = normalize_paths(record["paths"])
        mode = check_mode(record["mode"])
    except (LookupError, ValueError, KeyError, TypeError) as exc:
        logger.info("djust_cache warm: skipping manifest record %r: %s", record, exc)
        return False
    store.compile_shared(shared, model, paths, mode)
    return True


class Command(BaseCommand):
    help = "Inspect, clear or warm djust's store of analysed templates and serializers."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["stats", "clear", "warm"])
        parser.add_argument("--template", action="append", default=[], metavar="NAME",
                            help="warm: also analyse this template (repeatable)")

    def handle(self, *args, action: str, template: list[str], **options):
        try:
            shared = store.configured_store()
        except ImproperlyConfigured as exc:  # e.g. a store directory others can write
            raise CommandError(str(exc)) from exc
        if action == "stats":
            self.show_stats(shared)
        elif action == "clear":
            self.clear(shared)
        else:
            self.warm(shared, extra=template)

    def show_stats(self, shared: store.Store | None) -> None:
        if shared is None:
            self.stdout.write("backend: memory (nothing shared between processes)")
        else:
            stats = shared.stats()
            self.stdout.write(f"backend: {stats.pop('backend')}")
            held = stats.pop("stored")
            if isinstance(held, dict):
                for name, value in held.items():
                    self.stdout.write(f"{name}: {value}")
            else:
                self.stdout.write(f"stored: {held}")
            counters = ", ".join(f"{name} {value}" for name, value in stats.items())
            self.stdout.write(f"this process: {counters}")
        self.stdout.write(
            f"in memory: {extraction.cached_count()} extractions, "
            f"{len(default_cache())} serializers")

    def clear(self, shared: store.Store | None) -> None:
        extraction.cache_clear()
        default_cache().clear()
        if shared is None:
            self.stdout.write("cleared this process's caches (backend: memory)")
            return
        try:
            removed = shared.clear()
        except store.StoreError as exc:
            raise CommandError(f"cannot clear {shared.backend.describe()}: {exc}") from exc
        self.stdout.write(f"removed {removed} entries from {shared.backend.describe()}")

    def warm(self, shared: store.Store | None, extra: list[str] = ()) -> None:
        if shared is None:
            raise CommandError(
                'nothing to warm: DJUST["CACHE"]["BACKEND"] is "memory" (set "filesystem", '
                '"redis" or "django" to share analysed templates between workers)')
        before = dict(shared.counters)
        templates = live_view_templates() + [("--template", name, None) for name in extra]
        for label, name, source in templates:
            try:
                warm_template(shared, name, source)
            except Exception as exc:  # one broken template must not stop the others
                self.stderr.write(f"{label}: {name}: {type(exc).__name__}: {exc}")
        template_hits = shared.counters["hits"] - before["hits"]
        middle = dict(shared.counters)
        records = manifest_records()
        compiled = sum(warm_serializer(shared, record) for record in records)
        serializer_hits = shared.counters["hits"] - middle["hits"]
        self.stdout.write(
            f"templates: {len(templates) - template_hits} analysed, {template_hits} already "
            f"stored; serializers: {compiled - serializer_hits} compiled, {serializer_hits} "
            f"already stored, {len(records) - compiled} skipped")
        if shared.counters["errors"] > before["errors"]:
            raise CommandError(f"{shared.backend.describe()} failed during warm: see the log")
