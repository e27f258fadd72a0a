"""djust's command line: ``python -m djust explain TEMPLATE_NAME`` and
``python -m djust audit [TEMPLATE_NAME ...]``.

``explain`` shows what djust reads from a template: per context name, the
paths it extracted, the tags it could not analyse, and the templates the
result depends on. With ``--model app.Model --name NAME`` it restricts the
output to one context name typed against one model, says how a LiveView
serializes that name, and adds the serializer (access tree, plan, generated
source, verification); further sections are added by appending a section
builder to ``SECTION_BUILDERS``.

    $ python -m djust explain rentals/dashboard.html --settings examples.settings
    $ DJANGO_SETTINGS_MODULE=examples.settings python -m djust explain \\
          rentals/dashboard.html --model rentals.Lease --name expiring_leases

The settings come from ``--settings`` or ``DJANGO_SETTINGS_MODULE``, as
with ``django-admin``. Exit status: 0 explained; 1 explained, but the model
has none of the paths read from the name; 2 a user error (bad arguments,
settings, template, model or name; or paths djust cannot compile, a
``CompilerError``, after the sections), printed as one line on stderr,
``djust explain: error: <message>``. Warnings print at the top of the
output and as one line on stderr, ``djust explain: warning: <message>``.

``audit`` runs ``manage.py djust_audit`` (``djust.management.commands.
djust_audit``, which documents its output) over every template the loaders
can find, or the names given; options ``--engine NAME``, ``--model
ROOT=app.Model`` (repeatable), ``--json``, ``--quiet``, and ``--settings``/
``--pythonpath`` as above. Exit status: 0 every template analysed; 1 some
templates failed (their syntax error, or not found); 2 a user error, as for
``explain`` (``djust audit: error: <message>``); 3 an unexpected exception
while analysing some template (reported with it; the run goes on).

    $ python -m djust audit --settings examples.settings --quiet
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

EXIT_OK = 0
EXIT_NO_KNOWN_PATH = 1
EXIT_USAGE = 2
INDENT = "  "
NO_SETTINGS = ("no settings: set DJANGO_SETTINGS_MODULE to your project's settings module "
               "or pass --settings dotted.path")
ABSENT = object()


class ExplainError(Exception):
    """A user-facing problem: printed as one line, exit status 2."""


class UsageError(ExplainError):
    """Bad arguments, as argparse reports them; ``command`` names the parser."""

    def __init__(self, command: str, message: str):
        super().__init__(message)
        self.command = command


class OneLineParser(argparse.ArgumentParser):
    """argparse, but an argument error is a ``UsageError``, not usage text
    and ``sys.exit``: ``main`` prints every error in the same one-line form."""

    def error(self, message: str):
        raise UsageError(_command_label(self.prog), message)


def _command_label(prog: str) -> str:
    """The name errors go under: ``djust explain`` for the explain parser.

        >>> _command_label("python -m djust explain")
        'djust explain'
    """
    return " ".join(["djust", *prog.split()[3:]])


@dataclass(frozen=True)
class Section:
    """One titled block of ``explain`` output."""

    title: str
    lines: tuple[str, ...]

    def render(self) -> str:
        body = "\n".join(f"{INDENT}{line}" for line in self.lines) or f"{INDENT}(none)"
        return f"{self.title}\n{body}"


@dataclass(frozen=True)
class ExplainRequest:
    """What ``explain`` was asked and what extraction found.

    ``model`` is the model class when ``--model`` was given; ``name`` the
    context name to restrict the output to (the template reads it).
    """

    template_name: str
    extraction: object
    model: type | None = None
    name: str | None = None

    def roots(self) -> list[str]:
        if self.name is not None:
            return [self.name]
        return list(self.extraction)

    def read_paths(self) -> list[str]:
        """The paths the template reads from ``name``.

            >>> build_request("extraction/row.html", "rentals.Lease", "lease").read_paths()
            ['tenant.phone']
        """
        return list(self.extraction.get(self.name, ()))

    def is_collection(self) -> bool:
        """Whether the template reads ``name`` as a collection (its rows)."""
        return reads_as_collection(self.read_paths())

    def serialized_paths(self) -> list[str]:
        """The paths the serializer of one ``model`` instance answers: the
        element paths when the template iterates ``name``, as ``djust.context``
        splits them.

            >>> build_request("rentals/dashboard.html", "rentals.Property",
            ...               "properties").serialized_paths()
            ['amenities.all.*.name', 'name', 'occupancy_rate', 'units.count']
        """
        from djust.context import split_collection_paths

        if self.is_collection():
            return split_collection_paths(self.read_paths())[0]
        return self.read_paths()


def reads_as_collection(paths: Sequence[str]) -> bool:
    """True when the template iterates the value or reads it only through
    collection lookups (``count``, ``first.x``, ``0.x``).

        >>> reads_as_collection(["*.name", "count"]), reads_as_collection(["name"])
        (True, False)
    """
    from djust.compiler.paths import is_index
    from djust.context import COLLECTION_LOOKUPS

    heads = {path.split(".", 1)[0] for path in paths}
    return "*" in heads or (bool(heads) and all(
        head in COLLECTION_LOOKUPS or is_index(head) for head in heads))


def _compile_request(request: ExplainRequest):
    """The serializer a LiveView compiles for ``request.name`` (json mode, as
    ``serializer.explain()`` shows it); raises ``CompilerError`` when djust
    cannot compile it."""
    from djust.compiler import compile_serializer

    return compile_serializer(request.model, request.serialized_paths())


def _try_compile(request: ExplainRequest):
    """``_compile_request``'s serializer, or the ``CompilerError`` it raised."""
    from djust.compiler.errors import CompilerError

    try:
        return _compile_request(request)
    except CompilerError as exc:
        return exc


