"""The compiler's side of a shared store: whatever is registered is asked,
on an in-process cache miss only, and nothing is asked when none is."""

import pytest

from djust.compiler import compile_serializer, shared
from djust.compiler.cache import default_cache
from djust.compiler.extraction import cache_clear, extract_template_variables
from examples.rentals.models import Unit


class Recording:
    """A shared store that builds everything itself and notes each question."""

    def __init__(self):
        self.questions = []

    def serializer(self, model, tree, paths, mode, compile):
        self.questions.append(("serializer", model, paths, mode, tree.dump()))
        return compile()

    def extraction(self, engine, *, how, label, source, root_origin, walk):
        self.questions.append(("extraction", how, label, source))
        return walk()


@pytest.fixture
def registered():
    previous = shared.registered()
    recording = Recording()
    shared.register(recording)
    cache_clear()
    default_cache().clear()
    yield recording
    shared.register(previous)
    cache_clear()
    default_cache().clear()


def test_the_registered_store_is_asked_once_per_serializer(registered):
    first = compile_serializer(Unit, ["number", "property.name"])
    assert compile_serializer(Unit, ["property.name", "number"]) is first
    [question] = registered.questions
    assert question[:4] == ("serializer", Unit, ("number", "property.name"), "json")
    assert question[4] == first.tree.dump()


def test_the_registered_store_is_asked_once_per_template(registered):
    first = extract_template_variables("{{ a.b }}", name="shared.html")
    assert extract_template_variables("{{ a.b }}", name="shared.html") is first
    assert registered.questions == [("extraction", "source", "shared.html", "{{ a.b }}")]


def test_without_a_registered_store_everything_is_built_here(registered):
    shared.register(None)
    assert shared.registered() is None
    serializer = compile_serializer(Unit, ["number"])
    assert serializer(Unit(number="4B")) == {"number": "4B"}
    assert dict(extract_template_variables("{{ c.d }}")) == {"c": ("d",)}
    assert registered.questions == []


def test_a_store_answers_the_protocol():
    assert isinstance(Recording(), shared.SharedStore)
    assert not isinstance(object(), shared.SharedStore)
