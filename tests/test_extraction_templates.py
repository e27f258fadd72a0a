"""Extraction across templates (include, extends), errors, and the cache."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.template import Context, Engine, TemplateDoesNotExist, TemplateSyntaxError

from djust.compiler import extraction as extraction_module
from djust.compiler.extraction import (
    extract_template_variables,
    extract_template_variables_from_name,
)


@pytest.fixture(autouse=True)
def empty_cache():
    extraction_module.cache_clear()
    yield
    extraction_module.cache_clear()


def paths(source, **kwargs):
    return extract_template_variables(source, **kwargs).as_dict()


# -- include ------------------------------------------------------------------


def test_include_with_aliases_transfers_to_the_outer_names():
    source = (
        "{% for l in leases %}"
        '{% include "extraction/row.html" with lease=l label=l.unit.number %}{% endfor %}'
    )
    extraction = extract_template_variables(source, name="page.html")
    assert dict(extraction) == {"leases": ("*.tenant.phone", "*.unit.number")}
    assert extraction.templates == ("page.html", "extraction/row.html")


def test_include_without_with_sees_outer_names():
    assert paths('{% include "extraction/row.html" %}') == {
        "lease": ["tenant.phone"],
        "label": [""],
    }


def test_include_only_hides_outer_names():
    source = (
        "{% for i in items %}"
        '{% include "extraction/only.html" with item=i only %}{% endfor %}'
    )
    assert paths(source) == {"items": ["*.name"]}


def test_nested_includes():
    source = '{% include "extraction/nested_outer.html" with wrapper=page.box %}'
    extraction = extract_template_variables(source)
    assert dict(extraction) == {"page": ("box.label", "box.title"), "lease": ("tenant.phone",)}
    assert extraction.templates == ("extraction/nested_outer.html", "extraction/row.html")


def test_recursive_include_is_guarded_and_reported():
    extraction = extract_template_variables_from_name("extraction/recursive.html")
    assert dict(extraction) == {"node": ("children.*", "name")}
    (record,) = extraction.unanalysed
    assert (record.tag, record.template, record.line) == (
        "include",
        "extraction/recursive.html",
        2,
    )
    assert "recursive" in record.reason


def test_dynamic_include_extracts_its_arguments_and_is_reported():
    extraction = extract_template_variables(
        "{% include tpl.name with x=a.b %}", name="dyn.html"
    )
    assert dict(extraction) == {"tpl": ("name",), "a": ("b",)}
    assert extraction.unanalysed[0].tag == "include"
    assert "dynamic" in extraction.unanalysed[0].reason


# -- extends ------------------------------------------------------------------


def test_multilevel_extends_walks_the_effective_template():
    extraction = extract_template_variables_from_name("extraction/child.html")
    # footer.text is overridden by the middle template; ignored.outside sits
    # outside any block of a child template, so Django never renders it.
    assert dict(extraction) == {
        "site": ("name",),
        "child": ("a",),
        "middle": ("y",),
        "base_only": ("x",),
        "mid_footer": ("z",),
    }
    assert extraction.templates == (
        "extraction/child.html",
        "extraction/middle.html",
        "extraction/base.html",
    )


def test_block_super_is_followed_only_when_used():
    source = (
        '{% extends "extraction/base.html" %}'
        "{% block title %}{{ mine.t }}{% endblock %}"
        "{% block footer %}{{ block.super }} {{ mine.f }}{% endblock %}"
    )
    assert paths(source) == {
        "mine": ["f", "t"],
        "base_only": ["x"],
        "footer": ["text"],
    }


def test_dynamic_extends_reads_the_blocks_and_is_reported():
    extraction = extract_template_variables(
        "{% extends layout %}{% block a %}{{ x.y }}{% endblock %}", name="d.html"
    )
    assert dict(extraction) == {"layout": ("",), "x": ("y",)}
    assert extraction.unanalysed[0].tag == "extends"


def test_dashboard_example_reads_what_the_schema_document_lists():
    extraction = extract_template_variables_from_name("rentals/dashboard.html")
    assert {
        "*.property.name",
        "*.unit.number",
        "*.tenant.user.get_full_name",
        "*.tenant.user.email",
        "*.end_date",
        "*.monthly_rent",
        "*.get_status_display",
        "*.days_until_expiration",
    } <= set(extraction["expiring_leases"])
    assert "*.amenities.all.*.name" in extraction["properties"]
    assert "*.unit.property.name" in extraction["open_requests"]
    assert extraction.templates[:2] == ("rentals/dashboard.html", "rentals/base.html")


# -- errors -------------------------------------------------------------------


def test_syntax_error_names_template_and_line():
    with pytest.raises(TemplateSyntaxError, match=r"^page\.html, line 3: ") as info:
        extract_template_variables("a\nb\n{% for %}", name="page.html")
    assert (info.value.template_name, info.value.lineno) == ("page.html", 3)


def test_syntax_error_in_an_included_template_is_recorded_with_its_line():
    # Django raises it only when the render reaches the include.
    extraction = extract_template_variables_from_name("extraction/includes_broken.html")
    assert dict(extraction) == {"ok": ("value",)}
    (record,) = extraction.unanalysed
    assert (record.tag, record.template, record.line) == (
        "include", "extraction/includes_broken.html", 2)
    assert record.reason.startswith(
        "included template 'extraction/broken.html' does not compile: "
        "extraction/broken.html, line 3: ")


def test_compile_failure_of_a_custom_tag_becomes_a_syntax_error():
    with pytest.raises(TemplateSyntaxError, match=r"x\.html, line 2: ValueError: explode"):
        extract_template_variables("{% load extraction_tags %}\n{% explode %}", name="x.html")


def test_missing_page_raises_djangos_error():
    with pytest.raises(TemplateDoesNotExist, match=r"^nowhere\.html$"):
        extract_template_variables_from_name("nowhere.html")


def test_missing_include_and_parent_are_recorded_by_name():
    include = extract_template_variables_from_name("extraction/missing_include.html")
    parent = extract_template_variables_from_name("extraction/missing_parent.html")
    assert [str(record) for record in (*include.unanalysed, *parent.unanalysed)] == [
        "{% include %} in extraction/missing_include.html, line 2: "
        "included template 'extraction/does_not_exist.html' does not exist",
        "{% extends %} in extraction/missing_parent.html, line 1: "
        "parent template 'extraction/no_such_parent.html' does not exist",
    ]


# -- cache --------------------------------------------------------------------


def test_repeated_extraction_hits_the_cache():
    first = extract_template_variables("{{ a.b }}", name="c.html")
    assert extract_template_variables("{{ a.b }}", name="c.html") is first
    assert extract_template_variables("{{ a.b }}", name="other.html") is not first


def test_cache_can_be_disabled(settings):
    settings.DJUST = {"EXTRACTION_CACHE_SIZE": 0}
    first = extract_template_variables("{{ a.b }}")
    second = extract_template_variables("{{ a.b }}")
    assert first == second
    assert first is not second


def test_cache_is_bounded(settings):
    settings.DJUST = {"EXTRACTION_CACHE_SIZE": 3}
    for index in range(10):
        extract_template_variables(f"{{{{ v{index} }}}}")
    assert extraction_module.cached_count() == 3


def test_edited_include_or_parent_gives_a_new_result(tmp_path):
    engine = Engine(dirs=[tmp_path], loaders=["django.template.loaders.filesystem.Loader"])
    (tmp_path / "part.html").write_text("{{ a.one }}")
    (tmp_path / "base.html").write_text("{% block b %}{% endblock %}{{ p.one }}")
    (tmp_path / "page.html").write_text(
        '{% extends "base.html" %}{% block b %}{% include "part.html" %}{% endblock %}'
    )
    before = extract_template_variables_from_name("page.html", engine=engine)
    assert dict(before) == {"a": ("one",), "p": ("one",)}
    assert extract_template_variables_from_name("page.html", engine=engine) is before

    (tmp_path / "part.html").write_text("{{ a.two }}")
    after_include = extract_template_variables_from_name("page.html", engine=engine)
    assert dict(after_include) == {"a": ("two",), "p": ("one",)}

    (tmp_path / "base.html").write_text("{% block b %}{% endblock %}{{ p.two }}")
    after_parent = extract_template_variables_from_name("page.html", engine=engine)
    assert dict(after_parent) == {"a": ("two",), "p": ("two",)}


def test_source_extraction_also_follows_edits_of_its_includes(tmp_path):
    engine = Engine(dirs=[tmp_path], loaders=["django.template.loaders.filesystem.Loader"])
    (tmp_path / "part.html").write_text("{{ a.one }}")
    source = '{% include "part.html" %}'
    assert extract_template_variables(source, engine=engine) == {"a": ("one",)}
    (tmp_path / "part.html").unlink()
    gone = extract_template_variables(source, engine=engine)
    assert dict(gone) == {}
    assert [record.reason for record in gone.unanalysed] == [
        "included template 'part.html' does not exist"]


def test_engines_do_not_share_results(tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    (first / "part.html").write_text("{{ a.one }}")
    (second / "part.html").write_text("{{ a.two }}")
    source = '{% include "part.html" %}'
    one = extract_template_variables(source, engine=Engine(dirs=[first]))
    two = extract_template_variables(source, engine=Engine(dirs=[second]))
    assert (dict(one), dict(two)) == ({"a": ("one",)}, {"a": ("two",)})


def test_concurrent_extractions_agree():
    sources = [f"{{% for x in s{i} %}}{{{{ x.f{i} }}}}{{% endfor %}}" for i in range(40)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda s: extract_template_variables(s).as_dict(), sources * 5))
    expected = [{f"s{i}": [f"*.f{i}"]} for i in range(40)] * 5
    assert results == expected


def test_nesting_too_deep_to_walk_is_recorded():
    # Django parses it, and renders it while the outer sequence is empty.
    depth = 400
    source = "{% for a in a.b %}" * depth + "{{ a.y }}" + "{% endfor %}" * depth
    assert Engine().from_string(source).render(Context({"a": {"b": []}})) == ""
    extraction = extract_template_variables(source, name="deep.html")
    assert [str(record) for record in extraction.unanalysed] == [
        "deep.html: the template nests too deeply to analyse"]
