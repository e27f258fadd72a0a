"""Hypothesis strategies: rows of the fuzzing schema and path sets over it.

Data is drawn as plain specs (``WorldSpec``) and turned into rows by
:func:`build_world` inside the test's transaction, so a failing example
shrinks to a small, printable world. Paths are drawn from :data:`GRAMMAR`, a
hand-written description of what each model answers (written from the
models' source, not derived through djust), and deliberately include unknown
segments, failing callables, sensitive names, deep chains, duplicates and
overlaps.

    paths_for("Item").example()
    # ['owner.username', 'tags.all.*.name', '']
"""

from __future__ import annotations

import datetime
import decimal
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import connection
from hypothesis import strategies as st

from property_tests.fuzzapp import models as fz

# ---------------------------------------------------------------- path grammar


@dataclass(frozen=True)
class ModelGrammar:
    """What a template can look up on one model's rows."""

    leaves: tuple[str, ...]
    objects: tuple[tuple[str, str], ...] = ()
    managers: tuple[tuple[str, str], ...] = ()
    json: tuple[str, ...] = ()
    temporal: tuple[str, ...] = ()


_UNKNOWN = ("nope", "title_set", "item")
_FAILING = ("quiet_property", "quiet_method", "scaled", "archive", "as_callable")
_ITEM_LEAVES = (
    "pk", "id", "title", "body", "slug", "email", "url", "nickname", "small", "positive",
    "positive_small", "positive_big", "big", "count", "ratio", "price", "precise", "whole",
    "flag", "maybe", "day", "moment", "clock", "span", "token", "data", "attachment",
    "picture", "ip", "status", "level", "owner_id", "reviewer_id", "get_status_display",
    "get_level_display", "label", "summary", "shout", "tags", "Status",
    *_FAILING, *_UNKNOWN,
)
_ITEM_OBJECTS = (
    ("owner", "Owner"), ("reviewer", "Owner"), ("detail", "Detail"),
    ("specialitem", "SpecialItem"),
)
_ITEM_MANAGERS = (("tags", "Tag"), ("comments", "Comment"), ("notes", "Note"))

GRAMMAR: dict[str, ModelGrammar] = {
    "Item": ModelGrammar(
        leaves=_ITEM_LEAVES, objects=_ITEM_OBJECTS, managers=_ITEM_MANAGERS,
        json=("data", "summary"), temporal=("day", "moment"),
    ),
    "SpecialItem": ModelGrammar(
        leaves=(*_ITEM_LEAVES, "bonus", "motto", "item_ptr_id"),
        objects=(*_ITEM_OBJECTS[:3], ("item_ptr", "Item")),
        managers=_ITEM_MANAGERS, json=("data", "summary"), temporal=("day", "moment"),
    ),
    "Owner": ModelGrammar(
        leaves=("pk", "username", "email", "password", "ssn", "masked_ssn", "user_id", "nope"),
        objects=(("user", "User"),),
        managers=(
            ("items", "Item"), ("reviewed_items", "Item"), ("comments", "Comment"),
            ("groups", "Group"), ("memberships", "Membership"),
        ),
    ),
    "User": ModelGrammar(
        leaves=(
            "username", "email", "first_name", "last_name", "password", "get_full_name",
            "get_session_auth_hash", "is_active", "date_joined", "last_login", "set_password",
        ),
        objects=(("fuzz_owner", "Owner"),),
    ),
    "Tag": ModelGrammar(leaves=("pk", "name", "nope"), managers=(("items", "Item"),)),
    "Detail": ModelGrammar(
        leaves=("notes_text", "weight", "item_id"), objects=(("item", "Item"),)
    ),
    "Comment": ModelGrammar(
        leaves=("text", "posted", "score", "author_id"),
        objects=(("item", "Item"), ("author", "Owner")), temporal=("posted",),
    ),
    "Note": ModelGrammar(
        leaves=("text", "object_id", "content_type"), objects=(("target", "Item"),)
    ),
    "Group": ModelGrammar(
        leaves=("pk", "id", "name"),
        managers=(("members", "Owner"), ("memberships", "Membership")),
    ),
    "Membership": ModelGrammar(
        leaves=("role", "joined"), objects=(("group", "Group"), ("owner", "Owner")),
        temporal=("joined",),
    ),
}

