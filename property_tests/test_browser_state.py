"""The browser state carries nothing the template does not read (issue #18,
item 1): for random templates reading random paths of random contexts
(dicts, lists of dicts, ``values()`` rows), every key that reaches the state
is on a path the template reads, and the page renders as Django renders it.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.template import engines
from hypothesis import given
from hypothesis import strategies as st

from djust.compiler import extract_template_variables
from djust.context import StateEncoder, browser_state, serialize_context

KEYS = ("a", "b", "secret", "0")
SEGMENTS = ("a", "b", "secret", "0", "*")
USER_SEGMENTS = ("username", "password", "email", "*", "0", "count")

leaves = st.one_of(st.integers(-5, 5), st.sampled_from(["x", "y", ""]), st.none())
data = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
        st.lists(st.dictionaries(st.sampled_from(KEYS), inner, max_size=4), max_size=3),
    ),
    max_leaves=12,
)


def template_for(name: str, segments: tuple[str, ...], depth: int = 0) -> str:
    """Django template text reading ``segments`` of ``name``; ``*`` loops."""
    if "*" not in segments:
        lookup = ".".join((name, *segments))
        return "{{ " + lookup + " }}"
    at = segments.index("*")
    loop_var = f"v{depth}_{len(segments)}"
    source = ".".join((name, *segments[:at]))
    body = template_for(loop_var, segments[at + 1:], depth + 1)
    return f"{{% for {loop_var} in {source} %}}{body}{{% endfor %}}"


def reads(segments):
    return st.lists(st.lists(st.sampled_from(segments), max_size=4).map(tuple),
                    min_size=1, max_size=4)


def key_paths(node, prefixes, allowed, full, out):
    """Every path of a key in ``node`` (lists answer ``*`` or their index, or
    are the displayed value's own elements), checked against ``allowed``."""
    if isinstance(node, dict):
        for key, value in node.items():
            found = {(*p, key) for p in prefixes} & allowed
            out.append((tuple(sorted(prefixes)), key, bool(found)))
            if found and key == "*" and isinstance(value, list):
                # A mapping (or string) iterated: the list of its elements.
                for element in value:
                    key_paths(element, found, allowed, full, out)
            elif found:
                key_paths(value, found, allowed, full, out)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found = set()
            for p in prefixes:
                found |= {(*p, "*"), (*p, str(index))} & allowed
                if p in full:
                    # The elements of a displayed collection, displayed.
                    found.add(p)
            # An element no path reads is None (a placeholder for its position).
            out.append((tuple(sorted(prefixes)), index, bool(found) or value is None))
            key_paths(value, found, allowed, full, out)


def check_state(extraction, state):
    for name, value in state.items():
        allowed, full = {()}, set()
        for path in extraction[name]:
            segments = tuple(path.split(".")) if path else ()
            allowed |= {segments[:i] for i in range(len(segments) + 1)}
            full.add(segments)
        out = []
        key_paths(value, {()}, allowed, full, out)
        assert all(ok for _, _, ok in out), (name, value, sorted(extraction[name]))


@pytest.mark.django_db
@given(d=data, rows=st.lists(st.dictionaries(st.sampled_from(KEYS), leaves), max_size=3),
       d_reads=reads(SEGMENTS), rows_reads=reads(SEGMENTS), user_reads=reads(USER_SEGMENTS))
def test_every_key_in_the_state_is_on_a_read_path(d, rows, d_reads, rows_reads, user_reads):
    User.objects.get_or_create(username="ada", defaults={"password": "pbkdf2$secret-hash",
                                                           "email": "ada@example.com"})
    User.objects.get_or_create(username="bob", defaults={"password": "pbkdf2$other-hash"})
    source = "".join(
        [template_for("d", r) for r in d_reads]
        + [template_for("rows", r) for r in rows_reads]
        + [template_for("users", r) for r in user_reads])
    context = {"d": d, "rows": rows, "users": User.objects.order_by("username").values(),
               "unread": {"secret": "never"}}
    extraction = extract_template_variables(source, name="property")
    serialized = serialize_context(extraction, context, template="property")
    state = json.loads(json.dumps(browser_state(extraction, context, serialized),
                                  cls=StateEncoder))
    assert "unread" not in state
    check_state(extraction, state)
    # Sensitive columns never leave, even when read.
    assert "hash" not in json.dumps(state)
    # The page renders from the python-mode values as Django renders the live
    # ones, refused columns aside: a values() row never shows them (#18).
    live = dict(context, users=User.objects.order_by("username").values(
        *[f.attname for f in User._meta.concrete_fields if f.attname != "password"]))
    try:
        expected = engines["django"].from_string(source).render(live)
    except TypeError:
        # Django itself fails the page ({% for %} over a number).
        return
    page = engines["django"].from_string(source).render(serialized)
    assert page == expected and "hash" not in page
