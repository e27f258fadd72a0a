"""The hook of ``scripts/django_template_oracle.py``, on renders made here:
an honest render shows no difference, a planted one is reported (so the
oracle's "zero differences" means something), and a render djust cannot be
handed fairly is counted as not checked instead of compared.
"""

from __future__ import annotations

import pytest
from django.template import Context, Engine, RequestContext

from djust import context as djust_context
from tests.scripts import loaded_script
from tests.testapp.models import Author


@pytest.fixture(scope="module")
def oracle_module():
    with loaded_script("scripts/django_template_oracle.py", "django_template_oracle") as module:
        yield module


@pytest.fixture
def oracle(oracle_module):
    with oracle_module.Oracle().installed() as installed:
        yield installed


def engine(**templates: str) -> Engine:
    return Engine(loaders=[("django.template.loaders.locmem.Loader", templates)])


def plant(monkeypatch, name: str, value) -> None:
    """serialize_context, but ``name`` comes out as ``value``."""
    honest = djust_context.serialize_context

    def planted(extraction, context, **options):
        return {**honest(extraction, context, **options), name: value}

    monkeypatch.setattr(djust_context, "serialize_context", planted)


class Loud:
    def method(self):
        raise ValueError("not silenced by the template engine")


def test_an_honest_render_shows_no_difference(oracle):
    pages = engine(page="{{ title }}: {% include 'part' %}", part="{{ who|upper }}")
    output = pages.render_to_string("page", {"title": "T", "who": "w", "unread": 1})
    assert output == "T: W"
    # The include is part of the page's render, not a second check.
    assert oracle.tally.checked == 1
    assert oracle.tally.differences == []
    assert oracle.tally.not_checked == {}


def test_a_planted_difference_is_reported_and_the_test_sees_django_s_output(
        oracle, monkeypatch):
    plant(monkeypatch, "title", "wrong")
    pages = engine(page="{{ title }}!")
    assert pages.render_to_string("page", {"title": "T"}) == "T!"
    [difference] = oracle.tally.differences
    assert (difference.template, difference.source) == ("page", "{{ title }}!")
    assert (difference.django, difference.djust) == ("'T!'", "'wrong!'")
    assert difference.context == "{'title': 'T'}"


def test_an_exception_only_django_raises_is_a_difference_and_still_raised(
        oracle, monkeypatch):
    plant(monkeypatch, "item", "calm")
    template = engine().from_string("{{ item.method }}")
    with pytest.raises(ValueError, match="not silenced"):
        template.render(Context({"item": Loud()}))
    [difference] = oracle.tally.differences
    assert difference.django.startswith("raised ValueError")
    assert difference.djust == "''"


@pytest.mark.django_db
def test_model_data_is_serialized_and_renders_the_same(oracle):
    for name in ("Ann", "Bob"):
        Author.objects.create(name=name)
    source = "{% for a in authors %}{{ a.name }} {{ a.initials }},{% endfor %}{{ authors.count }}"
    output = engine().from_string(source).render(Context({"authors": Author.objects.all()}))
    assert output == "Ann A,Bob B,2"
    assert oracle.tally.checked == 1
    assert oracle.tally.serialized == 1
    assert oracle.tally.differences == []


def test_a_one_shot_iterator_is_not_checked(oracle):
    template = engine().from_string("{% for x in xs %}{{ x }}{% endfor %}")
    assert template.render(Context({"xs": iter(range(3))})) == "012"
    assert oracle.tally.checked == 0
    assert list(oracle.tally.not_checked) == ["the context holds a one-shot iterator"]


def test_a_template_that_renders_differently_twice_is_not_checked(oracle):
    counter = iter(range(10))
    template = engine().from_string("{{ tick }}")
    assert template.render(Context({"tick": lambda: next(counter)})) == "0"
    assert oracle.tally.checked == 0
    assert oracle.tally.differences == []
    [reason] = oracle.tally.not_checked
    assert reason.startswith("Django's own output differs")


def test_a_request_context_keeps_its_request_and_processors(oracle, rf):
    def shout(request):
        return {"shout": request.path.upper()}

    template = engine().from_string("{{ title }} {{ shout }}")
    context = RequestContext(rf.get("/here/"), {"title": "T"}, processors=[shout])
    assert template.render(context) == "T /HERE/"
    assert oracle.tally.checked == 1
    assert oracle.tally.differences == []


@pytest.mark.parametrize(("code", "failures", "differences", "expected"), [
    (0, 0, 0, 0),
    (0, 0, 1, 1),  # a difference fails the run
    (1, 1, 0, 1),  # so does a failing Django test
])
def test_the_run_fails_on_a_difference_or_a_failing_django_test(
        oracle_module, code, failures, differences, expected):
    counts = oracle_module.RunnerResult(run=10, failures=failures)
    tally = oracle_module.Tally(differences=[None] * differences)
    assert oracle_module.judge(code, counts, tally) == expected


def test_a_run_of_no_tests_fails(oracle_module):
    assert oracle_module.judge(0, oracle_module.RunnerResult(), oracle_module.Tally()) == 1
