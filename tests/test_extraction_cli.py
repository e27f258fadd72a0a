"""``python -m djust explain``, called in-process."""

import pytest

from djust import __main__ as cli


def run(capsys, *argv):
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_explain_prints_paths_per_root_and_the_chain(capsys):
    status, out, err = run(capsys, "explain", "extraction/child.html")
    assert (status, err) == (0, "")
    assert out.splitlines()[:2] == [
        "Template extraction/child.html",
        "  chain: extraction/child.html, extraction/middle.html, extraction/base.html",
    ]
    assert "\nPaths\n  base_only:\n    x\n  child:\n    a\n" in out
    assert out.rstrip().endswith("Unanalysed tags\n  (none)")


def test_explain_lists_unanalysed_tags(capsys):
    status, out, _ = run(capsys, "explain", "extraction/custom.html")
    assert status == 0
    assert "  {% shout %} in extraction/custom.html, line 3: custom tag" in out


def test_explain_restricted_to_a_model_and_name(capsys):
    status, out, _ = run(
        capsys, "explain", "rentals/dashboard.html", "--model", "rentals.Lease",
        "--name", "expiring_leases",
    )
    assert status == 0
    assert "  model: rentals.Lease (context name 'expiring_leases')" in out
    assert "    *.tenant.user.email" in out
    assert "properties" not in out


def test_explain_name_the_template_never_reads(capsys):
    status, out, err = run(
        capsys, "explain", "extraction/row.html", "--model", "rentals.Lease", "--name", "nope",
    )
    assert (status, out) == (2, "")
    assert err == ("djust explain: error: extraction/row.html never reads 'nope' "
                   "(it reads: label, lease)\n")


def test_sections_are_built_by_replaceable_functions(capsys, monkeypatch):
    extra = cli.Section("Plan", ("select_related: tenant",))
    monkeypatch.setattr(cli, "SECTION_BUILDERS", [*cli.SECTION_BUILDERS, lambda r: extra])
    status, out, _ = run(capsys, "explain", "extraction/row.html")
    assert status == 0
    assert out.rstrip().endswith("Plan\n  select_related: tenant")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["explain", "nowhere.html"], "djust explain: error: template not found: nowhere.html"),
        (
            ["explain", "extraction/broken.html"],
            "djust explain: error: template syntax error: extraction/broken.html, line 3:",
        ),
        (
            ["explain", "extraction/row.html", "--model", "rentals.Nope", "--name", "x"],
            "djust explain: error: unknown model 'rentals.Nope'",
        ),
        (
            ["explain", "extraction/row.html", "--model", "nodot", "--name", "x"],
            "djust explain: error: unknown model 'nodot'",
        ),
    ],
)
def test_errors_print_one_line_and_exit_2(capsys, argv, message):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert err.startswith(message)
    assert err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["explain", "extraction/row.html", "--model", "rentals.Lease"],
         "djust explain: error: --model and --name go together"),
        (["explain", "extraction/row.html", "--name", "lease"],
         "djust explain: error: --model and --name go together"),
        (["explain"], "djust explain: error: the following arguments are required: "
                      "TEMPLATE_NAME"),
        (["explain", "extraction/row.html", "--modle", "x"],
         "djust explain: error: unrecognized arguments: --modle x"),
        ([], "djust: error: the following arguments are required: COMMAND"),
        (["explian"], "djust: error: argument COMMAND: invalid choice: 'explian'"),
    ],
)
def test_usage_errors_print_one_line_and_exit_2(capsys, argv, message):
    status, out, err = run(capsys, *argv)
    assert (status, out) == (2, "")
    assert err.startswith(message)
    assert err.endswith(" --help)\n")
    assert err.count("\n") == 1


def test_help_prints_every_option_and_exits_0(capsys):
    status, out, err = run(capsys, "explain", "--help")
    assert (status, err) == (0, "")
    for option in ("--model", "--name", "--settings", "--pythonpath"):
        assert option in out


def test_other_settings_cannot_apply_once_django_is_set_up(capsys):
    status, out, err = run(capsys, "explain", "extraction/row.html", "--settings", "elsewhere")
    assert (status, out) == (2, "")
    assert err == ("djust explain: error: Django is already set up in this process with "
                   "settings 'tests.settings'; --settings elsewhere cannot apply\n")


def test_the_same_settings_are_accepted_once_django_is_set_up(capsys):
    status, _, err = run(capsys, "explain", "extraction/row.html", "--settings", "tests.settings")
    assert (status, err) == (0, "")


def test_an_improperly_configured_setting_is_one_line(capsys, settings):
    settings.DJUST = {"NOT_A_KEY": 1}
    status, out, err = run(capsys, "explain", "extraction/row.html", "--model", "rentals.Lease",
                           "--name", "lease")
    assert (status, out) == (2, "")
    assert err == ("djust explain: error: improperly configured: unknown key(s) in "
                   "settings.DJUST: ['NOT_A_KEY']\n")


def test_the_modules_examples_hold(capsys):
    # pytest's --doctest-modules never collects a __main__.py.
    import doctest

    result = doctest.testmod(cli, optionflags=doctest.ELLIPSIS)
    report = capsys.readouterr().out
    assert (result.failed, report) == (0, "")
    assert result.attempted >= 20
