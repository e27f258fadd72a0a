"""The djust compiler: template → paths → typed access tree → query plan →
Python AST → compiled serializer.

A one-way pipeline: each module imports only the ones listed before it
(``tests/test_layering.py`` checks it; ``docs/architecture.md`` draws it),
and none imports the store or the LiveView.

- Leaves: ``paths`` (the path grammar, ``is_index``), ``errors`` (the
  ``CompilerError`` family), ``shared`` (what the compiler asks of a store
  shared between processes), ``astbuild`` and ``unparse`` (the AST
  constructors both lowerers use, and the renderer of their source),
  ``cache`` (the one bounded cache design, the schema fingerprint),
  ``modes`` (the JSON and Python output modes and every leaf rule),
  ``introspect`` (what ``__str__``, properties and methods read).
- ``nodes``: node kinds, their declared facts, the visitor; ``sensitive``:
  the names never emitted.
- ``relations``: Django's relation facts, once for every stage.
- ``tree``: model + paths → typed access tree. ``extraction``: Django
  template → ``{context name: [paths]}``.
- ``plan``: access tree → ``QueryPlan`` (select_related, Prefetch, only);
  ``optimize_queryset`` applies it. ``runtime``: what generated code calls,
  and the one table of names it may load.
- ``lowering``: access tree → the ``ast.Module`` of a serializer;
  ``projection``: the same for ``values_list()`` rows.
- ``emit``: ``ast.Module`` → source text and a verified function (a shared
  store hands back analysis only; every worker generates its own code).
- ``serializer``: ``compile_serializer`` and the serializer's methods.

Names are imported lazily so that ``import djust.compiler`` stays cheap and
does not touch Django's app registry.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "extract_template_variables": "djust.compiler.extraction",
    "extract_template_variables_from_name": "djust.compiler.extraction",
    "Extraction": "djust.compiler.extraction",
    "build_access_tree": "djust.compiler.tree",
    "QueryPlan": "djust.compiler.plan",
    "plan_queries": "djust.compiler.plan",
    "optimize_queryset": "djust.compiler.plan",
    "compile_serializer": "djust.compiler.serializer",
    "Serializer": "djust.compiler.serializer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'djust.compiler' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
