"""``manage.py djust_audit`` and ``python -m djust audit``: what djust reads
from every template the project's loaders can find.

For each Django template engine of ``TEMPLATES`` (or ``--engine NAME``), the
audit lists the templates its loaders hold, extracts each one as a LiveView
would (``extract_template_variables_from_name``) and prints, per template,
each context name with the paths read from it, and the tags djust cannot
analyse. ``--model ROOT=app.Model`` (repeatable) types a context name and
adds the query plan djust derives for it (``select_related``, prefetches,
``only``); ``--view dotted.path.View`` types the names a generic list or
detail view fills (``object_list``, ``page_obj``...) and audits its
template. A summary ends the output; ``--quiet`` prints only that, and
``--json`` prints one JSON document instead of text.

    $ python -m django djust_audit --model expiring_leases=rentals.Lease
    $ python -m djust audit rentals/dashboard.html --json --settings examples.settings

Which templates: the cached loader is unwrapped; the filesystem and
app-directories loaders are listed by walking their directories (``get_dirs()``)
recursively, following symbolic links once, skipping hidden files and
directories; a locmem loader's templates (``templates_dict``) are listed as
they are. A file
is a template when it is at most 1 MiB and decodes with the engine's
``file_charset`` without a NUL character; others (images, fonts, compiled
files) are counted as skipped. A name is audited once per engine, as the
first loader that holds it (the one Django uses) has it. A loader that
cannot list its templates (a database or custom loader) is named in the
summary: pass its template names as arguments to audit them.

One template failing does not stop the run: it is reported with its kind
of failure. Exit status: 0 every template analysed (tags djust cannot
analyse, missing includes or parents among them, do not count: they are
listed); 1 some templates failed to load, their own syntax error
(``TemplateSyntaxError``, a tag library that is not installed among them)
or not found (``TemplateDoesNotExist``: a name given as argument); 2 a usage
error (bad arguments or settings, an unknown engine or model), printed as
one line; 3 an unexpected exception while analysing some template, a bug
to report: the template, the exception type and its message are printed
and the run goes on.

Extraction results go through djust's in-process cache, bounded by
``DJUST["EXTRACTION_CACHE_SIZE"]``, and through the shared store when one
is configured (``DJUST["CACHE"]``), as the project's pages would.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from django.core.management.base import BaseCommand, CommandError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUG = 3
MAX_TEMPLATE_BYTES = 1 << 20
FAILURE_KINDS = ("syntax", "missing", "error")
INDENT = "  "


class AuditUsageError(Exception):
    """Bad arguments: an unknown engine or model, a malformed ``--model``."""


@dataclass(frozen=True)
class TypedRoot:
    """``--model ROOT=app.Model``: the model of the values under ``root``.
    ``through``: the lookups that lead to the same rows when the value is a
    paginator ``Page`` or ``Paginator`` (``object_list``), else empty."""

    root: str
    model: type
    through: frozenset[str] = frozenset()


@dataclass
class Listing:
    """The templates of one engine's loaders, and what was left out."""

    names: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    unlisted: list[str] = field(default_factory=list)  # loaders that cannot list


@dataclass
class Audited:
    """One template's result: its extraction, or how it failed."""

    engine: str
    name: str
    extraction: object = None
    failure: tuple[str, str, str] | None = None  # (kind, exception type, message)
    plans: dict[str, dict] = field(default_factory=dict)

    def as_dict(self) -> dict:
        data = {"engine": self.engine, "name": self.name}
        if self.failure is not None:
            kind, exc_type, message = self.failure
            data["failure"] = {"kind": kind, "type": exc_type, "message": message}
            return data
        data["failure"] = None
        data["roots"] = self.extraction.as_dict()
        data["unanalysed"] = [str(record) for record in self.extraction.unanalysed]
        data["templates"] = list(self.extraction.templates)
        if self.plans:
            data["plans"] = self.plans
        return data


# --------------------------------------------------------------- discovery

