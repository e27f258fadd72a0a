"""``python -m djust explain`` run as a user runs it: in a process of its
own, from a project directory outside this repository, with that project's
settings. Only the installed ``djust`` package is importable there, not the
repository's ``examples`` or ``tests``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

SETTINGS = """
SECRET_KEY = "not secret"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "djust", "shop"]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
"""

MODELS = """
from django.db import models


class Maker(models.Model):
    name = models.CharField(max_length=50)


class Item(models.Model):
    title = models.CharField(max_length=50)
    maker = models.ForeignKey(Maker, on_delete=models.CASCADE)

    def label(self):
        return self.title.upper()
"""

TEMPLATES = {
    "list.html": "{% for i in items %}{{ i.title }} {{ i.maker.name }} {{ i.label }}"
                 "{% endfor %}\n{{ featured.title }} {{ featured.price }}\n",
    "broken.html": "<p>\n{% if %}\n",
}


@dataclass(frozen=True)
class Run:
    status: int
    out: str
    err: str


@pytest.fixture
def project(tmp_path) -> Path:
    """A project directory: ``shopsettings`` and the ``shop`` app, with
    models and templates."""
    (tmp_path / "shopsettings.py").write_text(SETTINGS)
    (tmp_path / "importsmissing.py").write_text("import not_installed_anywhere\n")
    app = tmp_path / "shop"
    (app / "templates" / "shop").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "models.py").write_text(textwrap.dedent(MODELS))
    for name, source in TEMPLATES.items():
        (app / "templates" / "shop" / name).write_text(source)
    return tmp_path


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without what points at the repository:
    pytest's DJANGO_SETTINGS_MODULE and any PYTHONPATH."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    env.update(extra)
    return env


def run_python(cwd: Path, *argv: str, **env: str) -> Run:
    done = subprocess.run([sys.executable, *argv], cwd=cwd, env=clean_environment(**env),
                          capture_output=True, text=True, timeout=120)
    return Run(done.returncode, done.stdout, done.stderr)


def explain(cwd: Path, *argv: str, **env: str) -> Run:
    return run_python(cwd, "-m", "djust", "explain", *argv, **env)


def assert_one_line_error(run: Run, message: str) -> None:
    assert run.status == 2, run
    assert run.out == ""
    assert run.err.count("\n") == 1, run.err
    assert run.err.startswith(f"djust explain: error: {message}"), run.err
    assert "Traceback" not in run.err


def test_the_project_directory_sees_djust_but_not_the_repository(project):
    probe = run_python(project, "-c", "import importlib.util as u; "
                                      "print(u.find_spec('djust') is not None, "
                                      "u.find_spec('examples'), u.find_spec('tests'))")
    assert probe.out.split() == ["True", "None", "None"], probe


def test_settings_from_the_environment(project):
    run = explain(project, "shop/list.html", DJANGO_SETTINGS_MODULE="shopsettings")
    assert (run.status, run.err) == (0, "")
    assert run.out.startswith("Template shop/list.html\n  chain: shop/list.html\n")
    assert "  items:\n    *.label\n    *.maker.name\n    *.title\n" in run.out


def test_settings_from_the_option_win_over_the_environment(project):
    run = explain(project, "shop/list.html", "--settings", "shopsettings",
                  DJANGO_SETTINGS_MODULE="nowhere.settings")
    assert (run.status, run.err) == (0, "")
    assert run.out.startswith("Template shop/list.html\n")


def test_pythonpath_finds_a_project_elsewhere(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    run = explain(elsewhere, "shop/list.html", "--settings", "shopsettings",
                  "--pythonpath", str(project))
    assert (run.status, run.err) == (0, "")
    assert run.out.startswith("Template shop/list.html\n")


def test_no_settings_at_all(project):
    assert_one_line_error(
        explain(project, "shop/list.html"),
        "no settings: set DJANGO_SETTINGS_MODULE to your project's settings module or pass "
        "--settings dotted.path\n")


@pytest.mark.parametrize("module", ["nosuchsettings", "nosuch.settings", "shop.settings"])
def test_a_settings_module_that_is_not_there(project, module):
    assert_one_line_error(
        explain(project, "shop/list.html", "--settings", module),
        f"settings module {module!r} not found (no module named ")


def test_a_settings_module_whose_import_fails_is_named(project):
    assert_one_line_error(
        explain(project, "shop/list.html", DJANGO_SETTINGS_MODULE="importsmissing"),
        "settings module 'importsmissing' cannot be imported: "
        "No module named 'not_installed_anywhere'\n")


def test_a_settings_module_that_raises_is_named_with_its_line(project):
    (project / "raises.py").write_text("SECRET_KEY = 'x'\nDEBUG = 1 / 0\n")
    run = explain(project, "shop/list.html", "--settings", "raises")
    assert_one_line_error(
        run, "settings module 'raises' failed to import: ZeroDivisionError: division by zero (")
    assert run.err.endswith("raises.py, line 2)\n")


def test_a_missing_installed_app(project):
    (project / "noapp.py").write_text(SETTINGS.replace('"shop"]', '"shop", "ghost_app"]'))
    assert_one_line_error(
        explain(project, "shop/list.html", "--settings", "noapp"),
        "cannot set up Django: No module named 'ghost_app'")


def test_a_missing_template(project):
    assert_one_line_error(
        explain(project, "shop/nowhere.html", "--settings", "shopsettings"),
        "template not found: shop/nowhere.html\n")


def test_a_syntax_error_names_the_template_and_line(project):
    assert_one_line_error(
        explain(project, "shop/broken.html", "--settings", "shopsettings"),
        "template syntax error: shop/broken.html, line 2:")


@pytest.mark.parametrize("label", ["shop.Nope", "nope.Item", "Item"])
def test_an_unknown_model(project, label):
    assert_one_line_error(
        explain(project, "shop/list.html", "--settings", "shopsettings", "--model", label,
                "--name", "items"),
        f"unknown model {label!r}: ")


def test_model_without_name(project):
    assert_one_line_error(
        explain(project, "shop/list.html", "--settings", "shopsettings", "--model", "shop.Item"),
        "--model and --name go together (see python -m djust explain --help)\n")


def test_a_bad_argument_is_one_line_without_usage(project):
    assert_one_line_error(
        explain(project, "shop/list.html", "--settings", "shopsettings", "--nmae", "items"),
        "unrecognized arguments: --nmae items (see python -m djust explain --help)\n")


def test_a_name_the_template_never_reads(project):
    assert_one_line_error(
        explain(project, "shop/list.html", "--settings", "shopsettings", "--model", "shop.Item",
                "--name", "itemz"),
        "shop/list.html never reads 'itemz' (it reads: featured, items)\n")


def test_the_model_of_the_name_explains_cleanly(project):
    run = explain(project, "shop/list.html", "--settings", "shopsettings", "--model", "shop.Item",
                  "--name", "items")
    assert (run.status, run.err) == (0, "")
    assert run.out.startswith("Template shop/list.html\n")
    assert ("How a LiveView serializes items\n  a QuerySet of shop.Item: serializer.many"
            "(queryset): values_list() rows") in run.out
    assert "def serialize_shop_item(obj):" in run.out


def test_a_model_with_none_of_the_paths(project):
    run = explain(project, "shop/list.html", "--settings", "shopsettings", "--model", "shop.Maker",
                  "--name", "items")
    warning = ("shop.Maker has none of the paths read from each element of 'items': label, "
               "maker.name, title (is shop.Maker the model of 'items'?)")
    assert run.status == 1
    assert run.out.startswith(f"Warning\n  {warning}\n\nTemplate shop/list.html\n")
    assert run.err == f"djust explain: warning: {warning}\n"


def test_a_model_with_some_of_the_paths(project):
    run = explain(project, "shop/list.html", "--settings", "shopsettings", "--model", "shop.Item",
                  "--name", "featured")
    warning = ("shop.Item has nothing named by 1 of the 2 paths read from 'featured': price "
               "(each is looked up at run time, as the template engine would)")
    assert run.status == 0
    assert run.out.startswith(f"Warning\n  {warning}\n\nTemplate shop/list.html\n")
    assert run.err == f"djust explain: warning: {warning}\n"
