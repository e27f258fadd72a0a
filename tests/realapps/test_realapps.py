"""Two real apps from the package index, django-todo and
django-organizations, through the test client: their own models, views,
templates and URLs. Each page below reads a relation per row in its
template (an N+1): without djust its query count grows with the rows; with
``DjustTemplates`` it stays the same at both sizes, is lower at the larger
one, and the HTML is the same to the byte (CSRF tokens aside: Django masks
each one differently)."""

from __future__ import annotations

import difflib
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.realapps.conftest import QUERY_COUNTS, djust_backend_missing, require
from tests.realapps.settings import DJUST_BACKEND, PLAIN_BACKEND, templates

SMALL, LARGE = 5, 25

PAGES = [
    ("todo", "lists"),          # regroup by task_list.group; task_list.task_set.count
    ("todo", "list_detail"),    # task.created_by; task.assigned_to.all (twice)
    ("todo", "mine"),           # same template, tasks across lists
    # {% organization_users org %}: an inclusion tag whose function builds the
    # rows (org.organization_users.all()); str(row) and get_absolute_url read
    # .user and .organization.
    ("organizations", "detail"),
    ("organizations", "people"),
]

# Text each listed row shows once (lower-cased page): the page lists every row.
ROW_MARKER = {
    "lists": "list ",
    "list_detail": "main task",
    "mine": "side task",
    "detail": "(acme rentals)",
    "people": "(acme rentals)",
}

def djust_params():
    for app, page in PAGES:
        yield pytest.param((app, page), id=f"{app}-{page}")


CSRF_TOKEN = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]+(")')

needs_djust = pytest.mark.skipif(
    djust_backend_missing(), reason="djust.template.backends not built yet"
)


def normalise(html: str) -> str:
    return CSRF_TOKEN.sub(r"\1<csrf>\2", html)


@pytest.fixture
def world(request, settings, client):
    app, _page = request.param
    require(app)
    from tests.realapps.factories import WORLDS

    settings.ROOT_URLCONF = "tests.realapps.urls"
    made = WORLDS[app]()
    client.force_login(made.owner)
    return made


def fetch(client, settings, backend: str, url: str) -> tuple[int, str]:
    """The steady-state queries of one GET and its HTML: a first GET fills
    the per-process caches (compiled templates, their extraction, Site and
    ContentType caches), the second is measured."""
    settings.TEMPLATES = templates(backend)
    assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries), normalise(response.content.decode())


def record(app: str, page: str, backend: str, rows: int, queries: int) -> None:
    QUERY_COUNTS.setdefault((app, page, backend), {})[rows] = queries


def assert_same_html(expected: str, actual: str, url: str) -> None:
    if expected != actual:
        diff = "\n".join(difflib.unified_diff(
            expected.splitlines(), actual.splitlines(), "DjangoTemplates", "DjustTemplates",
            lineterm="", n=2,
        ))
        pytest.fail(f"{url}: the HTML differs between the backends:\n{diff[:4000]}")


@pytest.mark.django_db
@pytest.mark.parametrize("world", PAGES, indirect=True, ids=[f"{a}-{p}" for a, p in PAGES])
def test_plain_backend_queries_grow_with_rows(world, client, settings, request):
    app, page = request.node.callspec.params["world"]
    counts = {}
    for rows in (SMALL, LARGE):
        url = world.grow_to(rows).pages()[page]
        counts[rows], html = fetch(client, settings, PLAIN_BACKEND, url)
        assert html.lower().count(ROW_MARKER[page]) >= rows, "the page lists every row"
        record(app, page, "DjangoTemplates", rows, counts[rows])
    assert counts[LARGE] > counts[SMALL], f"no N+1 on {app} {page}: {counts}"


@needs_djust
@pytest.mark.django_db
@pytest.mark.parametrize("world", list(djust_params()), indirect=True)
def test_djust_backend_constant_queries_same_html(world, client, settings, request):
    app, page = request.node.callspec.params["world"]
    plain, djust = {}, {}
    for rows in (SMALL, LARGE):
        url = world.grow_to(rows).pages()[page]
        plain[rows], plain_html = fetch(client, settings, PLAIN_BACKEND, url)
        djust[rows], djust_html = fetch(client, settings, DJUST_BACKEND, url)
        record(app, page, "DjangoTemplates", rows, plain[rows])
        record(app, page, "DjustTemplates", rows, djust[rows])
        assert_same_html(plain_html, djust_html, url)
    assert djust[SMALL] == djust[LARGE], f"{app} {page}: djust's queries grow: {djust}"
    assert djust[LARGE] < plain[LARGE], (
        f"{app} {page}: djust {djust[LARGE]} queries, Django {plain[LARGE]}"
    )