def django_backends(alias: str | None = None) -> list:
    """The configured Django template backends (``DjangoTemplates`` and its
    subclasses), or the one named ``alias``.

        >>> [backend.name for backend in django_backends()]
        ['django']
    """
    from django.template import engines
    from django.template.backends.django import DjangoTemplates
    from django.template.utils import InvalidTemplateEngineError

    if alias is None:
        return [backend for backend in engines.all() if isinstance(backend, DjangoTemplates)]
    try:
        backend = engines[alias]
    except InvalidTemplateEngineError as exc:
        raise AuditUsageError(f"unknown template engine {alias!r} (TEMPLATES has: "
                              f"{', '.join(engines) or 'none'})") from exc
    if not isinstance(backend, DjangoTemplates):
        raise AuditUsageError(f"template engine {alias!r} is {type(backend).__name__}, "
                              "not a Django template engine: djust reads only those")
    return [backend]


def leaf_loaders(loaders: Iterable) -> Iterator:
    """The loaders that find templates, with cached loaders unwrapped."""
    for loader in loaders:
        inner = getattr(loader, "loaders", None)
        if inner is not None:
            yield from leaf_loaders(inner)
        else:
            yield loader


def template_file_problem(path: str, charset: str) -> str:
    """Why the file at ``path`` is not a template ("" when it is one).

        >>> template_file_problem(__file__, "utf-8")
        ''
    """
    try:
        if os.path.getsize(path) > MAX_TEMPLATE_BYTES:
            return "over 1 MiB"
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    try:
        text = data.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return f"not {charset} text"
    if "\x00" in text:
        return "binary (NUL characters)"
    return ""


def _walk_directory(directory: str) -> Iterator[tuple[str, str]]:
    """``(relative name, path)`` of every non-hidden file under ``directory``,
    sorted, following each directory link once."""
    seen: set[str] = set()
    for top, dirs, files in os.walk(directory, followlinks=True):
        real = os.path.realpath(top)
        if real in seen:  # a link back up the tree
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = os.path.join(top, name)
            relative = os.path.relpath(path, directory)
            yield relative.replace(os.sep, "/"), path


def list_templates(engine) -> Listing:
    """The template names ``engine``'s loaders can list, first loader first.

        >>> from djust.compiler.extraction import default_engine
        >>> "rentals/base.html" in list_templates(default_engine()).names
        True
    """
    listing = Listing()
    claimed: set[str] = set()
    for loader in leaf_loaders(engine.template_loaders):
        templates = getattr(loader, "templates_dict", None)
        if isinstance(templates, dict):  # locmem
            for name in sorted(templates):
                if name not in claimed:
                    claimed.add(name)
                    listing.names.append(name)
            continue
        get_dirs = getattr(loader, "get_dirs", None)
        if get_dirs is None:
            listing.unlisted.append(f"{type(loader).__module__}.{type(loader).__qualname__}")
            continue
        for directory in get_dirs():
            directory = os.fspath(directory)
            if not os.path.isdir(directory):
                continue
            for name, path in _walk_directory(directory):
                if name in claimed:  # Django finds the first loader's file
                    continue
                claimed.add(name)
                problem = template_file_problem(path, engine.file_charset)
                if problem:
                    listing.skipped.append((path, problem))
                else:
                    listing.names.append(name)
    return listing


# ------------------------------------------------------------------ audit

def parse_model_options(values: Sequence[str]) -> list[TypedRoot]:
    """``ROOT=app_label.Model`` options, resolved; bad ones raise ``AuditUsageError``.

        >>> parse_model_options(["lease=rentals.Lease"])[0].model.__name__
        'Lease'
    """
    from django.apps import apps

    typed = []
    for value in values:
        root, sep, label = value.partition("=")
        if not sep or not root or not label:
            raise AuditUsageError(f"--model {value!r}: expected ROOT=app_label.Model")
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError) as exc:
            raise AuditUsageError(f"--model {value!r}: unknown model {label!r}: {exc}") from exc
        typed.append(TypedRoot(root, model))
    return typed


