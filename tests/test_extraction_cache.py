"""The extraction cache's cheap checks: a hit re-reads nothing the cached
loader still holds, and still notices every edit."""

import threading
import time

import pytest
from django.template import Engine

from djust.compiler import extraction as extraction_module
from djust.compiler.extraction import (
    extract_template_variables,
    extract_template_variables_from_name,
    loading,
)

CACHED_LOADER = [
    ("django.template.loaders.cached.Loader", ["django.template.loaders.filesystem.Loader"])
]


@pytest.fixture(autouse=True)
def empty_cache():
    extraction_module.cache_clear()
    yield
    extraction_module.cache_clear()


@pytest.fixture
def chain(tmp_path):
    """A page extending a base and including a row, behind Django's cached loader."""
    (tmp_path / "row.html").write_text("{{ row.one }}")
    (tmp_path / "base.html").write_text("{% block body %}{% endblock %}{{ site.name }}")
    (tmp_path / "page.html").write_text(
        '{% extends "base.html" %}{% block body %}'
        '{% for row in rows %}{% include "row.html" %}{% endfor %}{% endblock %}'
    )
    engine = Engine(dirs=[tmp_path], loaders=CACHED_LOADER)
    return engine, tmp_path


@pytest.fixture
def digests(monkeypatch):
    """Count the content hashes the extraction computes."""
    calls = []
    real = loading._digest

    def counting(source):
        calls.append(source)
        return real(source)

    monkeypatch.setattr(loading, "_digest", counting)
    return calls


def test_a_hit_through_the_cached_loader_hashes_nothing(chain, digests):
    engine, _ = chain
    first = extract_template_variables_from_name("page.html", engine=engine)
    assert dict(first) == {"rows": ("*.one",), "site": ("name",)}
    hashed_by_the_walk = len(digests)
    assert hashed_by_the_walk == 2  # base and row, once each
    assert extract_template_variables_from_name("page.html", engine=engine) is first
    assert len(digests) == hashed_by_the_walk


def test_a_reloaded_template_with_the_same_content_is_still_a_hit(chain, digests):
    engine, _ = chain
    first = extract_template_variables_from_name("page.html", engine=engine)
    for loader in engine.template_loaders:
        loader.reset()  # what autoreload does; the objects are new, the files are not
    before = len(digests)
    assert extract_template_variables_from_name("page.html", engine=engine) is first
    assert len(digests) > before  # new objects: their content was compared


def test_an_edit_the_loader_picks_up_is_re_extracted(chain):
    engine, directory = chain
    source = '{% extends "base.html" %}{% block body %}{% include "row.html" %}{% endblock %}'
    first = extract_template_variables(source, engine=engine)
    assert dict(first) == {"row": ("one",), "site": ("name",)}
    (directory / "row.html").write_text("{{ row.two }}")
    # Until the loader is reset it serves the old row, and so does the cache.
    assert extract_template_variables(source, engine=engine) is first
    for loader in engine.template_loaders:
        loader.reset()
    assert dict(extract_template_variables(source, engine=engine)) == {
        "row": ("two",), "site": ("name",)
    }


def test_equal_sources_share_one_entry():
    source = "{% for l in leases %}{{ l.unit.number }}{% endfor %}"
    first = extract_template_variables(source, name="same.html")
    copy = "".join(list(source))  # an equal string, another object
    assert copy is not source
    assert extract_template_variables(copy, name="same.html") is first


def test_a_dependency_without_weak_references_is_compared_by_content(chain, digests):
    engine, _ = chain
    template = engine.get_template("row.html")
    dependency = extraction_module.Dependency.of("row.html", None, template)
    assert dependency.template() is template
    plain = extraction_module.Dependency("row.html", None, dependency.digest)
    assert plain == dependency  # the reference is not part of the record's identity
    before = len(digests)
    assert plain.still_same(engine)
    assert len(digests) == before + 1
    assert dependency.still_same(engine)
    assert len(digests) == before + 1


def test_nested_blocks_overridden_at_each_level():
    engine = Engine(loaders=[("django.template.loaders.locmem.Loader", {
        "base.html": "{% block outer %}<{% block inner %}{{ base.inner }}{% endblock %}>"
                     "{{ base.outer }}{% endblock %}",
        "middle.html": '{% extends "base.html" %}'
                       "{% block outer %}{{ middle.outer }}{{ block.super }}{% endblock %}",
        "page.html": '{% extends "middle.html" %}'
                     "{% block inner %}{{ page.inner }} {{ block.super }}{% endblock %}",
    })])
    extraction = extract_template_variables_from_name("page.html", engine=engine)
    assert dict(extraction) == {
        "base": ("inner", "outer"), "middle": ("outer",), "page": ("inner",)
    }


def test_plain_variables_literals_and_block_super():
    source = (
        '{{ "text" }} {{ 12 }} {{ _("hi") }} {{ True }} {{ a.b.c }} '
        "{% with x=d.e %}{{ x }}{{ x.f }}{% endwith %}"
        "{% for i in items %}{{ forloop.counter }}{{ i }}{% endfor %}"
    )
    assert extract_template_variables(source).as_dict() == {
        "a": ["b.c"], "d": ["e", "e.f"], "items": ["*"],
    }


def test_two_threads_extracting_one_template_walk_it_once(monkeypatch):
    real = extraction_module._walk_or_load
    walks = []
    entered = threading.Event()
    release = threading.Event()

    def slow(*args):
        walks.append(args[2])
        entered.set()
        release.wait(5)
        return real(*args)

    monkeypatch.setattr(extraction_module, "_walk_or_load", slow)
    results = []

    def extract():
        results.append(extract_template_variables("{{ x.y }}", name="twice.html"))

    first = threading.Thread(target=extract)
    first.start()
    assert entered.wait(5)
    second = threading.Thread(target=extract)
    second.start()
    time.sleep(0.05)  # time for the second thread to find the walk under way
    release.set()
    first.join(5)
    second.join(5)
    assert walks == ["twice.html"]
    assert len(results) == 2 and results[0] is results[1]
