"""``values()``/``values_list()`` rows never show a sensitive column, whatever
it is called (issue #18, item 2): an alias of a sensitive field (``F``,
``Lower``, ``Concat``, ``Coalesce``, ``Case``, ``Max``, a ``Subquery``), a
field of a related model that model's own ``djust_sensitive_fields`` lists,
or a JSON key refused everywhere; neither on the page nor in the browser
state. Each test plants a recognisable hash and checks, on the live rows,
that the query does read it, so the refusal is what keeps it off the page."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.db.models import Case, F, Max, OuterRef, Subquery, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Concat, Lower
from django.test import RequestFactory, override_settings

from djust.context import StateEncoder
from djust.live import LiveView
from examples.rentals.models import Lease, Property, Tenant, Unit
from tests.testapp.models import Author, Biography, Book

pytestmark = pytest.mark.django_db

PLANTED = "plantedsalt"
HASH = f"md5${PLANTED}$0123456789abcdef"


@pytest.fixture
def ann():
    return User.objects.create(username="ann", email="Ann@Example.com", password=HASH)


def render(source: str, **context) -> tuple[str, str]:
    """The page a LiveView renders for ``source``, and its browser state as
    the JSON the page carries."""
    view = type("ValuesPage", (LiveView,), {"template": source})()
    for name, value in context.items():
        setattr(view, name, value)
    page, state = view.render_page(RequestFactory().get("/"))
    return page, json.dumps(state, cls=StateEncoder)


def assert_live_reads_secret(queryset) -> None:
    """The query does read the secret: without the refusal it would show."""
    assert PLANTED in repr(list(queryset))


def assert_refused(page: str, state: str, *shown: str) -> None:
    for text in (page, state):
        assert PLANTED not in text
        for value in shown:
            assert value in text


# Every way of spelling a column that reads the password hash.
ALIASES = {
    "F": lambda: F("password"),
    "Lower": lambda: Lower("password"),
    "Concat": lambda: Concat("username", "password"),
    "Coalesce": lambda: Coalesce("password", Value("")),
    "Case": lambda: Case(When(username="ann", then=F("password")), default=Value("")),
    "Max": lambda: Max("password"),
    "Subquery": lambda: Subquery(User.objects.filter(pk=OuterRef("pk")).values("password")[:1]),
}
DICT_ROWS = "{% for r in rows %}{{ r.username }}|{{ r.pw }};{% endfor %}"
PAIRS = "{% for a, b in rows %}{{ a }}/{{ b }};{% endfor %}"


# The three places an expression can name a values() column.
DICT_SHAPES = {
    "given to values()": lambda e: User.objects.values("username", pw=e),
    "an annotation values() selects": lambda e: User.objects.annotate(pw=e).values(
        "username", "pw"),
    "an annotation after values()": lambda e: User.objects.values("username").annotate(pw=e),
}


@pytest.mark.parametrize("shape", DICT_SHAPES)
@pytest.mark.parametrize("alias", ALIASES)
def test_dict_rows_refuse_an_alias_of_a_sensitive_column(ann, alias, shape):
    rows = DICT_SHAPES[shape](ALIASES[alias]())
    assert_live_reads_secret(rows)
    page, state = render(DICT_ROWS, rows=rows)
    assert "ann|;" in page
    assert_refused(page, state, "ann")


@pytest.mark.parametrize("alias", ALIASES)
def test_tuple_rows_refuse_a_positional_expression(ann, alias):
    rows = User.objects.values_list("username", ALIASES[alias]())
    assert_live_reads_secret(rows)
    page, state = render(PAIRS, rows=rows)
    assert "ann/None;" in page
    assert_refused(page, state, "ann")


@pytest.mark.parametrize("alias", ALIASES)
def test_named_rows_refuse_an_alias_and_keep_their_names(ann, alias):
    rows = User.objects.annotate(pw=ALIASES[alias]()).values_list("username", "pw", named=True)
    assert_live_reads_secret(rows)
    page, state = render("{% for r in rows %}{{ r.username }}/{{ r.pw }};{% endfor %}", rows=rows)
    assert "ann/None;" in page
    assert_refused(page, state, "ann")


@pytest.mark.parametrize("alias", ALIASES)
def test_flat_rows_of_an_alias_are_none(ann, alias):
    rows = User.objects.values_list(ALIASES[alias](), flat=True)
    assert_live_reads_secret(rows)
    page, state = render("{% for v in rows %}[{{ v }}]{% endfor %}{{ who }}", rows=rows, who="ann")
    assert "[None]" in page
    assert_refused(page, state, "ann")


def test_tuple_positions_follow_annotations_added_after_values_list(ann):
    # Row order: the values_list() names, then the annotations added after.
    rows = User.objects.values_list("username").annotate(pw=Lower("password"), mail=Lower("email"))
    assert_live_reads_secret(rows)
    page, state = render("{% for a, b, c in rows %}{{ a }}/{{ b }}/{{ c }};{% endfor %}", rows=rows)
    assert "ann/None/ann@example.com;" in page
    assert_refused(page, state, "ann@example.com")


def test_tuple_positions_follow_the_names_given_to_values_list(ann):
    rows = User.objects.annotate(pw=Lower("password")).values_list("pw", "username")
    assert_live_reads_secret(rows)
    page, state = render(PAIRS, rows=rows)
    assert "None/ann;" in page
    assert_refused(page, state, "ann")


def test_tuple_positions_without_names_put_annotations_after_the_fields(ann):
    # No names: every concrete field's attname, then the annotations.
    rows = User.objects.annotate(pw=Lower("password")).values_list()
    assert_live_reads_secret(rows)
    attnames = [field.attname for field in User._meta.concrete_fields]
    source = ("{% for r in rows %}{{ r.N_PASSWORD }}|{{ r.N_USERNAME }}|{{ r.N_ALIAS }}|{{ r }};"
              "{% endfor %}").replace("N_PASSWORD", str(attnames.index("password"))).replace(
        "N_USERNAME", str(attnames.index("username"))).replace("N_ALIAS", str(len(attnames)))
    page, state = render(source, rows=rows)
    assert "None|ann|None|" in page
    assert_refused(page, state, "ann")


def test_extra_select_columns_come_first(ann):
    # extra(select=...) is SQL text: refused by its name only; it comes
    # before the fields, so the alias is still found in its position.
    rows = User.objects.extra(select={"one": "1"}).annotate(
        pw=Concat("username", "password")).values_list()
    assert_live_reads_secret(rows)
    page, state = render("{% for r in rows %}{{ r.0 }}|{{ r.5 }}|{{ r }};{% endfor %}", rows=rows)
    assert "1|ann|" in page  # username is auth.User's fifth concrete field
    assert_refused(page, state, "ann")


def test_combined_rows_refuse_a_column_any_part_refuses(ann):
    rows = User.objects.values_list("username", "email").union(
        User.objects.values_list("username", "password"))
    assert_live_reads_secret(rows)
    page, state = render(PAIRS, rows=rows)
    assert "ann/None;" in page
    assert_refused(page, state, "ann")


def test_a_json_key_alias_refused_everywhere(ann):
    Author.objects.create(name="Ada", profile={"password": HASH, "city": "Paris"})
    rows = Author.objects.values("name", k=KT("profile__password"), c=KT("profile__city"))
    assert_live_reads_secret(rows)
    page, state = render("{% for r in rows %}{{ r.name }}|{{ r.k }}|{{ r.c }};{% endfor %}",
                         rows=rows)
    assert "Ada||Paris;" in page
    assert_refused(page, state, "Paris")


@pytest.fixture
def authored():
    author = Author.objects.create(name="Ada", api_token=HASH)
    Biography.objects.create(author=author, text="born")
    Book.objects.create(title="Notes", author=author)
    return author


def test_a_related_models_own_list_refuses_its_field(authored):
    # api_token is in Author's djust_sensitive_fields, not Book's.
    rows = Book.objects.values("title", "author__api_token")
    assert_live_reads_secret(rows)
    page, state = render("{% for r in rows %}{{ r.title }}|{{ r.author__api_token }};{% endfor %}",
                         rows=rows)
    assert "Notes|;" in page
    assert_refused(page, state, "Notes")


def test_a_related_models_own_list_in_tuple_named_and_flat_rows(authored):
    pairs = Biography.objects.values_list("text", "author__api_token")
    named = Book.objects.values_list("title", "author__api_token", named=True)
    flat = Book.objects.values_list("author__api_token", flat=True)
    for rows in (pairs, named, flat):
        assert_live_reads_secret(rows)
    page, state = render(PAIRS + "{% for r in named %}{{ r.title }}:{{ r.author__api_token }};"
                         "{% endfor %}{% for v in flat %}[{{ v }}]{% endfor %}",
                         rows=pairs, named=named, flat=flat)
    assert "born/None;" in page and "Notes:None;" in page and "[None]" in page
    assert_refused(page, state, "born", "Notes")


def test_a_related_models_own_list_through_a_reverse_relation(ann, authored):
    authored.user = ann
    authored.save()
    rows = User.objects.values("username", "author__api_token")
    assert_live_reads_secret(rows)
    page, state = render("{% for r in rows %}{{ r.username }}|{{ r.author__api_token }};"
                         "{% endfor %}", rows=rows)
    assert "ann|;" in page
    assert_refused(page, state, "ann")


def test_an_alias_of_a_related_models_sensitive_field(authored):
    rows = Book.objects.values("title", tok=Lower("author__api_token"))
    assert_live_reads_secret(rows)
    page, state = render("{% for r in rows %}{{ r.title }}|{{ r.tok }};{% endfor %}", rows=rows)
    assert "Notes|;" in page
    assert_refused(page, state, "Notes")


@pytest.fixture
def leased(ann):
    # The phone holds the planted text (it fits the column on PostgreSQL too).
    tenant = Tenant.objects.create(user=ann, phone=f"tel-{PLANTED}")
    home = Property.objects.create(name="Elm House", address="1 Elm", city="Oslo",
                                   monthly_rent=100)
    unit = Unit.objects.create(property=home, number="1A")
    Lease.objects.create(property=home, unit=unit, tenant=tenant, start_date="2026-01-01",
                         end_date="2026-12-31", monthly_rent=100)
    return tenant


def test_a_relation_listed_as_sensitive_refuses_the_paths_through_it(leased):
    # ``tenant`` refused on every model: ``tenant__phone`` passes through it.
    with override_settings(DJUST={"SENSITIVE_FIELDS": ["tenant"]}):
        rows = Lease.objects.values_list("property__name", "tenant__phone",
                                         "tenant__user__username")
        assert_live_reads_secret(rows)
        page, state = render("{% for a, b, c in rows %}{{ a }}/{{ b }}/{{ c }};{% endfor %}",
                             rows=rows)
    assert "Elm House/None/None;" in page
    assert_refused(page, state, "Elm House")


def test_a_setting_on_a_related_field_refuses_its_aliases(leased):
    with override_settings(DJUST={"SENSITIVE_FIELDS": ["phone"]}):
        rows = Lease.objects.values("property__name", p=F("tenant__phone"))
        flat = Lease.objects.values_list(Concat("property__city", "tenant__phone"), flat=True)
        assert_live_reads_secret(rows)
        assert_live_reads_secret(flat)
        page, state = render("{% for r in rows %}{{ r.property__name }}|{{ r.p }};{% endfor %}"
                             "{% for v in flat %}[{{ v }}]{% endfor %}", rows=rows, flat=flat)
    assert "Elm House|;" in page and "[None]" in page
    assert_refused(page, state, "Elm House")


def test_non_sensitive_aliases_still_render(ann):
    rows = User.objects.values(login=F("username"), mail=Lower("email"))
    pairs = User.objects.values_list(F("username"), Lower("email"))
    page, state = render("{% for r in rows %}{{ r.login }}|{{ r.mail }};{% endfor %}", rows=rows)
    assert "ann|ann@example.com;" in page
    assert_refused(page, state, "ann", "ann@example.com")
    page, state = render(PAIRS, rows=pairs)
    assert "ann/ann@example.com;" in page
    assert_refused(page, state, "ann", "ann@example.com")
