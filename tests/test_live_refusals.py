"""Sensitive names are refused on objects a page reads live (issue #18,
item 2): ``request``, ``view``, the auth context processor's ``user``, and
whatever they lead to, in the page and in event responses, through
includes, parents, ``{% with %}``, filter arguments and tags djust cannot
analyse. What is not sensitive (a form's ``password`` field, a session key
the project stored) renders as Django renders it."""

from __future__ import annotations

import json

import pytest
from django import forms
from django.contrib.auth.models import User
from django.template import engines
from django.test import Client, override_settings
from django.urls import path

from djust import LiveView, event_handler
from djust.template.guard import GuardedVariable, guard_template, variables_of
from tests.test_liveview import post_event, view_attrs
from tests.testapp.models import Author

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

HASHED = "pbkdf2_sha256$1$plantedsalt$PLANTEDHASHVALUE0123456789"
TOKEN = "planted-api-token-0123456789"


class LoginForm(forms.Form):
    username = forms.CharField()
    password = forms.CharField(widget=forms.PasswordInput)


LOOKUPS = (
    "[a:{{ request.user.password }}]"
    "[b:{{ request.user.get_session_auth_hash }}]"
    "[c:{{ view.me.password }}|{{ view.me.username }}]"
    "[d:{{ request.session.items }}{{ request.session.keys }}{{ request.session.values }}]"
    "[e:{% for k, v in request.session.items %}{{ k }}={{ v }};{% endfor %}]"
    "[f:{{ request.session.cart }}]"
    "[g:{% with u=request.user %}{{ u.password }}{% endwith %}]"
    "[h:{% if request.user.password %}yes{% else %}no{% endif %}]"
    "[i:{{ request.user.password|default:'none' }}]"
    "[k:{{ request.user.author.api_token }}|{{ request.user.author.name }}]"
    "[l:{{ request.user.username }}]"
    "[m:{{ form.password }}]"
    "[n:{{ form.instance.password }}{{ view.settings.password }}]"
    "[o:{{ request.user.\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44 }}]"
    "[p:{% for k, v in view.settings.items %}{{ k }}={{ v }};{% endfor %}"
    "{{ view.settings.values }}]"
    "[q:{{ settings.password }}{% for k, v in settings.items %}{{ k }}={{ v }};{% endfor %}]"
)


class Refusing(LiveView):
    template = "<main dj-root>" + LOOKUPS + "</main>"

    def mount(self, request, **kwargs):
        request.session["cart"] = "3 items"
        self.me = request.user
        self.settings = {"password": "dict-secret", "theme": "dark"}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["form"] = LoginForm()
        return context

    @event_handler
    def noop(self):
        pass


class RefusingNoJit(Refusing):
    jit = False


class RefusingUnanalysed(Refusing):
    """A tag djust cannot analyse sends the page through the fallback."""
    template = ("{% load extraction_tags %}<main dj-root>[t:{% shout request.user.password %}]"
                + LOOKUPS + "</main>")


class Chain(LiveView):
    template_name = "live/refused_child.html"

    def mount(self, request, **kwargs):
        self.me = request.user


urlpatterns = [
    path("refusing/", Refusing.as_view()),
    path("refusing-nojit/", RefusingNoJit.as_view()),
    path("refusing-unanalysed/", RefusingUnanalysed.as_view()),
    path("chain/", Chain.as_view()),
]


@pytest.fixture
def ann():
    user = User.objects.create(username="ann", password=HASHED)
    Author.objects.create(name="Ann Author", api_token=TOKEN, user=user)
    return user


@pytest.fixture
def client(ann):
    client = Client()
    client.force_login(ann)
    return client


def secrets_of(user: User) -> list[str]:
    return [HASHED, TOKEN, "dict-secret", user.get_session_auth_hash()]


def assert_refused(page: str, user: User) -> None:
    leaked = [secret for secret in secrets_of(user) if secret in page]
    assert not leaked, f"the page shows {leaked}"
    assert "_auth_user" not in page
    assert "[a:]" in page and "[b:]" in page and "[c:|ann]" in page
    assert "[d:]" in page and "[e:]" in page and "[f:3 items]" in page
    assert "[g:]" in page and "[h:no]" in page and "[i:none]" in page
    assert "[k:|Ann Author]" in page and "[l:ann]" in page
    # A form's field named password is a BoundField, not a secret.
    assert 'type="password" name="password"' in page
    assert "[n:]" in page and "[o:]" in page
    # A dict's items/values leave its refused keys out.
    assert "[p:theme=dark;dict_values([&#x27;dark&#x27;])]" in page
    assert "[q:theme=dark;]" in page


