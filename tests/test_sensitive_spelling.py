"""A refused name cannot be spelled around, and the refused list is complete
(issue #18).

Generated code is compiled from text, where Python NFKC-normalises
identifiers: ``obj.password`` written in fullwidth letters reads
``obj.password``. Django's lookup is ``getattr(obj, segment)``, which does not
normalise, so such a segment fails live; djust must fail the same way and
never emit the hash. ``get_session_auth_fallback_hash`` yields real HMACs
when ``SECRET_KEY_FALLBACKS`` is set, and a dict key that is a refused name
is refused on the run-time lookup too.
"""

from __future__ import annotations

import json
import unicodedata
import warnings

import pytest
from django.contrib.auth.models import User
from django.template import engines
from django.test import RequestFactory

from djust.compiler import compile_serializer, extract_template_variables, runtime, sensitive
from djust.compiler.astbuild import is_plain_identifier
from djust.compiler.modes import Row
from djust.compiler.sensitive import SensitiveFieldWarning, refused_everywhere, sensitive_names
from djust.live import LiveView
from tests.testapp.models import Author

pytestmark = pytest.mark.django_db

HASHED = "md5$salt$0123456789abcdef0123456789abcdef"


def fullwidth(name: str) -> str:
    """``name`` with its ASCII letters in fullwidth forms (NFKC gives it back)."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalpha() else c for c in name)


def bold(name: str) -> str:
    """``name`` with its lowercase letters as MATHEMATICAL BOLD letters."""
    return "".join(chr(0x1D41A + ord(c) - ord("a")) if "a" <= c <= "z" else c for c in name)


def spellings(name: str) -> list[str]:
    """Spellings of ``name`` that Python reads, as identifiers, as ``name``."""
    return [fullwidth(name), fullwidth(name[0]) + name[1:], bold(name),
            name[:-1] + fullwidth(name[-1])]


VARIANTS = [*spellings("password"), *spellings("get_session_auth_hash"),
            *spellings("get_session_auth_fallback_hash")]


@pytest.fixture(autouse=True)
def fresh_warnings():
    sensitive.forget_warnings()
    yield
    sensitive.forget_warnings()


@pytest.fixture
def user():
    return User.objects.create(username="ann", email="ann@example.com", password=HASHED)


def secrets_of(user) -> list[str]:
    return [user.password, user.get_session_auth_hash(),
            *user.get_session_auth_fallback_hash()]


def values_of(out) -> dict:
    """The keys of a serializer's output; a python-mode row is a ``Row``."""
    return dict(out._values) if isinstance(out, Row) else dict(out)


def live_render(source: str, context: dict) -> str:
    return engines["django"].from_string(source).render(context)


def page_render(source: str, context: dict) -> str:
    view = type("SpellingPage", (LiveView,), {"template": source})()
    for name, value in context.items():
        setattr(view, name, value)
    page, _ = view.render_page(RequestFactory().get("/"))
    return page


def compiled(model, source: str, name: str, mode: str, *, cached: bool = False):
    """The serializer of ``name``'s paths in ``source``, compiled with the
    warning of a sensitive read (none when the page compiled it already)."""
    paths = list(extract_template_variables(source)[name])
    if cached:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SensitiveFieldWarning)
            return compile_serializer(model, paths, mode=mode)
    sensitive.forget_warnings()  # once per process and path
    with pytest.warns(SensitiveFieldWarning):
        return compile_serializer(model, paths, mode=mode)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_normalises_to_a_refused_name_and_is_refused(variant):
    assert variant != unicodedata.normalize("NFKC", variant)
    assert unicodedata.normalize("NFKC", variant) in sensitive_names(User)
    assert variant in sensitive_names(User)
    assert variant in refused_everywhere()
    assert not is_plain_identifier(variant)


@pytest.mark.parametrize("variant", VARIANTS)
def test_django_fails_the_lookup_and_djust_renders_the_same(user, variant):
    source = "<main dj-root>[{{ u." + variant + " }}]</main>"
    live = live_render(source, {"u": user})
    assert "[]" in live
    with pytest.warns(SensitiveFieldWarning):
        page = page_render(source, {"u": User.objects.get(pk=user.pk)})
    assert "[]" in page
    for secret in secrets_of(user):
        assert secret not in page


