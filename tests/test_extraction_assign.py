"""Names custom tags assign, dict keys tags resolve, and what unanalysed tags read.

Issue #19, item 4 ("what it cannot see"): a name a custom tag assigns with
``as`` is a local, whatever attribute its node keeps it under; a dict key a
tag compiled as a variable (django-tables2's ``querystring``) is a lookup;
an ``Unanalysed`` record names the context names the tag's arguments read.
The tags are in ``tests/testapp/templatetags/assign_tags.py``.
"""

from __future__ import annotations

import pytest
from django.template import Context, Engine, Template, TemplateSyntaxError, defaulttags

from djust import store
from djust.compiler import extraction as ex
from djust.compiler.extraction import Unanalysed, extract_template_variables
from djust.store import extractions as stored_extractions

LOAD = "{% load assign_tags %}"


def extract(source: str, **kwargs):
    return extract_template_variables(LOAD + source, **kwargs)


def paths(source: str) -> dict[str, list[str]]:
    return extract(source).as_dict()


def names_of(source: str) -> list[tuple[str, tuple[str, ...]]]:
    return [(record.tag, record.names) for record in extract(source).unanalysed]


def render(source: str, **context) -> str:
    return Template(LOAD + source).render(Context(context))


# -- names assigned with ``as`` are locals ---------------------------------------


@pytest.mark.parametrize("source, expected", [
    pytest.param(
        "{% get_pages '/about/' for request.user as pages %}"
        "{% for p in pages %}{{ p.title }}{% endfor %}{{ pages.count }}",
        {"request": ["user"]}, id="context_name-flatpages"),
    pytest.param(
        '{% picture lease.photo "fill-80x80" class=css.image as img %}{{ img.url }}',
        {"lease": ["photo"], "css": ["image"]}, id="output_var_name-wagtail"),
    pytest.param(
        "{% pick leases.all as chosen %}{{ chosen.tenant.phone }}",
        {"leases": ["all"]}, id="var_name"),
    pytest.param(
        "{% label lease.unit.number as text %}{{ text.upper }}",
        {"lease": ["unit.number"]}, id="target_var"),
    pytest.param(
        "{% badge lease.rent prefix=currency.symbol as shown %}{{ shown.strip }}",
        {"lease": ["rent"], "currency": ["symbol"]}, id="simple_tag"),
    pytest.param(
        "{% stash owner.leases as bucket %}{{ bucket.0.unit }}",
        {"owner": ["leases"]}, id="unusual-attribute"),
    pytest.param(
        "{% tree_for category.parent as tree depth levels.max %}{{ tree.0.name }}",
        {"category": ["parent"], "levels": ["max"]}, id="as-mid-token-kept-as-string"),
])
def test_a_name_a_tag_assigns_is_not_a_root(source, expected):
    assert paths(source) == expected


def test_without_as_a_name_is_assigned_only_under_a_known_attribute():
    # ``context_var`` names an assignment (django-mptt); ``kept`` could be an
    # argument as well as a name: ``latest`` stays a root.
    assert paths("{% recent feed.items into latest %}{{ latest.0.title }}") == {
        "feed": ["items"]}
    assert paths("{% recent_kept feed.items into latest %}{{ latest.0.title }}") == {
        "feed": ["items"], "latest": ["0.title"]}
    assert render("{% recent feed into latest %}{{ latest.0 }}", feed=[1, 2]) == "2"


def test_sorl_style_block_tag_binds_its_name_in_its_body():
    source = (
        '{% thumb item.image "100x100" crop=opts.crop as im %}{{ im.url }} {{ im.width }}'
        "{% empty %}{{ item.placeholder }}{% endthumb %}"
    )
    assert paths(source) == {"item": ["image", "placeholder"], "opts": ["crop"]}


def test_the_tags_arguments_read_the_context_before_the_name_is_bound():
    assert paths("{% label x.name as x %}{{ x.upper }}") == {"x": ["name"]}


