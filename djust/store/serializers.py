"""What the store keeps for serializers: keys, payloads, plans as data, loading.

A serializer entry (kind ``s``) holds data only: the model label,
normalized paths, mode, the access tree's dump and the query plan as plain
data (with the schema and code digests of every model it mentions). No
code: loading one generates the function here, from the live access tree
(which must dump exactly as stored) and the stored plan, as a fresh
compilation would, so nothing read from the store can make a worker run
code it would not have generated itself. The plan is read back only while
the models it mentions are unchanged (else the entry is rebuilt); it is
what a hit saves, with the walk of the template its extraction entry saves.
A manifest record (kind ``m``) names a serializer some worker compiled, so
``djust_cache warm`` can compile it ahead of traffic.

The key covers the model label, normalized paths, mode, the sensitive-field
settings, the versions and, for every model the access tree reaches, its
schema fingerprint (``cache.schema_fingerprint``) and ``class_code_digest``,
plus the digest of the tree's dump.

    >>> from examples.rentals.models import Unit
    >>> manifest_record(Unit, ("number",), "json")[1]
    {'model': 'rentals.Unit', 'paths': ['number'], 'mode': 'json'}
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import weakref
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.db import models

from djust.compiler import plan as plan_module
from djust.compiler.cache import schema_fingerprint
from djust.compiler.errors import too_complex_as_error
from djust.compiler.paths import normalize_paths
from djust.compiler.sensitive import sensitive_settings
from djust.compiler.serializer import build_serializer, compile_tree, plan_for
from djust.compiler.tree import build_access_tree
from djust.store.core import Store
from djust.store.entries import EntryRejected, content_key, sha256_text

logger = logging.getLogger("djust.store")

# Weak: models built by tests (isolate_apps) must not be kept alive here.
_CLASS_CODE: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()
# Constants hashed by value; anything else by its type (an address in a repr
# would differ between processes).
_PLAIN_CONSTANTS = (str, bytes, int, float, complex, bool, type(None), type(Ellipsis))


def class_code_digest(model: type) -> str:
    """SHA-256 of the code of ``model``'s own methods and properties.

    Covers every function, property, cached_property, staticmethod and
    classmethod defined in the model's class body and in its project-defined
    bases: the ``__str__``, properties and methods a serializer calls. The
    bytecode, names and constants are hashed, not the source text: no file is
    read, and moving a method within its file or deploying to another
    directory keeps the key. Django's own classes are covered by the Django
    version in every key.

        >>> from examples.rentals.models import Lease, Unit
        >>> len(class_code_digest(Lease)), class_code_digest(Lease) != class_code_digest(Unit)
        (64, True)
    """
    cached = _CLASS_CODE.get(model)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    for klass in model.__mro__:
        module = getattr(klass, "__module__", "") or ""
        if module.split(".")[0] in ("django", "builtins"):
            continue
        digest.update(f"class {module}.{klass.__qualname__}\n".encode())
        for name, value in sorted(vars(klass).items()):
            for function in _functions_of(value):
                digest.update(f"def {name}\n".encode())
                _hash_code(digest, function.__code__)
    result = digest.hexdigest()
    _CLASS_CODE[model] = result
    return result


def _functions_of(value) -> list:
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        return [f for f in (value.fget, value.fset, value.fdel) if hasattr(f, "__code__")]
    # functools.cached_property keeps ``func``; Django's keeps ``real_func``.
    inner = getattr(value, "real_func", None) or getattr(value, "func", None)
    if hasattr(inner, "__code__") and not hasattr(value, "__code__"):
        return [inner]
    return [value] if hasattr(value, "__code__") else []


def _hash_code(digest, code) -> None:
    digest.update(code.co_code)
    digest.update(repr((code.co_names, code.co_varnames, code.co_freevars, code.co_argcount,
                        code.co_kwonlyargcount, code.co_flags)).encode())
    for constant in code.co_consts:
        _hash_constant(digest, constant)


def _hash_constant(digest, constant) -> None:
    if hasattr(constant, "co_code"):
        _hash_code(digest, constant)
    elif isinstance(constant, _PLAIN_CONSTANTS):
        digest.update(repr(constant).encode())
    elif isinstance(constant, tuple):
        for item in constant:
            _hash_constant(digest, item)
    elif isinstance(constant, frozenset):
        # A set's iteration order follows string hashing, which varies per process.
        digest.update(repr(sorted(repr(item) for item in constant)).encode())
    else:
        digest.update(type(constant).__qualname__.encode())


def tree_models(tree) -> list[type]:
    """Every model class the access tree reaches, the root's first."""
    seen: dict[type, None] = {}
    for _segments, node in tree.walk():
        if isinstance(node.model, type):
            seen[node.model] = None
    return list(seen)