@pytest.mark.parametrize("mode", ["json", "python"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_the_serializer_never_emits_the_hash(user, variant, mode):
    source = f"{{{{ u.{variant} }}}}{{{{ u.{variant}.0 }}}}{{{{ u.email }}}}"
    serializer = compiled(User, source, "u", mode)
    out = serializer(user)
    assert values_of(out) == {"email": user.email}
    text = json.dumps(values_of(out), default=str)
    for secret in secrets_of(user):
        assert secret not in text
        assert secret not in serializer.source
    # Never read as an attribute: not written as an identifier Python normalises.
    assert f".{variant}" not in serializer.source


@pytest.mark.parametrize("mode", ["json", "python"])
def test_a_variant_below_a_relation_is_refused_too(user, mode):
    author = Author.objects.create(name="A", user=user)
    source = f"{{{{ a.user.{fullwidth('password')} }}}}{{{{ a.user.{bold('password')} }}}}"
    out = compiled(Author, source, "a", mode)(author)
    assert values_of(out["user"]) == {}


def test_a_fallback_hash_is_never_rendered(user, settings):
    settings.SECRET_KEY_FALLBACKS = ["an-old-secret-key", "an-older-secret-key"]
    hashes = list(user.get_session_auth_fallback_hash())
    assert len(hashes) == 2
    source = ("<main dj-root>{% for h in u.get_session_auth_fallback_hash %}<i>{{ h }}</i>"
              "{% endfor %}{{ u.get_session_auth_fallback_hash }}{{ u.email }}</main>")
    # Django would show them: djust refuses the name.
    assert all(h in live_render(source, {"u": user}) for h in hashes)
    with pytest.warns(SensitiveFieldWarning):
        page = page_render(source, {"u": User.objects.get(pk=user.pk)})
    assert user.email in page
    assert "<i>" not in page
    for mode in ("json", "python"):
        serializer = compiled(User, source, "u", mode, cached=True)
        out = serializer(user)
        assert values_of(out) == {"email": user.email}
        assert not any(h in json.dumps(values_of(out), default=str) for h in hashes)
    assert runtime.resolve_lookup(user, "get_session_auth_fallback_hash") is runtime.MISSING


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_run_time_lookup_refuses_every_spelling_on_a_user(user, variant):
    assert runtime.resolve_lookup(user, variant) is runtime.MISSING
    assert runtime.resolve_lookup(user, "email") == user.email


def test_a_refused_name_is_refused_as_a_mapping_key(settings):
    assert runtime.resolve_lookup({"password": "x"}, "password") is runtime.MISSING
    row = {"password": "x", "get_session_auth_hash": "h", "get_session_auth_fallback_hash": "f",
           fullwidth("password"): "w", "ssn": "123", "name": "ann"}
    for name in ("get_session_auth_hash", "get_session_auth_fallback_hash",
                 fullwidth("password"), bold("password")):
        assert runtime.resolve_lookup(row, name) is runtime.MISSING
    assert runtime.resolve_lookup(row, "name") == "ann"
    assert runtime.resolve_lookup(row, "ssn") == "123"
    settings.DJUST = {"SENSITIVE_FIELDS": ["ssn"]}
    assert runtime.resolve_lookup(row, "ssn") is runtime.MISSING
    assert runtime.resolve_lookup(row, fullwidth("ssn")) is runtime.MISSING
    # The setting adds to password, never replaces it.
    assert runtime.resolve_lookup(row, "password") is runtime.MISSING


def test_a_model_s_own_list_is_not_refused_on_a_mapping():
    # A dict has no model to read ``djust_sensitive_fields`` from.
    assert runtime.resolve_lookup({"api_token": "t"}, "api_token") == "t"


@pytest.mark.parametrize("mode", ["json", "python"])
def test_json_data_never_emits_a_refused_key(mode):
    author = Author.objects.create(
        name="A", profile={"password": "p", "get_session_auth_hash": "h", "bio": "b"})
    source = "{{ a.profile.password }}{{ a.profile.get_session_auth_hash }}{{ a.profile.bio }}"
    out = compile_serializer(Author, list(extract_template_variables(source)["a"]),
                             mode=mode)(author)
    if mode == "json":
        assert out == {"profile": {"bio": "b"}}
    else:
        # Python mode keeps JSON data whole for server-side rendering
        # (docs/serialization.md): it never reaches the browser.
        assert out["profile"]["bio"] == "b"


def test_a_segment_python_would_normalise_is_read_as_spelled(monkeypatch):
    # An attribute literally named in fullwidth letters: Django reads it, not
    # ``email``; so must the generated code (getattr, never ``obj.<name>``).
    name = fullwidth("email")
    monkeypatch.setattr(User, name, property(lambda self: "spelled"), raising=False)
    user = User(username="bob", email="bob@example.com", password=HASHED)
    source = "{{ u." + name + " }}"
    assert live_render(source, {"u": user}) == "spelled"
    for mode in ("json", "python"):
        serializer = compile_serializer(User, [name], mode=mode)
        assert values_of(serializer(user)) == {name: "spelled"}
        assert f".{name}" not in serializer.source
