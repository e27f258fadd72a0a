"""Extraction: the path grammar for variables, filters, if, for and with."""

import pytest

from djust.compiler.extraction import Extraction, Unanalysed, extract_template_variables


def paths(source, **kwargs):
    return extract_template_variables(source, **kwargs).as_dict()


CONTRACT_EXAMPLE = """\
{{ leases.count }}
{% for lease in leases %}
  {{ lease.property.name }} {{ lease.tenant.user.get_full_name }}
  {% for u in lease.property.units.all %}{{ u.number }}{% endfor %}
{% endfor %}
{% with t=current.tenant %}{{ t.phone }}{% endwith %}
"""


def test_contract_example_extracts_exactly_as_written():
    assert paths(CONTRACT_EXAMPLE) == {
        "leases": [
            "*.property.name",
            "*.property.units.all.*.number",
            "*.tenant.user.get_full_name",
            "count",
        ],
        "current": ["tenant.phone"],
    }


# -- variables and filters ----------------------------------------------------


def test_dotted_lookup_is_one_path_on_its_root():
    assert paths("{{ a.b.c }}") == {"a": ["b.c"]}


def test_bare_name_is_the_empty_path():
    assert paths("{{ leases }} {{ leases|length }}") == {"leases": [""]}


def test_filters_add_no_segment():
    assert paths("{{ a.b|upper|truncatechars:3 }}") == {"a": ["b"]}


def test_filter_arguments_that_are_variables_are_read_whole():
    assert paths("{{ a|default:b.c }}") == {"a": [""], "b": ["c"]}
    assert paths('{{ when|date:fmt.short }} {{ x|add:"1" }}') == {
        "when": [""],
        "fmt": ["short"],
        "x": [""],
    }


def test_literals_and_translated_strings_read_nothing():
    assert paths('{{ "x" }} {{ 12 }} {{ 1.5 }} {{ _("hello") }} {{ "y"|upper }}') == {}


def test_numeric_index_segment_is_kept():
    assert paths("{{ a.0.b }}") == {"a": ["0.b"]}


def test_paths_are_sorted_and_deduplicated():
    extraction = extract_template_variables("{{ a.z }}{{ a.b }}{{ a.z }}{{ a }}")
    assert extraction["a"] == ("", "b", "z")


# -- if -----------------------------------------------------------------------


def test_if_reads_operands_only():
    source = (
        "{% if a.x and not b or c.y in d.list %}{% elif e is not None %}"
        "{% elif f.n >= 3 and g != h.k %}{% else %}{% endif %}"
    )
    assert paths(source) == {
        "a": ["x"],
        "b": [""],
        "c": ["y"],
        "d": ["list"],
        "e": [""],
        "f": ["n"],
        "g": [""],
        "h": ["k"],
    }


def test_if_operands_keep_their_filters_arguments():
    assert paths("{% if items|length > limit.max %}{% endif %}") == {
        "items": [""],
        "limit": ["max"],
    }


def test_if_bodies_are_walked():
    assert paths("{% if a %}{{ b.c }}{% elif d %}{{ e.f }}{% else %}{{ g }}{% endif %}") == {
        "a": [""],
        "b": ["c"],
        "d": [""],
        "e": ["f"],
        "g": [""],
    }


def test_true_false_none_are_never_roots():
    assert paths("{% if a == True or b is None or c != False %}{% endif %}") == {
        "a": [""],
        "b": [""],
        "c": [""],
    }


# -- for ----------------------------------------------------------------------


def test_loop_variable_paths_move_to_the_iterable():
    assert paths("{% for lease in leases %}{{ lease.property.name }}{% endfor %}") == {
        "leases": ["*.property.name"]
    }


def test_nested_loops_compose():
    source = (
        "{% for lease in leases %}{% for u in lease.property.units.all %}"
        "{{ u.number }}{% endfor %}{% endfor %}"
    )
    assert paths(source) == {"leases": ["*.property.units.all.*.number"]}


def test_unread_loop_variable_reads_each_element():
    assert paths("{% for x in seq %}row{% endfor %}") == {"seq": ["*"]}


def test_loop_variable_used_whole():
    assert paths("{% for x in seq %}{{ x }}{% endfor %}") == {"seq": ["*"]}


def test_loop_over_a_nested_path_unread():
    assert paths("{% for x in a.b.all %}-{% endfor %}") == {"a": ["b.all.*"]}


def test_tuple_unpacking_reads_index_segments():
    source = "{% for k, v in d.items %}{{ k }}={{ v.name }}{% endfor %}"
    assert paths(source) == {"d": ["items.*.0", "items.*.1.name"]}


