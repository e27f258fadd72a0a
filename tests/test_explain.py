from djust.__main__ import main


def test_explain_with_model_prints_plan_and_generated_source(capsys):
    code = main(["explain", "rentals/dashboard.html", "--model", "rentals.Lease",
                 "--name", "expiring_leases"])
    out = capsys.readouterr().out
    assert code == 0
    assert "select_related: property, tenant, tenant__user, unit" in out
    assert "def serialize_rentals_lease(obj):" in out
    assert "runtime-lookup calls" in out


def test_explain_of_a_name_the_template_never_reads_prints_no_serializer(capsys):
    main(["explain", "rentals/dashboard.html", "--model", "rentals.Lease",
          "--name", "nobody_reads_this"])
    out = capsys.readouterr().out
    assert "the template never reads this name" in out
    assert "Serializer for" not in out
