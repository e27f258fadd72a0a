"""``python -m djust explain --model --name``, called in-process: the
serializer section, which plan a LiveView uses, and the paths the model
lacks."""

import pytest

from djust.__main__ import EXIT_NO_KNOWN_PATH, main


def explain(capsys, *argv):
    status = main(["explain", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def section(out: str, title: str) -> list[str]:
    """The lines of the section titled ``title`` (without the title)."""
    blocks = {block.split("\n", 1)[0]: block.split("\n")[1:] for block in out.split("\n\n")}
    return blocks[title]


def test_explain_with_model_prints_plan_and_generated_source(capsys):
    status, out, err = explain(capsys, "rentals/dashboard.html", "--model", "rentals.Lease",
                               "--name", "expiring_leases")
    assert (status, err) == (0, "")
    assert "select_related: property, tenant, tenant__user, unit" in out
    assert "def serialize_rentals_lease(obj):" in out
    assert "runtime-lookup calls" in out
    assert not out.startswith("Warning")


def test_a_projected_queryset_is_said_to_be_read_as_rows_and_a_list_through_the_plan(capsys):
    _, out, _ = explain(capsys, "rentals/dashboard.html", "--model", "rentals.Lease",
                        "--name", "expiring_leases")
    lines = section(out, "How a LiveView serializes expiring_leases")
    assert lines[0] == ("  a QuerySet of rentals.Lease: serializer.many(queryset): values_list() "
                        "rows, no model instances (many(queryset) below)")
    assert lines[1] == ("    the query plan below, on model instances, instead when the "
                        "QuerySet uses distinct(), prefetch_related() or union()/intersection()/"
                        "difference()")
    # The method runs on stand-ins, so an annotation hiding it declines the rows.
    assert lines[2] == ("    or an annotation or extra() sets a name the code reads: "
                        "days_until_expiration, end_date")
    assert lines[3].startswith("  a values() or values_list() QuerySet of rentals.Lease: its "
                               "rows as they are")
    assert lines[4].startswith("  a list or tuple of rentals.Lease instances: serializer.many"
                               "(rows): the query plan below")
    assert out.index("How a LiveView") < out.index("Serializer for expiring_leases")


def test_a_queryset_that_needs_instances_is_said_to_use_the_query_plan(capsys):
    _, out, _ = explain(capsys, "rentals/dashboard.html", "--model", "rentals.Property",
                        "--name", "properties")
    lines = section(out, "How a LiveView serializes properties")
    assert lines[0] == ("  a QuerySet of rentals.Property: serializer.many(queryset): the query "
                        "plan below, on model instances (a path needs them; many(queryset) "
                        "below says so)")
    assert "values_list() rows" not in "\n".join(lines)
    assert "the query plan above, on model instances (a path needs them)" in out


def test_a_name_read_without_iterating_is_a_single_instance(capsys):
    status, out, _ = explain(capsys, "extraction/row.html", "--model", "rentals.Lease",
                             "--name", "lease")
    assert status == 0
    lines = section(out, "How a LiveView serializes lease")
    assert lines[0].startswith("  a rentals.Lease instance: the serializer below;")
    assert "QuerySet" not in "\n".join(lines)


def test_a_template_with_unanalysed_tags_says_no_plan_is_used(capsys):
    _, out, _ = explain(capsys, "extraction/custom.html", "--model",
                        "rentals.MaintenanceRequest", "--name", "page")
    lines = section(out, "How a LiveView serializes page")
    assert lines[0].startswith("  the template has tags djust cannot analyse:")
    assert lines[0].endswith("no plan below is used")


def test_a_model_with_none_of_the_paths_is_warned_at_the_top_and_exits_1(capsys):
    status, out, err = explain(capsys, "rentals/dashboard.html", "--model", "rentals.Amenity",
                               "--name", "expiring_leases")
    assert status == EXIT_NO_KNOWN_PATH == 1
    warning = ("rentals.Amenity has none of the paths read from each element of "
               "'expiring_leases': days_until_expiration, end_date, get_status_display, "
               "monthly_rent, property.name, tenant.user.email, tenant.user.get_full_name, "
               "unit.number (is rentals.Amenity the model of 'expiring_leases'?)")
    assert out.startswith(f"Warning\n  {warning}\n\nTemplate rentals/dashboard.html\n")
    assert err == f"djust explain: warning: {warning}\n"


def test_a_model_with_some_of_the_paths_names_the_others_and_exits_0(capsys):
    status, out, err = explain(capsys, "rentals/dashboard.html", "--model", "rentals.Unit",
                               "--name", "expiring_leases")
    assert status == 0
    # Unit has a property and a number, but no end_date, tenant or unit.
    warning = ("rentals.Unit has nothing named by 7 of the 8 paths read from each element of "
               "'expiring_leases': days_until_expiration, end_date, get_status_display, "
               "monthly_rent, tenant.user.email, tenant.user.get_full_name, unit.number (each "
               "is looked up at run time, as the template engine would)")
    assert out.startswith(f"Warning\n  {warning}\n\n")
    assert err == f"djust explain: warning: {warning}\n"


def test_lookups_below_a_method_or_a_field_are_not_missing_on_the_model(capsys):
    # {{ lease.tenant.user.get_full_name }} is typed; what a value's own
    # attributes are is unknown, but the model does not lack them.
    status, out, err = explain(capsys, "extraction/row.html", "--model", "rentals.Lease",
                               "--name", "lease")
    assert (status, err) == (0, "")
    assert "Warning" not in out


@pytest.mark.parametrize("name", ["nobody_reads_this", "properties_typo"])
def test_a_name_the_template_never_reads_is_an_error(capsys, name):
    status, out, err = explain(capsys, "rentals/dashboard.html", "--model", "rentals.Lease",
                               "--name", name)
    assert (status, out) == (2, "")
    assert err.startswith(f"djust explain: error: rentals/dashboard.html never reads {name!r} "
                          "(it reads: ")
    assert "expiring_leases" in err
    assert err.count("\n") == 1


def test_a_collection_read_only_through_count_and_first_loads_those_alone():
    from djust.__main__ import ExplainRequest, live_view_section
    from djust.compiler import extract_template_variables
    from examples.rentals.models import Lease

    extraction = extract_template_variables(
        "{{ leases.count }} {{ leases.first.end_date }}", name="counted.html")
    request = ExplainRequest("counted.html", extraction, Lease, "leases")
    lines = live_view_section(request).lines
    assert lines[0] == ("a QuerySet of rentals.Lease: queryset.first(), each row serialized "
                        "alone by the serializer below, without the query plan")
    assert lines[1] == "a QuerySet of rentals.Lease: one COUNT query; no other row is loaded"
    assert lines[2].startswith("a list or tuple of rentals.Lease instances: serializer.many(rows)")


def test_a_collection_read_only_through_exists_costs_one_exists_query():
    from djust.__main__ import ExplainRequest, live_view_section
    from djust.compiler import extract_template_variables
    from examples.rentals.models import Lease

    extraction = extract_template_variables("{% if leases.exists %}x{% endif %}", name="e.html")
    lines = live_view_section(ExplainRequest("e.html", extraction, Lease, "leases")).lines
    assert lines[0] == "a QuerySet of rentals.Lease: one EXISTS query; no other row is loaded"


def test_lookups_asked_of_the_live_queryset_are_named(capsys):
    _, out, _ = explain(capsys, "extraction/asked.html", "--model", "rentals.Unit",
                        "--name", "units")
    lines = section(out, "How a LiveView serializes units")
    assert ("    first, reverse: asked of the live QuerySet, as Django would (first()/last() "
            "and derived QuerySets run their own query)") in lines
