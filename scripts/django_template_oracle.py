"""Django's own template tests as an oracle for djust.

    python scripts/django_template_oracle.py

runs Django's template tests (``tests/template_tests``, with
``template_backends`` and ``template_loader``, of Django's source
distribution for the Django installed in the running environment) with
djust in the loop, and fails unless djust changed nothing.

The pipeline:

1. The source distribution of the installed Django is downloaded once with
   pip, its sha256 checked by pip against the digest PyPI's JSON API gives
   (``--require-hashes``), and kept under ``.cache/django-oracle/`` (git
   ignores it) with that digest; its ``tests/`` directory is extracted next
   to it. Later runs need no network.
2. Django's own runner (``tests/runtests.py``, one process, its default
   ``test_sqlite`` settings) runs those tests in this process, with
   djust among the installed apps and every setting of ``DJUST`` at its
   default.
3. Every outermost ``django.template.base.Template.render`` (what
   ``Engine.render_to_string``, ``Template.render`` and the backends all
   end in) renders as usual, and its output (or exception) goes back to the
   test unchanged, so Django's assertions keep running. Then the template
   goes through djust as a LiveView page does (``djust.live``'s
   ``render_page``): ``extract_template_variables`` (by name through the
   test's own engine when a loader found the template), ``serialize_context``
   on a deep copy of the names the test put in the context (what a second
   render does to the values stays out of the test's objects), and a second
   render from what that returned, every variable resolved as a djust
   page's are (``djust.template.guard``, which refuses sensitive names on
   live objects).
4. A different output, an exception of another type where Django raised, or
   an exception where Django did not, is a difference, unless the same
   second render made without djust differs from Django's too (the clock, a
   value that changes as it is read): that render, like one whose context
   djust cannot be handed honestly (a Context subclass, a one-shot
   iterator), is counted as not checked, with the reason. The run prints the
   differences and a summary, and exits non-zero on any difference or any
   failing Django test.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import json
import os
import random
import runpy
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import unittest
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "django-oracle"
PYPI_JSON = "https://pypi.org/pypi/Django/json"
# Django's runner takes labels under its tests/ directory: the template
# language's tests, and the backend and loader tests that render through it.
LABELS = ("template_tests", "template_backends", "template_loader")
# Long reprs (big lists, whole templates) are cut in the report.
REPR_LIMIT = 400


# ------------------------------------------------------------ the source distribution

def installed_django_version() -> str:
    return metadata.version("Django")


def sdist_entry(version: str) -> dict[str, Any]:
    """PyPI's record of the source distribution of Django ``version``."""
    try:
        with urllib.request.urlopen(PYPI_JSON, timeout=60) as response:
            releases = json.load(response)["releases"]
    except OSError as exc:
        raise SystemExit(f"cannot read {PYPI_JSON} to fetch Django {version}'s source "
                         f"distribution (needed once, then cached in {CACHE.name}/): {exc}"
                         ) from exc
    for entry in releases.get(version, []):
        if entry["packagetype"] == "sdist":
            return entry
    raise SystemExit(f"PyPI lists no source distribution of Django {version}")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_sdist(version: str) -> Path:
    """Download the sdist with pip, which refuses it unless its sha256 is
    the one PyPI's JSON API gives; keep that digest beside it."""
    entry = sdist_entry(version)
    digest = entry["digests"]["sha256"]
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
        requirement = Path(scratch) / "requirement.txt"
        requirement.write_text(f"Django=={version} --hash=sha256:{digest}\n")
        pip = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--no-binary", ":all:", "--require-hashes", "-r", str(requirement),
             "-d", scratch],
            check=False,
        )
        if pip.returncode:
            raise SystemExit(f"pip could not download Django {version}'s source "
                             f"distribution with sha256 {digest} (exit {pip.returncode})")
        downloaded = Path(scratch) / entry["filename"]
        if sha256_of(downloaded) != digest:  # pip checked it; this guards the name
            raise SystemExit(f"{entry['filename']} does not have PyPI's sha256 {digest}")
        target = CACHE / entry["filename"]
        shutil.move(downloaded, target)
    Path(f"{target}.sha256").write_text(digest + "\n")
    return target


