"""djust's command line: ``python -m djust explain TEMPLATE_NAME``.

``explain`` shows what djust reads from a template: per context name, the
paths it extracted, the tags it could not analyse, and the templates the
result depends on. With ``--model app.Model --name NAME`` it restricts the
output to one context name typed against one model; later compiler stages
add their own sections (plan, generated source, verification) by appending
a section builder to ``SECTION_BUILDERS``.

    $ python -m djust explain rentals/dashboard.html
    $ python -m djust explain rentals/dashboard.html --model rentals.Lease \\
          --name expiring_leases

``DJANGO_SETTINGS_MODULE`` defaults to ``examples.settings``. Errors (a
missing template, a syntax error, an unknown model) print one line on
stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

logger = logging.getLogger("djust.cli")

DEFAULT_SETTINGS = "examples.settings"
EXIT_USAGE = 2
INDENT = "  "


class ExplainError(Exception):
    """A user-facing problem: printed as one line, exit status 2."""


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
    context name to restrict the output to.
    """

    template_name: str
    extraction: object
    model: type | None = None
    name: str | None = None

    def roots(self) -> list[str]:
        if self.name is not None:
            return [self.name]
        return list(self.extraction)


def template_section(request: ExplainRequest) -> Section:
    lines = [f"chain: {', '.join(request.extraction.templates) or request.template_name}"]
    if request.model is not None:
        lines.append(f"model: {request.model._meta.label} (context name {request.name!r})")
    return Section(f"Template {request.template_name}", tuple(lines))


def paths_section(request: ExplainRequest) -> Section:
    lines: list[str] = []
    for root in request.roots():
        paths = request.extraction.get(root)
        if paths is None:
            lines.append(f"{root}: the template never reads this name")
            continue
        lines.append(f"{root}:")
        lines += [f"{INDENT}{path if path else '(the value itself)'}" for path in paths]
    return Section("Paths", tuple(lines))


def unanalysed_section(request: ExplainRequest) -> Section:
    lines = tuple(
        f"{{% {record.tag} %}} {record.template}, line {record.line}: {record.reason}"
        for record in request.extraction.unanalysed
    )
    return Section("Unanalysed tags", lines)


def serializer_section(request: ExplainRequest) -> Section | None:
    """With ``--model/--name``: the access tree, the query plan, the
    generated source and its verification, for the paths read from that
    name (element paths when the template iterates it)."""
    if request.model is None or request.name not in request.extraction:
        return None
    from djust.compiler import compile_serializer
    from djust.jit import split_collection_paths

    paths = list(request.extraction[request.name])
    if any(path.split(".")[0] == "*" for path in paths):
        paths, _ = split_collection_paths(paths)
    serializer = compile_serializer(request.model, paths)
    return Section(f"Serializer for {request.name}", tuple(serializer.explain().splitlines()))


# Later stages append builders here; a builder returns None to stay silent
# (for example when no ``--model`` was given).
SECTION_BUILDERS: list[Callable[[ExplainRequest], Section | None]] = [
    template_section,
    paths_section,
    unanalysed_section,
    serializer_section,
]


def explain_sections(request: ExplainRequest) -> list[Section]:
    """Every section ``explain`` prints, in order.

        >>> [s.title for s in explain_sections(request)]
        ['Template rentals/dashboard.html', 'Paths', 'Unanalysed tags']
    """
    sections = (builder(request) for builder in SECTION_BUILDERS)
    return [section for section in sections if section is not None]


def resolve_model(label: str) -> type:
    from django.apps import apps

    try:
        return apps.get_model(label)
    except (LookupError, ValueError) as exc:
        raise ExplainError(f"unknown model {label!r}: {exc}") from exc


def build_request(template_name: str, model_label: str | None, name: str | None):
    from django.template import TemplateDoesNotExist, TemplateSyntaxError

    from djust.compiler.extraction import extract_template_variables_from_name

    model = resolve_model(model_label) if model_label else None
    try:
        extraction = extract_template_variables_from_name(template_name)
    except TemplateDoesNotExist as exc:
        raise ExplainError(f"template not found: {exc}") from exc
    except TemplateSyntaxError as exc:
        raise ExplainError(f"template syntax error: {exc}") from exc
    return ExplainRequest(template_name, extraction, model, name)


def command_explain(arguments: argparse.Namespace) -> int:
    request = build_request(arguments.template_name, arguments.model, arguments.name)
    print("\n\n".join(section.render() for section in explain_sections(request)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m djust", description="Inspect what djust compiles from templates."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    explain = commands.add_parser("explain", help="show the paths a template reads")
    explain.add_argument("template_name", help="a template name the loaders can find")
    explain.add_argument("--model", help="app_label.ModelName of the context value")
    explain.add_argument("--name", help="the context name holding --model's instances")
    explain.set_defaults(handler=command_explain)
    return parser


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", DEFAULT_SETTINGS)
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status.

        >>> main(["explain", "rentals/dashboard.html"])
        0
    """
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if (arguments.model is None) != (arguments.name is None):
        parser.error("--model and --name go together")
    try:
        setup_django()
        return arguments.handler(arguments)
    except ExplainError as exc:
        message = " ".join(str(exc).split())  # Django's messages may span lines
        print(f"djust {arguments.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
