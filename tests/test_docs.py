"""Every code sample in ``docs/`` runs, so the docs cannot drift from the code.

Per Markdown file, in order, in one shared namespace:

- a fenced ``python`` block that contains ``>>>`` prompts runs with
  ``doctest`` (its shown output is asserted); any other ``python`` block is
  executed as it stands;
- a fenced ``html`` block whose first line is ``{# file: NAME #}`` is a
  template the samples load by ``NAME``;
- a fenced ``text`` block right after an ``<!-- explain: ARGS -->`` comment
  is the output of ``python -m djust ARGS`` and must match a real run.

The namespace is a real module, registered while its file runs and used as
``ROOT_URLCONF``, so a page can define ``urlpatterns`` and then request them
with Django's test client. The rentals data is seeded at a small scale first.
"""

from __future__ import annotations

import ast
import doctest
import importlib.util
import io
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

from djust.__main__ import main as djust_main
from djust.compiler import extraction, sensitive
from djust.compiler.cache import default_cache
from examples.rentals.seed import seed

DOCS = Path(__file__).resolve().parent.parent / "docs"
DOC_FILES = sorted(DOCS.glob("*.md"))
FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
TEMPLATE_FILE = re.compile(r"\A\{# file: (?P<name>\S+) #\}\n")
EXPLAIN_MARK = re.compile(r"<!-- explain: (?P<args>[^>]*?) -->\s*\Z")
REQUIRES_MARK = re.compile(r"<!-- requires: (?P<module>[\w.]+) -->\s*\Z")
DOCTEST_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
SEED_SCALE = 0.02


@dataclass(frozen=True)
class Sample:
    """One fenced block of a Markdown file."""

    path: Path
    line: int
    language: str
    body: str
    before: str  # the text between the previous block and this one

    @property
    def label(self) -> str:
        return f"{self.path.name}:{self.line}"


def read_samples(path: Path) -> list[Sample]:
    """The fenced blocks of ``path``, in order.

        >>> [s.language for s in read_samples(DOCS / "index.md")]
        ['python']
    """
    text = path.read_text(encoding="utf-8")
    samples, previous_end = [], 0
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        language = match["info"].strip().split(" ")[0]
        samples.append(Sample(path, line, language, match["body"],
                              text[previous_end:match.start()]))
        previous_end = match.end()
    return samples


def template_files(samples: list[Sample]) -> dict[str, str]:
    """``{template name: source}`` of the ``{# file: NAME #}`` html blocks.

        >>> template_files([Sample(Path("x.md"), 1, "html", "{# file: a.html #}\\nhi", "")])
        {'a.html': '{# file: a.html #}\\nhi'}
    """
    files = {}
    for sample in samples:
        found = TEMPLATE_FILE.match(sample.body) if sample.language == "html" else None
        if found:
            files[found["name"]] = sample.body
    return files


def explain_samples(samples: list[Sample]) -> list[tuple[Sample, list[str]]]:
    """The ``text`` blocks marked as ``explain`` output, with the CLI's arguments.

        >>> explain_samples(read_samples(DOCS / "how-it-works.md"))[0][1][:2]
        ['explain', 'rentals/dashboard.html']
    """
    pairs = []
    for sample in samples:
        mark = EXPLAIN_MARK.search(sample.before)
        if mark and sample.language == "text":
            pairs.append((sample, mark["args"].split()))
    return pairs


def missing_requirements(samples: list[Sample]) -> list[str]:
    """Modules that a ``<!-- requires: MODULE -->`` block needs and that are
    not installed (optional third-party packages a page compares with)."""
    missing = []
    for sample in samples:
        mark = REQUIRES_MARK.search(sample.before)
        if mark and importlib.util.find_spec(mark["module"]) is None:
            missing.append(mark["module"])
    return missing


def run_python(sample: Sample, namespace: dict) -> None:
    """Run one ``python`` block in ``namespace``: as a doctest when it has
    ``>>>`` prompts (failing the test on a mismatch), else with ``exec``.

        >>> run_python(Sample(Path("x.md"), 1, "python", ">>> 1 + 1\\n2\\n", ""), {})
    """
    if ">>>" not in sample.body:
        code = compile(sample.body, sample.label, "exec")
        exec(code, namespace)
        return
    test = doctest.DocTestParser().get_doctest(
        sample.body, namespace, sample.label, str(sample.path), sample.line
    )
    # DocTest copies the namespace; run in the page's own module instead, so
    # that a name it binds (``urlpatterns``) is live while the page runs.
    test.globs = namespace
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=DOCTEST_FLAGS)
    result = runner.run(test, out=report.write, clear_globs=False)
    if result.failed:
        pytest.fail(f"{sample.label}: {result.failed} example(s) failed\n{report.getvalue()}",
                    pytrace=False)


def output_lines(text: str) -> list[str]:
    """``explain`` output as compared: lines without trailing blanks.

    Generated source is laid out by djust's own renderer, the same on every
    Python version, so the whole text is compared, source included.
    """
    return [line.rstrip() for line in text.strip("\n").splitlines()]


@pytest.fixture
def docs_module(settings, tmp_path, request):
    """A fresh module namespace per page, its templates, seeded data and
    clean djust caches (so warnings shown once per process show again)."""
    path = request.param
    name = f"docs_sample_{path.stem.replace('-', '_')}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    samples = read_samples(path)
    for template_name, source in template_files(samples).items():
        target = tmp_path / template_name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source, encoding="utf-8")
    engine = dict(settings.TEMPLATES[0])
    engine["DIRS"] = [tmp_path, *engine["DIRS"]]
    settings.TEMPLATES = [engine]
    settings.ROOT_URLCONF = name
    extraction.cache_clear()
    default_cache().clear()
    sensitive.forget_warnings()
    seed(scale=SEED_SCALE)
    yield module, samples
    sys.modules.pop(name, None)
    default_cache().clear()


