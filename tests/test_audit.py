"""``python -m djust audit`` and ``manage.py djust_audit``, run in-process
over ``tests/templates/audit`` (and generated templates)."""

import json
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from djust import __main__ as cli
from djust.compiler import extraction
from djust.management.commands import djust_audit

AUDIT_DIR = Path(__file__).resolve().parent / "templates" / "audit"
LISTED = [
    "broken.html",
    "custom.html",
    "good.html",
    "missing_include.html",
    "missing_parent.html",
    "nested/icon.svg",
    "nested/deeper/row.txt",
]


def engine_settings(*dirs, app_dirs=False, **extra):
    return [{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [str(directory) for directory in dirs],
        "APP_DIRS": app_dirs,
        **extra,
    }]


@pytest.fixture
def audit_dir():
    with override_settings(TEMPLATES=engine_settings(AUDIT_DIR)):
        yield AUDIT_DIR


def run(capsys, *argv):
    status = cli.main(["audit", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def blocks(out):
    """``{template name: its indented lines}`` of the text output."""
    found, current = {}, None
    for line in out.splitlines():
        if not line.startswith(" "):
            current = found.setdefault(line, [])
        else:
            current.append(line.strip())
    return found


def summary_lines(out):
    return out.split("Summary\n", 1)[1].splitlines()


# ------------------------------------------------------------------ listing

def test_lists_text_templates_nested_first_loader_wins(audit_dir):
    listing = djust_audit.list_templates(djust_audit.django_backends()[0].engine)
    assert listing.names == LISTED
    assert [(Path(path).name, why) for path, why in listing.skipped] == [
        ("logo.png", "not utf-8 text")]
    assert listing.unlisted == []


def test_a_file_over_1_mib_or_with_nul_is_not_a_template(tmp_path):
    big = tmp_path / "big.html"
    big.write_text("x" * (djust_audit.MAX_TEMPLATE_BYTES + 1))
    nul = tmp_path / "nul.txt"
    nul.write_text("a\x00b")
    assert djust_audit.template_file_problem(str(big), "utf-8") == "over 1 MiB"
    assert djust_audit.template_file_problem(str(nul), "utf-8") == "binary (NUL characters)"


def test_locmem_and_cached_loaders_are_unwrapped():
    loaders = [("django.template.loaders.cached.Loader", [
        ("django.template.loaders.locmem.Loader", {"b.html": "{{ b }}", "a.html": "{{ a }}"}),
        "django.template.loaders.filesystem.Loader",
    ])]
    with override_settings(TEMPLATES=engine_settings(AUDIT_DIR, OPTIONS={"loaders": loaders})):
        names = djust_audit.list_templates(djust_audit.django_backends()[0].engine).names
    assert names == ["a.html", "b.html", *LISTED]


def test_a_name_is_audited_as_the_first_directory_has_it(tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    for directory, text in ((first, "{{ first }}"), (second, "{{ second }}")):
        directory.mkdir()
        (directory / "page.html").write_text(text)
    (second / "only.html").write_text("{{ only }}")
    with override_settings(TEMPLATES=engine_settings(first, second)):
        report = djust_audit.run_audit()
    assert [(r.name, list(r.extraction)) for r in report.results] == [
        ("page.html", ["first"]), ("only.html", ["only"])]


# ------------------------------------------------------------------- output

def test_audit_reports_each_template_and_a_summary(capsys, audit_dir):
    status, out, err = run(capsys)
    assert (status, err) == (1, "")
    found = blocks(out)
    assert found["good.html"] == ["rows: *.tenant.phone", "title: (the value itself)"]
    assert found["custom.html"] == [
        "page: heading, title",
        "unanalysed: {% shout %} in custom.html, line 3: custom tag: its arguments are "
        "extracted, not what its code reads",
    ]
    assert found["broken.html"] == [
        "failed (syntax): TemplateSyntaxError: broken.html, line 2: Unexpected end of "
        "expression in if tag."]
    assert found["missing_include.html"] == [
        "before: (the value itself)",
        "unanalysed: {% include %} in missing_include.html, line 2: included template "
        "'audit/nowhere.html' does not exist",
    ]
    assert found["missing_parent.html"] == [
        "(reads no context name)",
        "unanalysed: {% extends %} in missing_parent.html, line 1: parent template "
        "'audit/no_parent.html' does not exist",
    ]
    assert found["nested/deeper/row.txt"] == ["lease: unit.number"]
    assert found["nested/icon.svg"] == ["icon: name"]
    assert [line for line in found if line.startswith("skipped ")] == [
        f"skipped {AUDIT_DIR / 'nested' / 'logo.png'} (not utf-8 text)"]
    assert "secret" not in out  # the hidden directory
    assert summary_lines(out)[:7] == [
        "  templates audited: 7",
        "  analysed: 6",
        "  with unanalysable tags: 3 (3 tags)",
        "  roots: 6 (6 distinct names)",
        "  failures: syntax 1, missing 0, error 0",
        "  files skipped: 1",
        summary_lines(out)[6],
    ]
    assert summary_lines(out)[6].startswith("  time: ")
    assert summary_lines(out)[-1] == "  exit status: 1"


def test_quiet_prints_the_summary_only(capsys, audit_dir):
    status, out, _ = run(capsys, "--quiet")
    assert status == 1
    assert out.startswith("Summary\n  templates audited: 7\n")


def test_names_audit_only_those_and_all_analysed_exits_0(capsys, audit_dir):
    status, out, _ = run(capsys, "good.html", "nested/icon.svg")
    assert status == 0
    assert list(blocks(out))[:2] == ["good.html", "nested/icon.svg"]
    assert "  failures: syntax 0, missing 0, error 0" in out


def test_a_missing_name_is_a_failure_and_exits_1(capsys, audit_dir):
    status, out, _ = run(capsys, "good.html", "nowhere.html")
    assert status == 1
    assert blocks(out)["nowhere.html"] == [
        "failed (missing): TemplateDoesNotExist: template not found: nowhere.html"]
    assert "  failures: syntax 0, missing 1, error 0" in out


def test_an_unexpected_exception_is_reported_and_the_run_goes_on(capsys, audit_dir,
                                                                  monkeypatch):
    real = extraction.extract_template_variables_from_name

    def flaky(name, **kwargs):
        if name == "custom.html":
            raise RuntimeError("walker bug")
        return real(name, **kwargs)

    monkeypatch.setattr(extraction, "extract_template_variables_from_name", flaky)
    status, out, _ = run(capsys)
    assert status == 3
    (line,) = blocks(out)["custom.html"]
    assert line.startswith("failed (error): RuntimeError: walker bug (")
    assert blocks(out)["good.html"]  # the others were audited
    assert "  failures: syntax 1, missing 0, error 1" in out


def test_json_structure(capsys, audit_dir):
    status, out, _ = run(capsys, "--json")
    assert status == 1
    data = json.loads(out)
    assert set(data) == {"summary", "templates", "skipped"}
    summary = data["summary"]
    assert {key: summary[key] for key in ("templates", "analysed", "with_unanalysed",
                                          "unanalysed_tags", "roots", "failures",
                                          "skipped_files", "exit_status")} == {
        "templates": 7, "analysed": 6, "with_unanalysed": 3, "unanalysed_tags": 3,
        "roots": 6, "failures": {"syntax": 1, "missing": 0, "error": 0},
        "skipped_files": 1, "exit_status": 1}
    by_name = {entry["name"]: entry for entry in data["templates"]}
    assert list(by_name) == LISTED
    assert by_name["good.html"] == {
        "engine": "django", "name": "good.html", "failure": None,
        "roots": {"rows": ["*.tenant.phone"], "title": [""]},
        "unanalysed": [], "templates": ["good.html"]}
    assert by_name["broken.html"]["failure"]["kind"] == "syntax"
    assert by_name["broken.html"]["failure"]["type"] == "TemplateSyntaxError"
    assert by_name["custom.html"]["unanalysed"][0].startswith("{% shout %} in custom.html")
    assert data["skipped"] == [{"engine": "django", "path": str(AUDIT_DIR / "nested" /
                                                                "logo.png"),
                                "reason": "not utf-8 text"}]


def test_json_quiet_is_the_summary(capsys, audit_dir):
    _, out, _ = run(capsys, "--json", "--quiet")
    assert list(json.loads(out)) == ["summary"]


def test_model_adds_the_query_plan(capsys, audit_dir):
    status, out, _ = run(capsys, "good.html", "nested/deeper/row.txt",
                         "--model", "rows=rentals.Lease", "--model", "lease=rentals.Lease")
    assert status == 0
    found = blocks(out)
    assert found["good.html"][:3] == [
        "rows: *.tenant.phone", "plan for rentals.Lease (each element):",
        "select_related: tenant"]
    assert found["nested/deeper/row.txt"][:3] == [
        "lease: unit.number", "plan for rentals.Lease:", "select_related: unit"]
    _, out, _ = run(capsys, "good.html", "--model", "rows=rentals.Lease", "--json")
    plan = json.loads(out)["templates"][0]["plans"]["rows"]
    assert (plan["model"], plan["collection"], plan["select_related"],
            plan["prefetch_related"]) == ("rentals.Lease", True, ["tenant"], [])
    assert "tenant__phone" in plan["only"]


def test_model_plan_lists_nested_prefetches():
    plan = djust_audit.plan_for(
        __import__("examples.rentals.models", fromlist=["Property"]).Property,
        ["*.units.all.*.leases.all.*.tenant.phone", "*.name"])
    assert plan["prefetch_related"] == ["units", "units__leases"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "rows"], "djust audit: error: --model 'rows': expected ROOT=app_label.Model"),
        (["--model", "rows=rentals.Nope"], "djust audit: error: --model 'rows=rentals.Nope': "
                                           "unknown model 'rentals.Nope'"),
        (["--engine", "jinja"], "djust audit: error: unknown template engine 'jinja' "
                                "(TEMPLATES has: django)"),
        (["--frobnicate"], "djust audit: error: unrecognized arguments: --frobnicate"),
    ],
)
def test_usage_errors_exit_2(capsys, audit_dir, argv, message):
    status, out, err = run(capsys, *argv)
    assert (status, out) == (2, "")
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_engine_selects_one_of_several(capsys, tmp_path):
    (tmp_path / "other.html").write_text("{{ other }}")
    templates = [*engine_settings(AUDIT_DIR),
                 {**engine_settings(tmp_path)[0], "NAME": "second"}]
    with override_settings(TEMPLATES=templates):
        status, out, _ = run(capsys, "--engine", "second")
        assert (status, blocks(out)["other.html"]) == (0, ["other: (the value itself)"])
        status, out, _ = run(capsys, "--quiet")
        assert "templates audited: 8" in out
        status, out, _ = run(capsys, "good.html")
        assert status == 0  # found by one engine only: the other's miss is left out
        assert list(blocks(out)) == ["good.html [engine django]", "Summary"]
        assert "engine second" not in out
        status, out, _ = run(capsys)
        assert "other.html [engine second]" in out