MODELS = {
    "Item": fz.Item, "SpecialItem": fz.SpecialItem, "Owner": fz.Owner, "Tag": fz.Tag,
    "Detail": fz.Detail, "Comment": fz.Comment, "Note": fz.Note, "Group": fz.Group,
    "Membership": fz.Membership,
}
JSON_KEYS = ("a", "b", "title", "price", "flags", "0", "1")
TEMPORAL_PARTS = ("year", "month", "isoformat")


def _segments(draw, model: str, depth: int) -> list[str]:
    grammar = GRAMMAR[model]
    kinds = ["leaf", "end"]
    if depth > 0:
        kinds += ["object"] * bool(grammar.objects) + ["manager"] * bool(grammar.managers)
        kinds += ["json"] * bool(grammar.json) + ["temporal"] * bool(grammar.temporal)
    kind = draw(st.sampled_from(kinds))
    if kind == "leaf":
        return [draw(st.sampled_from(grammar.leaves))]
    if kind == "end":
        return []
    if kind == "object":
        name, target = draw(st.sampled_from(grammar.objects))
        return [name, *_segments(draw, target, depth - 1)]
    if kind == "manager":
        name, target = draw(st.sampled_from(grammar.managers))
        segments = _manager_segments(draw, target, depth - 1)
        if not segments and name == "notes":
            # A GenericRelation's manager has no __str__: it displays with
            # its memory address, which no serializer can reproduce.
            segments = ["count"]
        return [name, *segments]
    if kind == "json":
        name = draw(st.sampled_from(grammar.json))
        return [name, *draw(st.lists(st.sampled_from(JSON_KEYS), min_size=1, max_size=3))]
    return [draw(st.sampled_from(grammar.temporal)), draw(st.sampled_from(TEMPORAL_PARTS))]


def _manager_segments(draw, target: str, depth: int) -> list[str]:
    shape = draw(st.sampled_from(["count", "exists", "all", "each", "first", "last", "index",
                                  "manager", "unknown"]))
    if shape in ("count", "exists", "all"):
        return [shape]
    if shape == "each":
        return ["all", "*", *_segments(draw, target, depth)]
    if shape in ("first", "last"):
        return [shape, *_segments(draw, target, depth)]
    if shape == "index":
        return ["all", draw(st.sampled_from(["0", "1"])), *_segments(draw, target, depth)]
    return [] if shape == "manager" else ["nope"]


@st.composite
def path(draw, model: str = "Item", max_depth: int = 3) -> str:
    """One path relative to a row of ``model`` (``""`` = displayed)."""
    return ".".join(_segments(draw, model, max_depth))


@st.composite
def paths_for(draw, model: str = "Item", max_size: int = 8) -> list[str]:
    """A path set: overlapping prefixes and duplicates are common on purpose."""
    drawn = draw(st.lists(path(model), min_size=1, max_size=max_size))
    if draw(st.booleans()):
        drawn.append(draw(st.sampled_from(drawn)))
    prefixes = [
        prefix for prefix in (p.rsplit(".", 1)[0] for p in drawn if "." in p)
        if not prefix.endswith(("*", "notes"))  # see _segments on "notes"
    ]
    if prefixes and draw(st.booleans()):
        # A displayed object that is also looked into needs "__str__".
        drawn.append(draw(st.sampled_from(prefixes)))
    return drawn


def contains_star_with_named_sibling(paths) -> bool:
    """True when some node has both ``*`` and a non-index child.

    The representation of such a node is not settled by the docs (a list
    cannot also answer ``count``), so the parity properties leave it out.
    """
    children: dict[tuple[str, ...], set[str]] = {}
    for p in paths:
        segments = tuple(p.split(".")) if p else ()
        for i, segment in enumerate(segments):
            children.setdefault(segments[:i], set()).add(segment)
    for names in children.values():
        if "*" in names and any(n != "*" and not n.isdigit() for n in names):
            return True
    return False


# ---------------------------------------------------------------- data

SAFE_TEXT = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
HTML_SPECIALS = "<>&'\"{}%"
ZONES = ("UTC", "Asia/Kathmandu", "America/St_Johns", "Pacific/Kiritimati", "Europe/Paris")


def text(max_size: int, min_size: int = 0):
    """Unicode incl. astral characters and HTML-special characters."""
    return st.one_of(
        st.text(SAFE_TEXT, min_size=min_size, max_size=max_size),
        st.text(st.sampled_from(HTML_SPECIALS + "a é😀\U0001f600"), min_size=min_size,
                max_size=max_size),
    )


