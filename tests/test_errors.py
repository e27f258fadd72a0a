"""The ``CompilerError`` family: what each stage raises, that paths too deep
to compile become one error naming the model and the path, and that a
LiveView and ``python -m djust explain`` handle it."""

from __future__ import annotations

import contextlib
import io
import logging

import pytest
from django.test import Client

from djust import LiveView
from djust.__main__ import main as djust_main
from djust.compiler import compile_serializer, emit
from djust.compiler.cache import default_cache
from djust.compiler.errors import (
    CompilerError,
    InvalidPathError,
    TooComplexError,
    VerificationError,
)
from djust.compiler.tree import InvalidPathError as TreeInvalidPathError
from djust.html import root_inner_html
from examples.rentals.models import Lease, Property
from examples.rentals.seed import seed
from tests.test_liveview import page_state

# 19 nested loops over related rows: more nested blocks than CPython compiles.
DEEP_LOOPS = ".".join(["units", "all", "*", "property"] * 30) + ".name"
# 1,201 segments: deeper than the tree builder's recursion can follow.
DEEP_CHAIN = ".".join(["tenant", "user", "tenant_profile"] * 400) + ".phone"
# Lease -> tenant, then tenant -> user -> tenant (the same row, cached) 60
# times: deep enough to fail compiling (too much indentation), shallow
# enough for Django and for the generic fallback to follow.
CHAIN = "tenant." + ".".join(["user", "tenant_profile"] * 60) + ".phone"


def test_the_family_keeps_the_classes_callers_catch():
    assert issubclass(InvalidPathError, ValueError) and issubclass(InvalidPathError, CompilerError)
    assert TreeInvalidPathError is InvalidPathError
    assert emit.VerificationError is VerificationError
    assert issubclass(VerificationError, RuntimeError)
    with pytest.raises(ValueError, match=r"^rentals\.Lease: malformed path 'tenant\.\.phone'$"):
        compile_serializer(Lease, ["tenant..phone"])


def test_an_error_names_template_line_model_and_path_when_known():
    error = CompilerError("cannot compile it", template="page.html", line=4,
                          model="rentals.Lease", path="tenant.phone")
    assert str(error) == ("template 'page.html', line 4, rentals.Lease: cannot compile it "
                          "(path 'tenant.phone')")
    assert (error.template, error.line, error.model, error.path) == (
        "page.html", 4, "rentals.Lease", "tenant.phone")


@pytest.mark.parametrize(("model", "path", "reason"), [
    (Property, DEEP_LOOPS, "SyntaxError: too many statically nested blocks"),
    (Lease, DEEP_CHAIN, "RecursionError: maximum recursion depth exceeded"),
    (Lease, CHAIN, "IndentationError: too many levels of indentation"),
])
def test_paths_too_deep_to_compile_raise_one_error(model, path, reason):
    with pytest.raises(TooComplexError) as raised:
        compile_serializer(model, ["pk", path])
    error = raised.value
    assert isinstance(error, CompilerError)
    assert error.model == model._meta.label and error.path == path
    assert error.paths == ("pk", path)
    message = str(error)
    assert message.startswith(f"{model._meta.label}: path '{path[:20]}")
    assert "nests too deeply to compile" in message and reason in message
    assert "(the deepest of 2 paths)" in message
    assert len(message) < 400 and "\n" not in message


def test_generated_code_that_does_not_parse_is_a_verification_error(monkeypatch):
    monkeypatch.setattr(emit, "render_source", lambda module: "def broken(:\n")
    with pytest.raises(VerificationError, match=r"^rentals\.Lease: the generated code does "
                                                r"not compile: .* \(line 1\)$"):
        compile_serializer(Lease, ["tenant.phone", "status", "pk"])


def test_a_failed_compilation_leaves_nothing_in_the_cache():
    cache = default_cache()
    before = (len(cache), cache.compilations)
    for _ in range(2):
        # Compiled again, and failing again: no failure or half-built entry is kept.
        with pytest.raises(TooComplexError):
            compile_serializer(Lease, [CHAIN])
    assert (len(cache), cache.compilations) == before
    assert compile_serializer(Lease, ["tenant.phone"]).paths == ("tenant.phone",)


@pytest.mark.django_db
def test_the_shared_store_stores_nothing_for_it(filesystem_store):
    with pytest.raises(TooComplexError):
        compile_serializer(Property, [DEEP_LOOPS])
    assert filesystem_store.counters["writes"] == 0
    compile_serializer(Property, ["name"])
    assert filesystem_store.counters["writes"] > 0


@pytest.mark.parametrize(("model", "path"), [(Property, DEEP_LOOPS), (Lease, DEEP_CHAIN)])
def test_djust_cache_warm_meets_the_same_error(filesystem_store, model, path):
    from djust.store import compile_shared

    with pytest.raises(TooComplexError):
        compile_shared(filesystem_store, model, (path,), "json")
    assert filesystem_store.counters["writes"] == 0


# -- a LiveView whose template reads a path too deep to compile

DEEP_PAGE = ("<main dj-root>{% for l in leases %}<i>{{ l." + CHAIN + " }}</i>"
             "{{ l.status }}{% endfor %}</main>")


class DeepPage(LiveView):
    template = DEEP_PAGE

    def mount(self, request, **kwargs):
        self.leases = Lease.objects.order_by("id")[:3]


class DeepPageNoJit(DeepPage):
    jit = False


