"""Send less: a text diff of a page's new inner HTML against the last one sent.

After an event, a LiveView re-renders the inner HTML of its ``dj-root``
element. A transport that remembers the last HTML it sent on a connection
(the WebSocket one) can send ``html_diff(old, new)`` instead of ``new``; the
client, which keeps the last HTML it received, rebuilds ``new`` with
``apply_diff`` (``djust/static/djust/diff.js`` in the browser: the same rules)
and morphs the page to it.

The patch
---------

A flat JSON-serializable list, read left to right with a cursor in ``old``:

- a positive int ``n`` copies the next ``n`` units of ``old``;
- a negative int ``-n`` skips the next ``n`` units of ``old``;
- a non-empty string inserts itself.

Whatever of ``old`` is left after the last operation is dropped, so ``[new]``
is a full replacement and a patch never ends with a skip.

Counts are in UTF-16 code units, as JavaScript indexes strings: a character
above U+FFFF (an emoji...) counts 2, every other code point 1. A count that
goes past the end of ``old``, or ends between the two halves of such a
character, makes the patch malformed; so do a zero count, an empty string, a
bool, a float or any other type. Malformed patches raise ``ValueError``
(``diff.js`` throws an ``Error``): a client whose ``old`` is not the server's
finds out as often as the counts allow, and should then ask for a full render.

The algorithm
-------------

Cheap and bounded, for the typical update of a rendered page: a few rows,
a counter or a timing changed somewhere in a large, mostly identical text.

1. The common prefix and suffix are trimmed (found by binary search with
   string comparisons done in C: microseconds for 100 KB).
2. The middle is split into lines. Lines that occur exactly once in each
   side are matched, keeping the longest chain of them that is in order in
   both (as patience diff does; O(n log n)), and each gap between two
   matched lines loses the lines equal at its edges: any number of unchanged
   lines between changes are copied, in time linear in the page.
3. Each gap left is matched on tokens (tags, and the text runs between them:
   the string split at ``<`` and ``>``) with
   ``difflib.SequenceMatcher(autojunk=False)``, so a changed cell sends
   about the cell's text only.
4. The bound: SequenceMatcher's steps are estimated before it runs (both
   lengths, plus the pairs of equal tokens it will look at, plus a constant
   per call: ``_match_cost``), and one ``html_diff`` may spend
   ``MATCH_BUDGET`` of them in all. A gap that would go over what is left is
   replaced whole (a skip and an insert), as is one with more ``<`` than the
   budget (not even tokenized). With the budget at 3,000 (about 2 ms of
   matching in CPython), a 100 KB page diffs in a few milliseconds whatever
   changed (``benchmarks/bench_live_diff.py``): past the budget, matching
   would mostly find coincidental tags, and save little.
5. Copies too short to pay for themselves between two changes are folded
   into the change.

The size rule: the patch is returned only when its JSON, as ``json.dumps``
writes it by default (ASCII, ``", "`` between items), is shorter than that
of ``[new]``; otherwise ``html_diff`` returns the full replacement ``[new]``
(``[]`` when ``new`` is empty). Either way the JSON of the result is never
longer than that of ``[new]``, written with the default separators or the
compact ones (``separators=(",", ":")``, a few bytes less per item: what a
transport should use).

An ``old`` string that contains surrogate code points (not valid Unicode,
only possible in a Python ``str``) gets the full replacement: JavaScript would
read two of them in a row as one character. For every other ``old``,
``apply_diff`` and ``diff.js`` agree on every patch, malformed ones included
(``tests/test_browser_diff.py``).
"""

from __future__ import annotations

import bisect
import difflib
import json
import re
from collections import Counter

__all__ = ["MATCH_BUDGET", "apply_diff", "apply_render", "html_diff", "utf16_len"]

