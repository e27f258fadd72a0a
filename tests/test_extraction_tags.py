"""Extraction of Django's built-in tags, i18n, and tags djust cannot analyse."""

import pytest
from django.template import defaulttags

from djust.compiler.extraction import Unanalysed, extract_template_variables


def paths(source, **kwargs):
    return extract_template_variables(source, **kwargs).as_dict()


def test_firstof_reads_each_value_and_binds_its_alias():
    source = '{% firstof a.x b "fallback" as chosen %}{{ chosen.name }}'
    assert paths(source) == {"a": ["x", "x.name"], "b": ["", "name"]}


def test_cycle_values_and_named_cycle():
    source = (
        '{% for r in rows %}{% cycle "odd" row.style as cls %}{{ cls.upper }}'
        "{% cycle cls %}{{ r }}{% endfor %}"
    )
    assert paths(source) == {"rows": ["*"], "row": ["style", "style.upper"]}


def test_silent_cycle_reads_only_through_its_name():
    source = '{% cycle a b as pair silent %}{% resetcycle pair %}{{ pair.v }}'
    assert paths(source) == {"a": ["v"], "b": ["v"]}


def test_url_arguments_and_as_name():
    source = "{% url 'lease-detail' lease.pk kind=kind.slug as link %}{{ link }}{{ link.x }}"
    assert paths(source) == {"lease": ["pk"], "kind": ["slug"]}


def test_url_view_name_can_be_a_variable():
    assert paths("{% url view.name 1 %}") == {"view": ["name"]}


def test_blocktranslate_body_resolves_through_aliases():
    source = (
        "{% load i18n %}{% blocktranslate with name=lease.tenant.user.first_name "
        "count n=lease.units.all|length %}{{ name }} has {{ n }} unit {{ extra }}"
        "{% plural %}{{ name }} has {{ n }} units{% endblocktranslate %}"
    )
    assert paths(source) == {
        "lease": ["tenant.user.first_name", "units.all"],
        "extra": [""],
    }


def test_legacy_blocktrans_and_asvar():
    source = (
        "{% load i18n %}{% blocktrans with a=b.c asvar msg %}x {{ a }}{% endblocktrans %}"
        "{{ msg }}{% translate title.text as heading %}{{ heading }}"
        '{% translate "Hello" context ctx.name %}'
    )
    assert paths(source) == {"b": ["c"], "title": ["text"], "ctx": ["name"]}


def test_regroup_maps_groups_back_to_the_sequence():
    source = (
        "{% regroup leases by property.city as by_city %}"
        "{% for group in by_city %}{{ group.grouper }}"
        "{% for lease in group.list %}{{ lease.tenant.phone }}{% endfor %}{% endfor %}"
    )
    assert paths(source) == {"leases": ["*.property.city", "*.tenant.phone"]}


def test_regroup_grouper_lookups_and_unread_list():
    source = (
        "{% regroup items by owner as owners %}{% for o in owners %}"
        "{{ o.grouper.name }}{{ o.list|length }}{% endfor %}"
    )
    assert paths(source) == {"items": ["*", "*.owner", "*.owner.name"]}


def test_regroup_unused_reads_nothing():
    assert paths("{% regroup items by owner as owners %}") == {}


def test_widthratio_filter_ifchanged_autoescape_spaceless():
    source = (
        "{% widthratio a.v b.max 100 as w %}{{ w.x }}"
        "{% filter upper|cut:c.ch %}{{ d.text }}{% endfilter %}"
        "{% for x in xs %}{% ifchanged x.date %}{{ x.title }}{% else %}{{ e }}"
        "{% endifchanged %}{% endfor %}"
        "{% autoescape off %}{{ f.html }}{% endautoescape %}"
        "{% spaceless %}<p> {{ g.t }} </p>{% endspaceless %}"
    )
    assert paths(source) == {
        "a": ["v"],
        "b": ["max"],
        "c": ["ch"],
        "d": ["text"],
        "xs": ["*.date", "*.title"],
        "e": [""],
        "f": ["html"],
        "g": ["t"],
    }


def test_tags_that_read_nothing():
    source = (
        '{% now "Y" as year %}{{ year }}{% now "jS" %}'
        "{% comment %}{{ hidden.x }}{% endcomment %}{# {{ also.hidden }} #}"
        "{% verbatim %}{{ raw.x }}{% endverbatim %}{% load static i18n %}{% csrf_token %}"
        "{% templatetag openblock %}{% lorem 2 w random %}"
        '{% get_current_language as lang %}{{ lang }}{% static "a.css" as css %}{{ css }}'
    )
    extraction = extract_template_variables(source)
    assert dict(extraction) == {}
    assert extraction.unanalysed == ()