def nested_loops(depth: int) -> str:
    """``depth`` nested loops, each over the units of the previous unit's property."""
    opening = "{% for u0 in p.units.all %}" + "".join(
        f"{{% for u{i} in u{i - 1}.property.units.all %}}" for i in range(1, depth))
    return (f"<main dj-root>{{% for p in properties %}}{opening}<i>{{{{ u{depth - 1}.number }}}}"
            f"</i>{'{% endfor %}' * depth}{{% endfor %}}</main>")


class DeepLoops(LiveView):
    template = nested_loops(25)

    def mount(self, request, **kwargs):
        self.properties = Property.objects.order_by("id")


class DeepLoopsNoJit(DeepLoops):
    jit = False


def _urls():
    from django.urls import path

    return [path("deep/", DeepPage.as_view()), path("deep-nojit/", DeepPageNoJit.as_view()),
            path("loops/", DeepLoops.as_view()), path("loops-nojit/", DeepLoopsNoJit.as_view())]


urlpatterns = _urls()


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_a_liveview_falls_back_to_the_live_value(caplog):
    seed(scale=0.02)
    caplog.set_level(logging.WARNING, logger="djust.context")
    client = Client()
    first, second = client.get("/deep/"), client.get("/deep/")
    assert first.status_code == second.status_code == 200
    content = first.content.decode()
    without = client.get("/deep-nojit/").content.decode()
    assert root_inner_html(content) == root_inner_html(without)
    phones = [lease.tenant.phone for lease in Lease.objects.order_by("id")[:3]]
    assert phones and all(f"<i>{phone}</i>" in content for phone in phones)
    records = [r for r in caplog.records if r.name == "djust.context"]
    assert len(records) == 1
    message = records[0].getMessage()
    assert "'leases'" in message and "TooComplexError" in message
    assert "rentals.Lease: path 'tenant.user.tenant_profile.user" in message
    # The browser gets the generic state: the known paths only (no pk, no str).
    assert set(page_state(content)["leases"][0]) == {"status", "tenant"}
    # ...followed all the way down, with Django's lookups.
    tenant = page_state(content)["leases"][0]["tenant"]
    for segment in CHAIN.split(".")[1:-1]:
        tenant = tenant[segment]
    assert tenant == {"phone": phones[0]}


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_nested_loops_too_deep_to_compile_render_from_the_live_value(caplog):
    home = Property.objects.create(name="Home", address="1 Road", city="Town",
                                   monthly_rent=1000)
    home.units.create(number="7A")
    caplog.set_level(logging.WARNING, logger="djust.context")
    client = Client()
    content = client.get("/loops/").content.decode()
    assert root_inner_html(content) == root_inner_html(client.get("/loops-nojit/").content.decode())
    assert "<i>7A</i>" in content
    records = [r for r in caplog.records if r.name == "djust.context"]
    assert len(records) == 1
    assert "SyntaxError: too many statically nested blocks" in records[0].getMessage()
    assert set(page_state(content)["properties"][0]) == {"units"}


@pytest.mark.django_db
def test_explain_prints_the_error_and_exits_2(settings, tmp_path):
    (tmp_path / "deep.html").write_text(DEEP_PAGE)
    settings.TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates",
                           "DIRS": [tmp_path]}]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = djust_main(["explain", "deep.html", "--model", "rentals.Lease",
                             "--name", "leases"])
    assert status == 2
    error = stderr.getvalue()
    assert error.count("\n") == 1
    assert error.startswith("djust explain: error: cannot compile 'leases': rentals.Lease: "
                            "path 'tenant.user.tenant_profile")
    assert "nests too deeply to compile (IndentationError" in error
    assert "djust cannot compile it (TooComplexError)" in stdout.getvalue()


def test_explain_run_as_a_user_runs_it_exits_2_with_the_error_line(tmp_path):
    from tests.test_cli import explain

    (tmp_path / "deepsettings.py").write_text(
        "SECRET_KEY = 'not secret'\n"
        "INSTALLED_APPS = ['django.contrib.contenttypes', 'django.contrib.auth', 'djust', "
        "'parts']\n"
        "TEMPLATES = [{'BACKEND': 'django.template.backends.django.DjangoTemplates', "
        "'APP_DIRS': True}]\n"
        "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': ':memory:'}}\n"
        "DEFAULT_AUTO_FIELD = 'django.db.models.AutoField'\n")
    app = tmp_path / "parts"
    (app / "templates" / "parts").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "models.py").write_text(
        "from django.db import models\n\n\n"
        "class Part(models.Model):\n"
        "    name = models.CharField(max_length=50)\n"
        "    parent = models.ForeignKey('self', null=True, on_delete=models.CASCADE)\n")
    chain = ".".join(["parent"] * 150)
    (app / "templates" / "parts" / "page.html").write_text(
        "{% for p in parts %}{{ p." + chain + ".name }}{% endfor %}\n")
    run = explain(tmp_path, "parts/page.html", "--model", "parts.Part", "--name", "parts",
                  "--settings", "deepsettings")
    assert run.status == 2, run
    assert run.err.count("\n") == 1 and "Traceback" not in run.err, run.err
    assert run.err.startswith("djust explain: error: cannot compile 'parts': parts.Part: path "
                              "'parent.parent."), run.err
    assert "(151 segments)" in run.err and "nests too deeply to compile" in run.err
    assert "How a LiveView serializes parts" in run.out
    assert "not compiled: TooComplexError: parts.Part: path" in run.out