def verified_sdist(version: str) -> Path:
    """The cached sdist, checked against the digest recorded at download;
    downloaded when missing or not matching."""
    for cached in sorted(CACHE.glob(f"[Dd]jango-{version}.tar.gz")):
        recorded = Path(f"{cached}.sha256")
        if recorded.exists() and sha256_of(cached) == recorded.read_text().strip():
            return cached
    return download_sdist(version)


def extract_tests(archive: Path, target: Path) -> None:
    """Extract the archive's ``tests/`` as ``target``; an interrupted
    extraction leaves nothing behind that a later run would take for whole."""
    with tarfile.open(archive) as tar, tempfile.TemporaryDirectory(dir=CACHE) as scratch:
        members = tar.getmembers()
        prefix = members[0].name.split("/")[0] + "/tests/"
        wanted = [member for member in members if member.name.startswith(prefix)]
        tar.extractall(scratch, members=wanted, filter="data")
        shutil.move(Path(scratch) / prefix, target)


def django_tests_dir(version: str) -> Path:
    target = CACHE / f"django-{version}" / "tests"
    if not (target / "runtests.py").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        extract_tests(verified_sdist(version), target)
    return target


# ------------------------------------------------------------ the hook

@dataclass
class Difference:
    test: str
    template: str
    source: str
    context: str
    django: str
    djust: str

    def lines(self) -> list[str]:
        return [f"test:     {self.test}", f"template: {self.template}",
                f"source:   {self.source!r}", f"context:  {self.context}",
                f"Django:   {self.django}", f"djust:    {self.djust}"]


@dataclass
class Tally:
    checked: int = 0
    # Values serialize_context replaced (model data, as opposed to values
    # passed through as they are).
    serialized: int = 0
    # Checked renders whose context could not be deep-copied.
    shared: int = 0
    templates: set[tuple[str, str]] = field(default_factory=set)
    # reason -> the ids of the tests whose renders were not checked for it
    not_checked: dict[str, list[str]] = field(default_factory=dict)
    # Django tests skipped here (ENVIRONMENT_SKIPS): (test id, reason)
    skipped_tests: list[tuple[str, str]] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)


@dataclass
class Outcome:
    """A render's output, or the exception it raised."""

    output: str | None = None
    error: Exception | None = None