def test_a_non_django_engine_is_refused(capsys):
    templates = [*engine_settings(AUDIT_DIR),
                 {"BACKEND": "django.template.backends.dummy.TemplateStrings", "DIRS": [],
                  "APP_DIRS": False, "NAME": "strings"}]
    with override_settings(TEMPLATES=templates):
        status, _, err = run(capsys, "--engine", "strings")
        assert status == 2
        assert "not a Django template engine" in err
        status, out, _ = run(capsys, "--quiet")  # left out of a full run
        assert "templates audited: 7" in out


def test_explain_still_works(capsys):
    assert cli.main(["explain", "extraction/row.html"]) == 0
    assert capsys.readouterr().out.startswith("Template extraction/row.html")


# ------------------------------------------------------- management command

def test_management_command_runs_the_same_code(audit_dir, capsys):
    call_command("djust_audit", "good.html", "--model", "rows=rentals.Lease")
    out = capsys.readouterr().out
    assert blocks(out)["good.html"][:2] == [
        "rows: *.tenant.phone", "plan for rentals.Lease (each element):"]
    assert "  exit status: 0" in out


def test_management_command_exit_statuses(audit_dir, capsys):
    with pytest.raises(CommandError) as failed:
        call_command("djust_audit", "--quiet")
    assert failed.value.returncode == 1
    assert "templates audited: 7" in capsys.readouterr().out
    with pytest.raises(CommandError) as usage:
        call_command("djust_audit", "--engine", "nope")
    assert usage.value.returncode == 2
    call_command("djust_audit", "good.html", "--json")
    assert json.loads(capsys.readouterr().out)["summary"]["exit_status"] == 0


