"""Objects a page reads live refuse sensitive names (issue #18, item 2): for
random templates reading random paths through live model instances, dicts
and lists, the page djust's engine renders shows no planted secret and
equals what Django renders from the same data with every refused name
absent (a refused lookup is a missing one)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.template import Context, engines
from hypothesis import given
from hypothesis import strategies as st

from djust.template.guard import guarded_engine
from property_tests.test_browser_state import template_for
from tests.testapp.models import Author

HASH = "pbkdf2$planted-hash"
TOKEN = "planted-token"
DICT_SECRET = "planted-dict-secret"
SEGMENTS = ("u", "d", "users", "author", "user", "password", "username", "api_token",
            "name", "get_session_auth_hash", "*", "0", "secret", "items", "values")
# Every read ends on one: a dict or object displayed whole shows all it
# holds, as Django shows it (a documented limit, docs/security.md).
LEAVES = ("password", "username", "api_token", "name", "get_session_auth_hash", "secret",
          "items", "values")


class Absent:
    """What Django sees when an object lacks its refused names: the other
    attributes, the same text."""

    def __init__(self, kind: str, text: str, **attributes):
        self._kind, self._text = kind, text
        self.__dict__.update(attributes)

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"<{self._kind}: {self._text}>"


class Holder:
    """A plain object handed to the template live (a view, a helper)."""

    def __init__(self, **attributes):
        self.__dict__.update(attributes)


def absent_user(user: User, author: Author | None) -> Absent:
    mirror = Absent("User", str(user), username=user.username, email=user.email)
    if author is not None:
        mirror.author = Absent("Author", str(author), name=author.name, user=mirror)
    return mirror


def without_refused(d: dict) -> dict:
    return {key: value for key, value in d.items() if key != "password"}


@pytest.mark.django_db
@given(reads=st.lists(st.tuples(st.lists(st.sampled_from(SEGMENTS), max_size=4),
                                st.sampled_from(LEAVES)).map(lambda p: (*p[0], p[1])),
                      min_size=1, max_size=5),
       roots=st.lists(st.sampled_from(["u", "d", "h", "users"]), min_size=1, max_size=5),
       extra=st.dictionaries(st.sampled_from(["password", "secret", "name"]),
                             st.sampled_from(["shown", ""]), max_size=3))
def test_live_objects_show_no_refused_name(reads, roots, extra):
    user, _ = User.objects.get_or_create(username="ada", defaults={"password": HASH})
    author, _ = Author.objects.get_or_create(name="Ada A", defaults={"api_token": TOKEN,
                                                                        "user": user})
    user = User.objects.get(pk=user.pk)
    d = {"name": "dict-name", "u": user, **extra, "password": DICT_SECRET}
    live = {"u": user, "d": d, "users": [user], "h": Holder(u=user, d=d, users=[user])}

    mirror_user = absent_user(user, author)
    mirror_d = {**without_refused(d), "u": mirror_user}
    absent = {"u": mirror_user, "d": mirror_d, "users": [mirror_user],
              "h": Holder(u=mirror_user, d=mirror_d, users=[mirror_user])}

    source = "|".join(template_for(root, r) for root, r in zip(roots * 5, reads, strict=False))
    page = outcome(lambda: guarded_engine(engines["django"].engine).from_string(source)
                   .render(Context(live)))
    for secret in (HASH, TOKEN, DICT_SECRET, user.get_session_auth_hash()):
        assert secret not in page, (source, secret)
    expected = outcome(lambda: engines["django"].from_string(source).render(absent))
    assert page == expected, source


def outcome(render) -> str:
    """The page, or the exception Django lets out ({% for %} over a model)."""
    try:
        return render()
    except TypeError:
        return "TypeError"