def serializer_key(model: type, tree, paths: tuple[str, ...], mode: str) -> str:
    """The store key of the serializer of ``model`` for ``paths`` in ``mode``."""
    models = [
        [m._meta.label, schema_fingerprint(m), class_code_digest(m)]
        for m in tree_models(tree)
    ]
    return content_key("s", [
        model._meta.label, list(paths), mode, list(sensitive_settings()),
        models, sha256_text(tree.dump()),
    ])


def serializer_payload(serializer) -> dict[str, Any]:
    """What is stored for a compiled serializer: its analysis, never code."""
    return {
        "model": serializer.model._meta.label,
        "paths": list(serializer.paths),
        "mode": serializer.mode,
        "tree": serializer.tree.dump(),
        "plan": plan_to_plain(serializer.plan),
        "plan_models": _model_digests(_plan_models(serializer.plan)),
    }


PAYLOAD_FIELDS = frozenset({"model", "paths", "mode", "tree", "plan", "plan_models"})


def _model_digests(models) -> list[list[str]]:
    return [[m._meta.label, schema_fingerprint(m), class_code_digest(m)] for m in models]


# --------------------------------------------------------------------------
# Query plans as plain data
#
# A plan is frozen dataclasses (djust.compiler.plan) holding strings,
# tuples and model classes. They are written field by field, whatever fields
# the classes have: a model as {"$model": label}, a tuple as {"$tuple": [...]},
# a dataclass as {"$plan": class name, "fields": {...}}. Only dataclasses of
# djust.compiler.plan and installed models are read back.


def plan_to_plain(plan) -> Any:
    """The plan as JSON-ready data, or None when it holds something else.

        >>> import json
        >>> from examples.rentals.models import Unit
        >>> from djust.compiler.plan import plan_queries
        >>> from djust.compiler.tree import build_access_tree
        >>> plan = plan_queries(build_access_tree(Unit, ["property.name"]))
        >>> plan_from_plain(json.loads(json.dumps(plan_to_plain(plan)))) == plan
        True
    """
    if plan is None:
        return None
    try:
        return _to_plain(plan)
    except TypeError as exc:
        logger.debug("djust store: plan not stored (%s): it is derived again on load", exc)
        return None


def _to_plain(value) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, tuple):
        return {"$tuple": [_to_plain(item) for item in value]}
    if isinstance(value, type) and issubclass(value, models.Model):
        return {"$model": value._meta.label}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"$plan": type(value).__name__, "fields": fields}
    raise TypeError(f"cannot store a {type(value).__name__} in a plan")


def plan_from_plain(data) -> Any:
    """The plan ``plan_to_plain`` wrote; ``EntryRejected`` when it is not one."""
    if data is None:
        return None
    try:
        return _from_plain(data)
    except (LookupError, TypeError, ValueError, AttributeError) as exc:
        raise EntryRejected(f"unreadable query plan ({type(exc).__name__}: {exc})") from exc


