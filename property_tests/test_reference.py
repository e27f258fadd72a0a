"""The reference itself is right: rendering it equals rendering live rows.

For every generated path, ``{{ root.path }}`` (``*`` as nested loops)
rendered on the live row must equal the same template rendered on the
python-mode reference, except where the docs deliberately hide a value
(sensitive names). This proves the reference before the compiler is held
to it.
"""

from __future__ import annotations

import datetime
import decimal

import pytest
from django.db.models import Prefetch
from django.test.utils import override_settings
from hypothesis import given
from hypothesis import strategies as st

from property_tests import reference as ref
from property_tests import strategies as S
from property_tests.fuzzapp import models as fz
from property_tests.rendering import render, template_for_path, world_of

SENSITIVE = {"password", "ssn", "get_session_auth_hash"}
LOUD = {"loud_property", "loud_method"}


def _comparable(paths):
    """Paths whose rendering the reference must reproduce exactly.

    Sensitive names are hidden on purpose, so their paths are left out.
    """
    return [p for p in paths if not SENSITIVE & set(p.split("."))]


def _check_rendering(instance, paths):
    python = ref.reference_python(instance, paths)
    for p in _comparable(paths):
        source = template_for_path("root", p)
        live = render(source, {"root": instance})
        assert render(source, {"root": python}) == live, (p, source)


@pytest.mark.django_db
@given(spec=S.worlds(max_items=2), data=st.data())
def test_reference_renders_like_live_items(spec, data):
    with world_of(spec) as world:
        model = data.draw(st.sampled_from(["Item", "SpecialItem"]), label="root model")
        paths = data.draw(S.paths_for(model), label="paths")
        rows = S.MODELS[model].objects.filter(pk__in=[i.pk for i in world.items])
        for instance in rows:
            _check_rendering(instance, paths)


@pytest.mark.django_db
@given(spec=S.worlds(max_items=2), data=st.data())
def test_reference_renders_like_live_other_models(spec, data):
    with world_of(spec):
        model = data.draw(st.sampled_from(["Owner", "Comment", "Group", "Tag", "Note"]),
                          label="root model")
        paths = data.draw(S.paths_for(model), label="paths")
        for instance in S.MODELS[model].objects.all()[:3]:
            _check_rendering(instance, paths)


@pytest.mark.django_db
def test_reference_hides_sensitive_names_the_template_would_show():
    owner = fz.Owner.objects.create(username="ann", password="md5$x$y", ssn="123-45")
    paths = ["username", "password", "ssn", "masked_ssn"]
    assert render("{{ o.password }}|{{ o.ssn }}", {"o": owner}) == "md5$x$y|123-45"
    assert ref.reference_json(owner, paths) == {"username": "ann", "masked_ssn": "***45"}
    with override_settings(DJUST={"SENSITIVE_FIELDS": ["username"]}):
        assert ref.reference_json(owner, paths) == {"masked_ssn": "***45"}


@pytest.mark.django_db
def test_reference_follows_django_on_failing_lookups():
    owner = fz.Owner.objects.create(username="ann")
    item = fz.Item.objects.create(title="Lamp", owner=owner)
    paths = ["quiet_property", "quiet_method", "scaled", "archive", "nope", "detail.weight",
             "specialitem", "reviewer.username", "shout", "as_callable"]
    expected = {"reviewer": None, "shout": "LAMP", "as_callable": str(item.as_callable)}
    assert ref.reference_json(item, paths) == expected
    for loud in LOUD:
        with pytest.raises(fz.LoudFailure):
            ref.reference_json(item, [loud])
        with pytest.raises(fz.LoudFailure):
            render(f"{{{{ item.{loud} }}}}", {"item": item})