def parse_view_options(values: Sequence[str]) -> tuple[list[TypedRoot], list[str]]:
    """``--view dotted.path.View`` options: the context names a generic list
    or detail view fills with its model's rows (``object_list``,
    ``<model>_list`` or its ``context_object_name``, ``page_obj`` and
    ``paginator``; ``object`` and ``<model>``), typed, and its template.

        >>> roots, names = parse_view_options(["examples.rentals.views.LeaseList"])
        >>> [root.root for root in roots], names
        (['object_list', 'lease_list', 'page_obj', 'paginator'], ['rentals/lease_list.html'])
    """
    from django.utils.module_loading import import_string
    from django.views.generic.detail import SingleObjectMixin
    from django.views.generic.list import MultipleObjectMixin

    typed: list[TypedRoot] = []
    names: list[str] = []
    for value in values:
        try:
            view = import_string(value)
        except ImportError as exc:
            raise AuditUsageError(f"--view {value!r}: {exc}") from exc
        queryset = getattr(view, "queryset", None)
        model = getattr(view, "model", None) or getattr(queryset, "model", None)
        if not isinstance(view, type) or model is None:
            raise AuditUsageError(f"--view {value!r}: not a view class with a model or a "
                                  "queryset (a ListView or DetailView)")
        own = getattr(view, "context_object_name", None)
        if issubclass(view, MultipleObjectMixin):
            listed = frozenset({"object_list", "all"})
            typed += [TypedRoot("object_list", model),
                      TypedRoot(own or f"{model._meta.model_name}_list", model),
                      TypedRoot("page_obj", model, listed),
                      TypedRoot("paginator", model, frozenset({"object_list"}))]
        elif issubclass(view, SingleObjectMixin):
            typed += [TypedRoot("object", model),
                      TypedRoot(own or model._meta.model_name, model)]
        else:
            raise AuditUsageError(f"--view {value!r}: neither a list nor a detail view")
        names.append(getattr(view, "template_name", None) or (
            f"{model._meta.app_label}/{model._meta.model_name}"
            f"{getattr(view, 'template_name_suffix', '')}.html"))
    return typed, names


def _root_paths(root: TypedRoot, paths: Sequence[str]) -> list[str]:
    """The paths read from ``root``, as paths of the rows it holds."""
    if not root.through:
        return list(paths)
    from djust.template.planning import row_paths

    listed = [tail for path in paths for head, _, tail in [path.partition(".")]
              if head in root.through]
    iterated = [path for path in paths if "object_list" not in root.through
                or not path.startswith("object_list")]
    return [f"*.{path}" if path else "*"
            for path in sorted(set(row_paths(listed) + row_paths(iterated, set(root.through))))]


def plan_for(model: type, paths: Sequence[str]) -> dict:
    """The query plan of ``model`` for the paths a template reads from one
    context name (each element's, when it iterates the name).

        >>> from examples.rentals.models import Lease
        >>> plan = plan_for(Lease, ["*.tenant.phone"])
        >>> plan["collection"], plan["select_related"]
        (True, ['tenant'])
    """
    from djust.compiler.errors import CompilerError
    from djust.compiler.plan import plan_queries
    from djust.compiler.tree import build_access_tree
    from djust.context import split_collection_paths

    collection = _reads_as_collection(paths)
    element = split_collection_paths(list(paths))[0] if collection else list(paths)
    data = {"model": model._meta.label, "collection": collection}
    try:
        plan = plan_queries(build_access_tree(model, element, warn=False))
    except CompilerError as exc:
        data["error"] = f"{type(exc).__name__}: {exc}"
        return data
    data["select_related"] = list(plan.select_related)
    data["prefetch_related"] = list(_prefetch_lookups(plan.root))
    data["only"] = None if plan.only is None else list(plan.only)
    explained = plan.explain().splitlines()
    data["explain"] = explained[:explained.index("Paths:")] if "Paths:" in explained \
        else explained
    return data


def _reads_as_collection(paths: Sequence[str]) -> bool:
    """``djust.__main__.reads_as_collection`` (which imports this module):
    the template iterates the value or reads only collection lookups."""
    from djust.compiler.paths import is_index
    from djust.context import COLLECTION_LOOKUPS

    heads = {path.split(".", 1)[0] for path in paths}
    return "*" in heads or (bool(heads) and all(
        head in COLLECTION_LOOKUPS or is_index(head) for head in heads))