# The bound on SequenceMatcher's work in one html_diff, in the units of
# _match_cost (see the module docstring and benchmarks/bench_live_diff.py).
MATCH_BUDGET = 3_000
# What setting up one SequenceMatcher costs, in the same units.
CALL_COST = 20
# A copy of at most this many units between two changes costs more in the
# patch (its count, and a string split in two) than sending its text again.
SHORT_COPY = 4

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_TOKEN = re.compile(r"[^<>]+|<[^<>]*>?|>")
_COMPACT = (",", ":")
_SWAPPED = {"insert": "delete", "delete": "insert"}


def utf16_len(text: str) -> int:
    """The length of ``text`` in UTF-16 code units, as JavaScript counts it.

    >>> utf16_len("abc"), utf16_len("é"), utf16_len("😀")
    (3, 1, 2)
    """
    if text.isascii():
        return len(text)
    return len(text) + len(_ASTRAL.findall(text))


def _has_surrogates(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")  # faster than a regular expression's search
    except UnicodeEncodeError:
        return True
    return False


def html_diff(old: str, new: str) -> list:
    """A patch that turns ``old`` into ``new`` (see the module docstring).

    >>> html_diff("<h1>Leases</h1><p>1 item</p><p>footer</p>",
    ...           "<h1>Leases</h1><p>2 items</p><p>footer</p>")
    [18, -6, '2 items', 17]
    >>> html_diff("same", "same")
    [4]
    >>> html_diff("abc", "xyz")
    ['xyz']
    >>> html_diff("abc", "")
    []
    >>> html_diff("<b>😀</b>", "<b>😀!</b>")
    [5, '!', 4]
    """
    if not isinstance(old, str) or not isinstance(new, str):
        raise TypeError("html_diff compares two strings")
    if old == new:
        return [utf16_len(old)] if old else []
    full = [new] if new else []
    if not old or not new or _has_surrogates(old):
        return full
    prefix = _common_prefix(old, new)
    suffix = _common_suffix(old, new, min(len(old), len(new)) - prefix)
    ops = _Ops()
    if prefix:
        ops.copy(old[:prefix])
    _diff_lines(old[prefix:len(old) - suffix], new[prefix:len(new) - suffix], ops)
    if suffix:
        ops.copy(old[len(old) - suffix:])
    patch = ops.finish()
    # As json.dumps writes it by default: ", " between items.
    encoded = len(json.dumps(patch, separators=_COMPACT)) + len(patch) - 1
    # json.dumps([new]) is at least len(new) + 4 characters long: encoding
    # it is needed only when the patch is not clearly shorter.
    if encoded >= len(new) + 4 and encoded >= len(json.dumps(full)):
        return full
    return patch


def apply_diff(old: str, patch: list) -> str:
    """Rebuild the new string from ``old`` and a patch from ``html_diff``.

    >>> apply_diff("<p>1 item</p>", [3, -1, "2", 5, "s", 4])
    '<p>2 items</p>'
    >>> apply_diff("a😀b", [3, "c"])
    'a😀c'
    >>> apply_diff("abc", [4])
    Traceback (most recent call last):
      ...
    ValueError: patch item 0 (4) goes past the end of the old text (3 units)
    >>> apply_diff("😀", [1, "x"])
    Traceback (most recent call last):
      ...
    ValueError: patch item 0 (1) ends inside a character of the old text
    """
    if not isinstance(old, str):
        raise TypeError("apply_diff applies a patch to a string")
    if not isinstance(patch, list):
        raise ValueError(f"a patch is a list, not {type(patch).__name__}")
    positions = _Positions(old)
    parts = []
    at = 0  # in code points of old
    unit = 0  # the same position in UTF-16 code units
    for index, op in enumerate(patch):
        if isinstance(op, str):
            if not op:
                raise ValueError(f"patch item {index} is an empty string")
            parts.append(op)
            continue
        if type(op) is not int or op == 0:
            raise ValueError(f"patch item {index} ({op!r}) is not a non-zero int or a string")
        unit += abs(op)
        if unit > positions.total:
            raise ValueError(f"patch item {index} ({op}) goes past the end of the old "
                             f"text ({positions.total} units)")
        end = positions.code_point(unit)
        if end is None:
            raise ValueError(f"patch item {index} ({op}) ends inside a character of the "
                             "old text")
        if op > 0:
            parts.append(old[at:end])
        at = end
    return "".join(parts)


class _Positions:
    """UTF-16 offsets of ``text`` to code point offsets."""

    def __init__(self, text: str) -> None:
        self.total = utf16_len(text)
        # The UTF-16 offsets where each astral character starts.
        self.astral_starts = []
        if self.total != len(text):
            self.astral_starts = [match.start() + n for n, match
                                  in enumerate(_ASTRAL.finditer(text))]

    def code_point(self, unit: int) -> int | None:
        """The code point offset of UTF-16 offset ``unit``; None when it
        falls between the two halves of an astral character."""
        if not self.astral_starts:
            return unit
        before = bisect.bisect_left(self.astral_starts, unit)  # astral ones starting before
        if before and self.astral_starts[before - 1] == unit - 1:
            return None
        return unit - before


class _Ops:
    """Builds a patch, merging neighbours of one kind and folding short
    copies between two changes into the change."""

    def __init__(self) -> None:
        # ["=", copied text] or ["~", removed text, inserted text].
        self.runs: list[list] = []
        # What matching may still cost (see _match_cost).
        self.budget = MATCH_BUDGET

    def copy(self, text: str) -> None:
        if not text:
            return
        if self.runs and self.runs[-1][0] == "=":
            self.runs[-1][1] += text
        else:
            self.runs.append(["=", text])

    def change(self, removed: str, inserted: str) -> None:
        if not removed and not inserted:
            return
        runs = self.runs
        if (len(runs) >= 2 and runs[-1][0] == "=" and runs[-2][0] == "~"
                and utf16_len(runs[-1][1]) <= SHORT_COPY):
            short = runs.pop()[1]
            removed, inserted = short + removed, short + inserted
        if runs and runs[-1][0] == "~":
            runs[-1][1] += removed
            runs[-1][2] += inserted
        else:
            runs.append(["~", removed, inserted])

    def finish(self) -> list:
        patch: list = []
        for run in self.runs:
            if run[0] == "=":
                patch.append(utf16_len(run[1]))
                continue
            _, removed, inserted = run
            if removed:
                patch.append(-utf16_len(removed))
            if inserted:
                patch.append(inserted)
        while patch and not isinstance(patch[-1], str) and patch[-1] < 0:
            patch.pop()  # the rest of old is dropped anyway
        return patch


def apply_render(html: str | None, state_text: str | None,
                 message: dict) -> tuple[str | None, str | None]:
    """A socket's render message applied to what the page holds, as djust.js
    applies it: the inner HTML (``html`` whole, or a ``diff`` of it) and the
    browser state's JSON text (``stext`` whole, an ``sdiff`` of it, or
    neither when it did not change). Returns the new pair.

    >>> apply_render("<p>1</p>", '{"n":1}', {"diff": [3, -1, "2", 4], "sdiff": [5, -1, "2", 1]})
    ('<p>2</p>', '{"n":2}')
    >>> apply_render("<p>2</p>", '{"n":2}', {"html": "<i>new</i>"})
    ('<i>new</i>', '{"n":2}')
    """
    html = apply_diff(html, message["diff"]) if "diff" in message else message["html"]
    if "sdiff" in message:
        state_text = apply_diff(state_text, message["sdiff"])
    elif "stext" in message:
        state_text = message["stext"]
    return html, state_text


def _common_prefix(a: str, b: str) -> int:
    """The length of the common prefix of ``a`` and ``b``, by binary search
    on slice comparisons (done in C)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _common_suffix(a: str, b: str, limit: int) -> int:
    """The length of the common suffix of ``a`` and ``b``, at most ``limit``."""
    low, high = 0, limit
    la, lb = len(a), len(b)
    while low < high:
        middle = (low + high + 1) // 2
        if a[la - middle:la - low] == b[lb - middle:lb - low]:
            low = middle
        else:
            high = middle - 1
    return low


def _match_cost(a: list[str], b: list[str]) -> int:
    """About the steps SequenceMatcher takes on ``a`` and ``b``: their
    lengths, plus the pairs of equal units (each one a step of its search),
    plus a constant for setting a matcher up."""
    if len(a) > len(b):
        a, b = b, a
    counts = Counter(b)
    return CALL_COST + len(a) + len(b) + sum(counts.get(unit, 0) for unit in a)


def _opcodes(a: list[str], b: list[str], ops: _Ops):
    """SequenceMatcher's opcodes for ``a`` and ``b``, or None when matching
    them would go over what is left of the budget in ``ops``."""
    if not a or not b:
        return None
    cost = _match_cost(a, b)
    if cost > ops.budget:
        return None
    ops.budget -= cost
    if len(a) <= len(b):
        return difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    # SequenceMatcher loops over its first sequence for every block it finds
    # and looks the second up in a dict: the shorter one goes first.
    swapped = difflib.SequenceMatcher(None, b, a, autojunk=False).get_opcodes()
    return [(_SWAPPED.get(tag, tag), i1, i2, j1, j2) for tag, j1, j2, i1, i2 in swapped]


def _diff_lines(old: str, new: str, ops: _Ops) -> None:
    """Match lines that occur once in each side, in order (the longest such
    chain, as patience diff does): the unchanged lines between two changes
    are copied whatever their number, in time linear in the lines (and
    their log); each gap between two matched lines is diffed on tokens."""
    a = old.splitlines(keepends=True)
    b = new.splitlines(keepends=True)
    if len(a) <= 1 or len(b) <= 1:
        _diff_tokens(old, new, ops)
        return
    in_a = Counter(a)
    in_b = Counter(b)
    where_in_b = {line: j for j, line in enumerate(b) if in_b[line] == 1 and in_a[line] == 1}
    pairs = [(i, where_in_b[line]) for i, line in enumerate(a) if line in where_in_b]
    i0 = j0 = 0  # where the next gap may start
    copied = 0  # the lines of a before this are in ops
    for i, j in [*_increasing(pairs), (len(a), len(b))]:
        # The gap before the matched line, without the lines equal at its edges.
        while i0 < i and j0 < j and a[i0] == b[j0]:
            i0 += 1
            j0 += 1
        end_i, end_j = i, j
        while end_i > i0 and end_j > j0 and a[end_i - 1] == b[end_j - 1]:
            end_i -= 1
            end_j -= 1
        if i0 < end_i or j0 < end_j:
            ops.copy("".join(a[copied:i0]))
            _diff_tokens("".join(a[i0:end_i]), "".join(b[j0:end_j]), ops)
            copied = end_i
        i0, j0 = i + 1, j + 1  # after the matched line
    ops.copy("".join(a[copied:]))


def _increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest chain of ``pairs`` (sorted on their first item) whose
    second items increase too, in O(n log n)."""
    tops: list[int] = []  # the smallest last j of a chain of each length
    top_index: list[int] = []
    previous = [-1] * len(pairs)
    for index, (_, j) in enumerate(pairs):
        length = bisect.bisect_left(tops, j)
        if length == len(tops):
            tops.append(j)
            top_index.append(index)
        else:
            tops[length] = j
            top_index[length] = index
        previous[index] = top_index[length - 1] if length else -1
    chain = []
    index = top_index[-1] if top_index else -1
    while index != -1:
        chain.append(pairs[index])
        index = previous[index]
    chain.reverse()
    return chain


def _diff_tokens(old: str, new: str, ops: _Ops) -> None:
    if not old or not new or 2 * (old.count("<") + new.count("<")) > ops.budget:
        # Nothing to match, or about as many tokens as the budget allows
        # steps: not even split.
        ops.change(old, new)
        return
    a = _TOKEN.findall(old)
    b = _TOKEN.findall(new)
    opcodes = _opcodes(a, b, ops)
    if opcodes is None:
        ops.change(old, new)
        return
    for tag, i1, i2, j1, j2 in opcodes:
        removed = "".join(a[i1:i2])
        if tag == "equal":
            ops.copy(removed)
        else:
            ops.change(removed, "".join(b[j1:j2]))
