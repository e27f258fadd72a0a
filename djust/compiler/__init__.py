"""The djust compiler: template → paths → typed access tree → query plan →
Python AST → compiled serializer.

One module per stage:

- ``extraction``: Django template source → ``{context name: [paths]}``.
- ``tree``: model + paths → typed access tree (``nodes.Node``).
- ``plan``: access tree → ``QueryPlan`` (select_related, Prefetch, only);
  ``optimize_queryset`` applies it.
- ``lowering``: access tree → ``ast.Module`` of a serializer function.
- ``emit``: ``ast.Module`` → source text and a verified code object.
- ``cache``: bounded, thread-safe cache of compiled serializers.

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
