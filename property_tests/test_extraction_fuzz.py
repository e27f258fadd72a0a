"""Fuzzing extraction: whatever the text, only Django's two template errors
(``TemplateSyntaxError``, ``TemplateDoesNotExist``) ever escape."""

import contextlib

from django.template import Engine, TemplateDoesNotExist, TemplateSyntaxError
from hypothesis import given, settings
from hypothesis import strategies as st

from djust.compiler.extraction import extract_template_variables

ALLOWED = (TemplateSyntaxError, TemplateDoesNotExist)

TAGS = sorted(
    {name for library in Engine.get_default().template_builtins for name in library.tags}
    | {"endfor", "endif", "endwith", "endblock", "empty", "else", "elif", "plural",
       "blocktranslate", "endblocktranslate", "translate", "trans", "localize",
       "endlocalize", "timezone", "static", "cache", "shout", "box", "endbox",
       "whole_context", "explode", "get_current_language", "language"}
)
FILTERS = ["upper", "default", "length", "first", "last", "dictsort", "slice", "date",
           "join", "add", "cut", "safe", "nofilter", "yesno", "random", "default_if_none"]
LIBRARIES = ["i18n", "l10n", "tz", "static", "cache", "extraction_tags", "nolib"]
NAMES = ["a", "b", "x", "item", "items", "forloop", "block", "None", "True", "_x", "a.b.c",
         "x.0", "d.items", "block.super", "forloop.parentloop.first", "1", "2.5"]
STRINGS = ['"x"', "'y'", '"extraction/row.html"', '"extraction/child.html"',
           '"extraction/recursive.html"', '"missing.html"', '_("t")', '"', "'"]
WORDS = ["as", "with", "only", "in", "not", "and", "or", "is", "by", "reversed", "count",
         "silent", "asvar", "=", "==", "!=", "<", ">=", "on", "off", "context", "trimmed"]
PIECES = ["{%", "%}", "{{", "}}", "{#", "#}", "|", ":", ",", ".", " ", "\n", "x=", "k=v"]

word = st.sampled_from(NAMES + STRINGS + WORDS + FILTERS)


@st.composite
def expression(draw):
    text = draw(st.sampled_from(NAMES + STRINGS))
    for _ in range(draw(st.integers(0, 2))):
        text += "|" + draw(st.sampled_from(FILTERS))
        if draw(st.booleans()):
            text += ":" + draw(st.sampled_from(NAMES + STRINGS))
    return text


@st.composite
def tag(draw):
    name = draw(st.sampled_from(TAGS))
    if name == "load":
        return "{% load " + draw(st.sampled_from(LIBRARIES)) + " %}"
    arguments = draw(st.lists(st.one_of(expression(), word), max_size=5))
    return "{% " + " ".join([name, *arguments]) + " %}"


piece = st.one_of(
    tag(),
    expression().map(lambda e: "{{ " + e + " }}"),
    st.sampled_from(PIECES + STRINGS),
    st.text(max_size=5),
)
soup = st.lists(piece, max_size=30).map("".join)


def extract_allowing_template_errors(source):
    with contextlib.suppress(*ALLOWED):
        extract_template_variables(source, name="fuzz.html")


@settings(deadline=None)
@given(st.text(max_size=200))
def test_random_text_raises_only_template_errors(source):
    extract_allowing_template_errors(source)


@settings(deadline=None)
@given(soup)
def test_tag_soup_raises_only_template_errors(source):
    extract_allowing_template_errors(source)


VALID_NAMES = ["z.q", "x", "x.b", "y.c", "a.b.c", "forloop.counter", "block.super", '"s"', "3"]
VALID_FILTERS = ["", "|upper", "|length", "|first", '|default:"d"', "|default:x.b", '|date:"Y"']
OPENERS = {
    "for x in items": "endfor",
    "if a and x.b": "endif",
    "with y=x.b": "endwith",
    "spaceless": "endspaceless",
    "filter upper": "endfilter",
    "block": "endblock",
}


@settings(deadline=None)
@given(
    st.lists(st.sampled_from(sorted(OPENERS)), max_size=8),
    st.lists(st.tuples(st.sampled_from(VALID_NAMES), st.sampled_from(VALID_FILTERS)), max_size=4),
)
def test_well_formed_nesting_extracts_without_error(openers, expressions):
    source = "".join("{{ " + name + suffix + " }}" for name, suffix in expressions)
    for index, opener in enumerate(reversed(openers)):
        start = f"block b{index}" if opener == "block" else opener
        source = "{% " + start + " %}" + source + "{% " + OPENERS[opener] + " %}"
    extraction = extract_template_variables(source)
    assert all(paths == tuple(sorted(set(paths))) for paths in extraction.values())
    assert "forloop" not in extraction
    if any(name.startswith("z.") for name, _ in expressions):
        assert "z" in extraction
