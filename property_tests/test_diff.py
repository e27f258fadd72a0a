"""djust.diff on generated strings: ``apply_diff(old, html_diff(old, new))``
is ``new`` for any text, HTML-like pages and edits of them, and the patch is
never longer in JSON than the full replacement."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from djust.diff import apply_diff, html_diff, utf16_len

COMPACT = (",", ":")
# These examples are cheap: many more than the suite's default profile.
EXAMPLES = settings(max_examples=max(300, settings.default.max_examples))

# Any Unicode but surrogate code points (not text; see the module docstring),
# with astral characters and the characters HTML and JSON escape.
any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=60)
special = st.sampled_from(["<", ">", "&amp;", '"', "\\", "\n", "\r\n", " ", "\u2028",
                           "😀", "𝄞", "é", "\x00", "\U0010ffff", "\ufeff"])
words = st.one_of(special, st.text(st.characters(exclude_categories=["Cs"]), min_size=1,
                                   max_size=8),
                  st.sampled_from(["row", "Lisbon", "1200.00", "Jan 02, 2027", "Active"]))
tags = st.sampled_from(["<tr>", "</tr>", "<td>", "</td>", "<p class=\"x\">", "</p>", "<br>",
                        "<li dj-key=\"1\">", "</li>", "<!-- c -->", "\n", "\n  ", "<b>", "</b>"])
chunks = st.lists(st.one_of(tags, words), max_size=80)


def check(old: str, new: str) -> None:
    patch = html_diff(old, new)
    assert apply_diff(old, patch) == new
    encoded = json.dumps(patch, separators=COMPACT)
    assert json.loads(encoded) == patch
    assert len(encoded) <= len(json.dumps([new], separators=COMPACT))
    assert len(json.dumps(patch)) <= len(json.dumps([new]))
    # The counts never read past the old text, and the patch is canonical:
    # no empty strings, no zero counts, no trailing skip.
    units = len(old.encode("utf-16-le")) // 2
    assert utf16_len(old) == units
    assert sum(abs(op) for op in patch if isinstance(op, int)) <= units
    assert all(op != 0 and op != "" for op in patch)
    assert not patch or isinstance(patch[-1], str) or patch[-1] > 0


@EXAMPLES
@given(any_text, any_text)
def test_any_two_texts(old, new):
    check(old, new)


@EXAMPLES
@given(chunks, chunks)
def test_any_two_html_like_texts(old, new):
    check("".join(old), "".join(new))


@st.composite
def edited_pages(draw):
    """An HTML-like page of lines, and the page after random edits: lines
    replaced, inserted, deleted, moved; text changed inside a line."""
    line = st.lists(st.one_of(tags, words), min_size=1, max_size=8).map("".join).map(
        lambda text: text + "\n")
    lines = draw(st.lists(line, max_size=60))
    new = list(lines)
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["replace", "insert", "delete", "move", "inside"]))
        at = draw(st.integers(0, len(new)))
        if kind == "insert" or not new:
            new.insert(at, draw(line))
            continue
        at = min(at, len(new) - 1)
        if kind == "replace":
            new[at] = draw(line)
        elif kind == "delete":
            del new[at]
        elif kind == "move":
            new.insert(draw(st.integers(0, len(new) - 1)), new.pop(at))
        else:
            text = new[at]
            cut = draw(st.integers(0, len(text)))
            new[at] = text[:cut] + draw(words) + text[cut:]
    return "".join(lines), "".join(new)


@EXAMPLES
@given(edited_pages())
def test_edits_of_a_page(pages):
    old, new = pages
    check(old, new)


@EXAMPLES
@given(edited_pages())
def test_a_patch_applies_only_to_its_old_text_or_raises(pages):
    # A client whose text is not the server's gets another text or a
    # ValueError, never a crash of another kind.
    old, new = pages
    patch = html_diff(old, new)
    try:
        apply_diff(old + "x", patch)
        apply_diff(old[: len(old) // 2], patch)
    except ValueError:
        pass