@pytest.mark.parametrize("url", ["/refusing/", "/refusing-nojit/", "/refusing-unanalysed/"])
def test_live_objects_refuse_sensitive_names_in_the_page_and_events(client, ann, url):
    response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert_refused(page, ann)
    if "unanalysed" in url:
        assert "[t:!]" in page  # shout("") as for a missing name

    view_id, token = view_attrs(page)
    event = post_event(client, url, view_id, token, "noop")
    assert event.status_code == 200
    payload = event.json()
    assert_refused(payload["html"], ann)
    assert not [secret for secret in secrets_of(ann) if secret in json.dumps(payload)]


def test_includes_and_parents_refuse_too(client, ann):
    page = client.get("/chain/").content.decode()
    assert not [secret for secret in secrets_of(ann) if secret in page]
    assert "_auth_user" not in page
    assert "[base:]" in page and "[base-name:ann]" in page
    assert "[inc:|ann]" in page and "[child:]" in page


AUTH_TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": ["django.template.context_processors.request",
                                       "django.contrib.auth.context_processors.auth"]},
}]


class FromProcessors(LiveView):
    template = ("<main dj-root>[{{ user.password }}|{{ user.username }}|"
                "{{ user.get_session_auth_hash }}]</main>")


def test_the_auth_context_processors_user_refuses_too(ann):
    client = Client()
    client.force_login(ann)
    urls = [path("processors/", FromProcessors.as_view())]
    with override_settings(TEMPLATES=AUTH_TEMPLATES, ROOT_URLCONF=type("U", (), {
            "urlpatterns": urls})):
        page = client.get("/processors/").content.decode()
    assert "[|ann|]" in page
    assert HASHED not in page


def test_the_projects_own_engine_is_left_alone(ann):
    """djust guards the templates it renders; a plain Django view's template
    renders what Django renders (djust's template backend is for those)."""
    template = engines["django"].from_string("{{ u.password }}")
    assert template.render({"u": ann}) == HASHED
    assert not any(isinstance(v, GuardedVariable) for v in variables_of(template.template))


def test_a_refused_filter_argument_fails_as_a_missing_one_does(ann):
    """Django raises VariableDoesNotExist for a filter argument it cannot
    find; a refused one is missing, so it raises the same."""
    from django.template import Context, VariableDoesNotExist

    from djust.template.guard import GuardedEngine

    engine = GuardedEngine()
    for name in ("password", "no_such_name"):
        with pytest.raises(VariableDoesNotExist):
            engine.from_string("{{ 'x'|add:u." + name + " }}").render(Context({"u": ann}))
    assert engine.from_string("{{ 'x'|add:u.username }}").render(Context({"u": ann})) == "xann"


def test_every_variable_a_template_holds_is_guarded():
    """Filter arguments, {% if %} operands, {% with %}, {% for %}, include
    arguments, tag arguments, {% firstof %}, {% cycle %}, blocktranslate."""
    from django.template import Engine

    source = (
        "{% load i18n extraction_tags %}"
        "{{ a.b|default:c.d }}{% if e.f and not g.h or i.j == k.l %}{% endif %}"
        "{% with m=n.o %}{% for p in q.r %}{% empty %}{{ s.t }}{% endfor %}{% endwith %}"
        "{% include 'x.html' with u=v.w %}{% shout x.y suffix=z.aa %}"
        "{% firstof ab.ac ad.ae %}{% cycle af.ag ah.ai as cyc %}"
        "{% blocktranslate with aj=ak.al %}{{ aj }}{% endblocktranslate %}"
        "{% regroup am.an by ao as ap %}{% ifchanged aq.ar %}{% endifchanged %}"
    )
    template = guard_template(Engine(libraries={
        "i18n": "django.templatetags.i18n",
        "extraction_tags": "tests.testapp.templatetags.extraction_tags"}).from_string(source))
    names = {v.var for v in variables_of(template) if v.lookups is not None}
    for expected in ["a.b", "c.d", "e.f", "g.h", "i.j", "k.l", "n.o", "q.r", "s.t", "v.w",
                     "x.y", "z.aa", "ab.ac", "ad.ae", "af.ag", "ah.ai", "ak.al", "am.an",
                     "aq.ar"]:
        assert expected in names, expected
    assert all(type(v) is GuardedVariable
               for v in variables_of(template) if v.lookups is not None)


def test_the_browser_state_of_a_session_holds_only_its_stored_keys():
    """The browser state's cut (``context.cut_value``) asks the same rule."""
    from importlib import import_module

    from django.conf import settings

    from djust.compiler.paths import branch_paths
    from djust.context import cut_value

    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session["_auth_user_hash"] = "planted-session-hash"
    session["cart"] = "3 items"
    cut = cut_value({"s": session}, branch_paths(["s.items", "s.keys", "s.values", "s.cart"]))
    assert cut == {"s": {"cart": "3 items"}}