def test_lorem_count_can_be_a_variable():
    assert paths("{% lorem n.words w %}") == {"n": ["words"]}


def test_debug_is_reported_as_reading_the_whole_context():
    extraction = extract_template_variables("x\n{% debug %}", name="page.html")
    assert extraction.unanalysed == (
        Unanalysed("debug", "page.html", 2, "reads the whole context"),
    )


@pytest.mark.skipif(
    not hasattr(defaulttags, "querystring"), reason="{% querystring %} needs Django 5.1+"
)
def test_querystring_arguments_are_read_without_a_request_root():
    extraction = extract_template_variables("{% querystring page=page_obj.next_page_number %}")
    assert dict(extraction) == {"page_obj": ("next_page_number",)}
    assert extraction.unanalysed == ()


def test_builtin_libraries_with_bodies():
    source = (
        "{% load l10n tz cache %}{% localize off %}{{ a.n }}{% endlocalize %}"
        "{% timezone zone.name %}{{ b.when }}{% endtimezone %}"
        "{% cache 500 sidebar user.pk %}{{ c.menu }}{% endcache %}"
        "{% load i18n %}{% language lang.code %}{{ d.x }}{% endlanguage %}"
    )
    assert paths(source) == {
        "a": ["n"],
        "zone": ["name"],
        "b": ["when"],
        "user": ["pk"],
        "c": ["menu"],
        "lang": ["code"],
        "d": ["x"],
    }


# -- tags djust cannot analyse ------------------------------------------------


def test_custom_simple_tag_arguments_are_extracted_and_reported():
    source = (
        "{% load extraction_tags %}\n"
        "{% shout page.heading suffix=page.mark as loud %}{{ loud }}"
    )
    extraction = extract_template_variables(source, name="custom.html")
    assert dict(extraction) == {"page": ("heading", "mark")}
    (record,) = extraction.unanalysed
    assert (record.tag, record.template, record.line) == ("shout", "custom.html", 2)
    assert "custom tag" in record.reason


def test_custom_tag_taking_the_context_is_reported_as_such():
    extraction = extract_template_variables(
        '{% load extraction_tags %}{% whole_context "k" %}', name="t.html"
    )
    assert dict(extraction) == {}
    assert "takes the context" in extraction.unanalysed[0].reason


def test_unknown_block_tag_arguments_and_body_are_walked():
    source = (
        "{% load extraction_tags %}{% for item in items %}\n"
        "{% box item.title width=size.w %}{{ item.body }}{% endbox %}{% endfor %}"
    )
    extraction = extract_template_variables(source, name="box.html")
    assert dict(extraction) == {"items": ("*.body", "*.title"), "size": ("w",)}
    (record,) = extraction.unanalysed
    assert (record.tag, record.template, record.line) == ("box", "box.html", 2)
    assert "BoxNode" in record.reason


needs_partials = pytest.mark.skipif(
    not hasattr(defaulttags, "PartialNode"), reason="template partials need Django 6.0+"
)


@needs_partials
def test_partials_are_walked_where_they_render():
    source = (
        "{% partialdef row %}{{ item.title }}{% endpartialdef %}"
        "{% partialdef top inline %}{{ top.x }}{% endpartialdef %}"
        "{% for item in items %}{% partial row %}{% endfor %}"
    )
    assert paths(source) == {"items": ["*.title"], "top": ["x"]}


@needs_partials
def test_included_partial_reads_only_its_own_body():
    source = (
        '{% for c in cards %}{% include "extraction/partials.html#card" with card=c %}'
        "{% endfor %}"
    )
    extraction = extract_template_variables(source)
    assert dict(extraction) == {"cards": ("*.title",)}
    assert extraction.templates == ("extraction/partials.html#card",)


@needs_partials
def test_undefined_partial_is_recorded_with_its_line():
    # Django raises TemplateSyntaxError only when it renders the tag.
    extraction = extract_template_variables("\n{% partial nope %}", name="q.html")
    assert [str(record) for record in extraction.unanalysed] == [
        "{% partial %} in q.html, line 2: partial 'nope' is not defined in this template"]
