"""Extraction never fails a page Django renders, and says what it could not read.

A template that Django would only fail to load when the render reaches the
tag (a missing or broken include under a false ``{% if %}``, a missing
parent, an undefined partial) is an ``Unanalysed`` record, not an error:
Django renders the page while the tag is not reached, and when it is,
Django's own exception is what the page raises, through the LiveView too.
Every construct that reads context names djust cannot know is recorded.
A template that failed to load is a dependency: once it loads, the cached
(or stored) extraction is walked again.

This module is also the ``fallback_tags`` tag library of its engines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django import template as django_template
from django.template import (
    Context,
    Engine,
    TemplateDoesNotExist,
    TemplateSyntaxError,
    defaulttags,
    engines,
)
from django.test import RequestFactory

from djust import LiveView, store
from djust.compiler import extraction as extraction_module
from djust.compiler.extraction import (
    Dependency,
    extract_template_variables,
    extract_template_variables_from_name,
    load_template,
    template_source,
    walk_template,
)
from djust.html import root_inner_html

TEMPLATES = Path(__file__).resolve().parent / "templates"
MISSING = "extraction/does_not_exist.html"
PAGE = "page.html"

register = django_template.Library()


@pytest.fixture(autouse=True)
def empty_cache():
    extraction_module.cache_clear()
    yield
    extraction_module.cache_clear()


# -- a tag library with tags that read the context ----------------------------


@register.inclusion_tag("extraction/fallback_card.html", takes_context=True)
def context_card(context):
    return {"card_title": context.get("hidden_title", "")}


@register.inclusion_tag("extraction/fallback_card.html")
def plain_card(title):
    return {"card_title": title}


@register.simple_block_tag(takes_context=True)
def context_box(context, content):
    return f"{context.get('hidden_frame', '')}[{content}]"


class ReadContextNode(django_template.Node):
    """A hand-written tag whose render reads a name no argument shows."""

    def render(self, context):
        return str(context.get("hidden_name", ""))


@register.tag
def read_context(parser, token):
    return ReadContextNode()


def tag_engine() -> Engine:
    return Engine(dirs=[TEMPLATES], libraries={"fallback_tags": __name__})


# -- the cases: a tag Django fails on only when the render reaches it ----------


needs_partials = pytest.mark.skipif(
    not hasattr(defaulttags, "PartialNode"), reason="template partials need Django 6.0+"
)


@dataclass
class Case:
    """``source`` renders in Django with ``skipped``; with ``reached`` the
    render reaches the tag and Django raises ``error`` (None: it renders)."""

    source: str
    skipped: dict | None
    reached: dict
    error: type[Exception] | None
    # str() of every Unanalysed record; {page} is the page's label.
    records: list[str]
    paths: dict = field(default_factory=dict)

    def page(self) -> str:
        """The source as a LiveView's template: a child template's parent has the root."""
        if self.source.startswith("{% extends"):
            return self.source
        return f"<main dj-root>{self.source}</main>"


def does_not_exist(name: str, where: str, line: int, tag: str = "include") -> str:
    kind = "included" if tag == "include" else "parent"
    return f"{{% {tag} %}} in {where}, line {line}: {kind} template '{name}' does not exist"


CASES = {
    "include under if": Case(
        '<p>{{ title }}</p>\n{% if show %}{% include "extraction/does_not_exist.html" %}'
        "{% endif %}",
        {"title": "T", "show": False}, {"title": "T", "show": True}, TemplateDoesNotExist,
        [does_not_exist(MISSING, "{page}", 2)],
        {"title": ("",), "show": ("",)},
    ),
    "include in a loop body": Case(
        '{% for row in rows %}\n{% include "extraction/does_not_exist.html" %}{% endfor %}',
        {"rows": []}, {"rows": [1]}, TemplateDoesNotExist,
        [does_not_exist(MISSING, "{page}", 2)],
        {"rows": ("*",)},
    ),
    "include with values": Case(
        '{% if show %}{% include "extraction/does_not_exist.html" with x=item.name %}'
        "{% endif %}",
        {"show": False}, {"show": True, "item": {"name": "n"}}, TemplateDoesNotExist,
        [does_not_exist(MISSING, "{page}", 1)],
        {"show": ("",), "item": ("name",)},
    ),
    "include only": Case(
        '{% if show %}{% include "extraction/does_not_exist.html" with x=item only %}'
        "{% endif %}",
        {"show": False}, {"show": True, "item": 1}, TemplateDoesNotExist,
        [does_not_exist(MISSING, "{page}", 1)],
        {"show": ("",), "item": ("",)},
    ),
    "include of a template with a missing include": Case(
        '{% if show %}{% include "extraction/missing_include.html" %}{% endif %}',
        {"show": False}, {"show": True}, TemplateDoesNotExist,
        [does_not_exist(MISSING, "extraction/missing_include.html", 2)],
        {"show": ("",)},
    ),
    "include of a template that does not compile": Case(
        '{% if show %}{% include "extraction/broken.html" %}{% endif %}',
        {"show": False}, {"show": True}, TemplateSyntaxError,
        ["{% include %} in {page}, line 1: included template 'extraction/broken.html' "
         "does not compile: extraction/broken.html, line 3: "
         "Unexpected end of expression in if tag."],
        {"show": ("",)},
    ),
    "include of a template whose parent is missing": Case(
        '{% if show %}{% include "extraction/missing_parent.html" %}{% endif %}',
        {"show": False}, {"show": True}, TemplateDoesNotExist,
        [does_not_exist("extraction/no_such_parent.html", "extraction/missing_parent.html", 1,
                        tag="extends")],
        {"show": ("",)},
    ),
    "include of a template that extends itself": Case(
        '{% if show %}{% include "extraction/fallback_extends_self.html" %}{% endif %}',
        {"show": False}, {"show": True}, TemplateDoesNotExist,
        ["{% extends %} in extraction/fallback_extends_self.html, line 1: parent template "
         "'extraction/fallback_extends_self.html' does not exist, but as a template the chain "
         "already extends (Django skips those, to avoid recursion)"],
        {"show": ("",)},
    ),
    "includes in blocks of a child and its parent": Case(
        '{% extends "extraction/fallback_base.html" %}\n'
        '{% block body %}{% if show %}{% include "extraction/does_not_exist.html" %}{% endif %}'
        "{% endblock %}",
        {"show": False, "extra": False}, {"show": True, "extra": False}, TemplateDoesNotExist,
        [does_not_exist(MISSING, "{page}", 2),
         does_not_exist(MISSING, "extraction/fallback_base.html", 2)],
        {"show": ("",), "extra": ("",)},
    ),
    "missing parent": Case(
        '{% extends "extraction/no_such_parent.html" %}{% block b %}{{ x.y }}{% endblock %}',
        None, {"x": {"y": 1}}, TemplateDoesNotExist,
        [does_not_exist("extraction/no_such_parent.html", "{page}", 1, tag="extends")],
        {"x": ("y",)},
    ),
    "recursive include under a condition": Case(
        '{% include "extraction/fallback_self.html" with again=go level="outer" %}',
        {"go": False}, {"go": True}, None,
        ["{% include %} in extraction/fallback_self.html, line 2: recursive include of "
         "extraction/fallback_self.html: not followed a second time"],
        {"go": ("",)},
    ),
    "include of an undefined partial": pytest.param(Case(
        '{% if show %}{% include "extraction/partials.html#nope" %}{% endif %}',
        {"show": False}, {"show": True}, TemplateDoesNotExist,
        [does_not_exist("extraction/partials.html#nope", "{page}", 1)],
        {"show": ("",)},
    ), marks=needs_partials),
    "undefined partial": pytest.param(Case(
        "{% if show %}\n{% partial nope %}{% endif %}",
        {"show": False}, {"show": True}, TemplateSyntaxError,
        ["{% partial %} in {page}, line 2: partial 'nope' is not defined in this template"],
        {"show": ("",)},
    ), marks=needs_partials),
}


def cases(*, skippable_only: bool = False):
    # An extends is always reached: only the other cases have a render that
    # skips the tag.
    chosen = {name: case for name, case in CASES.items()
              if not skippable_only or _case_of(case).skipped is not None}
    return pytest.mark.parametrize("case", list(chosen.values()), ids=list(chosen))


def _case_of(entry) -> Case:
    # A case, or a case wrapped in pytest.param (with its marks).
    return entry.values[0] if hasattr(entry, "values") else entry


def django_render(source: str, context: dict) -> str:
    return engines["django"].from_string(source).render(context)


def live_view(case: Case, context: dict):
    def mount(self, request):
        for name, value in context.items():
            setattr(self, name, value)

    view_class = type("FallbackPage", (LiveView,), {"template": case.page(), "mount": mount})
    return view_class, view_class.as_view()(RequestFactory().get("/"))


@cases()
def test_extraction_records_the_tag_instead_of_failing(case):
    extraction = extract_template_variables(case.source, name=PAGE)
    assert [str(record) for record in extraction.unanalysed] == [
        record.replace("{page}", PAGE) for record in case.records]
    assert dict(extraction) == case.paths


@cases(skippable_only=True)
def test_django_renders_the_page_while_the_tag_is_not_reached(case):
    _, response = live_view(case, case.skipped)
    assert response.status_code == 200
    expected = django_render(case.page(), case.skipped)
    assert root_inner_html(response.content.decode()) == root_inner_html(expected)


@cases()
def test_when_the_render_reaches_the_tag_the_page_raises_djangos_error(case):
    if case.error is None:
        expected = django_render(case.page(), case.reached)
        _, response = live_view(case, case.reached)
        assert root_inner_html(response.content.decode()) == root_inner_html(expected)
        return
    with pytest.raises(case.error) as from_django:
        django_render(case.source, case.reached)
    with pytest.raises(case.error) as from_the_view:
        live_view(case, case.reached)
    assert str(from_the_view.value) == str(from_django.value)


@pytest.mark.parametrize(("extra", "error"), [(False, None), (True, TemplateDoesNotExist)])
def test_a_liveview_by_template_name_renders_until_it_reaches_the_include(extra, error):
    class Page(LiveView):
        template_name = "extraction/fallback_base.html"

        def mount(self, request):
            self.extra = extra

    assert len(Page().get_extraction().unanalysed) == 1
    if error is None:
        assert Page.as_view()(RequestFactory().get("/")).status_code == 200
    else:
        with pytest.raises(error, match=f"^{MISSING}$"):
            Page.as_view()(RequestFactory().get("/"))


def test_a_liveview_too_deep_to_walk_renders_as_django_does():
    depth = 400
    source = "{% for a in a.b %}" * depth + "{{ a.y }}" + "{% endfor %}" * depth
    case = Case(source, {"a": {"b": []}}, {}, None, [])
    _, response = live_view(case, case.skipped)
    assert root_inner_html(response.content.decode()) == ""


def test_the_liveview_records_name_its_inline_template():
    view_class, _ = live_view(CASES["include under if"], {"title": "T", "show": False})
    (record,) = view_class().get_extraction().unanalysed
    assert record.template == "<inline template of FallbackPage>"


# -- errors Django raises compiling the page itself stay errors ----------------


def test_the_page_missing_is_djangos_error():
    with pytest.raises(TemplateDoesNotExist) as info:
        extract_template_variables_from_name("extraction/nowhere.html")
    assert str(info.value) == "extraction/nowhere.html"
    assert info.value.tried  # Django's own record of where it looked


def test_a_syntax_error_in_the_page_is_djangos_error_with_name_and_line():
    with pytest.raises(TemplateSyntaxError) as info:
        extract_template_variables_from_name("extraction/broken.html")
    assert str(info.value) == (
        "extraction/broken.html, line 3: Unexpected end of expression in if tag.")
    assert (info.value.template_name, info.value.lineno) == ("extraction/broken.html", 3)


def test_a_tag_failing_to_compile_is_named_once(tmp_path):
    (tmp_path / "explode.html").write_text("{% load extraction_tags %}\n{% explode %}")
    engine = Engine(dirs=[tmp_path], libraries={
        "extraction_tags": "tests.testapp.templatetags.extraction_tags"})
    message = "explode.html, line 2: ValueError: explode always fails"
    with pytest.raises(TemplateSyntaxError) as info:
        extract_template_variables_from_name("explode.html", engine=engine)
    assert str(info.value) == message
    included = extract_template_variables('{% include "explode.html" %}', engine=engine)
    assert [record.reason for record in included.unanalysed] == [
        f"included template 'explode.html' does not compile: {message}"]


# -- constructs that read names djust cannot know ------------------------------


@pytest.mark.parametrize(("source", "paths"), [
    ("{% include template_name %}", {"template_name": ("",)}),
    ("{% include page.template %}", {"page": ("template",)}),
    ("{% include names with x=a.b %}", {"names": ("",), "a": ("b",)}),
    ('{% include "extraction/"|add:part %}', {"part": ("",)}),
])
def test_a_dynamic_include_is_recorded(source, paths):
    extraction = extract_template_variables(source, name=PAGE)
    assert dict(extraction) == paths
    assert [str(record) for record in extraction.unanalysed] == [
        "{% include %} in page.html, line 1: dynamic template name: the included template "
        "is unknown"]


@pytest.mark.parametrize(("source", "paths", "reason", "shown"), [
    ("{% context_card %}", {},
     "custom tag that takes the context: it may read any name", "<b>H</b>"),
    ("{% plain_card page.title %}", {"page": ("title",)},
     "custom tag: its arguments are extracted, not what its code reads", "<b>t</b>"),
    ("{% context_box %}{{ page.body }}{% endcontext_box %}", {"page": ("body",)},
     "custom tag that takes the context: it may read any name", "F[b]"),
    ("{% read_context %}", {}, "unknown tag (ReadContextNode): arguments extracted", "N"),
])
def test_a_tag_that_may_read_the_context_is_recorded(source, paths, reason, shown):
    engine = tag_engine()
    source = "{% load fallback_tags %}" + source
    extraction = extract_template_variables(source, engine=engine)
    assert dict(extraction) == paths
    assert [record.reason for record in extraction.unanalysed] == [reason]
    # The hidden_* names are among no paths, and Django reads them all the same.
    context = Context({"hidden_title": "H", "hidden_frame": "F", "hidden_name": "N",
                       "page": {"title": "t", "body": "b"}})
    assert engine.from_string(source).render(context).strip() == shown


def test_include_with_and_without_only_are_analysed():
    source = (
        '{% include "extraction/only.html" with item=a %}'
        '{% include "extraction/only.html" with item=b only %}'
    )
    extraction = extract_template_variables(source)
    assert dict(extraction) == {"a": ("name",), "b": ("name",), "outer": ("value",)}
    assert extraction.unanalysed == ()


def test_debug_and_a_dynamic_parent_are_recorded():
    extraction = extract_template_variables(
        "{% extends layout %}{% block b %}{% debug %}{% endblock %}", name=PAGE)
    assert [str(record) for record in extraction.unanalysed] == [
        "{% extends %} in page.html, line 1: dynamic parent template: only the known "
        "templates' blocks are read",
        "{% debug %} in page.html, line 1: reads the whole context",
    ]


# -- a template that failed to load is a dependency ---------------------------


def filesystem_engine(directory, cached: bool = False) -> Engine:
    loader = "django.template.loaders.filesystem.Loader"
    loaders = [("django.template.loaders.cached.Loader", [loader])] if cached else [loader]
    return Engine(dirs=[directory], loaders=loaders)


@pytest.fixture
def page_dir(tmp_path):
    (tmp_path / "page.html").write_text(
        '{{ a.one }}{% if show %}{% include "part.html" %}{% endif %}')
    return tmp_path


def test_a_missing_include_is_checked_again_and_its_creation_re_extracts(page_dir):
    engine = filesystem_engine(page_dir)
    missing = extract_template_variables_from_name("page.html", engine=engine)
    assert [record.reason for record in missing.unanalysed] == [
        "included template 'part.html' does not exist"]
    assert extract_template_variables_from_name("page.html", engine=engine) is missing
    (page_dir / "part.html").write_text("{{ b.two }}")
    found = extract_template_variables_from_name("page.html", engine=engine)
    assert dict(found) == {"a": ("one",), "b": ("two",), "show": ("",)}
    assert found.unanalysed == ()


def test_an_include_that_does_not_compile_is_checked_again(page_dir):
    engine = filesystem_engine(page_dir)
    (page_dir / "part.html").write_text("{% if %}")
    broken = extract_template_variables_from_name("page.html", engine=engine)
    assert [record.reason for record in broken.unanalysed] == [
        "included template 'part.html' does not compile: part.html, line 1: "
        "Unexpected end of expression in if tag."]
    assert extract_template_variables_from_name("page.html", engine=engine) is broken
    (page_dir / "part.html").write_text("\n{% if %}")  # broken elsewhere: a new record
    moved = extract_template_variables_from_name("page.html", engine=engine)
    assert "part.html, line 2: " in moved.unanalysed[0].reason
    (page_dir / "part.html").write_text("{{ b.two }}")
    assert extract_template_variables_from_name("page.html", engine=engine).unanalysed == ()


def test_a_missing_parent_is_checked_again(tmp_path):
    (tmp_path / "page.html").write_text(
        '{% extends "base.html" %}{% block b %}{{ a.one }}{% endblock %}')
    engine = filesystem_engine(tmp_path)
    missing = extract_template_variables_from_name("page.html", engine=engine)
    assert dict(missing) == {"a": ("one",)}
    assert len(missing.unanalysed) == 1
    (tmp_path / "base.html").write_text("{% block b %}{% endblock %}{{ c.three }}")
    found = extract_template_variables_from_name("page.html", engine=engine)
    assert dict(found) == {"a": ("one",), "c": ("three",)}
    assert found.unanalysed == ()


def test_behind_the_cached_loader_a_new_template_counts_once_django_sees_it(page_dir):
    engine = filesystem_engine(page_dir, cached=True)
    missing = extract_template_variables_from_name("page.html", engine=engine)
    (page_dir / "part.html").write_text("{{ b.two }}")
    # Django's cached loader still says "missing" until it is reset; so does djust.
    with pytest.raises(TemplateDoesNotExist):
        engine.get_template("part.html")
    assert extract_template_variables_from_name("page.html", engine=engine) is missing
    for loader in engine.template_loaders:
        loader.reset()
    assert extract_template_variables_from_name("page.html", engine=engine).unanalysed == ()


def test_a_failure_record_holds_while_the_template_fails_the_same_way(page_dir):
    engine = filesystem_engine(page_dir)
    failure = Dependency.failure("part.html", None, TemplateDoesNotExist("part.html"))
    assert failure.failed and failure.still_same(engine)
    assert not failure.matches("")
    (page_dir / "part.html").write_text("{% if %}")
    assert not failure.still_same(engine)
    loaded = Dependency.of("page.html", None, load_template(engine, "page.html"))
    assert not loaded.failed


def extract_through(shared, engine, name):
    template = load_template(engine, name)
    return store.extract_shared(
        shared, engine, how="name", label=name, source=template_source(template),
        root_origin=template.origin, walk=lambda: walk_template(engine, template, name))


def test_the_store_keeps_a_missing_include_until_it_appears(page_dir):
    shared = store.Store(store.MemoryBackend())
    engine = filesystem_engine(page_dir)
    first, dependencies = extract_through(shared, engine, "page.html")
    assert len(first.unanalysed) == 1
    (payload,) = [entry for _key, entry in shared.entries("x")]
    (record,) = payload["dependencies"]
    assert set(record) == {"name", "skip", "failure"}
    assert (record["name"], record["skip"]) == ("part.html", None)
    again, loaded = extract_through(shared, engine, "page.html")
    assert again == first and loaded == dependencies
    assert shared.counters["hits"] == 1
    (page_dir / "part.html").write_text("{{ b.two }}")
    found, _ = extract_through(shared, engine, "page.html")
    assert found.unanalysed == () and found["b"] == ("two",)
    assert shared.counters["hits"] == 1


def test_the_store_keeps_a_missing_parent_after_known_ones(tmp_path):
    # The missing parent's skip list refers to the templates loaded before it.
    (tmp_path / "middle.html").write_text(
        '{% extends "base.html" %}{% block b %}{{ m.x }}{% endblock %}')
    (tmp_path / "page.html").write_text(
        '{% extends "middle.html" %}{% block b %}{{ p.x }}{{ block.super }}{% endblock %}')
    shared = store.Store(store.MemoryBackend())
    engine = filesystem_engine(tmp_path)
    first, _ = extract_through(shared, engine, "page.html")
    (payload,) = [entry for _key, entry in shared.entries("x")]
    assert [record.get("failure") is not None for record in payload["dependencies"]] == [
        False, True]
    again, _ = extract_through(shared, engine, "page.html")
    assert again == first and shared.counters["hits"] == 1
    (tmp_path / "base.html").write_text("{% block b %}{% endblock %}{{ base.x }}")
    found, _ = extract_through(shared, engine, "page.html")
    assert dict(found) == {"base": ("x",), "m": ("x",), "p": ("x",)}