def test_a_simple_block_tag_assigns_after_its_body():
    # Django renders the body first: ``boxed`` inside it is the context's.
    source = "{% wrap v.w as boxed %}{{ boxed.x }}{% endwrap %}{{ boxed.y }}"
    assert paths(source) == {"boxed": ["x"], "v": ["w"]}
    rendered = "{% wrap v.w as boxed %}{{ boxed.x }}{% endwrap %}{{ boxed }}"
    assert render(rendered, v={"w": 1}, boxed={"x": "ctx"}) == "[1:ctx]"


def test_an_assigned_name_ends_with_the_enclosing_scope():
    source = "{% for r in rows %}{% label r.a as lab %}{{ lab.b }}{% endfor %}{{ lab.c }}"
    assert paths(source) == {"rows": ["*.a"], "lab": ["c"]}
    rendered = "{% for r in rows %}{% label r.a as lab %}{{ lab }}{% endfor %}|{{ lab }}"
    assert render(rendered, rows=[{"a": 1}], lab="outer") == "1|outer"


@pytest.mark.parametrize("source, expected", [
    pytest.param("{% styled obj.v as style %}{{ style.x }}",
                 {"obj": ["v"], "style": ["", "x"]}, id="last-bit-compiled"),
    pytest.param("{% show v.x as fallback compact %}{{ fallback.y }}{{ compact.z }}",
                 {"v": ["x"], "fallback": ["", "y"], "compact": ["z"]},
                 id="mid-token-compiled"),
])
def test_as_followed_by_a_variable_the_tag_reads_is_still_a_root(source, expected):
    assert paths(source) == expected


def test_the_renders_agree_that_the_names_come_from_the_tags():
    source = (
        "{% get_pages '/a/' as pages %}{% pick seq as chosen %}{% stash seq as bucket %}"
        '{% thumb f "1x1" as im %}{{ im }}{% endthumb %}'
        "|{{ pages.0 }}|{{ chosen }}|{{ bucket.1 }}|{{ im }}"
    )
    context = {"seq": ["s0", "s1"], "f": "file", "pages": "no", "chosen": "no",
               "bucket": "no", "im": "outer"}
    assert render(source, **context) == "file|/a/|s0|s1|outer"


# -- dict keys a tag compiled are lookups -----------------------------------------


def test_a_tables2_style_querystring_key_is_a_lookup():
    source = (
        "{% query table.prefixed_page_field=p table.prefixed_per_page_field=size.n %}"
        "{% query other.order_field as link %}{{ link.x }}"
    )
    assert paths(source) == {
        "table": ["prefixed_page_field", "prefixed_per_page_field"],
        "p": [""],
        "size": ["n"],
        "other": ["order_field"],
    }
    context = {"table": {"prefixed_page_field": "page", "prefixed_per_page_field": "pp"},
               "p": 3, "size": {"n": 10}, "other": {"order_field": "page"}}
    assert render(source, **context) == "?page=3&pp=10"


@pytest.mark.skipif(
    not hasattr(defaulttags, "querystring"), reason="{% querystring %} needs Django 5.1+"
)
def test_djangos_querystring_takes_no_variable_key():
    # Only plain names are keys of Django's own tag: the key that is a lookup
    # is django-tables2's (its own ``querystring``, the ``query`` tag above).
    with pytest.raises(TemplateSyntaxError, match="Could not parse the remainder"):
        Template("{% querystring table.prefixed_page_field=p %}")
    extraction = extract_template_variables("{% querystring page=p.n %}")
    assert dict(extraction) == {"p": ("n",)} and extraction.unanalysed == ()


# -- Unanalysed.names --------------------------------------------------------------


def test_unanalysed_names_are_the_roots_the_tags_arguments_read():
    source = (
        "{% for l in leases %}{% badge l.unit.number prefix=mark.text as b %}"
        "{{ b.x }}{% endfor %}{% label title as heading %}"
    )
    assert names_of(source) == [("badge", ("leases", "mark")), ("label", ("title",))]