def short(text: str, start: int = 0) -> str:
    """At most REPR_LIMIT characters of ``text`` from a little before ``start``."""
    begin = max(0, start - REPR_LIMIT // 4)
    cut = text[begin:begin + REPR_LIMIT]
    return ("..." if begin else "") + cut + ("..." if begin + REPR_LIMIT < len(text) else "")


def first_difference(one: str, other: str) -> int:
    return next((i for i, (a, b) in enumerate(zip(one, other, strict=False)) if a != b),
                min(len(one), len(other)))


def described(outcome: Outcome, start: int) -> str:
    if outcome.error is not None:
        return f"raised {type(outcome.error).__name__}: {short(str(outcome.error))}"
    return repr(short(outcome.output, start))


def template_label(template) -> str:
    return template.origin.template_name or "<Template from a string>"


def context_data(context) -> tuple[dict[str, Any] | None, str | None]:
    """The names and values the test put in ``context`` (a view's context
    data, in LiveView's words), or None and why djust cannot be handed them."""
    from django.template import Context, RequestContext

    if type(context) not in (Context, RequestContext):
        return None, f"rendered with a {type(context).__name__}, not a Context"
    # dicts[0] holds the builtins (True, False, None) every Context starts
    # with; a RequestContext's processors fill one layer at render time.
    skipped = {0, getattr(context, "_processors_index", 0)}
    data: dict[str, Any] = {}
    for position, layer in enumerate(context.dicts):
        if position not in skipped:
            data.update(layer)
    if any(isinstance(value, Iterator) for value in data.values()):
        # Django's render consumes it: a second render would see it empty.
        return None, "the context holds a one-shot iterator"
    return data, None


def detached(data: dict[str, Any]) -> dict[str, Any] | None:
    """A deep copy of ``data``, so that what a second render does to the
    values (a callable counting its calls) stays out of the test's objects;
    None when it cannot be copied."""
    try:
        return copy.deepcopy(data)
    except Exception:  # deepcopy raises whatever a value's pickling raises
        return None


def rebuilt_context(context, data: dict[str, Any]):
    """A context like the test's (same class, request, processors and
    switches) holding ``data`` instead, built as ``make_context`` builds a
    LiveView's: the data pushed on a fresh context."""
    from django.template import RequestContext

    options = {"autoescape": context.autoescape, "use_l10n": context.use_l10n,
               "use_tz": context.use_tz}
    if isinstance(context, RequestContext):
        # Processors the test passed itself live on the instance only.
        rebuilt = RequestContext(context.request, processors=context._processors, **options)
    else:
        rebuilt = type(context)(**options)
    rebuilt.push(data)
    return rebuilt


def extract(template):
    """What a LiveView extracts: by name when a loader found the template
    (through the test's engine and its loaders), else from the source."""
    from djust.compiler.extraction import (
        extract_template_variables,
        extract_template_variables_from_name,
    )

    name = template.origin.template_name
    if name and template.origin.loader is not None:
        return extract_template_variables_from_name(name, engine=template.engine)
    return extract_template_variables(template.source, engine=template.engine, name=name)


def djust_context(template, data: dict[str, Any]) -> dict[str, Any]:
    """``render_page``'s first steps: extract, then serialize the context
    for what the template reads."""
    from djust.context import serialize_context

    extraction = extract(template)
    # render_page also copies view and request when the template reads
    # them; serialize_context already keeps every name the template reads.
    return dict(serialize_context(extraction, data, template=template_label(template)))


@contextlib.contextmanager
def guarded_lookups() -> Iterator[None]:
    """Every variable resolves as a djust page's does (``template.guard``'s
    ``GuardedVariable``), included and parent templates too, for the length
    of one render (this process renders one template at a time)."""
    from django.template.base import Variable

    from djust.template.guard import GuardedVariable

    original = Variable._resolve_lookup
    Variable._resolve_lookup = GuardedVariable._resolve_lookup
    try:
        yield
    finally:
        Variable._resolve_lookup = original


def attempt(call) -> Outcome:
    try:
        return Outcome(output=call())
    except Exception as exc:  # any exception is an outcome to compare
        return Outcome(error=exc)


def differ(django: Outcome, other: Outcome) -> bool:
    if django.error is not None or other.error is not None:
        return type(django.error) is not type(other.error)
    return str(django.output) != str(other.output)


# Django tests that fail in some environments whatever djust does; they are
# reported as skipped, with the reason, where that environment is detected.
ENVIRONMENT_SKIPS = {
    "template_tests.test_loaders.FileSystemLoaderTests.test_permissions_error": (
        lambda: hasattr(os, "geteuid") and os.geteuid() == 0,
        "run as root, which may read a file whatever its permissions",
    ),
}


def environment_skip(test_id: str) -> str | None:
    applies, reason = ENVIRONMENT_SKIPS.get(test_id, (lambda: False, ""))
    return reason if applies() else None


class Oracle:
    """Hooks ``Template.render`` (and notes which test is running) while
    ``installed()``; ``tally`` holds what the checks found."""

    def __init__(self) -> None:
        self.tally = Tally()
        self.test = "(outside a test)"
        self.local = threading.local()

    @contextlib.contextmanager
    def installed(self) -> Iterator[Oracle]:
        from django.template.base import Template

        original_render, original_run = Template.render, unittest.TestCase.run
        oracle = self

        def render(template, context):
            return oracle.render(original_render, template, context)

        def run(case, result=None):
            oracle.test = case.id()
            reason = environment_skip(case.id())
            if reason and result is not None:
                oracle.tally.skipped_tests.append((case.id(), reason))
                result.startTest(case)
                result.addSkip(case, reason)
                result.stopTest(case)
                return result
            return original_run(case, result)

        Template.render, unittest.TestCase.run = render, run
        try:
            yield self
        finally:
            Template.render, unittest.TestCase.run = original_render, original_run

    def render(self, original, template, context):
        if getattr(self.local, "active", False):
            # An include, an inclusion tag, or one of this hook's own
            # renders: part of the outermost render, the one compared.
            return original(template, context)
        self.local.active = True
        try:
            data, reason = context_data(context)
            if reason:
                self.not_checked(reason)
                return original(template, context)
            # Copied before Django's render, which may add names to the
            # context and change the values' state.
            djust_data, control_data = detached(data), detached(data)
            if djust_data is None or control_data is None:
                # Still checked, on the test's own objects.
                self.tally.shared += 1
                djust_data = control_data = data
            # {% lorem random %}, |random: every render draws the same numbers.
            state = random.getstate()
            django = attempt(lambda: original(template, context))
            after = random.getstate()
            random.setstate(state)
            djust = attempt(lambda: self.render_through_djust(original, template, context,
                                                              djust_data))
            if differ(django, djust):
                # The same second render without djust: when it differs
                # too, the template does not render the same twice.
                random.setstate(state)
                control = attempt(lambda: original(template,
                                                   rebuilt_context(context, control_data)))
                self.compare(template, data, django, djust, control)
            else:
                self.compare(template, data, django, djust, django)
            random.setstate(after)
            if django.error is not None:
                raise django.error
            return django.output
        finally:
            self.local.active = False

    def render_through_djust(self, render, template, context, data: dict[str, Any]):
        serialized = djust_context(template, data)
        self.tally.serialized += sum(value is not data.get(name)
                                     for name, value in serialized.items())
        with guarded_lookups():
            return render(template, rebuilt_context(context, serialized))

    def not_checked(self, reason: str) -> None:
        self.tally.not_checked.setdefault(reason, []).append(self.test)

    def compare(self, template, data, django: Outcome, djust: Outcome,
                control: Outcome) -> None:
        if differ(django, control):
            self.not_checked("Django's own output differs when the template renders again "
                      "(the clock, or a value that changes as it is read)")
            return
        self.tally.checked += 1
        self.tally.templates.add((template_label(template), template.source))
        if differ(django, djust):
            start = first_difference(str(django.output), str(djust.output))
            self.tally.differences.append(Difference(
                test=self.test, template=template_label(template), source=template.source,
                context=short(repr(data)), django=described(django, start),
                djust=described(djust, start)))


# ------------------------------------------------------------ running Django's tests

@dataclass
class RunnerResult:
    run: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0


@contextlib.contextmanager
def djust_installed() -> Iterator[None]:
    """runtests.py sets INSTALLED_APPS itself just before ``django.setup()``:
    djust joins them there, as a project lists it (its app loads djust's
    store and system checks)."""
    import django
    from django.conf import settings

    original = django.setup

    def setup(*args, **kwargs):
        if "djust" not in settings.INSTALLED_APPS:
            settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "djust"]
        return original(*args, **kwargs)

    django.setup = setup
    try:
        yield
    finally:
        django.setup = original


