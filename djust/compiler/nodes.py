"""The typed access tree: immutable plain data, one node per path segment.

``tree.build_access_tree(model, paths)`` produces it from a model's
``_meta``; ``plan`` reads it to derive the queries and ``lowering`` reads it
to generate the serializer. Nodes compare structurally, so two trees built
from the same model and paths are equal, and a tree can be part of a cache
key's derivation.

    >>> leaf = Node("email", Kind.FIELD, field="email")
    >>> user = Node("user", Kind.FORWARD, children=(leaf,), field="user")
    >>> user.child("email") is leaf
    True
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, replace


class Kind(enum.Enum):
    # The model instance being serialized.
    ROOT = "root"
    # A concrete column read as a value: fields, ``pk``, a FK's attname.
    FIELD = "field"
    # Forward ForeignKey / OneToOne: a related instance or None.
    FORWARD = "forward"
    # Reverse OneToOne: a related instance; a missing row raises
    # ObjectDoesNotExist, which templates treat as a silent failure.
    REVERSE_ONE = "reverse_one"
    # GenericForeignKey: an instance of any model, or None.
    GENERIC_FK = "generic_fk"
    # A related manager: reverse ForeignKey, ManyToMany (either side),
    # GenericRelation.
    TO_MANY = "to_many"
    # ``all`` on a related manager: the related rows (transparent for
    # planning).
    ALL = "all"
    # ``count`` / ``exists`` on a related manager.
    AGGREGATE = "aggregate"
    # ``first`` / ``last`` on a related manager: one row or None.
    PICK = "pick"
    # ``*``: each element of the iterable reached so far.
    EACH = "each"
    # ``get_FOO_display``.
    DISPLAY = "display"
    # ``property`` / ``cached_property`` on the model class.
    PROPERTY = "property"
    # A method called with no arguments, following the template rules
    # (``alters_data``, ``do_not_call_in_templates``, required arguments).
    METHOD = "method"
    # A list index segment (``0``) on a value that is not a related manager.
    INDEX = "index"
    # A dict key inside a JSONField or another dict-valued node.
    KEY = "key"
    # Anything the model's class does not settle: resolved at run time with
    # Django's own lookup rules. Everything below an UNKNOWN node is UNKNOWN.
    UNKNOWN = "unknown"
    # A field that must never be emitted (``password``, settings, per-model).
    SENSITIVE = "sensitive"


# -- what each kind knows -------------------------------------------------
#
# Per-kind facts, declared: reading a fact the kind does not have raises
# AttributeError. A fact the tree builder could not settle keeps its default
# (hand-built trees in tests set only what they need).


@dataclass(frozen=True)
class NoFacts:
    """The facts of a kind that has none."""


@dataclass(frozen=True)
class FieldFacts:
    """FIELD: ``attname``, the instance attribute holding the value
    (``author_id`` for the FK column read as ``author_id``); ``pk``, true
    for the segment ``pk``."""

    attname: str | None = None
    pk: bool = False


@dataclass(frozen=True)
class ForwardFacts:
    """FORWARD: ``query_name``, the ORM lookup name; ``parent_link``, true
    for a multi-table inheritance parent link (Django builds the parent from
    the child's own row: it is never joined)."""

    query_name: str | None = None
    parent_link: bool = False


@dataclass(frozen=True)
class ReverseOneFacts:
    """REVERSE_ONE: ``query_name``, the ORM lookup name; ``remote_field``,
    the OneToOneField on the related model pointing back."""

    query_name: str | None = None
    remote_field: str | None = None


@dataclass(frozen=True)
class GenericFacts:
    """GENERIC_FK: the content-type and object-id field names."""

    ct_field: str | None = None
    fk_field: str | None = None


@dataclass(frozen=True)
class ToManyFacts:
    """TO_MANY: ``relation`` (``relations.REVERSE_FK``, ``M2M``,
    ``REVERSE_M2M`` or ``GENERIC_RELATION``) and ``query_name``;
    ``remote_field`` for a reverse ForeignKey (the ForeignKey pointing
    back), ``through`` for a ManyToMany (the through model's label),
    ``ct_field``/``fk_field`` for a GenericRelation (on the related model)."""

    relation: str | None = None
    query_name: str | None = None
    remote_field: str | None = None
    through: str | None = None
    ct_field: str | None = None
    fk_field: str | None = None


@dataclass(frozen=True)
class RowsFacts:
    """AGGREGATE and PICK: ``method``, ``count``/``exists`` or
    ``first``/``last``. Prefetched rows keep the relation's own order; of
    unordered rows, ``first()`` and ``last()`` are the smallest and largest
    pk, as Django picks them."""

    method: str | None = None


@dataclass(frozen=True)
class IndexFacts:
    """INDEX: the integer index. Under a JSON value Django tries the key
    (``"0"``) first; code reading it must keep that order."""

    index: int | None = None


@dataclass(frozen=True)
class PropertyFacts:
    """PROPERTY: ``cached``, true for ``cached_property``."""

    cached: bool = False


@dataclass(frozen=True)
class MethodFacts:
    """METHOD: what the class says statically (Django's run-time rules still
    decide); ``static`` for a staticmethod or classmethod."""

    alters_data: bool = False
    do_not_call_in_templates: bool = False
    needs_arguments: bool = False
    static: bool = False


FACTS: dict[Kind, type] = {
    **dict.fromkeys(Kind, NoFacts),
    Kind.FIELD: FieldFacts,
    Kind.FORWARD: ForwardFacts,
    Kind.REVERSE_ONE: ReverseOneFacts,
    Kind.GENERIC_FK: GenericFacts,
    Kind.TO_MANY: ToManyFacts,
    Kind.AGGREGATE: RowsFacts,
    Kind.PICK: RowsFacts,
    Kind.INDEX: IndexFacts,
    Kind.PROPERTY: PropertyFacts,
    Kind.METHOD: MethodFacts,
}


@dataclass(frozen=True)
class Node:
    """One lookup segment, typed against the model it is read from.

    ``segment`` is the template's lookup bit (``""`` for the root).
    ``children`` are sorted by segment. ``bare`` is true when a path ends at
    this node, i.e. the template displays the value itself.
    ``model`` is the model class of the instance(s) the node yields (root,
    relations, ``all``, ``*`` over model rows, ``first``/``last``).
    ``field`` is the ORM name behind the node (the field for FIELD and
    DISPLAY, the relation's accessor for relations, the attribute name for
    PROPERTY/METHOD); ``field_class`` is the Django field class that decides
    a leaf's encoding; ``nullable`` says the value may be None; ``note``
    explains an UNKNOWN or SENSITIVE node for ``explain()``. ``facts`` are
    the kind's own (``FACTS[kind]``; its defaults when not given).
    """

    segment: str
    kind: Kind
    children: tuple[Node, ...] = ()
    bare: bool = False
    model: type | None = None
    field: str | None = None
    field_class: type | None = None
    nullable: bool = False
    note: str = ""
    facts: object = None

    def __post_init__(self) -> None:
        declared = FACTS[self.kind]
        if self.facts is None:
            object.__setattr__(self, "facts", declared())
        elif type(self.facts) is not declared:
            raise TypeError(f"a {self.kind.value} node takes {declared.__name__}, "
                            f"not {type(self.facts).__name__}")

    def child(self, segment: str) -> Node | None:
        for node in self.children:
            if node.segment == segment:
                return node
        return None

    def with_children(self, children: tuple[Node, ...]) -> Node:
        return replace(self, children=tuple(sorted(children, key=lambda n: n.segment)))

    def walk(self, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Node]]:
        """Yield ``(segments from the root, node)`` depth first, self first."""
        here = (*prefix, self.segment) if self.segment or prefix else ()
        yield here, self
        for node in self.children:
            yield from node.walk(here)

    def dump(self, indent: int = 0) -> str:
        """A readable, deterministic, one-node-per-line rendering."""
        facts = [self.kind.value]
        if self.model is not None:
            facts.append(f"{self.model._meta.label}")
        if self.field_class is not None:
            facts.append(self.field_class.__name__)
        if self.nullable:
            facts.append("nullable")
        if self.bare:
            facts.append("bare")
        if self.note:
            facts.append(f"({self.note})")
        name = self.segment or "<root>"
        lines = [f"{'  ' * indent}{name}: {' '.join(facts)}"]
        lines += [node.dump(indent + 1) for node in self.children]
        return "\n".join(lines)


class NodeVisitor:
    """One stage's handling of node kinds: ``visit(node, ...)`` calls the
    method ``visit_<kind>`` (``visit_to_many`` for ``Kind.TO_MANY``) with
    the same arguments, and fails loudly for a kind the stage has no method
    for. Adding a kind means one ``Kind`` member, its facts class, and one
    method in each stage that meets it.

        >>> class Names(NodeVisitor):
        ...     def visit_field(self, node):
        ...         return node.field
        >>> Names().visit(Node("email", Kind.FIELD, field="email"))
        'email'
        >>> Names().visit(Node("x", Kind.UNKNOWN))
        Traceback (most recent call last):
        ...
        NotImplementedError: Names has no visit_unknown for the unknown node 'x'
    """

    _visits: dict[Kind, str] = {}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls._visits = {kind: f"visit_{kind.value}" for kind in Kind
                       if callable(getattr(cls, f"visit_{kind.value}", None))}

    def visit(self, node: Node, *args, **kwargs):
        name = self._visits.get(node.kind)
        if name is None:
            raise NotImplementedError(f"{type(self).__name__} has no visit_{node.kind.value} "
                                      f"for the {node.kind.value} node {node.segment!r}")
        return getattr(self, name)(node, *args, **kwargs)