# ------------------------------------------------------- paths the model lacks

def _instance_kinds() -> frozenset:
    """Node kinds that stand for one model instance: a lookup on one that
    names nothing on its model is a path the model does not have."""
    from djust.compiler.nodes import Kind

    return frozenset({Kind.ROOT, Kind.FORWARD, Kind.REVERSE_ONE, Kind.EACH, Kind.PICK,
                      Kind.INDEX})


def _missing_prefixes(node, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The segments, from the root, of every lookup that names nothing on the
    model instance it is made on (below a method or a field the type is
    unknown anyway, so those do not count)."""
    from djust.compiler.nodes import Kind

    for child in node.children:
        here = (*prefix, child.segment)
        if child.kind is Kind.UNKNOWN:
            if node.kind in _instance_kinds() and node.model is not None and (
                    inspect.getattr_static(node.model, child.segment, ABSENT) is ABSENT):
                yield here
            continue
        yield from _missing_prefixes(child, here)


@dataclass(frozen=True)
class UnknownPaths:
    """Paths read from ``--name`` that name nothing on ``--model``."""

    model_label: str
    name: str
    collection: bool
    unknown: tuple[str, ...]
    total: int

    @property
    def none_known(self) -> bool:
        return len(self.unknown) == self.total

    def message(self) -> str:
        read = f"each element of {self.name!r}" if self.collection else repr(self.name)
        listed = ", ".join(self.unknown)
        if self.none_known:
            return (f"{self.model_label} has none of the paths read from {read}: {listed} "
                    f"(is {self.model_label} the model of {self.name!r}?)")
        return (f"{self.model_label} has nothing named by {len(self.unknown)} of the "
                f"{self.total} paths read from {read}: {listed} (each is looked up at run "
                f"time, as the template engine would)")


def find_unknown_paths(request: ExplainRequest) -> UnknownPaths | None:
    """The paths ``--model`` lacks, or None when it has them all (or when
    nothing was compiled).

        >>> found = find_unknown_paths(build_request(
        ...     "rentals/dashboard.html", "rentals.Unit", "expiring_leases"))
        >>> found.unknown[:2], found.total, found.none_known
        (('days_until_expiration', 'end_date'), 8, False)
    """
    from djust.compiler.paths import split_path

    serializer = _try_compile(request) if request.model is not None else None
    if serializer is None or isinstance(serializer, Exception):
        return None
    missing = set(_missing_prefixes(serializer.tree))
    paths = [path for path in request.serialized_paths() if path]
    unknown = tuple(path for path in paths if any(
        split_path(path)[:length] in missing for length in range(1, len(split_path(path)) + 1)))
    if not unknown:
        return None
    return UnknownPaths(request.model._meta.label, request.name, request.is_collection(),
                        unknown, len(paths))


# ------------------------------------------------------------------ sections

def warning_section(request: ExplainRequest) -> Section | None:
    """At the very top: the paths ``--model`` does not have.

        >>> warning_section(build_request("extraction/row.html", "rentals.Lease", "lease"))
    """
    found = find_unknown_paths(request)
    return Section("Warning", (found.message(),)) if found else None


def template_section(request: ExplainRequest) -> Section:
    """The template chain, and the model and name asked about.

        >>> template_section(build_request("extraction/row.html", None, None)).lines
        ('chain: extraction/row.html',)
    """
    lines = [f"chain: {', '.join(request.extraction.templates) or request.template_name}"]
    if request.model is not None:
        lines.append(f"model: {request.model._meta.label} (context name {request.name!r})")
    return Section(f"Template {request.template_name}", tuple(lines))


def paths_section(request: ExplainRequest) -> Section:
    """Per context name (only ``--name`` when given), the paths read from it.

        >>> paths_section(build_request("extraction/row.html", None, None)).lines
        ('label:', '  (the value itself)', 'lease:', '  tenant.phone')
    """
    lines: list[str] = []
    for root in request.roots():
        lines.append(f"{root}:")
        lines += [f"{INDENT}{path if path else '(the value itself)'}"
                  for path in request.extraction[root]]
    return Section("Paths", tuple(lines))


def unanalysed_section(request: ExplainRequest) -> Section:
    """The tags djust could not follow, with where and why.

        >>> unanalysed_section(build_request("extraction/custom.html", None, None)).lines
        ... # doctest: +ELLIPSIS
        ('{% shout %} in extraction/custom.html, line 3: custom tag: ...',)
    """
    lines = tuple(str(record) for record in request.extraction.unanalysed)
    return Section("Unanalysed tags", lines)


def live_view_section(request: ExplainRequest) -> Section | None:
    """With ``--model/--name``: which of the serializer section's plans a
    LiveView runs, per kind of value it may find under the name (the rules
    of ``djust.context.serialize_value``).

        >>> section = live_view_section(build_request(
        ...     "rentals/dashboard.html", "rentals.Lease", "expiring_leases"))
        >>> section.lines[0]  # doctest: +ELLIPSIS
        'a QuerySet of rentals.Lease: serializer.many(queryset): values_list() rows, ...'
    """
    if request.model is None:
        return None
    label = request.model._meta.label
    if request.extraction.unanalysed:
        lines = [f"the template has tags djust cannot analyse: the page renders {request.name} "
                 "from the live value, with its own queries, and the browser gets the paths "
                 "above only (the fallback log line); no plan below is used"]
    else:
        serializer = _try_compile(request)
        if isinstance(serializer, Exception):
            lines = [f"djust cannot compile it ({type(serializer).__name__}): the page renders "
                     f"{request.name} from the live value and logs why (the fallback log line)"]
        elif request.is_collection():
            lines = _collection_lines(request, serializer, label)
        else:
            lines = [f"a {label} instance: the serializer below; the query plan's joins and "
                     "prefetches run with prefetch_related_objects() on it (one query per "
                     "relation it has not loaded)"]
    lines.append('with DJUST["JIT"] = False, or jit = False on the view, the page renders from '
                 "the live value instead")
    return Section(f"How a LiveView serializes {request.name}", tuple(lines))


def _collection_lines(request: ExplainRequest, serializer, label: str) -> list[str]:
    """``live_view_section`` for a name the template iterates or counts."""
    from djust.context import COLLECTION_LOOKUPS

    heads = {path.split(".", 1)[0] for path in request.read_paths()}
    if heads <= COLLECTION_LOOKUPS:
        # djust.context loads no rows for these but the first and last.
        return _counted_lines(heads, label)
    lines = [f"a QuerySet of {label}: serializer.many(queryset): " + _queryset_plan(serializer)]
    lines += _projection_fallbacks(serializer, label)
    asked = sorted(head for head in heads - {"*", ""} - {"count", "exists"}
                   if not head.isdigit())
    if asked:
        lines.append(f"  {', '.join(asked)}: asked of the live QuerySet, as Django would "
                     "(first()/last() and derived QuerySets run their own query)")
    lines.append(f"a values() or values_list() QuerySet of {label}: its rows as they are, read "
                 "with Django's lookup rules (no serializer)")
    lines.append(_list_line(label))
    return lines


def _queryset_plan(serializer) -> str:
    from djust.compiler.serializer import projection_of

    if projection_of(serializer):
        return "values_list() rows, no model instances (many(queryset) below)"
    return ("the query plan below, on model instances (a path needs them; many(queryset) "
            "below says so)")


def _projection_fallbacks(serializer, label: str) -> list[str]:
    """When ``many()`` declines the projection at run time and runs the query
    plan on model instances instead (``projection.fetch`` and
    ``queryset_accepts_projection``)."""
    from djust.compiler.serializer import projection_of

    projected = projection_of(serializer)
    if not projected:
        return []
    spec = projected[1]
    lines = ["  the query plan below, on model instances, instead when the QuerySet uses "
             "distinct(), prefetch_related() or union()/intersection()/difference()"]
    if spec.runs:
        # A LiveView compiles for queryset.model, so only annotations can
        # make fetch() refuse the stand-ins.
        lines.append(f"  or an annotation or extra() sets a name the code reads: "
                     f"{', '.join(sorted(spec.runs))}")
    if spec.levels:
        lines.append("  or a related manager's own queryset is distinct, sliced, combined or "
                     "prefetching, or a join in the QuerySet's filters repeats a row")
    return lines


def _counted_lines(heads: set[str], label: str) -> list[str]:
    """``live_view_section`` for a collection read only through ``count``,
    ``exists``, ``first`` and ``last``: no rows are loaded but those."""
    lines = []
    picked = heads & {"first", "last"}
    if picked:
        lines.append(f"a QuerySet of {label}: queryset.{'()/'.join(sorted(picked))}"
                     "(), each row serialized alone by the serializer below, without the query "
                     "plan")
    if heads & {"count", "exists"}:
        query = "EXISTS" if heads == {"exists"} else "COUNT"
        lines.append(f"a QuerySet of {label}: one {query} query; no other row is loaded")
    lines.append(_list_line(label))
    return lines


def _list_line(label: str) -> str:
    return (f"a list or tuple of {label} instances: serializer.many(rows): the query plan "
            "below, completed on the rows already loaded with prefetch_related_objects() (a "
            "join becomes one query per relation, none when the rows loaded it already)")


def serializer_section(request: ExplainRequest) -> Section | None:
    """With ``--model/--name``: the access tree, the query plan, the
    generated source and its verification, for the paths read from that
    name (element paths when the template iterates it).

        >>> section = serializer_section(build_request(
        ...     "extraction/row.html", "rentals.Lease", "lease"))
        >>> section.title, section.lines[2]
        ('Serializer for lease', 'access tree:')
    """
    if request.model is None:
        return None
    serializer = _try_compile(request)
    if isinstance(serializer, Exception):
        lines = (f"not compiled: {type(serializer).__name__}: {serializer}",)
    else:
        lines = tuple(serializer.explain().splitlines())
    return Section(f"Serializer for {request.name}", lines)


# Later stages append builders here; a builder returns None to stay silent
# (for example when no ``--model`` was given).
SECTION_BUILDERS: list[Callable[[ExplainRequest], Section | None]] = [
    warning_section,
    template_section,
    paths_section,
    unanalysed_section,
    live_view_section,
    serializer_section,
]


def explain_sections(request: ExplainRequest) -> list[Section]:
    """Every section ``explain`` prints, in order.

        >>> request = build_request("rentals/dashboard.html", None, None)
        >>> [s.title for s in explain_sections(request)]
        ['Template rentals/dashboard.html', 'Paths', 'Unanalysed tags']
    """
    sections = (builder(request) for builder in SECTION_BUILDERS)
    return [section for section in sections if section is not None]


# ------------------------------------------------------------- the request

def _resolve_model(label: str) -> type:
    from django.apps import apps

    try:
        return apps.get_model(label)
    except (LookupError, ValueError) as exc:
        raise ExplainError(f"unknown model {label!r}: {exc}") from exc


def _load_extraction(template_name: str):
    from django.template import TemplateDoesNotExist, TemplateSyntaxError

    from djust.compiler.extraction import extract_template_variables_from_name

    try:
        return extract_template_variables_from_name(template_name)
    except TemplateDoesNotExist as exc:
        raise ExplainError(f"template not found: {exc}") from exc
    except TemplateSyntaxError as exc:
        raise ExplainError(f"template syntax error: {exc}") from exc


def build_request(template_name: str, model_label: str | None, name: str | None):
    """Resolve the model, extract the template and check the name is read;
    an ``ExplainError`` says what is wrong.

        >>> build_request("extraction/row.html", "rentals.Lease", "lease").model
        <class 'examples.rentals.models.Lease'>
    """
    model = _resolve_model(model_label) if model_label else None
    extraction = _load_extraction(template_name)
    if name is not None and name not in extraction:
        read = ", ".join(extraction) or "no name"
        raise ExplainError(f"{template_name} never reads {name!r} (it reads: {read})")
    return ExplainRequest(template_name, extraction, model, name)


def command_explain(arguments: argparse.Namespace) -> int:
    """Print the sections; the status says whether ``--model`` has the paths.

        >>> command_explain(parse(["explain", "rentals/base.html"]))  # doctest: +ELLIPSIS
        Template rentals/base.html
        ...
        0
    """
    request = build_request(arguments.template_name, arguments.model, arguments.name)
    print("\n\n".join(section.render() for section in explain_sections(request)))
    failed = _try_compile(request) if request.model is not None else None
    if isinstance(failed, Exception):
        # The sections above say how a LiveView falls back; the status
        # says the serializer asked about does not exist.
        return _report_error(f"djust {arguments.command}",
                             f"cannot compile {request.name!r}: {failed}")
    unknown = find_unknown_paths(request)
    if unknown is None:
        return EXIT_OK
    print(f"djust {arguments.command}: warning: {unknown.message()}", file=sys.stderr)
    return EXIT_NO_KNOWN_PATH if unknown.none_known else EXIT_OK


# ---------------------------------------------------------------- settings

def _import_settings(module: str) -> None:
    """Import the settings module ourselves, so that a failure names it."""
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(f"{exc.name}.")):
            raise ExplainError(
                f"settings module {module!r} not found (no module named {exc.name!r} on "
                "sys.path; run from the directory that holds it or pass --pythonpath)"
            ) from exc
        raise ExplainError(f"settings module {module!r} cannot be imported: {exc}") from exc
    except Exception as exc:  # the project's own code: report it, do not crash on it
        raise ExplainError(
            f"settings module {module!r} failed to import: {type(exc).__name__}: {exc}"
            f"{_where_raised(exc)}") from exc


def _where_raised(exc: BaseException) -> str:
    """`` (file, line N)`` of the innermost frame of ``exc``'s traceback.

    A SyntaxError names its place in its message already.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    if isinstance(exc, SyntaxError) or not frames:
        return ""
    return f" ({frames[-1].filename}, line {frames[-1].lineno})"


def setup_django(settings_module: str | None, pythonpath: str | None) -> None:
    """Point Django at ``--settings`` (else ``DJANGO_SETTINGS_MODULE``) and
    set it up, as ``django-admin`` does; a process that set Django up
    already keeps its settings.

        >>> setup_django(None, None)  # Django is set up: nothing to do
    """
    import django
    from django.apps import apps
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    if apps.ready:
        running = getattr(settings, "SETTINGS_MODULE", None)
        if settings_module and settings_module != running:
            raise ExplainError(f"Django is already set up in this process with settings "
                               f"{running!r}; --settings {settings_module} cannot apply")
        return
    if pythonpath:
        sys.path.insert(0, pythonpath)
    if settings_module:
        os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    if not settings.configured:
        module = os.environ.get("DJANGO_SETTINGS_MODULE")
        if not module:
            raise ExplainError(NO_SETTINGS)
        _import_settings(module)
    try:
        django.setup()
    except ImproperlyConfigured as exc:
        raise ExplainError(f"improperly configured: {exc}") from exc
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] == "djust":
            raise
        raise ExplainError(f"cannot set up Django: {exc} (an INSTALLED_APPS entry?)") from exc