def names(max_size: int):
    """Text that is never empty, so ``str()`` of a row is never falsy.

    (An empty ``__str__`` makes ``{% if obj %}`` disagree between the live
    row and its string; tests/test_regressions.py records that design case.)
    """
    return text(max_size, min_size=1)


def decimals(max_digits: int, places: int, *, nullable: bool = False):
    bound = decimal.Decimal(10) ** (max_digits - places) - decimal.Decimal(10) ** -places
    values = st.decimals(min_value=-bound, max_value=bound, places=places,
                         allow_nan=False, allow_infinity=False)
    return st.one_of(st.none(), values) if nullable else values


def precise_decimals():
    """Decimal(20, 10): SQLite keeps ~15 significant digits, PostgreSQL all."""
    if connection.vendor == "postgresql":
        return decimals(20, 10, nullable=True)
    return decimals(15, 10, nullable=True)


def json_values():
    """JSON documents that PostgreSQL and SQLite store and give back intact."""
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(-(2**53), 2**53),
        st.floats(allow_nan=False, allow_infinity=False, width=64), text(10),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from(JSON_KEYS), inner, max_size=4),
        ),
        max_leaves=8,
    )


def datetimes(*, aware: bool):
    """Datetimes the databases keep and the time zones can convert."""
    plain = st.datetimes(datetime.datetime(2, 1, 2), datetime.datetime(9998, 12, 30))
    if not aware:
        return plain
    offsets = st.integers(-14 * 60, 14 * 60).map(
        lambda m: datetime.timezone(datetime.timedelta(minutes=m))
    )
    return st.builds(lambda dt, tz: dt.replace(tzinfo=tz), plain, offsets)


def item_fields(*, aware: bool):
    """Keyword arguments for one Item row (relations set separately)."""
    optional = st.none
    return st.fixed_dictionaries({
        "title": names(100),
        "body": text(300),
        "slug": st.from_regex(r"[-a-zA-Z0-9_]{0,50}", fullmatch=True),
        "email": st.sampled_from(["", "a@example.com", "x.y+z@example.org"]),
        "url": st.sampled_from(["", "https://example.com/a?b=1&c=<2>"]),
        "nickname": st.one_of(optional(), text(30)),
        "small": st.integers(-(2**15), 2**15 - 1),
        "positive": st.integers(0, 2**31 - 1),
        "positive_small": st.integers(0, 2**15 - 1),
        "positive_big": st.integers(0, 2**63 - 1),
        "big": st.integers(-(2**63), 2**63 - 1),
        "count": st.one_of(optional(), st.integers(-(2**31), 2**31 - 1)),
        "ratio": st.one_of(optional(), st.floats(allow_nan=False, allow_infinity=False)),
        "price": decimals(12, 2),
        "precise": st.deferred(precise_decimals),
        "whole": decimals(5, 0),
        "flag": st.booleans(),
        "maybe": st.one_of(optional(), st.booleans()),
        "day": st.one_of(optional(), st.dates()),
        "moment": st.one_of(optional(), datetimes(aware=aware)),
        "clock": st.one_of(optional(), st.times()),
        "span": st.one_of(optional(), st.timedeltas(
            datetime.timedelta(days=-999_999), datetime.timedelta(days=999_999))),
        "token": st.uuids(),
        "data": st.one_of(optional(), json_values()),
        "attachment": st.sampled_from(["", "attachments/a b.txt", "attachments/<x>.pdf"]),
        "picture": st.sampled_from(["", "pictures/p.png"]),
        "ip": st.one_of(optional(), st.ip_addresses().map(str)),
        "status": st.sampled_from([c.value for c in fz.Item.Status]),
        "level": st.one_of(optional(), st.sampled_from([c.value for c in fz.Item.Level])),
    })


@dataclass(frozen=True)
class ItemSpec:
    fields: dict
    owner: int
    reviewer: int | None
    tags: tuple[int, ...]
    comments: tuple[dict, ...]
    notes: tuple[str, ...]
    detail: dict | None
    special: dict | None


@dataclass(frozen=True)
class WorldSpec:
    use_tz: bool
    time_zone: str
    owners: tuple[dict, ...]
    tags: tuple[str, ...]
    items: tuple[ItemSpec, ...]
    groups: tuple[tuple[str, tuple[tuple[int, str], ...]], ...] = field(default=())


