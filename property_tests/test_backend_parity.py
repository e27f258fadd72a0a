"""The template backend renders Django's page (issue #19): for generated
templates over the fuzzing schema and for every idiom class of issue #17,
``DjustTemplates`` renders exactly what ``DjangoTemplates`` renders (the
HTML, or the type of the exception), from the same live context, in no
more queries than Django when every planned relation is read."""

from __future__ import annotations

import pytest
from django.db import connection
from django.template import engines
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st

from property_tests import idioms as I
from property_tests import strategies as S
from property_tests.fuzzapp import models as fz
from property_tests.rendering import world_of
from property_tests.test_render_parity import templates

DJANGO = "django.template.backends.django.DjangoTemplates"
DJUST = "djust.template.backends.DjustTemplates"


def through(backend: str, source: str, context_of) -> tuple[tuple[str, str], int]:
    """(outcome, queries) of ``source`` rendered by ``backend``."""
    with override_settings(TEMPLATES=[{"NAME": "django", "BACKEND": backend,
                                       "APP_DIRS": True}]):
        template = engines["django"].from_string(source)
        context = context_of()
        with CaptureQueriesContext(connection) as captured:
            try:
                result = ("html", template.render(context))
            except Exception as exc:
                result = ("raises", type(exc).__name__)
    return result, len(captured.captured_queries)


@pytest.mark.django_db
@given(spec=S.worlds(max_items=3), source=templates())
def test_generated_templates_render_as_django_renders(spec, source):
    with world_of(spec) as world:
        def live():
            return {"item": fz.Item.objects.get(pk=world.items[0].pk),
                    "items": fz.Item.objects.all()}

        django, _ = through(DJANGO, source, live)
        djust, _ = through(DJUST, source, live)
        assert djust == django, source


@pytest.mark.django_db
@settings(max_examples=max(40, settings().max_examples))
@given(number=st.integers(1, len(I.CLASSES)), data=st.data())
def test_idioms_render_as_django_renders(number, data):
    world, shape, source = data.draw(I.class_cases(number))
    with I.rows_of(world) as pks:
        django, _ = through(DJANGO, source, lambda: I.live_context(pks, world, shape))
        djust, _ = through(DJUST, source, lambda: I.live_context(pks, world, shape))
    assert djust == django, source