# ------------------------------------------------------------ the command

def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m djust`` and its ``explain`` command.

        >>> build_parser().parse_args(["explain", "page.html", "--settings", "site.settings"])
        ... # doctest: +ELLIPSIS
        Namespace(command='explain', template_name='page.html', ..., settings='site.settings'...)
    """
    parser = OneLineParser(
        prog="python -m djust", description="Inspect what djust compiles from templates."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    explain = commands.add_parser("explain", help="show the paths a template reads")
    explain.add_argument("template_name", metavar="TEMPLATE_NAME",
                         help="a template name the loaders can find")
    explain.add_argument("--model", metavar="APP_LABEL.MODEL",
                         help="the model of the context value (needs --name)")
    explain.add_argument("--name", metavar="CONTEXT_NAME",
                         help="the context name holding --model's instances (needs --model)")
    explain.add_argument("--settings", metavar="DOTTED.PATH",
                         help="the settings module; else DJANGO_SETTINGS_MODULE")
    explain.add_argument("--pythonpath", metavar="DIRECTORY",
                         help="a directory to add to sys.path first, e.g. the project's")
    explain.set_defaults(handler=command_explain)
    audit = commands.add_parser(
        "audit", help="show what djust reads from every template the loaders can find")
    _add_audit_arguments(audit)
    audit.add_argument("--settings", metavar="DOTTED.PATH",
                       help="the settings module; else DJANGO_SETTINGS_MODULE")
    audit.add_argument("--pythonpath", metavar="DIRECTORY",
                       help="a directory to add to sys.path first, e.g. the project's")
    audit.set_defaults(handler=command_audit)
    return parser


def _add_audit_arguments(parser: argparse.ArgumentParser) -> None:
    # The management command's module imports Django's management package,
    # which needs no settings: safe before setup_django.
    from djust.management.commands.djust_audit import add_arguments

    add_arguments(parser)


def command_audit(arguments: argparse.Namespace) -> int:
    """``python -m djust audit``: the code of ``manage.py djust_audit``
    (``djust.management.commands.djust_audit``), with this CLI's errors.

        >>> command_audit(parse(["audit", "extraction/row.html", "--quiet"]))
        ... # doctest: +ELLIPSIS
        Summary
          templates audited: 1
        ...
        0
    """
    from djust.management.commands.djust_audit import AuditUsageError, audit_main

    try:
        return audit_main(arguments.template_names, arguments.engine, arguments.model,
                          arguments.json, arguments.quiet, views=arguments.view)
    except AuditUsageError as exc:
        raise ExplainError(str(exc)) from exc


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments, or a ``UsageError`` under the command it concerns.

        >>> parse(["explain", "page.html"]).template_name
        'page.html'
    """
    arguments, extra = build_parser().parse_known_args(argv)
    command = f"djust {arguments.command}"
    if extra:
        # argparse would report these under the top-level parser.
        raise UsageError(command, f"unrecognized arguments: {' '.join(extra)}")
    if arguments.command == "explain" and (arguments.model is None) != (arguments.name is None):
        raise UsageError(command, "--model and --name go together")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status.

        >>> main(["explain", "rentals/base.html"])  # doctest: +ELLIPSIS
        Template rentals/base.html
        ...
        0
    """
    try:
        arguments = parse(argv)
    except UsageError as exc:
        return _report_error(exc.command, f"{exc} (see python -m {exc.command} --help)")
    except SystemExit as exc:  # --help
        return exc.code or EXIT_OK
    try:
        setup_django(arguments.settings, arguments.pythonpath)
        return _run_command(arguments)
    except ExplainError as exc:
        return _report_error(f"djust {arguments.command}", exc)


def _run_command(arguments: argparse.Namespace) -> int:
    from django.core.exceptions import ImproperlyConfigured

    try:
        return arguments.handler(arguments)
    except ImproperlyConfigured as exc:  # DJUST, TEMPLATES... read on first use
        raise ExplainError(f"improperly configured: {exc}") from exc


def _report_error(command: str, problem: object) -> int:
    message = " ".join(str(problem).split())  # Django's messages may span lines
    print(f"{command}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _run_in_shell() -> int:
    """``main()`` for ``python -m djust``, quiet when ``head`` or a pager
    closes the output early."""
    try:
        return main()
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it somewhere that
        # accepts the write, or it prints a traceback about the pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(_run_in_shell())
