"""Strict mode (issue #19 item 5): a lazy load in a render fails, naming the
template, the line and the path; the plan's own queries pass."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import django
import pytest
from django.db import connection
from django.template import Context, Engine, engines
from django.test.utils import CaptureQueriesContext

from djust import conf, testing
from djust.template.strict import UnplannedQuery, strict_queries, strict_queryset
from examples.rentals.models import Lease, Property, Tenant, Unit
from examples.rentals.seed import seed
from tests.testapp.models import Author, Book, Comment

pytestmark = pytest.mark.django_db

# The plugin's fixture, for this module (the plugin may not be loaded).
djust_strict = testing.djust_strict

ROOT = Path(__file__).resolve().parent.parent
HAS_FETCH_MODES = django.VERSION >= (6, 1)


@pytest.fixture
def rentals():
    seed(scale=0.04)   # 2 properties, 20 units, 40 tenants, 80 leases


def render(source, **context):
    return engines["django"].from_string(source).render(context)


def strict_error(source, name="page.html", **context) -> UnplannedQuery:
    with pytest.raises(UnplannedQuery) as caught, strict_queries(name):
        render(source, **context)
    return caught.value


PAGE = """<h1>Leases</h1>
{% for l in leases %}
  <p>{{ l.start_date }}</p>
  <p>{{ l.tenant.phone }}</p>
{% endfor %}
"""


def test_forward_foreign_key_fails_naming_template_line_and_path(rentals):
    error = strict_error(PAGE, leases=Lease.objects.all())
    assert (error.template_name, error.line, error.path) == ("page.html", 4, "l.tenant.phone")
    assert error.sql.startswith("SELECT") and "rentals_tenant" in error.sql
    assert str(error).startswith(
        "page.html, line 4: {{ l.tenant.phone }} ran a query djust did not plan: SELECT")
    assert len(str(error).split("did not plan: ", 1)[1]) <= 200


def test_one_line_template_reports_line_1(rentals):
    error = strict_error("{% for l in leases %}{{ l.tenant.phone }}{% endfor %}",
                         leases=Lease.objects.all())
    assert (error.template_name, error.line, error.path) == ("page.html", 1, "l.tenant.phone")


def test_select_related_passes(rentals):
    leases = Lease.objects.select_related("tenant")
    with CaptureQueriesContext(connection) as queries, strict_queries("page.html"):
        html = render(PAGE, leases=leases)
    assert len(queries) == 1
    assert Tenant.objects.first().phone[:4] in html and html.count("<p>+351") == 80


def test_view_queryset_for_and_count_pass(rentals):
    source = ("{% for l in leases %}{{ l.status }}{% endfor %}"
              "|{{ leases.count }}|{{ leases.first.id }}")
    with strict_queries("page.html"):
        html = render(source, leases=Lease.objects.filter(status="active"))
    assert html.endswith(f"|{Lease.objects.filter(status='active').count()}|"
                         f"{Lease.objects.filter(status='active').first().id}")


def test_reverse_manager_count_fails(rentals):
    error = strict_error("{% for p in properties %}\n{{ p.name }}: {{ p.units.count }}{% endfor %}",
                         properties=Property.objects.all())
    assert (error.line, error.path) == (2, "p.units.count")


def test_reverse_manager_all_in_for_fails(rentals):
    error = strict_error(
        "{% for p in properties %}\n\n{% for u in p.units.all %}{{ u.number }}{% endfor %}"
        "{% endfor %}", properties=Property.objects.all())
    assert (error.line, error.path) == (3, "p.units.all")


def test_reverse_manager_index_and_if_fail(rentals):
    properties = Property.objects.all()
    assert strict_error("{% for p in properties %}{{ p.units.all.0 }}{% endfor %}",
                        properties=properties).path == "p.units.all.0"
    assert strict_error("{% for p in properties %}{% if p.units.all %}x{% endif %}{% endfor %}",
                        properties=properties).path == "p.units.all"


def test_many_to_many_manager_fails(rentals):
    error = strict_error("{% for p in properties %}{{ p.amenities.count }}{% endfor %}",
                         properties=Property.objects.all())
    assert error.path == "p.amenities.count"


def test_prefetch_related_passes(rentals):
    properties = Property.objects.prefetch_related("units", "amenities")
    source = ("{% for p in properties %}{{ p.units.count }}:{{ p.amenities.count }}:"
              "{% for u in p.units.all %}{{ u.number }},{% endfor %}{% endfor %}")
    with CaptureQueriesContext(connection) as queries, strict_queries("page.html"):
        html = render(source, properties=properties)
    assert len(queries) == 3
    assert html.count(",") == Unit.objects.count()


def test_related_queryset_the_view_passed_passes(rentals):
    units = Property.objects.first().units.all()
    with strict_queries("page.html"):
        html = render("{% for u in units %}{{ u.number }},{% endfor %}{{ units.count }}"
                      "{% if units %}!{% endif %}", units=units)
    assert html.endswith(f"{units.count()}!")


def test_reverse_one_to_one_fails(rentals):
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(username__startswith="seed-tenant-")
    error = strict_error("{% for u in users %}{{ u.tenant_profile.phone }}{% endfor %}",
                         users=users)
    assert error.path == "u.tenant_profile.phone"
    with strict_queries("page.html"):
        render("{% for u in users %}{{ u.tenant_profile.phone }}{% endfor %}",
               users=users.select_related("tenant_profile"))


def test_deferred_field_fails(rentals):
    error = strict_error("{% for l in leases %}{{ l.id }}{{ l.status }}{% endfor %}",
                         leases=Lease.objects.only("id"))
    assert error.path == "l.status"
    with strict_queries("page.html"):
        render("{% for l in leases %}{{ l.status }}{% endfor %}",
               leases=Lease.objects.only("id", "status"))


def test_load_in_str_reports_the_variable_node(rentals):
    # Tenant.__str__ reads self.user: the load happens after the lookup.
    error = strict_error("\n{% for t in tenants %}{{ t }}{% endfor %}",
                         tenants=Tenant.objects.all())
    assert (error.line, error.path) == (2, "t")
    with strict_queries("page.html"):
        render("{% for t in tenants %}{{ t }}{% endfor %}",
               tenants=Tenant.objects.select_related("user"))


def test_generic_foreign_key_fails():
    author = Author.objects.create(name="Ana")
    book = Book.objects.create(title="Mar", author=author)
    Comment.objects.create(target=book, body="good")
    Comment.objects.create(target=author, body="prolific")
    error = strict_error("{% for c in comments %}{{ c.body }} on {{ c.target }}{% endfor %}",
                         comments=Comment.objects.all())
    assert error.path == "c.target"
    with strict_queries("page.html"):
        html = render("{% for c in comments %}{{ c.body }} on {{ c.target.id }};{% endfor %}",
                      comments=Comment.objects.prefetch_related("target"))
    assert html == f"good on {book.id};prolific on {author.id};"


def test_generic_relation_manager_fails():
    author = Author.objects.create(name="Ana")
    Book.objects.create(title="Mar", author=author)
    error = strict_error("{% for b in books %}{{ b.comments.count }}{% endfor %}",
                         books=Book.objects.all())
    assert error.path == "b.comments.count"


def test_queries_outside_templates_are_ignored(rentals):
    with strict_queries("page.html"):
        lease = Lease.objects.first()
        assert lease.tenant.phone                       # a lazy load, in Python
        assert Property.objects.first().units.count()   # a related manager, in Python
        assert render("{{ n }}", n=lease.tenant.user_id)


def test_include_reports_the_included_template(rentals):
    engine = Engine(loaders=[("django.template.loaders.locmem.Loader", {
        "page.html": "<ul>\n{% for l in leases %}\n{% include 'row.html' %}{% endfor %}</ul>",
        "row.html": "<li>\n{{ l.status }}\n{{ l.unit.number }}</li>",
    })])
    with pytest.raises(UnplannedQuery) as caught, strict_queries("page.html"):
        engine.get_template("page.html").render(Context({"leases": Lease.objects.all()}))
    error = caught.value
    assert (error.template_name, error.line, error.path) == ("row.html", 3, "l.unit.number")


def test_file_template_names_itself(rentals, tmp_path):
    (tmp_path / "leases.html").write_text(
        "{% for l in leases %}\n{{ l.property.name }}{% endfor %}")
    engine = Engine(dirs=[str(tmp_path)])
    with pytest.raises(UnplannedQuery) as caught, strict_queries():
        engine.get_template("leases.html").render(Context({"leases": Lease.objects.all()}))
    assert (caught.value.template_name, caught.value.line) == ("leases.html", 2)


def test_a_swallowed_error_still_fails_the_block(rentals):
    # smartif's comparison operators swallow every exception.
    source = "{% for l in leases %}{% if l.tenant.phone > '' %}x{% endif %}{% endfor %}"
    error = strict_error(source, leases=Lease.objects.all())
    assert error.path == "l.tenant.phone"


@pytest.mark.skipif(not HAS_FETCH_MODES, reason="fetch modes are Django 6.1+")
def test_fetch_peers_load_still_fails(rentals):
    from django.db.models import FETCH_PEERS

    error = strict_error(PAGE, leases=Lease.objects.fetch_mode(FETCH_PEERS))
    assert (error.line, error.path) == (4, "l.tenant.phone")


def test_strict_queryset(rentals):
    leases = Lease.objects.all()
    strict = strict_queryset(leases)
    if not HAS_FETCH_MODES:
        assert strict is leases
        return
    from django.core.exceptions import FieldFetchBlocked

    with pytest.raises(FieldFetchBlocked):
        strict.first().tenant
    assert strict.select_related("tenant").first().tenant.phone


@pytest.fixture
def jit_off(settings):
    settings.DJUST = {"JIT": False}


def test_fixture_turns_strict_on_keeping_other_keys(jit_off, djust_strict):
    assert conf.get("STRICT") is True and conf.get("JIT") is False


def test_strict_is_off_by_default():
    assert conf.get("STRICT") is False


PLUGIN_TESTS = '''
import pytest
from djust import conf

@pytest.mark.djust_strict
def test_marker():
    assert conf.get("STRICT") is True

def test_fixture(djust_strict):
    assert conf.get("STRICT") is True

def test_unmarked():
    assert conf.get("STRICT") is False
'''


def run_pytest(tmp_path, *options):
    (tmp_path / "test_plugin.py").write_text(textwrap.dedent(PLUGIN_TESTS))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers",
         "-W", "error", "--rootdir", str(tmp_path), *options, str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_plugin_registers_marker_and_fixture(tmp_path):
    result = run_pytest(tmp_path, "-p", "djust.testing")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
    # Without the plugin --strict-markers refuses the marker.
    result = run_pytest(tmp_path)
    assert result.returncode != 0 and "djust_strict" in result.stdout + result.stderr
