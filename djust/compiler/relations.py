"""Django's relation facts, each defined once for every stage.

What a model class says about its relations and methods, read the way
Django's own descriptors and managers read it: which kind of to-many
relation an accessor is and the field pointing back, where
``prefetch_related`` and the to-one descriptors cache related objects, the
queryset a related manager starts from, the targets of a generic foreign
key, how a template runs a method, and the choices behind
``get_FOO_display``. ``tree`` types nodes with them, ``plan`` derives the
queries, and ``lowering`` and ``projection`` generate code reading what
those queries loaded.

    >>> from examples.rentals.models import Property
    >>> prefetch_cache_name(Property, "units"), to_many_relation(Property, "units").lookup
    ('units', 'property')
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

from django.db import models
from django.db.models.fields.related_descriptors import (
    ForwardManyToOneDescriptor,
    ForwardOneToOneDescriptor,
    ManyToManyDescriptor,
    ReverseManyToOneDescriptor,
    ReverseOneToOneDescriptor,
)
from django.db.models.query import QuerySet
from django.utils.encoding import force_str
from django.utils.hashable import make_hashable

from djust.compiler.nodes import Kind, Node, ToManyFacts
from djust.compiler.paths import STAR, is_index

# The kinds of to-many relation, as ``Node`` facts name them.
REVERSE_FK = "reverse_fk"
M2M = "m2m"
REVERSE_M2M = "reverse_m2m"
GENERIC_RELATION = "generic_relation"


def to_many_facts(entry, accessor: str, *, generic: bool = True) -> ToManyFacts | None:
    """What the to-many relation ``entry`` (as ``_meta.get_fields()`` lists
    it, reached as ``accessor``) is, or None for any other entry. A
    GenericRelation counts only when ``generic`` (contenttypes installed).

        >>> from examples.rentals.models import Property
        >>> facts = to_many_facts(Property._meta.get_field("units"), "units")
        >>> facts.relation, facts.query_name, facts.remote_field
        ('reverse_fk', 'units', 'property')
    """
    if generic and _is_generic_relation_field(entry):
        return ToManyFacts(GENERIC_RELATION, query_name=accessor,
                           ct_field=entry.content_type_field_name,
                           fk_field=entry.object_id_field_name)
    if entry.auto_created and not entry.concrete:
        if entry.one_to_one:
            return None
        if entry.many_to_many:
            return ToManyFacts(REVERSE_M2M, query_name=entry.name,
                               through=entry.through._meta.label)
        return ToManyFacts(REVERSE_FK, query_name=entry.name, remote_field=entry.field.name)
    if entry.many_to_many:
        return ToManyFacts(M2M, query_name=accessor,
                           through=entry.remote_field.through._meta.label)
    return None


def _is_generic_relation_field(entry) -> bool:
    try:
        from django.contrib.contenttypes.fields import GenericRelation
    except ImportError:  # pragma: no cover - contenttypes is part of Django
        return False
    return isinstance(entry, GenericRelation)


def is_generic_relation(descriptor) -> bool:
    """True for the descriptor of a GenericRelation accessor.

        >>> from tests.testapp.models import Book
        >>> is_generic_relation(inspect.getattr_static(Book, "comments"))
        True
    """
    try:
        from django.contrib.contenttypes.fields import ReverseGenericManyToOneDescriptor
    except ImportError:  # pragma: no cover - contenttypes is part of Django
        return False
    return isinstance(descriptor, ReverseGenericManyToOneDescriptor)


def reverse_foreign_key(model: type | None, accessor: str):
    """The ForeignKey behind the reverse-ForeignKey accessor ``model.<accessor>``
    (a GenericRelation is not one), or None.

        >>> from examples.rentals.models import Property
        >>> reverse_foreign_key(Property, "units").name, reverse_foreign_key(Property, "name")
        ('property', None)
    """
    if model is None:
        return None
    descriptor = inspect.getattr_static(model, accessor, None)
    if not isinstance(descriptor, ReverseManyToOneDescriptor) or is_generic_relation(descriptor):
        return None
    return descriptor.rel.field


def reverse_accessor(model: type, name: str) -> str | None:
    """The accessor of the one-to-one reverse side of ``model.<name>``, a
    unique forward relation (ForeignKey with ``unique=True`` or OneToOne):
    Django sets it on a row joined through ``name`` to the row it was
    joined from. None for a plain ForeignKey, whose reverse side is many.

        >>> from tests.testapp.models import Biography, Book
        >>> reverse_accessor(Biography, "author"), reverse_accessor(Book, "author")
        ('biography', None)
    """
    field = model._meta.get_field(name)
    if field.unique and field.remote_field is not None:
        return field.remote_field.get_accessor_name()
    return None


# ------------------------------------------------------------ caches


def prefetch_cache_name(model: type | None, accessor: str) -> str | None:
    """The key under which ``prefetch_related`` stores ``accessor``'s rows.

    Reverse ForeignKey: the relation's cache name (its accessor); forward
    ManyToMany: the field name; reverse ManyToMany: the related query name;
    GenericRelation: the field's attname.

        >>> from examples.rentals.models import Amenity, Property
        >>> prefetch_cache_name(Property, "units"), prefetch_cache_name(Amenity, "properties")
        ('units', 'properties')
    """
    if model is None:
        return None
    descriptor = inspect.getattr_static(model, accessor, None)
    if isinstance(descriptor, ManyToManyDescriptor):
        if descriptor.reverse:
            return descriptor.rel.field.related_query_name()
        return descriptor.field.name
    if isinstance(descriptor, ReverseManyToOneDescriptor):
        if is_generic_relation(descriptor):
            return descriptor.field.attname
        return descriptor.rel.cache_name
    return None


def related_cache_key(model: type | None, name: str) -> str | None:
    """The ``_state.fields_cache`` key under which Django's own descriptor
    for the to-one relation ``name`` of ``model`` keeps the related object,
    or None when ``name`` is read some other way.

    On a cache hit those descriptors return the cached object (or raise for
    a ``None`` the relation does not allow); generated code reads the same
    dict and leaves every other case (a miss, ``None``) to the descriptor.

        >>> from examples.rentals.models import Lease
        >>> related_cache_key(Lease, "tenant"), related_cache_key(Lease, "units")
        ('tenant', None)
    """
    if model is None:
        return None
    descriptor = inspect.getattr_static(model, name, None)
    # Exactly Django's classes: a subclass may answer from somewhere else.
    if descriptor.__class__ in (ForwardManyToOneDescriptor, ForwardOneToOneDescriptor):
        return descriptor.field.cache_name
    if descriptor.__class__ is ReverseOneToOneDescriptor:
        return descriptor.related.cache_name
    return None


# ------------------------------------------------------- related rows


def related_queryset(model: type) -> QuerySet:
    """The queryset a related manager of ``model`` starts from: Django builds
    related managers from ``model._default_manager.__class__``, instantiated
    without arguments.

        >>> from examples.rentals.models import Unit
        >>> related_queryset(Unit).model.__name__
        'Unit'
    """
    manager_class = model._default_manager.__class__
    try:
        manager = manager_class()
    except TypeError:
        # A manager needing arguments cannot back a related manager either;
        # the configured instance is the closest faithful choice.
        return model._default_manager.get_queryset()
    manager.model = model
    return manager.get_queryset()


def relation_is_ordered(model: type | None) -> bool:
    """Whether the related manager of ``model`` orders its rows, as the
    planned prefetch queryset (started from the same manager) does.

        >>> from examples.rentals.models import Unit
        >>> relation_is_ordered(Unit) == Unit.objects.all().ordered
        True
    """
    if model is None:
        return False
    return related_queryset(model).ordered


@dataclass(frozen=True)
class Relation:
    """A to-many relation as one query: the related model and its lookup
    back to the parent (``Unit`` and ``"property"`` for ``Property.units``)."""

    model: type
    lookup: str
    many_to_many: bool


def to_many_relation(model, accessor: str) -> Relation | None:
    """The ``Relation`` behind ``model.<accessor>``, or None when its rows
    cannot be read as ``values_list()`` rows keyed by the parent's pk.

        >>> from examples.rentals.models import Property
        >>> relation = to_many_relation(Property, "units")
        >>> relation.model.__name__, relation.lookup, relation.many_to_many
        ('Unit', 'property', False)
    """
    descriptor = inspect.getattr_static(model, accessor, None)
    if isinstance(descriptor, ManyToManyDescriptor):
        m2m = descriptor.rel.field if descriptor.reverse else descriptor.field
        if descriptor.reverse:
            related, lookup = m2m.model, m2m.name
        else:
            related, lookup = m2m.related_model, m2m.related_query_name()
        if related is model or lookup.endswith("+"):
            return None  # self-referential or hidden: no plain lookup back
        # The join table's keys must be both models' pks (no to_field), or
        # the key column read back is not the parent's pk.
        if (m2m.m2m_target_field_name() != m2m.related_model._meta.pk.name
                or m2m.m2m_reverse_target_field_name() != m2m.model._meta.pk.name):
            return None
        return Relation(related, lookup, True)
    foreign_key = reverse_foreign_key(model, accessor)
    if foreign_key is None or foreign_key.remote_field.model is not model:
        return None
    if foreign_key.target_field is not model._meta.pk:
        return None  # to_field: keyed by another column than the pk
    return Relation(foreign_key.model, foreign_key.name, False)


def generic_targets(model: type, name: str) -> tuple[type, ...]:
    """The models a GenericForeignKey ``model.<name>`` is known to point at:
    those declaring a GenericRelation over its content type and object id
    fields, one per content type, sorted by label.

        >>> from tests.testapp.models import Comment
        >>> [target.__name__ for target in generic_targets(Comment, "target")]
        ['Book']
    """
    from django.apps import apps
    from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation

    gfk = next((f for f in model._meta.private_fields
                if isinstance(f, GenericForeignKey) and f.name == name), None)
    if gfk is None:
        return ()
    found: dict[str, type] = {}
    for candidate in apps.get_models():
        for relation in candidate._meta.private_fields:
            if (isinstance(relation, GenericRelation)
                    and relation.related_model is model
                    and relation.content_type_field_name == gfk.ct_field
                    and relation.object_id_field_name == gfk.fk_field):
                # Django fetches one queryset per content type, and the
                # content type of a proxy is its concrete model's by default.
                target = candidate._meta.concrete_model if gfk.for_concrete_model else candidate
                found[target._meta.label] = target
    return tuple(found[label] for label in sorted(found))


# -------------------------------------------------------- listed rows
#
# ``Serializer.many`` prefetches a relation only the serializer reads into a
# plain list attribute (``plan.QueryPlan.apply(..., lists=True)``): Django
# then skips building a related manager and a queryset per row. The
# generated code reads that list first, then the prefetch cache, then the
# manager, so a serializer called on rows loaded any other way stays right.

LIST_PREFIX = "_djust_"


def list_attribute(accessor: str) -> str:
    """The attribute holding the listed rows of relation ``accessor``.

        >>> list_attribute("units")
        '_djust_units'
    """
    return LIST_PREFIX + accessor


def rows_read_as_list(node: Node) -> bool:
    """True when every read of the rows of the TO_MANY ``node`` (``all``,
    ``count``, ``exists``, ``first``, ``last``, ``*``, an index) is answered
    from a plain list exactly as from the prefetched queryset.

        >>> from examples.rentals.models import Property
        >>> from djust.compiler.tree import build_access_tree
        >>> tree = build_access_tree(Property, ["units.count", "units.all.*.number"])
        >>> rows_read_as_list(tree.child("units"))
        True
    """
    return all(_row_read_is_plain(child) for child in node.children
               if child.kind in (Kind.ALL, Kind.AGGREGATE, Kind.PICK))


def _row_read_is_plain(node: Node) -> bool:
    if node.kind is Kind.AGGREGATE:
        return node.segment in ("count", "exists")
    if node.kind is Kind.PICK:
        return node.segment in ("first", "last")
    if node.kind is not Kind.ALL:
        return False
    for child in node.children:
        if child.segment == STAR or is_index(child.segment):
            continue
        if child.kind is Kind.SENSITIVE or child.segment.startswith("_"):
            continue  # no piece is generated for it
        if not _row_read_is_plain(child):
            return False
    return True


# ------------------------------------------------------------ methods


def method_strategy(model: type | None, name: str) -> str:
    """How a template treats ``instance.<name>`` for a method of ``model``.

    ``"call"``: a plain function callable with no arguments; ``"keep"``:
    marked ``do_not_call_in_templates`` (the bound method is the value);
    ``"absent"``: ``alters_data`` or arguments required; ``"dynamic"``:
    anything else, resolved at run time.

        >>> from examples.rentals.models import Lease
        >>> method_strategy(Lease, "days_until_expiration"), method_strategy(Lease, "delete")
        ('call', 'absent')
    """
    if model is None:
        return "dynamic"
    function = inspect.getattr_static(model, name, None)
    if not inspect.isfunction(function):
        return "dynamic"
    if getattr(function, "do_not_call_in_templates", False):
        return "keep"
    if getattr(function, "alters_data", False):
        return "absent"
    try:
        inspect.signature(function).bind(None)
    except TypeError:
        return "absent"
    return "call"


# ------------------------------------------------ get_FOO_display tables
#
# Django's get_FOO_display() rebuilds a dict of the field's choices on every
# call (make_hashable over a fresh flatchoices list): on a typical row that
# costs more than everything else the serializer does. When the method is the
# one Django installed and the choices are fixed (not a callable, which Django
# calls again each time), the table is built once, at compile time, from the
# same expression. Generated code reads it only for instances of exactly the
# compiled model, whose method it is, and calls the method for anything else:
# a subclass may override it, and a value missing from the table or
# unhashable is Django's to answer.


def display_field(model: type, method: str) -> models.Field | None:
    """The field whose choices ``model.<method>`` displays, when the method
    is one Django installs for a field with choices.

        >>> from examples.rentals.models import Lease
        >>> display_field(Lease, "get_status_display").name
        'status'
    """
    static = inspect.getattr_static(model, method, None)
    if not isinstance(static, functools.partialmethod):
        return None
    model_field = static.keywords.get("field")
    if not isinstance(model_field, models.Field) or method != f"get_{model_field.name}_display":
        return None
    return model_field


def display_table(model: type, method: str) -> dict | None:
    """The value → label table ``model.<method>()`` reads, or None when it
    cannot be built once (not Django's own method, or callable choices).

        >>> from examples.rentals.models import Lease
        >>> display_table(Lease, "get_status_display")["active"]
        'Active'
    """
    static = inspect.getattr_static(model, method, None)
    if not isinstance(static, functools.partialmethod):
        return None
    if static.func is not models.Model._get_FIELD_display or static.args:
        return None
    model_field = static.keywords.get("field")
    if not isinstance(model_field, models.Field):
        return None
    # A list after Django normalizes them; a callable stays a
    # CallableChoiceIterator, evaluated on every call.
    if not isinstance(model_field.choices, (list, tuple)):
        return None
    return dict(make_hashable(model_field.flatchoices))


def choice_labels(model_field) -> dict:
    """The field's choices as ``get_FOO_display()`` shows them now: each
    label already turned into text in the active language, so a row's value
    is one dict lookup (``runtime.display_choice`` for values outside it).

        >>> from examples.rentals.models import Lease
        >>> choice_labels(Lease._meta.get_field("status"))["expired"]
        'Expired'
    """
    return {value: force_str(label, strings_only=True)
            for value, label in make_hashable(model_field.flatchoices)}