def test_unanalysed_names_leave_out_the_body_and_the_assigned_name():
    source = '{% thumb item.image "1x1" as im %}{{ im.url }}{{ other.x }}{% endthumb %}'
    assert names_of(source) == [("thumb", ("item",))]
    assert paths(source) == {"item": ["image"], "other": ["x"]}


def test_unanalysed_names_include_resolved_dict_keys():
    assert names_of("{% query table.page_field=p 'x'=1 %}") == [("query", ("p", "table"))]


def test_unanalysed_names_are_empty_without_arguments():
    source = '{% load extraction_tags %}{% whole_context "k" %}{% debug %}'
    assert names_of(source) == [("whole_context", ()), ("debug", ())]


def test_unanalysed_includes_and_parents_name_what_they_are_handed():
    dynamic = extract_template_variables(
        "{% for c in cards %}{% include tpl.name with card=c.body extra=d %}{% endfor %}")
    assert [record.names for record in dynamic.unanalysed] == [("cards", "d", "tpl")]
    missing = extract_template_variables(
        '{% include "extraction/no_such.html" with x=lease.unit %}')
    assert [record.names for record in missing.unanalysed] == [("lease",)]
    parent = extract_template_variables(
        "{% extends layout.name %}{% block b %}{{ a }}{% endblock %}")
    assert [record.names for record in parent.unanalysed] == [("layout",)]


def test_unanalysed_records_made_without_names_and_their_text_are_unchanged():
    record = Unanalysed("debug", "p.html", 3, "reads the whole context")
    assert record.names == ()
    assert str(Unanalysed("badge", "p.html", 3, "custom tag", ("a",))) == (
        "{% badge %} in p.html, line 3: custom tag")


# -- the store keeps the names, and refuses the older layout -------------------------


def assign_engine(directory) -> Engine:
    return Engine(dirs=[str(directory)], loaders=["django.template.loaders.filesystem.Loader"],
                  libraries={"assign_tags": "tests.testapp.templatetags.assign_tags"})


def extract_through(shared, engine, name):
    template = ex.load_template(engine, name)
    return store.extract_shared(
        shared, engine, how="name", label=name, source=ex.template_source(template),
        root_origin=template.origin, walk=lambda: ex.walk_template(engine, template, name))


@pytest.fixture
def stored_page(tmp_path):
    (tmp_path / "page.html").write_text(LOAD + "{% badge lease.rent as shown %}{{ shown.x }}")
    engine = assign_engine(tmp_path)
    source = (tmp_path / "page.html").read_text()
    return engine, stored_extractions.extraction_key(engine, "name", "page.html", source)


def test_the_store_keeps_unanalysed_names(stored_page):
    engine, key = stored_page
    shared = store.Store(store.MemoryBackend())
    first, _ = extract_through(shared, engine, "page.html")
    again, _ = extract_through(shared, engine, "page.html")
    assert shared.counters["hits"] == 1
    assert [record.names for record in again.unanalysed] == [("lease",)]
    assert again == first
    (record,) = shared.get("x", key)["unanalysed"]
    assert record[4] == ["lease"] and len(record) == 5


def test_a_payload_of_the_older_layout_is_refused_and_rebuilt(stored_page):
    engine, key = stored_page
    shared = store.Store(store.MemoryBackend())
    extract_through(shared, engine, "page.html")
    payload = shared.get("x", key)
    payload["unanalysed"] = [record[:4] for record in payload["unanalysed"]]
    shared.put("x", key, payload)
    rebuilt, _ = extract_through(shared, engine, "page.html")
    assert shared.counters["rejected"] == 1
    assert [record.names for record in rebuilt.unanalysed] == [("lease",)]
    assert len(shared.get("x", key)["unanalysed"][0]) == 5


def test_the_payload_layout_is_part_of_the_key(stored_page, monkeypatch, tmp_path):
    engine, key = stored_page
    source = (tmp_path / "page.html").read_text()
    monkeypatch.setattr(stored_extractions, "LAYOUT", stored_extractions.LAYOUT - 1)
    assert stored_extractions.extraction_key(engine, "name", "page.html", source) != key
