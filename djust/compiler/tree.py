"""Stage 2: type the paths a template reads against a model's ``_meta``.

``build_access_tree(model, paths)`` turns paths relative to one instance of
``model`` into a tree of ``nodes.Node``: one node per segment, children sorted
by segment, ``bare`` where a path ends. Each segment is resolved the way
Django's template engine would find it on the live object (dict lookup, then
attribute, then list index), but statically, from the model class:

- on a model instance: ``pk``, concrete fields, a FK's attname, forward and
  reverse relations by their attribute (accessor) names, ``get_FOO_display``,
  properties, ``cached_property`` and methods. A ``related_query_name`` is
  not an attribute, digits and names starting with ``_`` cannot be, so they
  become UNKNOWN;
- on a related manager: ``all``, ``count``/``exists``, ``first``/``last``;
  on ``all``: ``*``, an index, and the same four;
- inside a JSONField value: KEY (and INDEX for integer segments).

Anything the class does not settle is UNKNOWN, resolved at run time with
Django's own rules; everything below an UNKNOWN node is UNKNOWN too, and so
is everything below PROPERTY, METHOD, DISPLAY, AGGREGATE, GENERIC_FK and
non-JSON fields.

Kind-specific facts are declared per kind in ``nodes`` (``node.facts``:
``FieldFacts``, ``ForwardFacts``, ``ReverseOneFacts``, ``GenericFacts``,
``ToManyFacts``, ``RowsFacts``, ``IndexFacts``, ``PropertyFacts``,
``MethodFacts``); reading a fact a kind does not have is an error.

A path reading a sensitive name (``sensitive.sensitive_names``: ``password``,
``DJUST["SENSITIVE_FIELDS"]``, the model's ``djust_sensitive_fields``,
``get_session_auth_hash`` on users) becomes a childless SENSITIVE node and
emits ``sensitive.SensitiveFieldWarning`` once per (model, path) per process.

    >>> from examples.rentals.models import Lease
    >>> print(build_access_tree(Lease, ["tenant.phone"]).dump())
    <root>: root rentals.Lease
      tenant: forward rentals.Tenant
        phone: field CharField bare
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Iterable

from django.apps import apps
from django.db import models
from django.utils.functional import cached_property as django_cached_property

from djust.compiler import relations, sensitive
from djust.compiler.errors import InvalidPathError
from djust.compiler.nodes import (
    FieldFacts,
    ForwardFacts,
    GenericFacts,
    IndexFacts,
    Kind,
    MethodFacts,
    Node,
    PropertyFacts,
    ReverseOneFacts,
    RowsFacts,
    ToManyFacts,
)
from djust.compiler.paths import (
    STAR,
    Branch,
    branch_paths,
    is_index,
    join_path,
    normalize_paths,
    split_path,
)

logger = logging.getLogger("djust.compiler.tree")

MANAGER_AGGREGATES = ("count", "exists")
MANAGER_PICKS = ("first", "last")
_MISSING = object()


def build_access_tree(model: type[models.Model], paths: Iterable[str], *,
                      warn: bool = True) -> Node:
    """Type ``paths`` (relative to one ``model`` instance) into a ROOT node.

    ``warn=False`` types sensitive names as SENSITIVE without warning: for
    paths the template reads through run-time lookups (which refuse those
    names silently), typed only to plan their queries.

        >>> from examples.rentals.models import Property
        >>> tree = build_access_tree(Property, ["name", "units.count"])
        >>> tree.child("units").kind, tree.child("units").child("count").kind
        (<Kind.TO_MANY: 'to_many'>, <Kind.AGGREGATE: 'aggregate'>)
    """
    return _Builder(model, warn=warn).build(paths)


def build_read_tree(model: type[models.Model], paths: Iterable[str]) -> Node:
    """Like ``build_access_tree`` but for reads djust performs internally
    (what ``__str__`` or a property reads): sensitive names are typed as
    ordinary fields, since they are loaded but never emitted.

        >>> from examples.rentals.models import Tenant
        >>> build_read_tree(Tenant, ["user.password"]).child("user").child("password").kind
        <Kind.FIELD: 'field'>
    """
    return _Builder(model, warn=False, refuse=False).build(paths)


def _branches(model: type[models.Model], paths: Iterable[str]) -> Branch:
    paths = normalize_paths(paths)
    for path in paths:
        if "" in split_path(path):
            raise InvalidPathError(model=model._meta.label, path=path)
    return branch_paths(paths)


# -- what a model class offers ------------------------------------------------


@functools.cache
def _model_attributes(model: type[models.Model]) -> dict[str, object]:
    """Instance attribute name → field, relation, or ("attname", field)."""
    attributes: dict[str, object] = {}
    for item in model._meta.get_fields():
        if item.auto_created and not item.concrete:
            accessor = item.get_accessor_name()
            if accessor:
                attributes[accessor] = item
            continue
        attributes[item.name] = item
        attname = getattr(item, "attname", None)
        if item.concrete and attname and attname != item.name:
            attributes.setdefault(attname, ("attname", item))
    return attributes


def _value_field_class(model_field: models.Field) -> type:
    """The class of the field whose value a FK column holds (through chains
    of FKs, e.g. a FK to a multi-table child whose pk is its parent link)."""
    while model_field.is_relation and (model_field.many_to_one or model_field.one_to_one):
        model_field = model_field.target_field
    return type(model_field)


def _generic_classes() -> tuple[type, type] | None:
    if not apps.is_installed("django.contrib.contenttypes"):
        return None
    from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation

    return GenericForeignKey, GenericRelation


# -- the builder ---------------------------------------------------------------


class _Builder:
    def __init__(self, model: type[models.Model], warn: bool, refuse: bool = True) -> None:
        if not (isinstance(model, type) and issubclass(model, models.Model)):
            raise TypeError(f"build_access_tree needs a model class, not {model!r}")
        self.model = model
        self.warn = warn
        # False for reads djust performs itself: sensitive names are plain fields.
        self.refuse = refuse
        # Reads the app registry: once per tree, not per path.
        self.generic = _generic_classes()

    def build(self, paths: Iterable[str]) -> Node:
        root = _branches(self.model, paths)
        children = self._instance_children(self.model, root, ())
        return Node("", Kind.ROOT, children=children, bare=root.bare, model=self.model)

    # Each resolver returns the node for ``segment`` given what is below it.

    def _instance_children(self, model, branch: Branch, path: tuple[str, ...]):
        return tuple(
            self._on_instance(model, segment, sub, (*path, segment))
            for segment, sub in sorted(branch.children.items())
        )

    def _on_instance(self, model, segment: str, branch: Branch, path) -> Node:
        if segment.startswith("_"):
            return _unknown(segment, branch, "Django refuses lookups starting with '_'")
        if segment == STAR:
            return _unknown(segment, branch, f"a {model.__name__} instance is not iterable")
        if is_index(segment):
            return _unknown(
                segment, branch, f"a {model.__name__} instance has no attribute or index {segment}"
            )
        if self.refuse and segment in sensitive.sensitive_names(model):
            if self.warn:
                sensitive.warn_once(self.model, model, join_path(path), stacklevel=3)
            return Node(
                segment, Kind.SENSITIVE, bare=branch.bare, field=segment,
                note=f"{model._meta.label}.{segment} is sensitive: never emitted",
            )
        if segment == "pk":
            return self._pk(model, branch)
        entry = _model_attributes(model).get(segment)
        if entry is not None:
            return self._on_field(model, segment, entry, branch, path)
        display = self._display(model, segment, branch)
        if display is not None:
            return display
        return self._on_class_attribute(model, segment, branch)

    def _pk(self, model, branch: Branch) -> Node:
        pk = model._meta.pk
        return Node(
            "pk", Kind.FIELD, bare=branch.bare, field=pk.name,
            field_class=_value_field_class(pk),
            children=_unknown_children(branch, "below a value"),
            facts=FieldFacts(attname=pk.attname, pk=True),
        )

    def _on_field(self, model, segment: str, entry, branch: Branch, path) -> Node:
        generic = self.generic
        if isinstance(entry, tuple):  # a FK's attname, e.g. author_id
            model_field = entry[1]
            return Node(
                segment, Kind.FIELD, bare=branch.bare, field=model_field.name,
                field_class=_value_field_class(model_field), nullable=model_field.null,
                children=_unknown_children(branch, "below a value"),
                facts=FieldFacts(attname=segment),
            )
        if generic and isinstance(entry, generic[0]):
            return Node(
                segment, Kind.GENERIC_FK, bare=branch.bare, field=segment, nullable=True,
                children=_unknown_children(branch, "the generic target's model is known "
                                                   "only at run time"),
                facts=GenericFacts(ct_field=entry.ct_field, fk_field=entry.fk_field),
            )
        facts = relations.to_many_facts(entry, segment, generic=generic is not None)
        if facts is not None:
            return self._to_many(entry.related_model, segment, branch, path, facts)
        if entry.auto_created and not entry.concrete:
            return self._reverse_one(entry, segment, branch, path)
        if entry.is_relation and (entry.many_to_one or entry.one_to_one) and entry.concrete:
            parent_link = bool(entry.remote_field.parent_link)
            return Node(
                segment, Kind.FORWARD, bare=branch.bare, model=entry.related_model,
                field=entry.name, nullable=entry.null,
                children=self._instance_children(entry.related_model, branch, path),
                facts=ForwardFacts(query_name=entry.name, parent_link=parent_link),
            )
        if entry.concrete and not entry.is_relation:
            return Node(
                segment, Kind.FIELD, bare=branch.bare, field=entry.name,
                field_class=type(entry), nullable=entry.null,
                children=self._value_children(entry, branch),
                facts=FieldFacts(attname=entry.attname),
            )
        return _unknown(segment, branch, f"{type(entry).__name__} is not typed by djust")

    def _value_children(self, model_field, branch: Branch) -> tuple[Node, ...]:
        if isinstance(model_field, models.JSONField):
            return _json_children(branch)
        return _unknown_children(branch, "below a value")

    def _reverse_one(self, rel, segment: str, branch: Branch, path) -> Node:
        related = rel.related_model
        return Node(
            segment, Kind.REVERSE_ONE, bare=branch.bare, model=related, field=segment,
            children=self._instance_children(related, branch, path),
            facts=ReverseOneFacts(query_name=rel.name, remote_field=rel.field.name),
        )

    def _to_many(self, related, segment: str, branch: Branch, path,
                 facts: ToManyFacts) -> Node:
        children = tuple(
            self._on_rows(related, sub_segment, sub, (*path, sub_segment), manager=True)
            for sub_segment, sub in sorted(branch.children.items())
        )
        return Node(
            segment, Kind.TO_MANY, bare=branch.bare, model=related, field=segment,
            children=children, facts=facts,
        )

    def _on_rows(self, related, segment: str, branch: Branch, path, manager: bool) -> Node:
        """A segment on a related manager (``manager``) or on its ``all()``."""
        if segment in MANAGER_AGGREGATES:
            return Node(
                segment, Kind.AGGREGATE, bare=branch.bare, model=related,
                children=_unknown_children(branch, f"below {segment}()"),
                facts=RowsFacts(method=segment),
            )
        if segment in MANAGER_PICKS:
            return Node(
                segment, Kind.PICK, bare=branch.bare, model=related, nullable=True,
                children=self._instance_children(related, branch, path),
                facts=RowsFacts(method=segment),
            )
        if manager and segment == "all":
            children = tuple(
                self._on_rows(related, sub_segment, sub, (*path, sub_segment), manager=False)
                for sub_segment, sub in sorted(branch.children.items())
            )
            return Node(segment, Kind.ALL, bare=branch.bare, model=related, children=children)
        if not manager and segment == STAR:
            return Node(
                segment, Kind.EACH, bare=branch.bare, model=related,
                children=self._instance_children(related, branch, path),
            )
        if not manager and is_index(segment):
            return Node(
                segment, Kind.INDEX, bare=branch.bare, model=related, nullable=False,
                children=self._instance_children(related, branch, path),
                facts=IndexFacts(index=int(segment)),
            )
        where = "a related manager" if manager else "a queryset"
        return _unknown(segment, branch, f"{segment!r} on {where} is resolved at run time")

    def _display(self, model, segment: str, branch: Branch) -> Node | None:
        model_field = relations.display_field(model, segment)
        if model_field is None:
            return None
        return Node(
            segment, Kind.DISPLAY, bare=branch.bare, field=model_field.name,
            field_class=type(model_field), nullable=model_field.null,
            children=_unknown_children(branch, "below a display value"),
        )

    def _on_class_attribute(self, model, segment: str, branch: Branch) -> Node:
        static = inspect.getattr_static(model, segment, _MISSING)
        if static is _MISSING:
            return _unknown(segment, branch, f"{model._meta.label} has no attribute {segment!r}")
        below = f"below {model.__name__}.{segment}"
        if isinstance(static, property):
            return Node(
                segment, Kind.PROPERTY, bare=branch.bare, field=segment,
                children=_unknown_children(branch, below), facts=PropertyFacts(cached=False),
            )
        if isinstance(static, functools.cached_property | django_cached_property):
            return Node(
                segment, Kind.PROPERTY, bare=branch.bare, field=segment,
                children=_unknown_children(branch, below), facts=PropertyFacts(cached=True),
            )
        function, is_static = _method_function(static)
        if function is not None:
            return Node(
                segment, Kind.METHOD, bare=branch.bare, field=segment,
                children=_unknown_children(branch, below),
                facts=MethodFacts(
                    alters_data=bool(getattr(function, "alters_data", False)),
                    do_not_call_in_templates=bool(
                        getattr(function, "do_not_call_in_templates", False)),
                    needs_arguments=_needs_arguments(function, skip_first=not is_static),
                    static=is_static,
                ),
            )
        kind = type(static).__name__
        return _unknown(segment, branch, f"class attribute of type {kind} resolved at run time")


def _method_function(static) -> tuple[object | None, bool]:
    """The plain function behind a class attribute the template would call."""
    if inspect.isfunction(static):
        return static, False
    if isinstance(static, staticmethod) and inspect.isfunction(static.__func__):
        return static.__func__, True
    if isinstance(static, classmethod) and inspect.isfunction(static.__func__):
        # Bound to the class, so its first parameter is filled in for it.
        return static.__func__, False
    return None, False


def _needs_arguments(function, skip_first: bool) -> bool:
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False
    if skip_first and parameters:
        parameters = parameters[1:]
    return any(
        parameter.default is inspect.Parameter.empty
        and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        for parameter in parameters
    )


def _unknown(segment: str, branch: Branch, note: str) -> Node:
    return Node(
        segment, Kind.UNKNOWN, bare=branch.bare, note=note,
        children=_unknown_children(branch, "below a run-time lookup"),
    )


def _unknown_children(branch: Branch, note: str) -> tuple[Node, ...]:
    return tuple(_unknown(segment, sub, note) for segment, sub in sorted(branch.children.items()))


def _json_children(branch: Branch) -> tuple[Node, ...]:
    children = []
    for segment, sub in sorted(branch.children.items()):
        if segment.startswith("_"):
            children.append(_unknown(segment, sub, "Django refuses lookups starting with '_'"))
        elif segment == STAR:
            children.append(Node(segment, Kind.EACH, bare=sub.bare, children=_json_children(sub)))
        elif is_index(segment):
            children.append(Node(
                segment, Kind.INDEX, bare=sub.bare, nullable=True,
                children=_json_children(sub), facts=IndexFacts(index=int(segment)),
            ))
        else:
            children.append(Node(
                segment, Kind.KEY, bare=sub.bare, nullable=True, children=_json_children(sub)
            ))
    return tuple(children)


# -- a user's to_attr list ------------------------------------------------------


def type_user_list(model: type[models.Model], node: Node, relation: str,
                   rows_model: type[models.Model] | None) -> Node | None:
    """Type the list a user's ``Prefetch(relation, ..., to_attr=node.segment)``
    sets on ``model`` instances as the TO_MANY ``relation`` whose rows (an
    ALL node without a segment) are the list: what the template reads on
    its elements (``*`` and indexes, merged) typed on ``rows_model`` (the
    Prefetch queryset's model; None: the relation's). None when
    ``relation`` is no to-many relation of ``model`` (Django then sets one
    object, not a list). An empty ``relation``: a list found on rows
    already loaded, whose relation is unknown (``rows_model`` is needed).

    Only the planner uses it: the serializer reads such a list with
    run-time lookups, since whether a name is a to_attr list is known only
    from the queryset a plan is applied to (``plan.user_lists``). Sensitive
    names come out SENSITIVE without a warning (run-time lookups refuse them).

        >>> from examples.rentals.models import Property, Unit
        >>> unknown = build_access_tree(Property, ["picked.*.number"]).child("picked")
        >>> print(type_user_list(Property, unknown, "units", Unit).dump())
        picked: to_many rentals.Unit
          <root>: all rentals.Unit
            *: each rentals.Unit
              number: field CharField bare
    """
    if not relation:
        # A list found on rows already loaded: its relation is not known.
        facts, target = ToManyFacts(), rows_model
    else:
        entry = _model_attributes(model).get(relation)
        if entry is None or isinstance(entry, tuple):
            return None
        facts = relations.to_many_facts(entry, relation, generic=_generic_classes() is not None)
        if facts is None:
            return None
        target = rows_model or entry.related_model
    elements = [child for child in node.children if child.segment == STAR
                or is_index(child.segment)]
    paths = [join_path(segments[1:]) for child in elements
             for segments, below in child.walk() if below.bare]
    typed = build_access_tree(target, paths, warn=False)
    each = Node(STAR, Kind.EACH, bare=typed.bare, model=target, children=typed.children)
    # No segment: the list itself holds the rows (paths read ``picked.*``).
    rows = Node("", Kind.ALL, bare=node.bare, model=target, children=(each,))
    return Node(node.segment, Kind.TO_MANY, model=target, field=relation or None,
                children=(rows,),
                facts=facts)
