"""Rendering, compiling and the bytecode verifier."""

import ast
import sys
import warnings

import pytest

from djust.compiler import emit, runtime


def _module(source):
    return ast.parse(source)


def test_render_source_round_trips_and_warns_nothing():
    module = _module("def f(obj):\n    return {'a': obj.a, 'b': [x for x in obj.b]}\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        source = emit.render_source(module)
    assert ast.dump(ast.parse(source)) == ast.dump(module)
    assert source.endswith("\n")


def test_renderer_is_astor_only_where_it_works():
    assert emit._USE_ASTOR is (sys.version_info < (3, 12))


def test_build_function_runs_the_verified_function():
    module = _module("def f(obj):\n    return str(obj)\n")
    function, source, report = emit.build_function(
        module, {"__builtins__": {"str": str}}, name="f", filename="<djust test build>"
    )
    assert function(5) == "5"
    assert report.globals_loaded == ("str",)
    assert function.source == source


@pytest.mark.parametrize("body", [
    "import os\n    return os",
    "from os import path\n    return path",
    "return open(obj)",
    "return __import__('os')",
    "return eval(obj)",
    "obj.x = 1",
    "global G\n    G = 1",
])
def test_verifier_rejects_what_a_serializer_never_needs(body):
    module = _module(f"def f(obj):\n    {body}\n")
    ran = []
    with pytest.raises(emit.VerificationError):
        emit.build_function(module, {"__builtins__": {}, "ran": ran}, name="f",
                            filename="<djust test reject>")
    assert ran == []


def test_verifier_sees_nested_code_objects():
    code = compile("def f(o):\n    return [open(x) for x in o]\n", "<x>", "exec")
    with pytest.raises(emit.VerificationError, match="open"):
        emit.verify(code, {"__builtins__": {}})


def test_verifier_counts_runtime_lookups():
    code = compile("def f(o):\n    return _lookup(o, 'a'), [_lookup(x, 'b') for x in o]\n",
                   "<x>", "exec")
    assert emit.verify(code, {"_lookup": None}).lookup_calls == 2


def test_source_must_match_the_ast():
    module = _module("def f(obj):\n    return obj\n")
    module.body[0].body[0].value = ast.Name(id="not an identifier", ctx=ast.Load())
    ast.fix_missing_locations(module)
    with pytest.raises((emit.VerificationError, SyntaxError)):
        emit.build_function(module, {"__builtins__": {}}, name="f", filename="<djust bad>")


def test_extended_arguments_name_the_right_global():
    # More than 256 names: LOAD_GLOBAL needs an EXTENDED_ARG prefix.
    # Names outside runtime's table load only as constants: private names.
    names = [f"_helper_{index}" for index in range(300)]
    module = _module(f"def f(obj):\n    return ({', '.join(names)},)\n")
    namespace = {"__builtins__": {}, **{name: index for index, name in enumerate(names)}}
    function, _, report = emit.build_function(module, namespace, name="f",
                                              filename="<djust test wide>")
    assert function(None) == tuple(range(300))
    assert set(report.globals_loaded) == set(names)
    del namespace["_helper_299"]
    with pytest.raises(emit.VerificationError, match="'_helper_299'"):
        emit.build_function(module, namespace, name="f", filename="<djust test wide bad>")


def test_the_suites_check_every_rendered_module():
    # Set by the root conftest.py: a rendered text that parses back to another
    # tree (here ``-1``, which reads back as a unary minus) stops the compile.
    assert emit.CHECK_ROUND_TRIP
    module = _module("def f(obj):\n    return obj\n")
    module.body[0].body[0].value = ast.Constant(-1)
    ast.fix_missing_locations(module)
    with pytest.raises(emit.VerificationError, match="does not match the lowered AST"):
        emit.build_function(module, {"__builtins__": {}}, name="f", filename="<djust minus>")


@pytest.mark.parametrize("name", ["smuggled", "__name__", "__builtins__"])
def test_a_namespace_name_outside_runtimes_table_is_refused(name):
    # Present in the namespace is not enough: the name must be a helper of
    # runtime's table, an allowed builtin or a constant's (private, not
    # dunder) name.
    module = _module(f"def f(obj):\n    return {name}\n")
    with pytest.raises(emit.VerificationError, match=repr(name)):
        emit.build_function(module, {"__builtins__": {}, name: 1}, name="f",
                            filename="<djust smuggled>")


@pytest.mark.parametrize("label, paths, constants", [
    ("rentals.Unit", ("number",), []),
    ("rentals.Lease", ("tenant.phone", "get_status_display", "days_until_expiration"),
     ["display", "model"]),
])
def test_a_lowered_namespace_holds_its_helpers_and_constants(label, paths, constants):
    from django.apps import apps

    from djust.compiler import lowering
    from djust.compiler.relations import display_table
    from djust.compiler.tree import build_access_tree

    model = apps.get_model(label)
    tree = build_access_tree(model, paths)
    _, namespace = lowering.lower(tree, "json", name="f")
    found = {name: value for name, value in namespace.items()
             if name not in ("__builtins__", runtime.ENCODER, *runtime.HELPERS)}
    assert sorted(name.split("_")[1] for name in found) == constants
    for name, value in found.items():
        assert value is model if name.startswith("_model_") else value == display_table(
            model, "get_status_display")
    assert runtime.loadable_names(namespace) >= set(namespace) - {"__builtins__"}


@pytest.mark.parametrize("helpers, constants, refused", [
    (["_lookup", "os"], {}, "unknown helper 'os'"),
    (["_lookup"], {"model_1": ("model", 1)}, "constant under the name 'model_1'"),
    (["_lookup"], {"_lookup": ("model", 1)}, "constant under the name '_lookup'"),
    (["_lookup"], {"__model_1": ("model", 1)}, "constant under the name '__model_1'"),
])
def test_a_namespace_outside_the_table_is_refused(helpers, constants, refused):
    with pytest.raises(emit.VerificationError, match=refused):
        runtime.namespace(helpers, "json", constants)