def _prefetch_lookups(level, prefix: str = "") -> Iterator[str]:
    for spec in level.prefetches:
        lookup = f"{prefix}{spec.lookup}"
        yield lookup
        for inner in ([spec.level] if spec.level is not None else []) + list(spec.targets):
            yield from _prefetch_lookups(inner, f"{lookup}__")


def _where_raised(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f" ({frames[-1].filename}, line {frames[-1].lineno})" if frames else ""


def audit_template(backend, name: str, typed: Sequence[TypedRoot]) -> Audited:
    """Extract one template; a failure is recorded, never raised.

        >>> backend = django_backends()[0]
        >>> audit_template(backend, "nowhere.html", []).failure[:2]
        ('missing', 'TemplateDoesNotExist')
    """
    from django.template import TemplateDoesNotExist, TemplateSyntaxError

    from djust.compiler.extraction import extract_template_variables_from_name

    result = Audited(backend.name, name)
    try:
        result.extraction = extract_template_variables_from_name(name, engine=backend.engine)
        for root in typed:
            if root.root in result.extraction:
                paths = _root_paths(root, result.extraction[root.root])
                if paths or not root.through:
                    # A page read only for its number holds no rows to plan.
                    result.plans[root.root] = plan_for(root.model, paths)
    except TemplateSyntaxError as exc:
        result.failure = ("syntax", type(exc).__name__, _one_line(exc))
    except TemplateDoesNotExist as exc:
        result.failure = ("missing", type(exc).__name__, f"template not found: {exc}")
    except Exception as exc:  # a bug in djust (or the project's tag code): report, go on
        result.failure = ("error", type(exc).__name__, _one_line(exc) + _where_raised(exc))
    if result.failure is not None:
        result.extraction = None
        result.plans = {}
    return result


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


@dataclass
class Report:
    """What an audit found: running counts, and with ``keep`` every result
    (JSON output and callers need them; text output is written as it goes)."""

    keep: bool = True
    results: list[Audited] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # engine, path, reason
    unlisted: list[tuple[str, str]] = field(default_factory=list)  # engine, loader
    seconds: float = 0.0
    counts: Counter = field(default_factory=Counter)
    root_names: set[str] = field(default_factory=set)

    def add(self, result: Audited) -> None:
        counts = self.counts
        counts["templates"] += 1
        if result.failure is not None:
            counts[result.failure[0]] += 1
        else:
            counts["analysed"] += 1
            unanalysed = len(result.extraction.unanalysed)
            counts["with_unanalysed"] += bool(unanalysed)
            counts["unanalysed_tags"] += unanalysed
            counts["roots"] += len(result.extraction)
            self.root_names.update(result.extraction)
        if self.keep:
            self.results.append(result)

    def failures(self) -> dict[str, int]:
        return {kind: self.counts[kind] for kind in FAILURE_KINDS}

    def exit_status(self) -> int:
        if self.counts["error"]:
            return EXIT_BUG
        if self.counts["syntax"] or self.counts["missing"]:
            return EXIT_FAILED
        return EXIT_OK

    def summary(self) -> dict:
        counts = self.counts
        return {
            "templates": counts["templates"],
            "analysed": counts["analysed"],
            "with_unanalysed": counts["with_unanalysed"],
            "unanalysed_tags": counts["unanalysed_tags"],
            "roots": counts["roots"],
            "distinct_roots": len(self.root_names),
            "failures": self.failures(),
            "skipped_files": len(self.skipped),
            "unlisted_loaders": [f"{engine}: {loader}" for engine, loader in self.unlisted],
            "seconds": round(self.seconds, 3),
            "exit_status": self.exit_status(),
        }


# Django's cached loader keeps every template it compiled, for the life of
# the process: past this many, the audit empties it (as autoreload does), so
# that thousands of templates take bounded memory (20,000 generated ones,
# --quiet: 390 MB peak and 28 s kept, 59 MB and 8 s emptied). Only the
# parents and includes shared by templates audited after it are compiled
# again.
LOADER_CACHE_LIMIT = 512


def bound_loader_caches(engine, limit: int = LOADER_CACHE_LIMIT) -> None:
    """Empty ``engine``'s cached loaders that hold more than ``limit`` templates."""
    for loader in engine.template_loaders:
        held = getattr(loader, "get_template_cache", None)
        if isinstance(held, dict) and len(held) > limit and hasattr(loader, "reset"):
            loader.reset()


def run_audit(names: Sequence[str] = (), engine: str | None = None,
              models: Sequence[str] = (), *, keep: bool = True,
              on_result=None, views: Sequence[str] = ()) -> Report:
    """Audit ``names`` (else every template listed) of each Django engine
    (else only ``engine``); ``on_result(result, several_engines)`` is called
    with each result as it is made.

        >>> report = run_audit(["extraction/row.html"])
        >>> report.results[0].extraction["lease"], report.exit_status()
        (('tenant.phone',), 0)
    """
    backends = django_backends(engine)
    if not backends:
        raise AuditUsageError("TEMPLATES has no Django template engine")
    typed = parse_model_options(models)
    view_roots, view_templates = parse_view_options(views)
    typed += view_roots
    # A view names its template: audit that one unless names are given.
    names = list(names) or view_templates
    several = len(backends) > 1
    report = Report(keep=keep)

    def add(result: Audited) -> None:
        report.add(result)
        if on_result is not None:
            on_result(result, several)

    started = time.perf_counter()
    if names:
        for name in dict.fromkeys(names):
            for result in _audit_named(backends, name, typed):
                add(result)
    else:
        for backend in backends:
            listing = list_templates(backend.engine)
            report.skipped += [(backend.name, path, why) for path, why in listing.skipped]
            report.unlisted += [(backend.name, loader) for loader in listing.unlisted]
            for name in listing.names:
                add(audit_template(backend, name, typed))
                bound_loader_caches(backend.engine)
    report.seconds = time.perf_counter() - started
    return report


def _audit_named(backends: Sequence, name: str, typed: Sequence[TypedRoot]) -> list[Audited]:
    """``name`` in every engine that finds it; one 'missing' result when none does."""
    results = [audit_template(backend, name, typed) for backend in backends]
    found = [result for result in results
             if result.failure is None or result.failure[0] != "missing"]
    return found or results[:1]


# ------------------------------------------------------------------ output

def summary_text(report: Report, several: bool = False, quiet: bool = False) -> str:
    """The skipped files (unless ``quiet``) and the summary, as text."""
    lines: list[str] = []
    if not quiet:
        for engine, path, reason in report.skipped:
            suffix = f" [engine {engine}]" if several else ""
            lines.append(f"skipped {path} ({reason}){suffix}")
    summary = report.summary()
    failures = summary["failures"]
    tags = summary["unanalysed_tags"]
    lines.append("Summary")
    lines += [f"{INDENT}{line}" for line in (
        f"templates audited: {summary['templates']}",
        f"analysed: {summary['analysed']}",
        f"with unanalysable tags: {summary['with_unanalysed']} "
        f"({tags} tag{'' if tags == 1 else 's'})",
        f"roots: {summary['roots']} ({summary['distinct_roots']} distinct names)",
        "failures: " + ", ".join(f"{kind} {failures[kind]}" for kind in FAILURE_KINDS),
        f"files skipped: {summary['skipped_files']}",
        *(f"loader not listed (pass its template names): {loader}"
          for loader in summary["unlisted_loaders"]),
        f"time: {summary['seconds']:.2f} s",
        f"exit status: {summary['exit_status']}",
    )]
    return "\n".join(lines)


def template_text(result: Audited, several: bool = False) -> str:
    """One template's block of the text output."""
    title = result.name + (f" [engine {result.engine}]" if several else "")
    lines = [title]
    if result.failure is not None:
        kind, exc_type, message = result.failure
        lines.append(f"{INDENT}failed ({kind}): {exc_type}: {message}")
        return "\n".join(lines)
    extraction = result.extraction
    for root in extraction:
        paths = ", ".join(path or "(the value itself)" for path in extraction[root])
        lines.append(f"{INDENT}{root}: {paths}")
        plan = result.plans.get(root)
        if plan is not None:
            lines += [f"{INDENT * 2}{line}" for line in _plan_lines(plan)]
    if not extraction:
        lines.append(f"{INDENT}(reads no context name)")
    lines += [f"{INDENT}unanalysed: {record}" for record in extraction.unanalysed]
    return "\n".join(lines)


def _plan_lines(plan: dict) -> list[str]:
    each = " (each element)" if plan["collection"] else ""
    if "error" in plan:
        return [f"plan for {plan['model']}{each}: not planned: {plan['error']}"]
    # QueryPlan.explain()'s levels: joins, columns, prefetches (indented).
    described = plan["explain"][1:] or [f"{INDENT}nothing to join or prefetch"]
    return [f"plan for {plan['model']}{each}:", *described]


def render_json(report: Report, *, quiet: bool = False) -> str:
    """The report as one JSON document: ``summary``, and unless ``quiet``
    ``templates`` (one object per template) and ``skipped``."""
    data: dict = {"summary": report.summary()}
    if not quiet:
        data["templates"] = [result.as_dict() for result in report.results]
        data["skipped"] = [{"engine": engine, "path": path, "reason": reason}
                           for engine, path, reason in report.skipped]
    return json.dumps(data, indent=2)


def audit_main(names: Sequence[str], engine: str | None, models: Sequence[str],
               as_json: bool, quiet: bool, write=None, views: Sequence[str] = ()) -> int:
    """Audit, write the report (``write``: a function taking text; print by
    default) and return the exit status; ``AuditUsageError`` for bad
    arguments. Text is written template by template, as the audit goes."""
    write = write or print
    if as_json:
        report = run_audit(names, engine, models, keep=not quiet, views=views)
        write(render_json(report, quiet=quiet))
        return report.exit_status()
    several = [False]

    def show(result: Audited, several_engines: bool) -> None:
        several[0] = several_engines
        if not quiet:
            write(template_text(result, several_engines))

    report = run_audit(names, engine, models, keep=False, on_result=show, views=views)
    write(summary_text(report, several[0], quiet))
    return report.exit_status()


def add_arguments(parser) -> None:
    """The audit's options, for both ``python -m djust audit`` and the command."""
    parser.add_argument("template_names", nargs="*", metavar="TEMPLATE_NAME",
                        help="audit only these templates (default: every template the "
                             "loaders can list)")
    parser.add_argument("--engine", metavar="NAME",
                        help="only this TEMPLATES engine (its NAME, default 'django')")
    parser.add_argument("--model", action="append", default=[], metavar="ROOT=APP.MODEL",
                        help="type the context name ROOT as APP.MODEL and show its query "
                             "plan (repeatable)")
    parser.add_argument("--view", action="append", default=[], metavar="DOTTED.PATH",
                        help="a ListView or DetailView class: type the context names it "
                             "fills with its model's rows, and audit its template unless "
                             "names are given (repeatable)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--quiet", action="store_true", help="print the summary only")


class Command(BaseCommand):
    help = ("Audit every template the loaders can find: the paths djust reads per context "
            "name, the tags it cannot analyse, and with --model the query plan. Exit "
            "status: 0 all analysed, 1 some failed to load (syntax error, not found), "
            "2 usage error, 3 an unexpected exception (a bug).")

    def add_arguments(self, parser):
        add_arguments(parser)

    def handle(self, *args, template_names, engine, model, json, quiet, view, **options):
        try:
            status = audit_main(template_names, engine, model, json, quiet,
                                write=self.stdout.write, views=view)
        except AuditUsageError as exc:
            raise CommandError(str(exc), returncode=EXIT_USAGE) from exc
        if status == EXIT_FAILED:
            raise CommandError("some templates failed to load (see above)",
                               returncode=EXIT_FAILED)
        if status == EXIT_BUG:
            raise CommandError("unexpected exceptions while analysing templates (see above): "
                               "please report them", returncode=EXIT_BUG)