@contextlib.contextmanager
def runner_counts() -> Iterator[RunnerResult]:
    from django.test.runner import DiscoverRunner

    counts = RunnerResult()
    original = DiscoverRunner.run_suite

    def run_suite(runner, suite, **kwargs):
        result = original(runner, suite, **kwargs)
        counts.run += result.testsRun
        counts.failures += len(result.failures) + len(result.unexpectedSuccesses)
        counts.errors += len(result.errors)
        counts.skipped += len(result.skipped)
        return result

    DiscoverRunner.run_suite = run_suite
    try:
        yield counts
    finally:
        DiscoverRunner.run_suite = original


@contextlib.contextmanager
def inside(tests_dir: Path, argv: list[str]) -> Iterator[None]:
    """As ``cd tests && ./runtests.py ARGS`` would have it: the directory,
    the import path and the arguments."""
    saved = os.getcwd(), list(sys.path), list(sys.argv)
    os.chdir(tests_dir)
    sys.path.insert(0, str(tests_dir))
    sys.argv = argv
    try:
        yield
    finally:
        os.chdir(saved[0])
        sys.path[:], sys.argv[:] = saved[1], saved[2]


def run_django_tests(tests_dir: Path, labels: list[str]) -> int:
    runtests = tests_dir / "runtests.py"
    # One process, so every render is seen here; the settings named, so a
    # DJANGO_SETTINGS_MODULE in the environment cannot replace them.
    argv = [str(runtests), "--parallel=1", "--settings=test_sqlite", *labels]
    with inside(tests_dir, argv):
        try:
            runpy.run_path(str(runtests), run_name="__main__")
        except SystemExit as exit:
            return exit.code if isinstance(exit.code, int) else 1
    return 0