# ------------------------------------------------------------------ scale

def test_thousands_of_templates_bounded_cache(capsys, tmp_path, settings):
    settings.DJUST = {"EXTRACTION_CACHE_SIZE": 64}
    for index in range(2000):
        folder = tmp_path / f"d{index % 20}"
        folder.mkdir(exist_ok=True)
        if index % 2:  # half extend the first one
            text = ('{% extends "d0/t0.html" %}{% block body %}'
                    f"{{{{ item{index}.name }}}}{{% endblock %}}")
        else:
            text = (f"{{% for r in rows %}}{{{{ r.v{index} }}}}{{% endfor %}}"
                    "{% block body %}{% endblock %}")
        (folder / f"t{index}.html").write_text(text)
    extraction.cache_clear()
    with override_settings(TEMPLATES=engine_settings(tmp_path)):
        started = time.perf_counter()
        status, out, _ = run(capsys, "--quiet")
        elapsed = time.perf_counter() - started
        # Django's cached loader, emptied past LOADER_CACHE_LIMIT templates.
        (loader,) = djust_audit.django_backends()[0].engine.template_loaders
        assert 0 < len(loader.get_template_cache) <= djust_audit.LOADER_CACHE_LIMIT + 1
    assert status == 0
    assert summary_lines(out)[:5] == [
        "  templates audited: 2000",
        "  analysed: 2000",
        "  with unanalysable tags: 0 (0 tags)",
        "  roots: 3000 (1001 distinct names)",
        "  failures: syntax 0, missing 0, error 0",
    ]
    assert extraction.cached_count() <= 64
    assert elapsed < 10


