"""The compiler is a one-way pipeline: each stage imports only earlier ones.

Read from the source (every ``import``, at module level or inside a
function), so that a new import against the stage order, a cycle, or the
compiler reaching up into the store or the LiveView fails here, however the
import is spelled. ``docs/architecture.md`` draws the same order.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "djust"

# Stage order: a compiler module may import modules of earlier stages only.
# Modules within one stage do not import each other (the test says so when
# one does); a package's own modules (extraction/) may.
STAGES = [
    # leaves: the path grammar, errors, the shared-store protocol, the AST
    # constructors and renderer, the bounded cache, output modes, and what
    # code reads
    {"paths", "errors", "shared", "astbuild", "unparse", "cache", "modes", "introspect"},
    {"nodes", "sensitive"},
    {"relations"},
    {"tree", "extraction"},
    {"plan", "runtime"},
    {"lowering", "jsontext"},
    {"projection"},
    # the fast roads to JSON text: chunked streaming, JSON built by the database
    {"streaming", "sqljson"},
    {"emit"},
    {"serializer"},
]
RANK = {name: rank for rank, names in enumerate(STAGES) for name in names}
# What the compiler may import from the rest of djust: its settings and version.
OUTSIDE_ALLOWED = {"djust", "djust.conf"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")
            if "migrations" not in path.parts}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every djust module ``name`` imports (``from x import y`` counts as
    ``x.y`` when that is a module)."""
    found: set[str] = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                candidate = f"{module}.{alias.name}"
                found.add(candidate if candidate in known else module)
    return {module for module in found if module == "djust" or module.startswith("djust.")}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, set(known)) for name, path in known.items()}


def stage_of(module: str) -> str | None:
    """``djust.compiler.extraction.walker`` -> ``extraction``; None outside."""
    parts = module.split(".")
    if parts[:2] != ["djust", "compiler"] or len(parts) < 3:
        return None
    return parts[2]


GRAPH = graph()
COMPILER = sorted(name for name in GRAPH if stage_of(name) is not None)


def test_every_compiler_module_has_a_stage():
    assert {stage_of(name) for name in COMPILER} == set(RANK)


@pytest.mark.parametrize("name", COMPILER)
def test_a_stage_imports_only_earlier_stages(name):
    stage = stage_of(name)
    for imported in GRAPH[name]:
        target = stage_of(imported)
        if target is None:
            assert imported in OUTSIDE_ALLOWED, f"{name} imports {imported}"
        elif target != stage:
            assert RANK[target] < RANK[stage], (
                f"{name} (stage {RANK[stage]}) imports {imported} (stage {RANK[target]})")


def test_the_import_graph_has_no_cycle():
    done: set[str] = set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in trail:
            raise AssertionError("import cycle: " + " -> ".join((*trail, name)))
        if name in done:
            return
        for imported in GRAPH.get(name, ()):
            if imported in GRAPH and imported != name:
                visit(imported, (*trail, name))
        done.add(name)

    for name in sorted(GRAPH):
        if name != "djust":  # the package's lazy attribute table names its modules
            visit(name, ())


def test_the_store_and_the_live_view_sit_on_top_of_the_compiler():
    above = [name for name in GRAPH
             if name.startswith(("djust.store", "djust.live", "djust.context"))]
    assert above
    for name in COMPILER:
        assert not any(imported in above for imported in GRAPH[name]), name


def test_the_graph_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from djust.compiler import plan\n    import djust.conf\n")
    assert imports_of("djust.probe", source, set(GRAPH)) == {
        "djust.compiler.plan", "djust.conf"}
