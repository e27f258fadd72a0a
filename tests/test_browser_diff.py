"""djust/static/djust/diff.js in a real browser (Debian's Chromium driven by
Playwright, like tests/test_browser.py, and skipped or failed the same way
without it): on hundreds of generated cases, ``djustDiff.apply`` returns
exactly what ``djust.diff.apply_diff`` returns, and throws where it raises.

The cases travel as JSON text, as a patch does over the wire.
"""

import json
import random
from pathlib import Path

import djust
from djust.diff import apply_diff, html_diff
from tests.test_browser import browser_page

SCRIPT = Path(djust.__file__).parent / "static" / "djust" / "diff.js"
PIECES = ["<tr>", "</tr>", "<td>", "</td>", "<p class=\"a\">", "</p>", "\n", "\n  ", "row",
          "Lisbon", "1200.00", " ", "&amp;", '"', "\\", "é", "😀", "𝄞", "\U0010ffff", "\u2028",
          "\x00", "<", ">"]
APPLY_ALL = """text => JSON.stringify(JSON.parse(text).map(([old, patch]) => {
  try {
    return {text: window.djustDiff.apply(old, patch)};
  } catch (error) {
    return {error: error instanceof Error ? error.message : String(error)};
  }
}))"""


def random_text(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(PIECES) for _ in range(size))


def random_edit(rng: random.Random, old: str) -> str:
    lines = old.split("\n")
    for _ in range(rng.randint(0, 5)):
        at = rng.randrange(len(lines))
        kind = rng.choice(["replace", "insert", "delete", "inside"])
        if kind == "replace":
            lines[at] = random_text(rng, rng.randint(0, 6))
        elif kind == "insert":
            lines.insert(at, random_text(rng, rng.randint(1, 6)))
        elif kind == "delete" and len(lines) > 1:
            del lines[at]
        else:
            cut = rng.randint(0, len(lines[at]))
            lines[at] = lines[at][:cut] + random_text(rng, 2) + lines[at][cut:]
    return "\n".join(lines)


def malformed(rng: random.Random, old: str, patch: list):
    """A patch made wrong: a count past the end or splitting an astral
    character, a zero, an empty string, another type; or not a list."""
    total = len(old.encode("utf-16-le")) // 2
    kind = rng.randrange(9)
    if kind == 0:
        return [*patch, total + 1]
    if kind == 1:
        return [*patch, rng.choice([0, "", None, True, False, 1.5, [1], {"n": 1}, -0.5])]
    if kind == 2:
        return rng.choice(["text", 3, None, {"0": 1}, True])
    if kind == 3:
        # A count that ends inside the first astral character, if any.
        units = 0
        for char in old:
            if ord(char) > 0xFFFF:
                return [units + 1, "x"]
            units += 2 if ord(char) > 0xFFFF else 1
        return [total, 1]
    if kind == 4:
        return [-(total + 1)]
    if kind == 5:
        return [2**53, "x"]
    # A valid-looking patch with one count grown past the text.
    counts = [n for n, op in enumerate(patch) if isinstance(op, int)]
    if not counts:
        return [total + 1]
    broken = list(patch)
    n = rng.choice(counts)
    broken[n] += total + 1 if broken[n] > 0 else -(total + 1)
    return broken


def cases(seed: int = 20260) -> list:
    rng = random.Random(seed)
    generated = [("", []), ("", ["x"]), ("abc", []), ("😀", [2]), ("😀", [1]), ("a😀b", [-3, 1]),
                 ("a😀b", [-2, 2])]
    for _ in range(300):
        lines = [random_text(rng, rng.randint(0, 8)) for _ in range(rng.randint(1, 15))]
        old = "\n".join(lines)
        new = random_edit(rng, old) if rng.random() < 0.8 else random_text(rng, 20)
        patch = html_diff(old, new)
        generated.append((old, patch))
        if rng.random() < 0.5:
            generated.append((old, malformed(rng, old, patch)))
    return generated


def python_results(batch: list) -> list:
    results = []
    for old, patch in batch:
        try:
            results.append({"text": apply_diff(old, patch)})
        except ValueError:
            results.append({"error": True})
    return results


def test_diff_js_applies_patches_as_apply_diff_does():
    batch = cases()
    expected = python_results(batch)
    errors_expected = sum("error" in result for result in expected)
    assert len(batch) > 400 and 100 < errors_expected < len(batch) - 250
    with browser_page() as (page, errors):
        page.set_content("<!doctype html><title>diff</title>")
        page.add_script_tag(path=str(SCRIPT))
        got = json.loads(page.evaluate(APPLY_ALL, json.dumps(batch)))
        assert errors == []
    assert len(got) == len(batch)
    for (old, patch), mine, theirs in zip(batch, expected, got, strict=True):
        if "error" in mine:
            assert "error" in theirs and theirs["error"].startswith("djustDiff: "), (old, patch)
        else:
            assert theirs == mine, (old, patch)


def test_diff_js_rejects_a_text_that_is_not_a_string():
    with browser_page() as (page, errors):
        page.set_content("<!doctype html><title>diff</title>")
        page.add_script_tag(path=str(SCRIPT))
        message = page.evaluate("""() => {
          try { window.djustDiff.apply(null, []); return "applied"; }
          catch (error) { return error.message; }
        }""")
        frozen = page.evaluate("Object.isFrozen(window.djustDiff)")
        assert errors == []
    assert message.startswith("djustDiff: ")
    assert frozen