def test_tuple_unpacking_unread_iterates():
    assert paths("{% for k, v in d.items %}-{% endfor %}") == {"d": ["items.*"]}


def test_reversed_loop_is_the_same_iteration():
    assert paths("{% for x in seq reversed %}{{ x.a }}{% endfor %}") == {"seq": ["*.a"]}


def test_empty_body_uses_the_outer_scope():
    source = "{% for x in seq %}{{ x.a }}{% empty %}{{ x.b }} {{ none_msg }}{% endfor %}"
    assert paths(source) == {"seq": ["*.a"], "x": ["b"], "none_msg": [""]}


def test_forloop_is_never_a_root():
    source = (
        "{% for x in outer %}{% for y in x.inner %}{{ forloop.counter }}"
        "{{ forloop.parentloop.first }}{% if forloop.last %}{% endif %}{% endfor %}{% endfor %}"
    )
    assert paths(source) == {"outer": ["*.inner.*"]}


def test_loop_variable_shadows_only_inside_its_loop():
    source = "{{ item.a }}{% for item in items %}{{ item.b }}{% endfor %}{{ item.c }}"
    assert paths(source) == {"item": ["a", "c"], "items": ["*.b"]}


def test_loop_iterable_filters():
    assert paths('{% for x in seq|slice:":3" %}{{ x.a }}{% endfor %}') == {"seq": ["*.a"]}
    assert paths('{% for x in seq|dictsort:"name" %}{{ x.a }}{% endfor %}') == {
        "seq": ["*.a", "*.name"]
    }
    # ``join`` turns the list into a string: the iterable is read whole.
    assert paths('{% for c in seq|join:"," %}{{ c }}{% endfor %}') == {"seq": [""]}


# -- with ---------------------------------------------------------------------


def test_with_alias_moves_to_its_source():
    assert paths("{% with t=current.tenant %}{{ t.phone }}{% endwith %}") == {
        "current": ["tenant.phone"]
    }


def test_legacy_with_syntax():
    assert paths("{% with current.tenant as t %}{{ t.phone }} {{ t }}{% endwith %}") == {
        "current": ["tenant", "tenant.phone"]
    }


def test_unused_alias_reads_nothing_and_ends_with_its_block():
    source = "{% with t=a.b u=c.d %}{{ u.e }}{% endwith %}{{ t.x }}"
    assert paths(source) == {"c": ["d.e"], "t": ["x"]}


def test_with_alias_of_loop_variable_composes():
    source = (
        "{% for lease in leases %}{% with u=lease.tenant.user %}"
        "{{ u.email }}{% endwith %}{% endfor %}"
    )
    assert paths(source) == {"leases": ["*.tenant.user.email"]}


def test_with_alias_of_filtered_values():
    assert paths("{% with n=items|length %}{{ n.real }}{% endwith %}") == {"items": [""]}
    assert paths("{% with f=items|first %}{{ f.name }}{% endwith %}") == {"items": ["*.name"]}
    assert paths("{% with v=a.b|default:c %}{{ v.x }}{% endwith %}") == {
        "a": ["b.x"],
        "c": ["x"],
    }


def test_project_filter_named_like_a_builtin_is_not_trusted():
    source = "{% load extraction_tags %}{% with f=items|first %}{{ f.name }}{% endwith %}"
    assert paths(source) == {"items": [""]}


# -- the Extraction value -----------------------------------------------------


def test_extraction_is_an_immutable_mapping_with_structural_equality():
    extraction = extract_template_variables("{{ b.y }}{{ a.x }}")
    assert list(extraction) == ["a", "b"]
    assert extraction == {"a": ("x",), "b": ("y",)}
    assert extraction == Extraction({"b": ["y"], "a": ["x"]})
    assert hash(extraction) == hash(Extraction({"a": ["x"], "b": ["y"]}))
    with pytest.raises(AttributeError):
        extraction.templates = ("x",)
    with pytest.raises(TypeError):
        extraction["a"] = ("z",)


def test_extraction_repr_is_readable():
    extraction = Extraction(
        {"a": ["x"]},
        unanalysed=[Unanalysed("debug", "p.html", 3, "reads the whole context")],
        templates=["p.html"],
    )
    assert repr(extraction) == "<Extraction {a: ['x']}, unanalysed=1, templates=['p.html']>"
    assert str(extraction.unanalysed[0]) == "{% debug %} in p.html, line 3: reads the whole context"


def test_unnamed_source_lists_no_template_name():
    assert extract_template_variables("{{ a }}").templates == ()
    assert extract_template_variables("{{ a }}", name="x.html").templates == ("x.html",)