def _from_plain(data) -> Any:
    if data is None or isinstance(data, (str, int, float, bool)):
        return data
    if isinstance(data, dict) and "$tuple" in data:
        return tuple(_from_plain(item) for item in data["$tuple"])
    if isinstance(data, dict) and "$model" in data:
        return apps.get_model(data["$model"])
    if isinstance(data, dict) and "$plan" in data:
        cls = getattr(plan_module, data["$plan"], None)
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)
                and cls.__module__ == plan_module.__name__):
            raise TypeError(f"{data['$plan']!r} is not a query plan class")
        return cls(**{name: _from_plain(value) for name, value in data["fields"].items()})
    raise TypeError(f"unexpected {type(data).__name__} in a stored plan")


def _plan_models(plan) -> list[type]:
    """Every model class a plan mentions (its joins, prefetches and targets)."""
    found: dict[type, None] = {}

    def visit(value) -> None:
        if isinstance(value, type) and issubclass(value, models.Model):
            found[value] = None
        elif isinstance(value, tuple):
            for item in value:
                visit(item)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                visit(getattr(value, f.name))

    if plan is not None:
        visit(plan)
    return list(found)


def load_serializer(store: Store, key: str, *, model: type, tree,
                    paths: tuple[str, ...], mode: str):
    """The serializer under ``key`` generated here for the live ``tree``, or None.

    Its query plan is read back, and used only while every model it
    mentions has the schema and code it had when it was derived; otherwise
    the entry is stale and rebuilt. The function is lowered, emitted and
    verified here, as for a fresh compilation: an entry carries no code.
    """
    payload = store.get("s", key)
    if payload is None:
        return None
    try:
        if not isinstance(payload, dict) or set(payload) != PAYLOAD_FIELDS:
            raise EntryRejected("is not a serializer entry of this format")
        expected = (model._meta.label, list(paths), mode, tree.dump())
        found = (payload["model"], payload["paths"], payload["mode"], payload["tree"])
        if found != expected:
            raise EntryRejected("does not describe the serializer asked for")
        plan = plan_from_plain(payload["plan"])
        if plan is not None and _model_digests(_plan_models(plan)) != payload["plan_models"]:
            store.stale("s", key)
            return None
        if plan is None:
            plan = plan_for(tree)
    except (EntryRejected, KeyError, TypeError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, EntryRejected) else f"{type(exc).__name__}: {exc}"
        store.reject("s", key, reason)
        return None
    return compile_tree(model, tree, paths, mode, plan=plan)


def manifest_record(model: type, paths: tuple[str, ...], mode: str) -> tuple[str, dict]:
    """The manifest key and record of a compiled serializer."""
    record = {"model": model._meta.label, "paths": list(normalize_paths(paths)), "mode": mode}
    return content_key("m", [record["model"], record["paths"], mode]), record


def shared_serializer(store: Store, model: type, tree, paths: tuple[str, ...], mode: str,
                      compile: Callable[[], Any]):
    """The serializer from ``store``, or ``compile()`` and stored for other workers.

    ``tree`` is the access tree built from the live models (it is cheap and
    part of the key); a hit skips deriving the query plan, lowering and
    code generation. This answers the compiler's ``shared.SharedStore``
    question.
    """
    key = serializer_key(model, tree, paths, mode)
    serializer = load_serializer(store, key, model=model, tree=tree, paths=paths, mode=mode)
    if serializer is not None:
        return serializer
    serializer = compile()
    if store.put("s", key, serializer_payload(serializer)):
        store.put("m", *manifest_record(model, paths, mode))
    return serializer


def compile_shared(store: Store, model: type, paths: tuple[str, ...], mode: str):
    """The serializer of ``model`` for ``paths`` through ``store`` (``djust_cache
    warm``): from the store, or compiled here and stored for other workers.

        >>> from examples.rentals.models import Unit
        >>> from djust.store import MemoryBackend
        >>> shared = Store(MemoryBackend())
        >>> compile_shared(shared, Unit, ("number",), "json").paths, shared.counters["writes"]
        (('number',), 2)
    """
    paths = normalize_paths(paths)
    # As compile_serializer does: too deep a path is a CompilerError, not a crash.
    with too_complex_as_error(model, paths):
        tree = build_access_tree(model, paths)
        return shared_serializer(store, model, tree, paths, mode,
                                 lambda: build_serializer(model, tree, paths, mode))