@pytest.mark.django_db
@pytest.mark.parametrize("docs_module", DOC_FILES, ids=[p.name for p in DOC_FILES],
                         indirect=True)
def test_python_samples_run(docs_module):
    module, samples = docs_module
    missing = missing_requirements(samples)
    if missing:
        pytest.skip(f"docs/{samples[0].path.name} compares with {', '.join(missing)}, "
                    "which is not installed")
    python = [s for s in samples if s.language == "python"]
    for sample in python:
        run_python(sample, module.__dict__)


@pytest.mark.parametrize("path", DOC_FILES, ids=[p.name for p in DOC_FILES])
def test_explain_output_matches_a_real_run(path, capsys):
    for sample, args in explain_samples(read_samples(path)):
        capsys.readouterr()
        assert djust_main(args) == 0
        assert output_lines(sample.body) == output_lines(capsys.readouterr().out), sample.label


def test_the_docs_have_samples_of_every_kind():
    samples = [s for path in DOC_FILES for s in read_samples(path)]
    assert sum(s.language == "python" for s in samples) >= 20
    assert any(">>>" in s.body for s in samples)
    assert any(explain_samples([s]) for s in samples)
    assert template_files(samples)


def test_docs_name_no_machine_path():
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(?<![\w.])(?:~|/home|/root|/tmp|/Users)/", text), path.name


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings.

        >>> heading_anchors("## LiveView events (HTTP 400)")
        {'liveview-events-http-400'}
    """
    text = FENCE.sub("", text)
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", text, re.M):
        anchors.add(re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"))
    return anchors


def test_links_point_at_files_and_headings():
    for path in DOC_FILES:
        text = path.read_text("utf-8")
        for target, anchor in re.findall(r"\]\((?!https?:)([^)#\s]*)(?:#([^)\s]+))?\)", text):
            linked = path.parent / target if target else path
            assert linked.exists(), f"{path.name} links to {target}"
            if anchor and linked.suffix == ".md":
                anchors = heading_anchors(linked.read_text("utf-8"))
                assert anchor in anchors, f"{path.name} links to {target}#{anchor}"


def section(text: str, heading: str) -> str:
    """The part of ``text`` from the line ``heading`` to the next heading of
    the same or a higher level.

        >>> section("# a\\nx\\n## b\\ny\\n### c\\nz\\n## d\\n", "## b")
        '## b\\ny\\n### c\\nz\\n'
    """
    level = len(heading) - len(heading.lstrip("#"))
    start = text.index(heading + "\n")
    following = re.compile(rf"^#{{1,{level}}} ", re.M)
    end = following.search(text, start + len(heading))
    return text[start:end.start() if end else len(text)]


def test_every_store_setting_is_documented_with_its_default():
    from djust import store

    api = (DOCS / "api.md").read_text(encoding="utf-8")
    table = section(api, '### `DJUST["CACHE"]`: the shared store')
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()
            if line.startswith("| `")}
    assert set(rows) == {f"`{key}`" for key in store.DEFAULT_CONFIG}
    for key, default in store.DEFAULT_CONFIG.items():
        assert f"`{default!r}`" in rows[f"`{key}`"], f'docs/api.md: default of CACHE["{key}"]'


def logged_formats(module_path: Path, level: str) -> list[str]:
    """The constant format strings of ``logger.<level>(...)`` calls in a module.

        >>> "djust store: %s %ss work again" in [
        ...     text for path in store_module_paths() for text in logged_formats(path, "warning")]
        True
    """
    formats = []
    for node in ast.walk(ast.parse(module_path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == level and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "logger" and node.args
                and isinstance(node.args[0], ast.Constant)):
            formats.append(node.args[0].value)
    return formats


def store_module_paths() -> list[Path]:
    """Every module of the store package."""
    from djust import store

    return sorted(Path(store.__file__).parent.glob("*.py"))


@pytest.mark.parametrize("level", ["warning", "debug"])
def test_every_store_log_line_is_in_troubleshooting(level):
    """Each fixed part of every message the store logs appears verbatim."""
    # Prose wraps lines anywhere, even inside a quoted message.
    troubleshooting = " ".join((DOCS / "troubleshooting.md").read_text(encoding="utf-8").split())
    formats = [text for path in store_module_paths() for text in logged_formats(path, level)]
    assert formats, f"the store logs at {level}"
    for text in formats:
        for part in re.split(r"%s?s", text):
            part = part.strip().removeprefix("djust store:").strip()
            if part:
                assert part in troubleshooting, f"troubleshooting.md lacks {text!r}"


def test_performance_figures_are_quoted_from_the_benchmark_results():
    """Every number in the figures section of performance.md appears in
    benchmarks/RESULTS.md: after a new benchmark run, update both together."""
    performance = (DOCS / "performance.md").read_text(encoding="utf-8")
    figures = performance[performance.index("<!-- FIGURES"):performance.index("<!-- /FIGURES")]
    results = (DOCS.parent / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    numbers = re.findall(r"(?<![\w.])\d+(?:\.\d+)+", figures)
    assert len(numbers) > 20
    missing = sorted({number for number in numbers if number not in results})
    assert not missing, f"performance.md quotes figures RESULTS.md does not have: {missing}"
