"""The constants the docs state match the code: every ``DJUST`` setting and
``DJUST["CACHE"]`` key with its default, the store's entry format, and the
options of ``python -m djust`` and ``manage.py djust_cache``.

The truth comes from the code (``conf.DEFAULTS``, ``store.DEFAULT_CONFIG``,
``store.ENTRY_FORMAT``, the commands' own argparse parsers); the docs are
parsed, so a key, default, version or option added to one side only fails
here."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from django.core.management.base import BaseCommand

from djust import conf, store
from djust.__main__ import build_parser
from djust.management.commands.djust_cache import Command as DjustCacheCommand

ROOT = Path(__file__).resolve().parent.parent
API = ROOT / "docs" / "api.md"
DOCUMENTS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
SETTINGS_HEADING = "## Settings"
CACHE_HEADING = '### `DJUST["CACHE"]`: the shared store'
EXPLAIN_HEADING = "## `python -m djust explain`"
DJUST_CACHE_HEADING = "## Management command `djust_cache`"
# How the docs state the store's entry format: a `vN` folder, a
# `djust:vN:` key prefix, a `.../store/vN/...` path in a log line.
STORE_VERSION = re.compile(r"(?:`|djust:|store/)v(\d+)(?=[`:/])")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
SETTING_SUBSCRIPT = re.compile(r"""DJUST\[["'](\w+)["']\](?:\[["'](\w+)["']\])?""")


def section(text: str, heading: str) -> str:
    """From the line ``heading`` to the next heading of the same or a higher
    level (a fenced block's ``#`` comments are not headings).

        >>> section("# a\\n## b\\nx\\n### c\\ny\\n## d\\n", "## b")
        '## b\\nx\\n### c\\ny\\n'
    """
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines(keepends=True)
    start = lines.index(heading + "\n")
    fenced = False
    for index in range(start + 1, len(lines)):
        line = lines[index]
        fenced ^= line.startswith("```")
        if not fenced and re.match(rf"#{{1,{level}}} ", line):
            return "".join(lines[start:index])
    return "".join(lines[start:])


def first_table(text: str) -> list[list[str]]:
    """The body rows of the first Markdown table in ``text``, as cells.

        >>> first_table("x\\n| a | b |\\n| --- | --- |\\n| `k` | 1 |\\n\\n| c |\\n")
        [['`k`', '1']]
    """
    lines = text[text.index("\n|") + 1:].splitlines()
    rows: list[list[str]] = []
    for line in lines[2:]:  # below the header and its |---| line
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def unquoted(cell: str) -> str:
    """``"`KEY`"`` -> ``"KEY"``: the docs write names and values as code."""
    assert cell.startswith("`") and cell.endswith("`"), cell
    return cell[1:-1]


def documented_defaults(heading: str) -> dict[str, str]:
    """``{key: default as written}`` of the first table under ``heading``."""
    rows = first_table(section(API.read_text("utf-8"), heading))
    return {unquoted(row[0]): unquoted(row[1]) for row in rows}


def option_strings(parser: argparse.ArgumentParser) -> set[str]:
    return {string for action in parser._actions for string in action.option_strings
            if string.startswith("--")}


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found = [action for action in parser._actions
             if isinstance(action, argparse._SubParsersAction)]
    return dict(found[0].choices) if found else {}


def explain_parser() -> argparse.ArgumentParser:
    return subcommands(build_parser())["explain"]


def djust_cache_parser() -> argparse.ArgumentParser:
    return DjustCacheCommand().create_parser("manage.py", "djust_cache")


def django_common_options() -> set[str]:
    """What every management command accepts (--settings, --verbosity...)."""
    return option_strings(BaseCommand().create_parser("manage.py", "any"))


# ------------------------------------------------------------------ settings

@pytest.mark.parametrize(("heading", "defaults"), [
    (SETTINGS_HEADING, conf.DEFAULTS),
    (CACHE_HEADING, store.DEFAULT_CONFIG),
], ids=["DJUST", "DJUST-CACHE"])
def test_every_key_is_documented_with_its_default_and_no_other(heading, defaults):
    documented = documented_defaults(heading)
    assert sorted(documented) == sorted(defaults), f"docs/api.md, {heading}"
    for key, default in defaults.items():
        assert documented[key] == repr(default), f"docs/api.md, {heading}: default of {key}"


def test_every_setting_the_docs_read_exists():
    for path in DOCUMENTS:
        for key, cache_key in SETTING_SUBSCRIPT.findall(path.read_text("utf-8")):
            assert key in conf.DEFAULTS, f"{path.name}: DJUST[{key!r}]"
            if cache_key:
                assert key == "CACHE", f"{path.name}: DJUST[{key!r}][{cache_key!r}]"
                assert cache_key in store.DEFAULT_CONFIG, f"{path.name}: DJUST['CACHE'][" \
                                                          f"{cache_key!r}]"


# ----------------------------------------------------------------- the store

def test_the_store_layout_version_stated_is_the_codes():
    rows = {unquoted(row[0]): row[2]
            for row in first_table(section(API.read_text("utf-8"), CACHE_HEADING))}
    # Where the layout shows: the filesystem folder and the key prefix.
    for key in ("LOCATION", "KEY_PREFIX"):
        assert STORE_VERSION.findall(rows[key]) == [str(store.ENTRY_FORMAT)], (
            f"docs/api.md, DJUST['CACHE']['{key}']")
    for path in DOCUMENTS:
        stated = set(STORE_VERSION.findall(path.read_text("utf-8")))
        assert stated <= {str(store.ENTRY_FORMAT)}, f"{path.name} states the store's v{stated}"


# ---------------------------------------------------------------- commands

def test_every_command_of_python_m_djust_has_a_section():
    api = API.read_text("utf-8")
    for command in subcommands(build_parser()):
        assert f"## `python -m djust {command}`\n" in api, command


def test_every_explain_option_is_documented_and_no_other():
    table = first_table(section(API.read_text("utf-8"), EXPLAIN_HEADING))
    documented = {unquoted(row[0]).split()[0] for row in table}
    parser = explain_parser()
    positionals = {action.metavar for action in parser._actions if not action.option_strings}
    assert documented == option_strings(parser) - {"--help"} | positionals


def test_every_option_the_docs_give_explain_exists():
    known = option_strings(explain_parser())
    for path in DOCUMENTS:
        for command in commands_in(path.read_text("utf-8"), "python -m djust explain"):
            assert set(OPTION.findall(command)) <= known, f"{path.name}: {command}"
    explain_section = section(API.read_text("utf-8"), EXPLAIN_HEADING)
    assert set(OPTION.findall(explain_section)) <= known


def test_every_djust_cache_action_and_option_is_documented_and_no_other():
    text = section(API.read_text("utf-8"), DJUST_CACHE_HEADING)
    parser = djust_cache_parser()
    (action,) = [a for a in parser._actions if a.dest == "action"]
    documented_actions = {unquoted(row[0]) for row in first_table(text)}
    assert documented_actions == set(action.choices)
    assert "{" + ",".join(action.choices) + "}" in text  # the usage line
    own = option_strings(parser) - django_common_options()
    assert own <= set(OPTION.findall(text))
    assert set(OPTION.findall(text)) <= own | django_common_options()


def test_every_option_the_docs_give_djust_cache_exists():
    known = option_strings(djust_cache_parser())
    for path in DOCUMENTS:
        for command in commands_in(path.read_text("utf-8"), "djust_cache "):
            assert set(OPTION.findall(command)) <= known, f"{path.name}: {command}"


def commands_in(text: str, start: str) -> list[str]:
    """Each command line of ``text`` beginning with ``start``, to the end of
    its line (backslash continuations joined).

        >>> commands_in("run: python -m x --a \\\\\\n    --b\\nthen --c", "python -m x")
        ['python -m x --a      --b']
    """
    joined = text.replace("\\\n", " ")
    return [line[line.index(start):] for line in joined.splitlines() if start in line]
