"""djust.diff: the patch a transport sends instead of a page's new inner HTML."""

import json

import pytest

from djust import diff
from djust.diff import apply_diff, html_diff, utf16_len

COMPACT = (",", ":")


def roundtrip(old: str, new: str) -> list:
    patch = html_diff(old, new)
    assert apply_diff(old, patch) == new
    # JSON-serializable, and read back the same.
    assert json.loads(json.dumps(patch)) == patch
    assert len(json.dumps(patch, separators=COMPACT)) <= len(json.dumps([new], separators=COMPACT))
    assert len(json.dumps(patch)) <= len(json.dumps([new]))
    return patch


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("", "", []),
    ("", "<p>x</p>", ["<p>x</p>"]),
    ("<p>x</p>", "", []),
    ("<p>same</p>", "<p>same</p>", [11]),
    ("abc", "xyz", ["xyz"]),
    # Astral characters count two units, as in JavaScript.
    ("😀", "😀", [2]),
    ("<b>😀</b>", "<b>😀!</b>", [5, "!", 4]),
])
def test_examples(old, new, expected):
    assert roundtrip(old, new) == expected


def page(rows: list[str]) -> str:
    body = "".join(f"  <tr>\n    <td>{cell}</td><td>{n}</td>\n  </tr>\n"
                   for n, cell in enumerate(rows))
    return f"<h1>Leases</h1>\n<table>\n{body}</table>\n<footer>end</footer>\n"


def test_a_changed_cell_sends_about_the_cell():
    rows = [f"lease {n} of a long and boring table" for n in range(200)]
    old = page(rows)
    rows[120] = "lease 120 changed"
    patch = roundtrip(old, page(rows))
    assert len(json.dumps(patch, separators=COMPACT)) < 40
    assert patch[0] > 0 and isinstance(patch[-1], int) and patch[-1] > 0


def test_scattered_changes_copy_the_lines_between():
    rows = [f"row {n}" for n in range(300)]
    old = page(rows)
    for n in range(0, 300, 30):
        rows[n] = f"ROW {n}!"
    new = page(rows)
    patch = roundtrip(old, new)
    inserted = "".join(op for op in patch if isinstance(op, str))
    assert len(inserted) < 200
    assert len(json.dumps(patch)) < len(json.dumps(new)) / 5


def test_moved_and_deleted_lines():
    lines = [f"<li>item {n}</li>\n" for n in range(100)]
    old = "<ul>\n" + "".join(lines) + "</ul>\n"
    moved = lines[50:] + lines[:50]
    roundtrip(old, "<ul>\n" + "".join(moved) + "</ul>\n")
    roundtrip(old, "<ul>\n" + "".join(lines[::2]) + "</ul>\n")
    roundtrip(old, "<ul>\n" + "".join(reversed(lines)) + "</ul>\n")


def test_a_patch_not_shorter_than_the_new_text_is_the_full_replacement():
    old = "<p>" + "a" * 50 + "</p>"
    new = "<i>" + "b" * 50 + "</i>"
    assert roundtrip(old, new) == [new]
    # [2, "x", 1] is 11 characters as json.dumps writes it, like ["abxd"]:
    # not shorter.
    assert roundtrip("abcd", "abxd") == ["abxd"]
    assert roundtrip("abcdefghijklmnop", "abcxefghijklmnop") == [3, -1, "x", 12]


def test_astral_characters_count_two_units():
    old = "<p>😀 a 𝄞 b</p>\n<p>🎉</p>\n"
    new = "<p>😀 a 𝄞 c</p>\n<p>🎉🎉</p>\n"
    patch = roundtrip(old, new)
    copied = sum(op for op in patch if isinstance(op, int) and op > 0)
    skipped = -sum(op for op in patch if isinstance(op, int) and op < 0)
    # Counts add up to the old text's length in UTF-16 code units.
    assert copied + skipped <= utf16_len(old) == len(old.encode("utf-16-le")) // 2
    assert utf16_len(old) == len(old) + 3


def test_an_old_text_with_surrogate_code_points_gets_the_full_replacement():
    old = "<p>\ud83d\ude00</p>"
    assert html_diff(old, "<p>\ud83d\ude00!</p>") == ["<p>\ud83d\ude00!</p>"]


def test_the_budget_bounds_matching(monkeypatch):
    rows = [f"row {n}" for n in range(300)]
    old = page(rows)
    for n in range(0, 300, 3):
        rows[n] = f"ROW {n}!"
    new = page(rows)
    calls = []
    real = diff.difflib.SequenceMatcher

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(diff.difflib, "SequenceMatcher", counted)
    monkeypatch.setattr(diff, "MATCH_BUDGET", 0)
    assert apply_diff(old, html_diff(old, new)) == new
    assert calls == []
    monkeypatch.setattr(diff, "MATCH_BUDGET", 200)
    assert apply_diff(old, html_diff(old, new)) == new
    spent = sum(diff._match_cost(a, b) for _, a, b in calls)
    assert 0 < spent <= 200


@pytest.mark.parametrize(("old", "patch", "message"), [
    ("abc", [4], "goes past the end"),
    ("abc", [2, -2], "goes past the end"),
    ("abc", [0], "non-zero int"),
    ("abc", [-0], "non-zero int"),
    ("abc", [""], "empty string"),
    ("abc", [1.0], "non-zero int"),
    ("abc", [1.5], "non-zero int"),
    ("abc", [True], "non-zero int"),
    ("abc", [None], "non-zero int"),
    ("abc", [["x"]], "non-zero int"),
    ("abc", [{"x": 1}], "non-zero int"),
    ("abc", "abc", "a patch is a list"),
    ("abc", {"copy": 1}, "a patch is a list"),
    ("abc", None, "a patch is a list"),
    ("😀", [1], "ends inside a character"),
    ("a😀b", [2, "x"], "ends inside a character"),
    ("a😀b", [-2, 1], "ends inside a character"),
    ("", [1], "goes past the end"),
    ("ab", [2**64], "goes past the end"),
])
def test_malformed_patches_raise_value_error(old, patch, message):
    with pytest.raises(ValueError, match=message):
        apply_diff(old, patch)


def test_valid_patches_of_any_shape_apply():
    assert apply_diff("abcdef", [1, 1, -1, -1, "X", "Y", 2]) == "abXYef"
    assert apply_diff("abcdef", [-6]) == ""
    assert apply_diff("abcdef", ["new"]) == "new"
    assert apply_diff("a😀b", [-1, 2, -1, "c"]) == "😀c"
    assert apply_diff("", []) == ""


def test_only_strings_are_diffed():
    with pytest.raises(TypeError):
        html_diff(b"a", "b")
    with pytest.raises(TypeError):
        apply_diff(b"a", [])