@pytest.mark.django_db
def test_reference_shapes_displayed_and_looked_into_values():
    owner = fz.Owner.objects.create(username="ann")
    item = fz.Item.objects.create(title="Lamp", owner=owner, data={"a": [1, {"b": 2}]})
    tag = fz.Tag.objects.create(name="red")
    item.tags.add(tag)
    item = fz.Item.objects.prefetch_related(Prefetch("tags")).get(pk=item.pk)
    got = ref.reference_python(item, ["", "owner", "owner.username", "tags.all", "data.a.1.b",
                                      "tags.all.*.name", "tags.all.0"])
    assert str(got) == "Lamp by ann" and str(got["owner"]) == "ann"
    assert got["owner"] == {"username": "ann", "__str__": "ann"}
    # A displayed collection displays its elements: they carry "__str__".
    assert got["tags"] == {"all": [{"name": "red", "__str__": "red"}]}
    assert render("{{ t.all|join:',' }}", {"t": got["tags"]}) == "red"
    # A JSONField looked into is kept whole in python mode; the JSON form
    # keeps the dict of what is read: element 0 is never emitted.
    assert got["data"] == {"a": [1, {"b": 2}]}
    assert ref.reference_json(item, ["data.a.1.b"])["data"] == {"a": {"1": {"b": 2}}}


@pytest.mark.django_db
def test_reference_keeps_displayed_and_looked_into_plain_values_in_python_mode():
    owner = fz.Owner.objects.create(username="ann")
    day = datetime.date(2020, 1, 2)
    created = fz.Item.objects.create(title="Lamp", owner=owner, day=day, data={"a": 1})
    item = fz.Item.objects.get(pk=created.pk)  # a Decimal price, as read from the database
    paths = ["day", "day.year", "title", "title.upper", "data", "data.a", "owner", "owner.pk",
             "moment", "moment.year", "price", "price.is_zero"]
    python = ref.reference_python(item, paths)
    assert type(python["day"]) is datetime.date and python["day"] == day
    assert type(python["title"]) is str and python["title"] == "Lamp"
    assert type(python["price"]) is decimal.Decimal
    assert python["moment"] is None
    # A JSONField value is kept whole; a model row becomes a Shown dict.
    assert type(python["data"]) is dict and python["data"] == {"a": 1}
    assert type(python["owner"]) is ref.Shown and str(python["owner"]) == "ann"
    as_json = ref.reference_json(item, paths)
    assert as_json["day"] == {"year": 2020, "__str__": "2020-01-02"}
    assert as_json["title"] == {"upper": "LAMP", "__str__": "Lamp"}
    assert as_json["price"] == {"is_zero": True, "__str__": str(item.price)}
    assert as_json["moment"] is None
    source = "{{ i.day }}|{{ i.day|date:'Y' }}|{{ i.day.year }}|{{ i.title.upper }}|{{ i.price }}"
    assert render(source, {"i": python}) == render(source, {"i": item})


def test_reference_rejects_unknown_modes():
    with pytest.raises(ValueError, match="mode"):
        ref.reference_many([], ["pk"], mode="yaml")


@pytest.mark.django_db
@pytest.mark.parametrize("data", [[], [{"b": 1}, "x"], {"0": "zero"}], ids=["empty", "two", "dict"])
def test_reference_keeps_a_displayed_and_indexed_json_list_a_list(data):
    owner = fz.Owner.objects.create(username="ann")
    created = fz.Item.objects.create(title="Lamp", owner=owner, data=data)
    item = fz.Item.objects.get(pk=created.pk)
    paths = ["data", "data.0", "data.0.b"]
    python = ref.reference_python(item, paths)
    source = "{% if i.data %}yes{% endif %}|{{ i.data }}|{{ i.data.0.b }}"
    if isinstance(data, list):
        # A dict carrying "__str__" has one key more than the live dict
        # (tests/test_regressions.py), so only lists are measured.
        source += "|{{ i.data|length }}"
    assert render(source, {"i": python}) == render(source, {"i": item})
    as_json = ref.reference_json(item, paths)["data"]
    # Python mode keeps the JSONField value whole.
    assert type(python["data"]) is type(data) and python["data"] == data
    if isinstance(data, list):
        assert as_json == [{"b": 1, "__str__": "{'b': 1}"}, "x"][: len(data)]
    else:
        assert as_json == {"0": {"__str__": "zero"}, "__str__": "{'0': 'zero'}"}