@st.composite
def worlds(draw, min_items: int = 1, max_items: int = 4) -> WorldSpec:
    """A small world of rows: owners, tags, items and everything around them."""
    use_tz = draw(st.booleans())
    aware = use_tz
    owners = draw(st.lists(st.fixed_dictionaries({
        "username": names(60), "email": st.sampled_from(["", "o@example.com"]),
        "password": st.sampled_from(["", "md5$salt$hash"]), "ssn": text(20),
        "with_user": st.booleans(),
    }), min_size=1, max_size=3))
    tags = draw(st.lists(names(50), max_size=5))
    n_owners = len(owners)
    owner_index = st.integers(0, n_owners - 1)
    comment = st.fixed_dictionaries({
        "text": names(200), "author": st.one_of(st.none(), owner_index),
        "posted": st.one_of(st.none(), datetimes(aware=aware)),
        "score": st.integers(-5, 5),
    })
    many_comments = st.one_of(
        st.lists(comment, max_size=4),
        st.lists(comment, min_size=20, max_size=30),
    )
    items = draw(st.lists(st.builds(
        ItemSpec,
        fields=item_fields(aware=aware),
        owner=owner_index,
        reviewer=st.one_of(st.none(), owner_index),
        tags=st.sets(st.integers(0, max(len(tags) - 1, 0)), max_size=len(tags)).map(
            lambda s: tuple(sorted(s))),
        comments=many_comments.map(tuple),
        notes=st.lists(names(100), max_size=3).map(tuple),
        detail=st.one_of(st.none(), st.fixed_dictionaries({
            "notes_text": text(50), "weight": st.floats(-1e6, 1e6)})),
        special=st.one_of(st.none(), st.fixed_dictionaries({
            "bonus": decimals(8, 3, nullable=True), "motto": text(40)})),
    ), min_size=min_items, max_size=max_items))
    groups = draw(st.lists(st.tuples(
        names(50),
        st.lists(st.tuples(owner_index, st.sampled_from(["member", "admin"])), max_size=3)
        .map(tuple),
    ), max_size=2).map(tuple))
    return WorldSpec(
        use_tz=use_tz, time_zone=draw(st.sampled_from(ZONES)), owners=tuple(owners),
        tags=tuple(tags), items=tuple(items), groups=groups,
    )


@dataclass
class World:
    """The rows :func:`build_world` created (primary keys in creation order)."""

    owners: list = field(default_factory=list)
    items: list = field(default_factory=list)
    groups: list = field(default_factory=list)


def build_world(spec: WorldSpec) -> World:
    """Create the rows of ``spec``; call inside a transaction that rolls back."""
    world = World()
    user_model = get_user_model()
    for i, owner in enumerate(spec.owners):
        user = None
        if owner["with_user"]:
            user = user_model.objects.create_user(
                username=f"user{i}", password="secret", first_name=owner["username"][:150],
                email=owner["email"],
            )
        world.owners.append(fz.Owner.objects.create(
            username=owner["username"], email=owner["email"], password=owner["password"],
            ssn=owner["ssn"], user=user,
        ))
    tags = [fz.Tag.objects.create(name=name) for name in spec.tags]
    for item in spec.items:
        world.items.append(_create_item(item, world.owners, tags))
    for name, memberships in spec.groups:
        group = fz.Group.objects.create(name=name)
        for owner, role in memberships:
            fz.Membership.objects.create(group=group, owner=world.owners[owner], role=role,
                                         joined=datetime.date(2020, 1, 1 + owner))
        world.groups.append(group)
    return world


def _create_item(spec: ItemSpec, owners, tags):
    model = fz.SpecialItem if spec.special is not None else fz.Item
    extra = spec.special or {}
    item = model.objects.create(
        **spec.fields, **extra, owner=owners[spec.owner],
        reviewer=None if spec.reviewer is None else owners[spec.reviewer],
    )
    item.tags.set([tags[i] for i in spec.tags if i < len(tags)])
    for comment in spec.comments:
        author = comment["author"]
        fz.Comment.objects.create(
            item=item, text=comment["text"], posted=comment["posted"], score=comment["score"],
            author=None if author is None else owners[author],
        )
    for note in spec.notes:
        fz.Note.objects.create(target=item, text=note)
    if spec.detail is not None:
        fz.Detail.objects.create(item=item, **spec.detail)
    return item


def time_settings(spec: WorldSpec) -> dict:
    """The ``override_settings`` keyword arguments a world runs under."""
    return {"USE_TZ": spec.use_tz, "TIME_ZONE": spec.time_zone}

