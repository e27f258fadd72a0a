"""Query plans around what the user's QuerySet already does (issue #17, item 7).

- A ``Prefetch(..., to_attr=...)`` of the user's is read through: what the
  template reads below the list is planned on the Prefetch's queryset and
  merged into it (its filter, order and to_attr kept).
- A ``Prefetch`` without to_attr keeps its filter and order and gets the
  nested plan merged in.
- ``union()``/``intersection()``/``difference()`` rows get their relations
  loaded after they are fetched, the rows and their order untouched.

Each case counts the queries at N=3 and N=30 against a plan tuned by hand
in the test (djust runs no more, and the same number at both sizes), and
compares the output with what Django's live objects give: the JSON with
the property tests' reference, the python mode and the LiveView page with
the page Django renders from the live objects.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Prefetch, prefetch_related_objects
from django.template import Context, Template
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path

from djust import LiveView
from djust.compiler import compile_serializer
from djust.compiler.plan import plan_queries, user_lists
from djust.compiler.tree import build_access_tree
from djust.context import serialize_value
from djust.html import root_inner_html
from property_tests.reference import reference_json
from tests.testapp.models import Author, Book, Chapter, Publisher

SIZES = (3, 30)

PICKED = ("name", "picked.*.title", "picked.*.publisher.name",
          "picked.*.chapters.all.*.title")
PICKED_TEMPLATE = (
    "{% for a in authors %}{{ a.name }}:{% for b in a.picked %}{{ b.title }}/"
    "{{ b.publisher.name }}/{% for c in b.chapters.all %}{{ c.title }},{% endfor %};"
    "{% endfor %}|{% endfor %}")


def library(n: int) -> None:
    """``n`` authors, each with three books (0, 100 and 200 pages; every
    other one published), each book with two chapters and a draft."""
    publishers = [Publisher.objects.create(code=f"P{p}", name=f"Publisher {p}")
                  for p in range(2)]
    for i in range(n):
        author = Author.objects.create(name=f"Author {i:03d}")
        for k in range(3):
            book = Book.objects.create(title=f"Book {i}-{k}", author=author, pages=100 * k,
                                       publisher=publishers[k % 2] if (i + k) % 2 else None)
            for number in (2, 1, 3):
                Chapter.objects.create(book=book, number=number, title=f"{i}-{k}.{number}",
                                       draft=number == 3)


def counted(function):
    with CaptureQueriesContext(connection) as captured:
        result = function()
    return result, len(captured.captured_queries)


def picked_books(**extra):
    return Prefetch("books", queryset=Book.objects.filter(pages__gte=100).order_by("-pages"),
                    to_attr="picked", **extra)


def authors_picking():
    return Author.objects.order_by("id").prefetch_related(picked_books())


def hand_tuned_picking():
    books = (Book.objects.filter(pages__gte=100).order_by("-pages")
             .select_related("publisher").prefetch_related("chapters"))
    return Author.objects.order_by("id").prefetch_related(
        Prefetch("books", queryset=books, to_attr="picked"))


def rendered(template: str, name: str, value) -> str:
    return Template(template).render(Context({name: value}))


def check(n, paths, queryset, hand_tuned, template, *, name="authors"):
    """Counts and output of ``many()`` on ``queryset`` (a callable giving a
    fresh one), both modes; returns the queries of (djust, hand-tuned)."""
    library(n)
    expected_page = rendered(template, name, list(queryset()))
    _, tuned = counted(lambda: list(hand_tuned()))
    found = []
    for mode in ("json", "python"):
        serializer = compile_serializer(Author, paths, mode=mode)
        output, queries = counted(lambda s=serializer: s.many(queryset()))
        found.append(queries)
        if mode == "json":
            assert output == [reference_json(a, paths) for a in queryset()]
        else:
            assert rendered(template, name, output) == expected_page
    assert found[0] == found[1] <= tuned
    return found[0], tuned


def constant(results: dict[int, tuple[int, int]]) -> None:
    """The same number of queries at every size, and never above the hand-tuned plan."""
    assert len({djust for djust, _ in results.values()}) == 1, results
    assert all(djust <= tuned for djust, tuned in results.values()), results


# ------------------------------------------------------ the user's to_attr


@pytest.mark.django_db
@pytest.mark.parametrize("n", SIZES)
def test_a_to_attr_list_is_read_through(n):
    djust, tuned = check(n, PICKED, authors_picking, hand_tuned_picking, PICKED_TEMPLATE)
    assert djust == tuned == 3


def test_the_plan_merges_into_the_users_prefetch_keeping_filter_order_and_to_attr():
    plan = plan_queries(build_access_tree(Author, PICKED))
    merged = plan.apply(authors_picking())
    (theirs,) = merged._prefetch_related_lookups
    assert (theirs.prefetch_through, theirs.to_attr) == ("books", "picked")
    inner = theirs.queryset
    assert inner.query.order_by == ("-pages",)
    assert "pages" in str(inner.query.where)
    assert inner.query.select_related == {"publisher": {}}
    assert [p.prefetch_through for p in inner._prefetch_related_lookups] == ["chapters"]
    # The serializer reads the list with run-time lookups: it does not
    # depend on the queryset, the plan does.
    assert compile_serializer(Author, PICKED).plan.prefetches == ()


def test_explain_with_the_queryset_shows_the_plan_read_through_its_lists():
    text = compile_serializer(Author, PICKED).plan.explain(authors_picking())
    assert "your to_attr list picked (testapp.Book), merged into your Prefetch queryset" in text
    assert "picked.*.publisher: join - select_related('publisher')" in text
    assert "kept your Prefetch('books', to_attr='picked') queryset" in text


def test_user_lists_are_read_through_nested_prefetch_querysets():
    early = Prefetch("chapters", queryset=Chapter.objects.filter(number=1), to_attr="early")
    queryset = Author.objects.prefetch_related(
        Prefetch("books", queryset=Book.objects.prefetch_related(early), to_attr="picked"),
        Prefetch("books", to_attr="every"))
    assert [(u.path, u.relation, u.model) for u in user_lists(queryset)] == [
        ("every", "books", None), ("picked", "books", Book), ("picked__early", "chapters", Chapter)]


@pytest.mark.django_db
@pytest.mark.parametrize("n", SIZES)
def test_a_prefetch_without_to_attr_keeps_its_filter_and_order(n):
    paths = ("name", "books.all.*.title", "books.all.*.publisher.name",
             "books.all.*.chapters.all.*.title")
    template = ("{% for a in authors %}{{ a.name }}:{% for b in a.books.all %}{{ b.title }}/"
                "{{ b.publisher.name }}/{% for c in b.chapters.all %}{{ c.title }},{% endfor %};"
                "{% endfor %}|{% endfor %}")
    mine = Book.objects.filter(pages__gte=100).order_by("-pages")

    def queryset():
        return Author.objects.order_by("id").prefetch_related(Prefetch("books", queryset=mine))

    def hand_tuned():
        books = mine.select_related("publisher").prefetch_related("chapters")
        return Author.objects.order_by("id").prefetch_related(Prefetch("books", queryset=books))

    djust, tuned = check(n, paths, queryset, hand_tuned, template)
    assert djust == tuned == 3


@pytest.mark.django_db
@pytest.mark.parametrize("n", SIZES)
def test_a_to_attr_inside_a_to_attr(n):
    # Chapters come back linked to their book: its publisher is the one
    # joined for the picked books.
    paths = ("name", "picked.*.title", "picked.*.early.*.title",
             "picked.*.early.*.book.publisher.name")
    template = ("{% for a in authors %}{% for b in a.picked %}{{ b.title }}:{% for c in b.early %}"
                "{{ c.title }}/{{ c.book.publisher.name }}{% endfor %};{% endfor %}|{% endfor %}")
    first = Chapter.objects.filter(number=1)

    def queryset():
        books = Book.objects.filter(pages__gte=100).prefetch_related(
            Prefetch("chapters", queryset=first, to_attr="early"))
        return Author.objects.order_by("id").prefetch_related(
            Prefetch("books", queryset=books, to_attr="picked"))

    def hand_tuned():
        books = Book.objects.filter(pages__gte=100).select_related("publisher").prefetch_related(
            Prefetch("chapters", queryset=first, to_attr="early"))
        return Author.objects.order_by("id").prefetch_related(
            Prefetch("books", queryset=books, to_attr="picked"))

    djust, tuned = check(n, paths, queryset, hand_tuned, template)
    assert djust == tuned == 3


@pytest.mark.django_db
@pytest.mark.parametrize("n", SIZES)
def test_a_to_attr_whose_queryset_already_joins(n):
    def queryset():
        books = Book.objects.filter(pages__gte=100).order_by("-pages").select_related("author")
        return Author.objects.order_by("id").prefetch_related(
            Prefetch("books", queryset=books, to_attr="picked"))

    def hand_tuned():
        books = (Book.objects.filter(pages__gte=100).order_by("-pages")
                 .select_related("author", "publisher").prefetch_related("chapters"))
        return Author.objects.order_by("id").prefetch_related(
            Prefetch("books", queryset=books, to_attr="picked"))

    djust, tuned = check(n, PICKED, queryset, hand_tuned, PICKED_TEMPLATE)
    assert djust == tuned == 3


@pytest.mark.django_db
@pytest.mark.parametrize("n", SIZES)
def test_the_same_relation_under_two_to_attr_names(n):
    paths = (*PICKED, "thin.*.title", "thin.*.publisher.name", "thin.*.chapters.count")
    template = PICKED_TEMPLATE + (
        "{% for a in authors %}{% for b in a.thin %}{{ b.title }}/{{ b.publisher.name }}/"
        "{{ b.chapters.count }}{% endfor %}{% endfor %}")

    def queryset():
        thin = Prefetch("books", queryset=Book.objects.filter(pages__lt=100), to_attr="thin")
        return authors_picking().prefetch_related(thin)

    def hand_tuned():
        thin = Book.objects.filter(pages__lt=100).select_related("publisher").prefetch_related(
            "chapters")
        return hand_tuned_picking().prefetch_related(
            Prefetch("books", queryset=thin, to_attr="thin"))

    djust, tuned = check(n, paths, queryset, hand_tuned, template)
    assert djust == tuned == 5


@pytest.mark.django_db
@pytest.mark.parametrize("n", SIZES)
def test_a_to_attr_without_a_queryset(n):
    def queryset():
        return Author.objects.order_by("id").prefetch_related(
            Prefetch("books", to_attr="picked"))

    def hand_tuned():
        books = Book.objects.select_related("publisher").prefetch_related("chapters")
        return Author.objects.order_by("id").prefetch_related(
            Prefetch("books", queryset=books, to_attr="picked"))

    djust, tuned = check(n, PICKED, queryset, hand_tuned, PICKED_TEMPLATE)
    assert djust == tuned == 3


@pytest.mark.django_db
@pytest.mark.parametrize("to_attr", ["name", "initials", "books", "biography"])
def test_a_to_attr_colliding_with_the_model_behaves_as_in_django(to_attr):
    # Django skips a to_attr the instance already answers (a field, a
    # property, a related manager) and raises ValueError for a field it does
    # not answer (a missing reverse one-to-one); djust neither plans such a
    # name as a list nor touches that Prefetch.
    library(2)
    paths = ("name", "initials", "books.all.*.title", f"{to_attr}.*.title")

    def queryset():
        return Author.objects.prefetch_related(Prefetch("books", to_attr=to_attr))

    serializer = compile_serializer(Author, paths)
    try:
        expected = [reference_json(a, paths) for a in queryset()]
    except ValueError as django_error:
        with pytest.raises(ValueError, match=str(django_error)):
            serializer.many(queryset())
        return
    assert to_attr != "biography"
    assert serializer.many(queryset()) == expected


# ------------------------------------------------------ combined querysets

COMBINED = ("name", "user.username", "books.all.*.title", "books.all.*.publisher.name")
COMBINED_TEMPLATE = (
    "{% for a in authors %}{{ a.name }}/{{ a.user.username }}:{% for b in a.books.all %}"
    "{{ b.title }}/{{ b.publisher.name }};{% endfor %}|{% endfor %}")


def with_users():
    from django.contrib.auth.models import User

    for author in Author.objects.all():
        author.user = User.objects.create(username=f"u-{author.pk}")
        author.save()


def tuned_rows(queryset):
    rows = list(queryset)
    prefetch_related_objects(rows, "user", Prefetch(
        "books", queryset=Book.objects.select_related("publisher")))
    return rows


def unordered(**filters):
    # Author is ordered by name: SQLite refuses ORDER BY inside a compound query.
    return Author.objects.filter(**filters).order_by()


COMBINATIONS = {
    "union": lambda: unordered(name__lt="Author 002").union(
        unordered(name__gte="Author 002")).order_by("-name"),
    "intersection": lambda: unordered(name__lt="Author 002").intersection(unordered()),
    "difference": lambda: unordered().difference(
        unordered(name="Author 001")).order_by("name"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
def test_combined_querysets_load_the_relations_of_their_rows(n, combination):
    queryset = COMBINATIONS[combination]
    library(n)
    with_users()
    _, tuned = counted(lambda: tuned_rows(queryset()))
    expected_page = rendered(COMBINED_TEMPLATE, "authors", list(queryset()))
    expected = [reference_json(a, COMBINED) for a in queryset()]
    for mode in ("json", "python"):
        serializer = compile_serializer(Author, COMBINED, mode=mode)
        output, queries = counted(lambda s=serializer: s.many(queryset()))
        assert queries == tuned == 3
        if mode == "json":
            assert output == expected
        else:
            assert rendered(COMBINED_TEMPLATE, "authors", output) == expected_page


@pytest.mark.django_db
def test_an_evaluated_union_is_read_as_it_is():
    library(4)
    with_users()
    union = COMBINATIONS["union"]()
    rows = list(union)
    serializer = compile_serializer(Author, COMBINED)
    output, queries = counted(lambda: serializer.many(union))
    assert queries == 2  # users and books; the rows are the ones fetched
    assert [row["name"] for row in output] == [row.name for row in rows]
    assert union._result_cache == rows


@pytest.mark.django_db
def test_an_unevaluated_union_stays_unevaluated():
    library(3)
    union = COMBINATIONS["union"]()
    compile_serializer(Author, COMBINED).many(union)
    assert union._result_cache is None


@pytest.mark.django_db
@pytest.mark.parametrize("n", SIZES)
def test_a_union_carrying_a_to_attr_prefetch_reads_through_it(n):
    library(n)

    def queryset():
        return authors_picking().order_by().union(unordered(name="Author 000")).order_by("name")

    def hand_tuned():
        rows = list(queryset())
        prefetch_related_objects(rows, "picked__publisher", "picked__chapters")
        return rows

    _, tuned = counted(hand_tuned)
    expected = [reference_json(a, PICKED) for a in queryset()]
    output, queries = counted(lambda: compile_serializer(Author, PICKED).many(queryset()))
    assert output == expected
    assert queries == tuned == 4


@pytest.mark.django_db
def test_empty_and_values_querysets():
    library(3)
    serializer = compile_serializer(Author, COMBINED)
    for empty in (Author.objects.none(), Author.objects.none().union(Author.objects.none()),
                  unordered(name="nobody").union(unordered(name="nobody either"))):
        output, queries = counted(lambda e=empty: serializer.many(e))
        assert output == []
        assert queries <= 1
    # Rows that are not instances are left to the generic path, as before.
    values = unordered().values("name").union(unordered().values("name")).order_by("name")
    assert list(serialize_value(values, ["*.name"], mode="json")) == [
        {"name": row["name"]} for row in values]


# ------------------------------------------------------------- the page


class Picking(LiveView):
    template = f"<main dj-root>{PICKED_TEMPLATE}</main>"

    def mount(self, request, **kwargs):
        self.authors = authors_picking()


class PickingNoJit(Picking):
    jit = False


class Combined(LiveView):
    template = f"<main dj-root>{COMBINED_TEMPLATE}</main>"

    def mount(self, request, **kwargs):
        self.authors = COMBINATIONS["union"]()


class CombinedNoJit(Combined):
    jit = False


urlpatterns = [
    path("picking/", Picking.as_view()), path("picking-nojit/", PickingNoJit.as_view()),
    path("combined/", Combined.as_view()), path("combined-nojit/", CombinedNoJit.as_view()),
]


def page_queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        content = client.get(url).content.decode()
    return content, len([q for q in captured.captured_queries if "testapp_" in q["sql"]
                         or "auth_user" in q["sql"]])


@pytest.mark.django_db
@pytest.mark.urls(__name__)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize(("url", "djust_queries"), [("picking", 3), ("combined", 3)])
def test_pages_render_like_django_in_constant_queries(n, url, djust_queries):
    library(n)
    with_users()
    client = Client()
    page, queries = page_queries(client, f"/{url}/")
    live, _ = page_queries(client, f"/{url}-nojit/")
    assert root_inner_html(page) == root_inner_html(live)
    assert "Book 0-" in page
    assert queries == djust_queries


# --------------------------------------- the user's lookups reaching deeper


@pytest.mark.django_db
@pytest.mark.parametrize("n", SIZES)
def test_a_prefetch_reaching_into_rows_the_plan_prefetches_keeps_its_rows(n):
    # ``books__chapters`` with a queryset of the user's, while the plan
    # prefetches ``books``: the chapters are the user's, their book's
    # publisher joined in the user's queryset.
    paths = ("name", "books.all.*.title", "books.all.*.chapters.all.*.title",
             "books.all.*.chapters.all.*.book.publisher.name")
    template = ("{% for a in authors %}{% for b in a.books.all %}{{ b.title }}:"
                "{% for c in b.chapters.all %}{{ c.title }}/{{ c.book.publisher.name }}"
                "{% endfor %};{% endfor %}|{% endfor %}")
    first = Chapter.objects.filter(number=1)

    def queryset():
        return Author.objects.order_by("id").prefetch_related(
            Prefetch("books__chapters", queryset=first))

    def hand_tuned():
        return Author.objects.order_by("id").prefetch_related(
            Prefetch("books", queryset=Book.objects.select_related("publisher")),
            Prefetch("books__chapters", queryset=first))

    djust, tuned = check(n, paths, queryset, hand_tuned, template)
    assert djust == tuned == 3


@pytest.mark.django_db
@pytest.mark.parametrize("n", SIZES)
def test_a_to_attr_filled_from_the_root_through_another_list(n):
    # ``picked__early`` on the root: Django fills it after ``picked``.
    paths = ("picked.*.title", "picked.*.early.*.title", "picked.*.early.*.book.publisher.name")
    template = ("{% for a in authors %}{% for b in a.picked %}{{ b.title }}:{% for c in b.early %}"
                "{{ c.title }}/{{ c.book.publisher.name }}{% endfor %};{% endfor %}|{% endfor %}")
    first = Chapter.objects.filter(number=1)

    def queryset():
        return authors_picking().prefetch_related(
            Prefetch("picked__chapters", queryset=first, to_attr="early"))

    def hand_tuned():
        books = Book.objects.filter(pages__gte=100).order_by("-pages").select_related("publisher")
        return Author.objects.order_by("id").prefetch_related(
            Prefetch("books", queryset=books, to_attr="picked"),
            Prefetch("picked__chapters", queryset=first, to_attr="early"))

    djust, tuned = check(n, paths, queryset, hand_tuned, template)
    assert djust == tuned == 3


# ------------------------------------------- other relations and querysets


def books_with_tags_and_comments():
    from django.contrib.contenttypes.models import ContentType

    from tests.testapp.models import Comment, Tag

    tags = [Tag.objects.create(label=f"tag{t}") for t in range(3)]
    book_type = ContentType.objects.get_for_model(Book)
    for book in Book.objects.all():
        book.tags.set(tags[:2])
        Comment.objects.create(content_type=book_type, object_id=book.pk, body=f"on {book.pk}")


def other_lists():
    from tests.testapp.models import BookProxy, Comment, Tag

    return {
        # (model, paths, the view's queryset, the hand-tuned plan's queries);
        # a comment's target is a generic foreign key: one query for its books.
        "sliced": (Author, ("picked.*.title", "picked.*.publisher.name"), lambda: (
            Author.objects.prefetch_related(Prefetch(
                "books", queryset=Book.objects.order_by("-pages")[:2], to_attr="picked"))), 2),
        "many to many": (Book, ("title", "picked.*.label", "picked.*.books.count"), lambda: (
            Book.objects.prefetch_related(Prefetch(
                "tags", queryset=Tag.objects.filter(label__lt="tag1"), to_attr="picked"))), 3),
        "generic relation": (Book, ("title", "picked.*.body", "picked.*.target.title"), lambda: (
            Book.objects.prefetch_related(Prefetch(
                "comments", queryset=Comment.objects.all(), to_attr="picked"))), 3),
        "proxy rows": (Author, ("picked.*.shouted_title", "picked.*.publisher.name"), lambda: (
            Author.objects.prefetch_related(Prefetch(
                "books", queryset=BookProxy.objects.all(), to_attr="picked"))), 2),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("case", ["sliced", "many to many", "generic relation", "proxy rows"])
def test_other_to_attr_lists_are_read_through(n, case):
    model, paths, queryset, tuned = other_lists()[case]
    library(n)
    books_with_tags_and_comments()
    expected = [reference_json(row, paths) for row in queryset()]
    output, queries = counted(lambda: compile_serializer(model, paths).many(queryset()))
    assert output == expected
    assert queries == tuned


@pytest.mark.django_db
@pytest.mark.parametrize("n", SIZES)
def test_a_list_of_instances_is_read_through_the_lists_its_rows_carry(n):
    # The lookups are gone: djust finds the lists on the rows themselves.
    library(n)
    paths = ["*.name", "*.picked.*.title", "*.picked.*.publisher.name",
             "*.picked.*.chapters.all.*.title"]
    expected = [reference_json(a, PICKED) for a in authors_picking()]
    rows = list(authors_picking())
    tuned_rows = list(authors_picking())
    _, tuned = counted(lambda: prefetch_related_objects(
        tuned_rows, "picked__publisher", "picked__chapters"))
    output, queries = counted(lambda: serialize_value(rows, paths, mode="json"))
    assert list(output) == expected
    assert queries == tuned == 2


@pytest.mark.django_db
@pytest.mark.parametrize("n", SIZES)
def test_a_to_attr_list_on_a_joined_row(n):
    # ``author__books`` into ``siblings``: the author is joined, its list
    # planned, and each sibling's author is the row it came from.
    library(n)
    paths = ("title", "author.name", "author.siblings.*.title", "author.siblings.*.author.name",
             "author.siblings.*.publisher.name")

    def queryset():
        return Book.objects.prefetch_related(Prefetch(
            "author__books", queryset=Book.objects.filter(pages__gte=100), to_attr="siblings"))

    def hand_tuned():
        siblings = Book.objects.filter(pages__gte=100).select_related("publisher")
        return Book.objects.select_related("author").prefetch_related(
            Prefetch("author__books", queryset=siblings, to_attr="siblings"))

    expected = [reference_json(book, paths) for book in queryset()]
    _, tuned = counted(lambda: [reference_json(book, paths) for book in hand_tuned()])
    output, queries = counted(lambda: compile_serializer(Book, paths).many(queryset()))
    assert output == expected
    assert queries == tuned == 2


@pytest.mark.django_db
@pytest.mark.parametrize("n", SIZES)
def test_rows_whose_relation_is_loaded_get_what_is_read_below_it(n):
    # The view prefetched ``books`` itself: the chapters read below them
    # are loaded through those books, not skipped with djust's own Prefetch.
    library(n)
    paths = ["*.name", "*.books.all.*.title", "*.books.all.*.chapters.all.*.title"]
    rows = list(Author.objects.prefetch_related("books"))
    tuned_rows = list(Author.objects.prefetch_related("books"))
    _, tuned = counted(lambda: prefetch_related_objects(tuned_rows, "books__chapters"))
    expected = [reference_json(a, [p[2:] for p in paths]) for a in tuned_rows]
    output, queries = counted(lambda: serialize_value(rows, paths, mode="json"))
    assert list(output) == expected
    assert queries == tuned == 1


@pytest.mark.django_db
@pytest.mark.parametrize("n", SIZES)
def test_a_union_carrying_a_plain_prefetch_loads_below_it_once(n):
    library(n)
    paths = ("name", "books.all.*.title", "books.all.*.chapters.all.*.title")

    def queryset():
        return unordered().prefetch_related("books").union(unordered(name="nobody"))

    def hand_tuned():
        rows = list(queryset())
        prefetch_related_objects(rows, "books__chapters")
        return rows

    _, tuned = counted(hand_tuned)
    expected = [reference_json(a, paths) for a in queryset()]
    output, queries = counted(lambda: compile_serializer(Author, paths).many(queryset()))
    assert output == expected
    assert queries == tuned == 3