# ------------------------------------------------------------ the report

def difference_report(differences: list[Difference]) -> list[str]:
    """Each difference once, with how many renders showed it (Django's
    ``setup`` renders each test's templates with several engines)."""
    seen = Counter(tuple(difference.lines()) for difference in differences)
    lines = []
    for number, (body, times) in enumerate(seen.items(), 1):
        lines.append(f"difference {number} ({times} render{'s' if times > 1 else ''}):")
        lines += [f"    {line}" for line in body]
    return lines


def summary_report(version: str, counts: RunnerResult, tally: Tally) -> list[str]:
    lines = [f"Django {version}: {counts.run} tests run, {counts.failures} failed, "
             f"{counts.errors} errors, {counts.skipped} skipped"]
    lines += [f"    skipped here: {test} ({reason})" for test, reason in tally.skipped_tests]
    lines.append(f"renders checked through djust: {tally.checked} "
                 f"({len(tally.templates)} distinct templates; {tally.serialized} "
                 "model-backed values serialized)")
    if tally.shared:
        lines.append(f"    {tally.shared} of them on the test's own objects (the context "
                     "could not be deep-copied)")
    lines.append(f"renders not checked: {sum(map(len, tally.not_checked.values()))}")
    for reason, tests in tally.not_checked.items():
        named = sorted(set(tests))
        lines.append(f"    {len(tests)} x {reason} (in {', '.join(named[:3])}"
                     f"{', ...' if len(named) > 3 else ''})")
    distinct = len({tuple(difference.lines()) for difference in tally.differences})
    lines.append(f"differences: {len(tally.differences)} ({distinct} distinct)")
    return lines


def judge(code: int, counts: RunnerResult, tally: Tally) -> int:
    if code or counts.failures or counts.errors or not counts.run:
        return code or 1
    return 1 if tally.differences else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("labels", nargs="*", default=list(LABELS),
                        help="Django test labels (default: %(default)s)")
    options = parser.parse_args(argv)
    version = installed_django_version()
    tests_dir = django_tests_dir(version)
    oracle = Oracle()
    with djust_installed(), runner_counts() as counts, oracle.installed():
        code = run_django_tests(tests_dir, options.labels)
    report = [*difference_report(oracle.tally.differences),
              *summary_report(version, counts, oracle.tally)]
    print("\n".join(f"[oracle] {line}" for line in report), flush=True)
    return judge(code, counts, oracle.tally)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