def test_django_admin_templates_audit_without_failures(capsys, settings):
    apps = ["django.contrib.admin.apps.SimpleAdminConfig", *settings.INSTALLED_APPS]
    with override_settings(INSTALLED_APPS=apps,
                           TEMPLATES=engine_settings(app_dirs=True)):
        status, out, _ = run(capsys, "--json", "--quiet")
    summary = json.loads(out)["summary"]
    assert status == 0
    assert summary["failures"] == {"syntax": 0, "missing": 0, "error": 0}
    assert summary["templates"] > 50  # admin's, auth's...
    assert 0 < summary["with_unanalysed"] < summary["templates"]


def test_a_view_types_its_context_names_and_names_its_template():
    """--view: a ListView's object_list, <model>_list, page_obj and
    paginator are typed (a page through its object_list), its template
    audited."""
    from django.test import override_settings

    from djust.management.commands.djust_audit import AuditUsageError, run_audit
    from tests.test_template_backend import DJUST, settings_for

    with override_settings(TEMPLATES=settings_for(DJUST)):
        report = run_audit(views=["tests.test_template_backend.PagedLeases"])
    (result,) = report.results
    assert result.name == "leases/paged.html" and result.failure is None
    assert "tenant__user" in result.plans["page_obj"]["select_related"]
    assert "unit__property" in result.plans["object_list"]["select_related"]
    # Read only for its count and pages: no rows to plan.
    assert "paginator" in result.extraction and "paginator" not in result.plans
    with pytest.raises(AuditUsageError, match="not a view class with a model"):
        run_audit(views=["django.views.generic.TemplateView"])
    with pytest.raises(AuditUsageError, match="neither a list nor a detail view"):
        run_audit(views=["tests.test_audit.ModelButNoList"])


class ModelButNoList:
    from examples.rentals.models import Lease as model
