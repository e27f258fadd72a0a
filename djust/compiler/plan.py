"""Stage 3: derive the queries that make every path of a tree query-free.

``plan_queries(tree)`` walks a typed access tree and returns a ``QueryPlan``:
plain immutable data describing, per queryset ("level"),

- the joins (``select_related``) along forward FK/OneToOne and reverse
  OneToOne chains, from the root or from the root of a prefetch queryset;
- the columns to load (``only``): the pk, every FK a join or a prefetch
  back-pointer needs, every field the template reads and every column that
  ``__str__``, properties and methods read (see ``introspect``). A level is
  not pruned when djust cannot tell what some code reads, and says why;
- the prefetches: everything under a to-many relation, each with its own
  level, built into ``Prefetch(lookup, queryset=...)`` only when applied.
  The inner queryset starts from the related model's default manager the way
  Django's related managers do, so rows and their order are what the live
  ``obj.rel.all()`` returns (an unordered relation stays unordered: the
  serializer picks ``first()``/``last()`` of such rows by pk, as Django
  does); ``count``/``exists``/``first``/``last`` are answered from those
  rows;
- a GenericForeignKey: the paths below it are typed on every model known to
  be a target (``generic_targets``), each planned as its own level and
  applied as one ``GenericPrefetch`` queryset per content type, so that
  displaying a target or reading below it costs no query per row.

``QueryPlan.apply(queryset)`` merges the plan into what the queryset already
does (its own select_related, prefetch_related, only/defer) so that
evaluation never raises; ``apply_to_instances`` does the same for instances
already loaded (a list, or the rows of a ``union()``, which cannot carry a
plan itself); ``explain()`` says, per path, what happens and why.

The user's own ``Prefetch`` lookups are read through. One without to_attr
gets what the paths read below its rows merged into its queryset, keeping
its filter and order, wherever it sits (``units``, or ``units__leases``
reaching into rows the plan prefetches). One with ``to_attr`` sets a list
under a name the model does not define, so the tree leaves it to run-time
lookups; the plan learns it from the queryset it is applied to
(``user_lists``, ``QueryPlan.through``), plans what is read below the list
on its queryset's model and merges that into the user's Prefetch.

``apply(queryset, lists=True)`` is the variant ``Serializer.many`` uses on
rows nobody else sees: a to-many relation that only the serializer's own
paths read (``PrefetchSpec.listed``: no ``__str__``, property or method
reads it, and every read is one a list answers) is prefetched with
``to_attr`` into a plain list, nested levels included. Django then skips the
related manager and queryset clone it builds per row to fill
``_prefetched_objects_cache``; the generated serializer reads the list first.

    >>> from examples.rentals.models import Lease
    >>> from djust.compiler.tree import build_access_tree
    >>> plan = plan_queries(build_access_tree(Lease, ["tenant.user.email"]))
    >>> plan.select_related
    ('tenant', 'tenant__user')
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace

from django.contrib.contenttypes.prefetch import GenericPrefetch
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Prefetch, prefetch_related_objects
from django.db.models.query import ModelIterable, QuerySet, RawQuerySet

from djust.compiler.introspect import attribute_reads
from djust.compiler.nodes import Kind, Node, NodeVisitor
from djust.compiler.paths import STAR, join_path, normalize_paths
from djust.compiler.relations import (
    GENERIC_RELATION,
    REVERSE_FK,
    generic_targets,
    list_attribute,
    related_queryset,
    reverse_accessor,
    rows_read_as_list,
)
from djust.compiler.sensitive import sensitive_settings
from djust.compiler.tree import build_access_tree, build_read_tree, type_user_list

logger = logging.getLogger("djust.compiler.plan")

SEP = "__"


@dataclass(frozen=True)
class Join:
    """One ``select_related`` step: ORM lookup, attribute path, target."""

    lookup: str
    attribute: str
    model: type


@dataclass(frozen=True)
class Level:
    """What one queryset (the root, or one prefetch's) must do."""

    model: type
    joins: tuple[Join, ...] = ()
    columns: tuple[str, ...] = ()
    prefetches: tuple[PrefetchSpec, ...] = ()
    unpruned: str = ""

    @property
    def select_related(self) -> tuple[str, ...]:
        return tuple(join.lookup for join in self.joins)

    @property
    def only(self) -> tuple[str, ...] | None:
        """Columns for ``only()``, or None when the level is not pruned."""
        return None if self.unpruned else self.columns


@dataclass(frozen=True)
class PrefetchSpec:
    """One prefetch lookup.

    ``level`` is None for a GenericForeignKey, whose rows Django fetches
    with one query per content type; ``targets`` then holds one level per
    model known to be a target (each model with a GenericRelation answering
    the foreign key), applied as a ``GenericPrefetch``. Rows of any other
    model load whole, through its base manager, as Django does unaided.
    """

    lookup: str
    model: type | None
    level: Level | None
    targets: tuple[Level, ...] = ()
    # Only the serializer's own paths read these rows (no __str__, property
    # or method does), and only the way a plain list answers: the serializer
    # variant (``apply(..., lists=True)``) loads them into a list attribute.
    listed: bool = False
    # The user's own ``Prefetch(..., to_attr=lookup)`` fills these rows
    # (``UserList``): the plan merges ``level`` into that Prefetch's queryset
    # and never prefetches them itself.
    user: bool = False


@dataclass(frozen=True)
class UserList:
    """A list of rows the user's own ``Prefetch(..., to_attr=...)`` sets.

    ``path`` is where the rows are, from the rows of the queryset the plan is
    applied to: the Prefetch's ``prefetch_to`` after the ``prefetch_to`` of
    each Prefetch whose queryset holds it (``"picked"``, ``"books__early"``).
    ``relation`` is the relation it prefetches (the last step of its
    ``prefetch_through``; "" for a list found on rows, ``lists_on``) and
    ``model`` its queryset's model (None when it has no queryset: the
    relation's model, from its default manager).
    """

    path: str
    relation: str
    model: type | None


@dataclass(frozen=True)
class Decision:
    """What the plan does for one path, and why."""

    path: str
    action: str
    reason: str


@dataclass(frozen=True)
class QueryPlan:
    """The queries for one model's paths; apply it to querysets or rows.

    A name the model does not define (``{% for u in group.picked %}``) may be
    the list a user's ``Prefetch("units", queryset=..., to_attr="picked")``
    sets. Whether it is can only be told from the queryset the plan is
    applied to, so the access tree (and the serializer, which reads such a
    list with run-time lookups) does not depend on it: ``apply`` reads the
    queryset's own prefetch lookups (``user_lists``) and, when some name a
    list the paths read, applies the plan of the same tree planned with them
    (``through``, kept per set of lists). What the paths read below such a
    list is then planned on its queryset's model and merged into the user's
    Prefetch queryset, which keeps its filter, order and ``to_attr``.
    """

    model: type
    root: Level
    decisions: tuple[Decision, ...] = ()
    # The to_attr lists this plan reads through (``through``).
    user_lists: tuple[UserList, ...] = ()

    def __post_init__(self) -> None:
        # Not fields: a plan is plain data (the store writes its fields), and
        # these are only what planning again needs.
        object.__setattr__(self, "_tree", None)
        object.__setattr__(self, "_variants", {})
        object.__setattr__(self, "_live", None)

    def knowing(self, tree: Node) -> QueryPlan:
        """Remember ``tree``, the tree this plan was derived from (a plan read
        back from a store does not carry it), so that ``through`` can plan it
        again; returns the plan."""
        if self._tree is None:
            object.__setattr__(self, "_tree", tree)
        return self

    @property
    def select_related(self) -> tuple[str, ...]:
        return self.root.select_related

    @property
    def only(self) -> tuple[str, ...] | None:
        return self.root.only

    @property
    def prefetches(self) -> tuple[PrefetchSpec, ...]:
        return self.root.prefetches

    def through(self, found: tuple[UserList, ...]) -> QueryPlan:
        """This plan made knowing the user's to_attr lists ``found``
        (``user_lists``); itself when there are none or it cannot replan.

            >>> from examples.rentals.models import Property
            >>> from django.db.models import Prefetch
            >>> plan = plan_queries(build_access_tree(Property, ["picked.*.number"]))
            >>> queryset = Property.objects.prefetch_related(
            ...     Prefetch("units", to_attr="picked"))
            >>> [spec.lookup for spec in plan.through(user_lists(queryset)).prefetches]
            ['picked']
        """
        if not found or self._tree is None or found == self.user_lists:
            return self
        plan = self._variants.get(found)
        if plan is None:
            # A handful of lookup sets per serializer at most; bounded anyway.
            if len(self._variants) >= _MAX_VARIANTS:
                self._variants.clear()
            plan = _Planner(found).plan(self._tree)
            if self._live is self:
                plan = plan.for_live_rows()
            self._variants[found] = plan
        return plan

    def for_live_rows(self) -> QueryPlan:
        """This plan for rows a template renders live (the template
        backend): the same joins and prefetches, no column pruned (code djust
        cannot see, a tag or a method, may read any field), the user's own
        ``only()``/``defer()`` kept with what the paths read un-deferred.

            >>> from examples.rentals.models import Lease
            >>> from djust.compiler.tree import build_access_tree
            >>> plan = plan_queries(build_access_tree(Lease, ["tenant.phone"]))
            >>> plan.only is not None, plan.for_live_rows().only
            (True, None)
        """
        if self._live is None:
            live = replace(self, root=_keeping_columns(self.root))
            object.__setattr__(live, "_tree", self._tree)
            object.__setattr__(live, "_live", live)
            object.__setattr__(self, "_live", live)
        return self._live

    def apply(self, queryset: QuerySet, *, lists: bool = False) -> QuerySet:
        """Return ``queryset`` with the plan merged in (or unchanged when it
        cannot carry one: values(), raw, union...).

        With ``lists``, the variant ``Serializer.many`` uses: relations only
        the serializer reads (``PrefetchSpec.listed``) are prefetched into a
        plain list attribute (``Prefetch(..., to_attr="_djust_<accessor>")``),
        far cheaper per row than the related manager Django otherwise builds;
        ``obj.rel.all()`` on such rows queries again.

            >>> from examples.rentals.models import Lease
            >>> from djust.compiler.tree import build_access_tree
            >>> plan = plan_queries(build_access_tree(Lease, ["property.name"]))
            >>> plan.apply(Lease.objects.all()).query.select_related
            {'property': {}}
        """
        reason = cannot_apply(queryset)
        if reason:
            logger.debug("%s: plan not applied: %s", self.model._meta.label, reason)
            return queryset
        self._check_model(queryset.model)
        plan = self.through(user_lists(queryset))
        notes: list[str] = []
        result = _merge(queryset, plan.root, notes, prune=True, lists=lists)
        for note in notes:
            logger.debug("%s: %s", self.model._meta.label, note)
        return result

    def apply_to_instances(self, instances: Iterable[models.Model], *,
                           lists: bool = False, lookups: Iterable = ()) -> list[models.Model]:
        """Load what the paths need for rows already fetched (joins become
        FK prefetches, skipped for rows that loaded them); returns the rows.
        ``lists`` as for ``apply``; ``lookups``: the prefetch lookups the rows
        were loaded with (a combined QuerySet's own), whose to_attr lists
        (``user_lists``) the paths then read through; without them, the
        lists the rows carry (``lists_on``).

            >>> from examples.rentals.models import Lease
            >>> from djust.compiler.tree import build_access_tree
            >>> plan = plan_queries(build_access_tree(Lease, ["tenant.phone"]))
            >>> plan.apply_to_instances([])
            []
        """
        rows = list(instances)
        if not rows:
            return rows
        self._check_model(type(rows[0]))
        plan = self.through(user_lists(lookups) or lists_on(rows, self._tree))
        notes: list[str] = []
        ours = [*_join_prefetches(plan.root),
                *_own_prefetches(plan.root, notes, [], lists, loaded=True)]
        prefetch_related_objects(rows, *sorted(ours, key=_lookup_order))
        return rows

    def explain(self, queryset: QuerySet | None = None) -> str:
        """A readable account: per level what is joined, loaded, deferred and
        prefetched; per path what happens and why; with ``queryset``, how the
        plan merges with what it already does.

            >>> from examples.rentals.models import Unit
            >>> from djust.compiler.tree import build_access_tree
            >>> plan = plan_queries(build_access_tree(Unit, ["number"]))
            >>> "number: column" in plan.explain()
            True
        """
        plan = self if queryset is None else self.through(user_lists(queryset))
        lines = [f"Query plan for {self.model._meta.label}"]
        lines += _describe_level(plan.root, 1)
        lines.append("Paths:")
        for decision in plan.decisions:
            lines.append(f"  {decision.path or '(the instance)'}: {decision.action} - "
                         f"{decision.reason}")
        if queryset is not None:
            lines.append("Merged with the given queryset:")
            reason = cannot_apply(queryset)
            notes: list[str] = [f"not applied: {reason}"] if reason else []
            if not reason:
                _merge(queryset, plan.root, notes, prune=True)
            lines += [f"  {note}" for note in notes] or ["  nothing to reconcile"]
        return "\n".join(lines)

    def _check_model(self, model: type) -> None:
        if not issubclass(model, self.model):
            raise TypeError(
                f"a plan for {self.model._meta.label} cannot apply to "
                f"{model._meta.label} rows"
            )


def plan_queries(tree: Node) -> QueryPlan:
    """Derive the ``QueryPlan`` of a ROOT node from ``build_access_tree``.

        >>> from examples.rentals.models import Property
        >>> from djust.compiler.tree import build_access_tree
        >>> plan = plan_queries(build_access_tree(Property, ["units.count"]))
        >>> [spec.lookup for spec in plan.prefetches]
        ['units']
    """
    if tree.kind is not Kind.ROOT or tree.model is None:
        raise ValueError(f"plan_queries needs the ROOT node of an access tree, not {tree!r}")
    return _Planner().plan(tree)


_MAX_VARIANTS = 16


def user_lists(source) -> tuple[UserList, ...]:
    """The to_attr lists the user's own ``Prefetch`` lookups set, read from a
    QuerySet (its ``prefetch_related`` lookups) or the lookups themselves,
    through the querysets of nested Prefetches; sorted, so that equal sets
    compare equal (``QueryPlan.through`` keeps a plan per set).

        >>> from django.db.models import Prefetch
        >>> from examples.rentals.models import Property, Unit
        >>> user_lists(Property.objects.prefetch_related(
        ...     Prefetch("units", queryset=Unit.objects.filter(bedrooms=2), to_attr="picked")))
        (UserList(path='picked', relation='units', model=<class 'examples.rentals.models.Unit'>),)
    """
    lookups = source._prefetch_related_lookups if isinstance(source, QuerySet) else source
    found: dict[str, UserList] = {}
    _collect_user_lists(lookups, "", found)
    return tuple(found[path] for path in sorted(found))


def lists_on(rows: list, tree: Node | None) -> tuple[UserList, ...]:
    """The to_attr lists rows already fetched carry, for a plan to read
    through when the lookups that set them are gone (a list of instances):
    each name the paths read that the model does not define (an UNKNOWN node)
    holding, on every row, a list of instances of one model; and such lists
    on their elements. Their relation is not known (``UserList.relation`` is
    ""): what is read below is loaded through the lists as they are.

        >>> from examples.rentals.models import Property, Unit
        >>> tree = build_access_tree(Property, ["picked.*.number"])
        >>> row = Property(pk=1)
        >>> row.picked = [Unit(pk=2)]
        >>> [(found.path, found.model.__name__) for found in lists_on([row], tree)]
        [('picked', 'Unit')]
    """
    found: dict[str, UserList] = {}
    if tree is not None:
        _find_lists(rows, tree, "", found)
    return tuple(found[path] for path in sorted(found))


def _find_lists(rows: list, node: Node, prefix: str, found: dict[str, UserList]) -> None:
    for child in node.children:
        if child.kind is not Kind.UNKNOWN:
            continue
        values = [vars(row).get(child.segment) for row in rows]
        if not all(type(value) is list for value in values):
            continue
        elements = [element for value in values for element in value]
        classes = {type(element) for element in elements}
        if len(classes) != 1 or not issubclass(next(iter(classes)), models.Model):
            continue
        path = prefix + child.segment
        found[path] = UserList(path, "", classes.pop())
        each = child.child(STAR)
        if each is not None:
            _find_lists(elements, each, path + SEP, found)


def _collect_user_lists(lookups: Iterable, prefix: str, found: dict[str, UserList]) -> None:
    for lookup in lookups:
        # A GenericPrefetch has one queryset per content type: its rows are
        # of no single model, and stay run-time lookups.
        if not isinstance(lookup, Prefetch) or getattr(lookup, "querysets", None):
            continue
        path = prefix + lookup.prefetch_to
        queryset = lookup.queryset
        if lookup.to_attr:
            relation = lookup.prefetch_through.rsplit(SEP, 1)[-1]
            found[path] = UserList(path, relation, None if queryset is None else queryset.model)
        if isinstance(queryset, QuerySet):
            _collect_user_lists(queryset._prefetch_related_lookups, path + SEP, found)


def optimize_queryset(queryset: QuerySet, paths: Iterable[str]) -> QuerySet:
    """Apply the plan for ``paths`` (relative to one row) to ``queryset``.

        >>> from examples.rentals.models import Lease
        >>> qs = optimize_queryset(Lease.objects.all(), ["unit.number"])
        >>> qs.query.select_related
        {'unit': {}}
    """
    reason = cannot_apply(queryset)
    if reason:
        logger.debug("queryset not optimized: %s", reason)
        return queryset
    plan = _cached_plan(queryset.model, normalize_paths(paths), sensitive_settings())
    return plan.apply(queryset)


def live_plan(model: type, paths: Iterable[str]) -> QueryPlan:
    """The plan for ``paths`` of ``model`` rows a template renders live
    (``QueryPlan.for_live_rows``), kept per model and paths.

        >>> from examples.rentals.models import Lease
        >>> live_plan(Lease, ["tenant.phone"]).select_related
        ('tenant',)
    """
    return _cached_plan(model, normalize_paths(paths), sensitive_settings()).for_live_rows()


@functools.lru_cache(maxsize=512)
def _cached_plan(model: type, paths: tuple[str, ...], sensitive: tuple[str, ...]) -> QueryPlan:
    # ``sensitive`` is part of the key only: the tree reads the setting.
    return plan_queries(build_access_tree(model, paths))


def cannot_apply(queryset: object) -> str:
    """Why a plan cannot apply to ``queryset`` ("" when it can).

        >>> from examples.rentals.models import Unit
        >>> cannot_apply(Unit.objects.values("number"))
        'values()/values_list() rows are not model instances'
    """
    if isinstance(queryset, RawQuerySet):
        return "raw querysets cannot join, prefetch or defer"
    if not isinstance(queryset, QuerySet):
        return f"{type(queryset).__name__} is not a QuerySet"
    if queryset._fields is not None or not issubclass(queryset._iterable_class, ModelIterable):
        return "values()/values_list() rows are not model instances"
    if queryset.query.combinator:
        return f"{queryset.query.combinator}() querysets cannot join, prefetch or defer"
    return ""


# -- planning ------------------------------------------------------------------


@dataclass(frozen=True)
class _Here:
    """Where the planner stands: ORM and attribute prefixes within the
    current level, the path so far, and the template path that led here when
    planning what code reads (``origin``; None for template paths).

    ``back`` is set on a row a one-to-one join reached, and on each row a
    reverse-ForeignKey prefetch loaded: Django caches the row it came from
    under that row's link back, so reading the link back costs nothing but
    the columns of the row it came from."""

    orm: str = ""
    attribute: str = ""
    path: str = ""
    origin: str | None = None
    escaping: bool = False
    fresh: bool = False
    back: _Back | None = None

    def down(self, segment: str, orm: str | None = None, attribute: str | None = None) -> _Here:
        return _Here(
            self.orm if orm is None else orm,
            self.attribute if attribute is None else attribute,
            join_path([p for p in (self.path, segment) if p]),
            self.origin, self.escaping, self.fresh, self.back,
        )


@dataclass(frozen=True)
class _Back:
    """The link of a joined or prefetched row back to the row it came from:
    that row's model, its place (``here``) and the level that loads it."""

    segment: str
    model: type
    here: _Here
    level: _LevelBuilder


class _LevelBuilder:
    def __init__(self, model: type, generic_level: bool = False, prefix: str = "") -> None:
        self.model = model
        # Rows below a generic foreign key or in a user's to_attr list are
        # read with run-time lookups, which need the related managers:
        # nothing under them is listed.
        self.generic_level = generic_level
        # Where this level's rows are, from the root rows (``UserList.path``).
        self.prefix = prefix
        # Prefetch lookups that are a user's to_attr list (``PrefetchSpec.user``).
        self.users: set[str] = set()
        self.joins: dict[str, Join] = {}
        self.columns: set[str] = {model._meta.pk.name}
        self.unpruned = ""
        self.prefetches: dict[str, tuple[type | None, _LevelBuilder | None]] = {}
        self.targets: dict[str, dict[type, _LevelBuilder]] = {}
        # Prefetch lookups that cannot be plain lists: read by code, or read
        # other than as rows; and the attribute prefixes of rows whose code
        # djust cannot follow (it may read any relation of theirs).
        self.unlisted: set[str] = set()
        self.opaque: set[str] = set()

    def need(self, lookup: str) -> None:
        self.columns.add(_inherited_column(self.model, lookup) if SEP in lookup else lookup)

    def join(self, lookup: str, attribute: str, model: type) -> None:
        self.joins[lookup] = Join(lookup, attribute, model)
        self.need(lookup)
        self.need(f"{lookup}{SEP}{model._meta.pk.name}")

    def load_all(self, model: type, orm: str, reason: str, attribute: str) -> None:
        self.opaque.add(attribute)
        if not orm:
            self.unpruned = self.unpruned or reason
            return
        for model_field in model._meta.concrete_fields:
            self.need(orm + model_field.name)

    def prefetch(self, lookup: str, model: type, user: bool = False) -> _LevelBuilder:
        entry = self.prefetches.get(lookup)
        if entry is None:
            inner = _LevelBuilder(model, self.generic_level or user,
                                  f"{self.prefix}{lookup}{SEP}")
            entry = self.prefetches[lookup] = (model, inner)
        if user:
            self.users.add(lookup)
        return entry[1]

    def generic(self, lookup: str) -> None:
        self.prefetches.setdefault(lookup, (None, None))
        self.targets.setdefault(lookup, {})

    def generic_target(self, lookup: str, model: type) -> _LevelBuilder:
        self.generic(lookup)
        targets = self.targets[lookup]
        if model not in targets:
            targets[model] = _LevelBuilder(model, True, f"{self.prefix}{lookup}{SEP}")
        return targets[model]

    def freeze(self) -> Level:
        prefetches = tuple(
            PrefetchSpec(lookup, model, None if builder is None else builder.freeze(),
                         self._frozen_targets(lookup), self._listed(lookup, builder),
                         lookup in self.users)
            for lookup, (model, builder) in sorted(self.prefetches.items())
        )
        return Level(
            self.model,
            joins=tuple(self.joins[name] for name in sorted(self.joins)),
            columns=tuple(sorted(self.columns)),
            prefetches=prefetches,
            unpruned=self.unpruned,
        )

    def _listed(self, lookup: str, builder: _LevelBuilder | None) -> bool:
        owner = lookup[:lookup.rfind(SEP) + len(SEP)] if SEP in lookup else ""
        return (builder is not None and not self.generic_level and lookup not in self.users
                and lookup not in self.unlisted and owner not in self.opaque)

    def _frozen_targets(self, lookup: str) -> tuple[Level, ...]:
        targets = self.targets.get(lookup, {})
        return tuple(targets[model].freeze()
                     for model in sorted(targets, key=lambda m: m._meta.label))


class _Planner(NodeVisitor):
    def __init__(self, found: tuple[UserList, ...] = ()) -> None:
        self.decisions: list[Decision] = []
        self.analyzing: set[tuple[type, str]] = set()
        self.rows = _RowsPlanner(self)
        self.found = found
        self.user_lists = {user_list.path: user_list for user_list in found}

    def plan(self, tree: Node) -> QueryPlan:
        root = _LevelBuilder(tree.model)
        self._object(tree, tree.model, root, _Here())
        plan = QueryPlan(tree.model, root.freeze(), tuple(self.decisions), self.found)
        return plan.knowing(tree)

    def _note(self, here: _Here, action: str, reason: str, always: bool = False) -> None:
        if here.origin is None:
            self.decisions.append(Decision(here.path, action, reason))
        elif always:
            origin = here.origin or "(the instance)"
            self.decisions.append(Decision(f"{origin} -> {here.path}", action, reason))

    def _object(self, node: Node, model: type, level: _LevelBuilder, here: _Here) -> None:
        """Plan a node whose value is one ``model`` instance."""
        if node.bare:
            self._code(model, "__str__", level, here, "str()")
        if here.escaping and not node.children and here.path:
            level.load_all(model, here.orm, f"code uses a whole {model.__name__} row",
                           here.attribute)
            self._note(here, "not pruned", f"code uses the whole {model._meta.label} row",
                       always=True)
        for child in node.children:
            self._child(child, model, level, here.down(child.segment))

    def _child(self, node: Node, model: type, level: _LevelBuilder, here: _Here) -> None:
        self.visit(node, model, level, here)

    # One method per kind (``NodeVisitor``), each given (node, model, level, here).

    def visit_field(self, node: Node, model: type, level: _LevelBuilder, here: _Here) -> None:
        level.need(here.orm + node.field)
        self._note(here, "column", f"{model._meta.label}.{node.field} loaded with the row")

    visit_display = visit_field

    def visit_forward(self, node: Node, model: type, level: _LevelBuilder, here: _Here) -> None:
        if node.facts.parent_link:
            self._parent_link(node, level, here)
        else:
            self.visit_reverse_one(node, model, level, here)

    def visit_reverse_one(self, node: Node, model: type, level: _LevelBuilder,
                          here: _Here) -> None:
        if here.back is not None and node.segment == here.back.segment:
            self._read_back(node, here)
        elif not self._fresh(here):
            self._join(node, model, level, here)

    def visit_to_many(self, node: Node, model: type, level: _LevelBuilder, here: _Here) -> None:
        if not self._fresh(here):
            self._to_many(node, model, level, here)

    def visit_generic_fk(self, node: Node, model: type, level: _LevelBuilder,
                         here: _Here) -> None:
        if not self._fresh(here):
            self._generic(node, model, level, here)

    def visit_method(self, node: Node, model: type, level: _LevelBuilder, here: _Here) -> None:
        self._callable(node, model, level, here)

    visit_property = visit_method

    def visit_sensitive(self, node: Node, model: type, level: _LevelBuilder,
                        here: _Here) -> None:
        self._note(here, "sensitive", f"{node.note}; not loaded for it")

    def visit_unknown(self, node: Node, model: type, level: _LevelBuilder, here: _Here) -> None:
        listed = self._user_list(node, model, level, here)
        if listed is not None:
            self._to_many(listed, model, level, here, user=True)
            return
        if _has_dynamic_getattr(model):
            level.load_all(model, here.orm, f"{model.__name__} defines __getattr__",
                           here.attribute)
        self._note(here, "runtime lookup", node.note or "resolved by Django at run time")

    # Met on an instance only in hand-built trees: Django resolves them.
    visit_key = visit_index = visit_each = visit_all = visit_aggregate = visit_unknown
    visit_pick = visit_unknown

    def _user_list(self, node: Node, model: type, level: _LevelBuilder,
                   here: _Here) -> Node | None:
        """``node`` typed as the user's to_attr list it names, or None.

        Only template paths: code reading such a list is not followed. Not
        below a parent link either: Django builds that parent fresh, without
        the list."""
        if here.origin is not None or here.fresh or not self.user_lists:
            return None
        found = self.user_lists.get(level.prefix + here.attribute + node.segment)
        if found is None:
            return None
        return type_user_list(model, node, found.relation, found.model)

    def _fresh(self, here: _Here) -> bool:
        """True, and noted, for a relation reached through a parent link."""
        if here.fresh:
            self._note(here, "runtime lookup",
                       "reached through a parent link, whose instance Django builds fresh "
                       "from the child's row: relations below it query")
        return here.fresh

    def _parent_link(self, node: Node, level: _LevelBuilder, here: _Here) -> None:
        parent = node.model
        for model_field in parent._meta.concrete_fields:
            level.need(here.orm + model_field.name)
        self._note(here, "parent row",
                   f"Django builds the {parent._meta.label} parent from the child's own "
                   "columns: no join, no query")
        fresh = _Here(here.orm, here.attribute, here.path, here.origin, here.escaping, True)
        self._object(node, parent, level, fresh)

    def _join(self, node: Node, model: type, level: _LevelBuilder, here: _Here) -> None:
        query_name = node.facts.query_name
        lookup = here.orm + query_name
        attribute = here.attribute + node.field
        level.join(lookup, attribute, node.model)
        if node.kind is Kind.REVERSE_ONE:
            # The row found by the join must carry its own link back.
            level.need(f"{lookup}{SEP}{node.facts.remote_field}")
        else:
            target = model._meta.get_field(node.field).target_field
            level.need(f"{lookup}{SEP}{target.name}")
        self._note(here, "join", f"select_related({lookup!r})", always=True)
        below = here.down("", orm=lookup + SEP, attribute=attribute + SEP)
        back = _back_link(node, model)
        self._object(node, node.model, level, _Here(
            below.orm, below.attribute, here.path, here.origin, here.escaping, here.fresh,
            None if back is None else _Back(back, model, here.down("", orm=here.orm,
                                                                  attribute=here.attribute),
                                            level)))

    def _read_back(self, node: Node, here: _Here) -> None:
        """Plan a read of a joined or prefetched row's link back as a read of
        the row it came from, on that row's level: Django sets that link to
        the known instance, which may be of a subclass of the link's model."""
        back = here.back
        self._note(here, "row it came from",
                   f"Django links the row back to the {back.model._meta.label} it came "
                   "from: no join, no query")
        if back.model is not node.model:
            # Lookups below run on the actual instance: type them on its class.
            typed = build_access_tree if here.origin is None else build_read_tree
            node = typed(back.model, _paths_below(node))
        self._object(node, back.model, back.level, _Here(
            back.here.orm, back.here.attribute, here.path, here.origin, here.escaping,
            back.here.fresh, back.here.back))

    def _to_many(self, node: Node, model: type, level: _LevelBuilder, here: _Here,
                 user: bool = False) -> None:
        """Plan a related manager's rows or, with ``user``, the user's
        to_attr list ``node`` (``type_user_list``) filled from that relation."""
        served = [c for c in node.children if c.kind in (Kind.ALL, Kind.AGGREGATE, Kind.PICK)]
        for child in node.children:
            if child not in served:
                self._note(here.down(child.segment), "runtime lookup",
                           f"{child.note}; it may query for every row")
        # The attribute the rows are read from: the accessor, or the to_attr.
        lookup = here.attribute + node.segment
        if here.origin is not None or here.fresh or not rows_read_as_list(node):
            level.unlisted.add(lookup)
        if not served:
            if node.bare:
                self._note(here, "runtime lookup", "displays the related manager itself")
            return
        target = node.model
        inner = level.prefetch(lookup, target, user=user)
        self._back_pointers(node, model, target, level, inner, here)
        if user and node.field:
            self._note(here, "your prefetch",
                       f"your Prefetch({node.field!r}, to_attr={node.segment!r}) of "
                       f"{target._meta.label} rows: what is read below it is merged into "
                       "its queryset", always=True)
        elif user:
            self._note(here, "your list",
                       f"a list of {target._meta.label} rows on the rows: what is read below "
                       "it is prefetched through it", always=True)
        else:
            self._note(here, "prefetch",
                       f"Prefetch({lookup!r}) of {target._meta.label} rows from its default "
                       "manager", always=True)
        rows = _Here(origin=here.origin, escaping=here.escaping,
                     back=self._prefetch_back(node, model, level, here))
        for child in served:
            self._rows(child, target, inner, rows, here.down(child.segment))

    def _rows(self, node: Node, target: type, inner: _LevelBuilder, rows: _Here,
              here: _Here) -> None:
        """Plan ``all``/``count``/``first``... of a prefetched relation."""
        self.rows.visit(node, target, inner, rows, here)

    @staticmethod
    def _prefetch_back(node: Node, model: type, level: _LevelBuilder,
                       here: _Here) -> _Back | None:
        """The link back of rows a reverse-ForeignKey prefetch loads: Django
        sets it to the prefetching instance unless the row already caches it,
        so joining it would replace that instance with a fresh copy. Many to
        many and generic relations set nothing on their rows."""
        if node.facts.relation != REVERSE_FK:
            return None
        parent = here.down("", orm=here.orm, attribute=here.attribute)
        return _Back(node.facts.remote_field, model, parent, level)

    def _back_pointers(self, node: Node, model: type, target: type, level: _LevelBuilder,
                       inner: _LevelBuilder, here: _Here) -> None:
        """Columns Django reads to hand prefetched rows to their owners."""
        relation = node.facts.relation
        if relation == REVERSE_FK:
            remote = target._meta.get_field(node.facts.remote_field)
            inner.need(remote.name)
            for local in remote.to_fields or ():
                if local:
                    level.need(here.orm + local)
        elif relation == GENERIC_RELATION:
            inner.need(node.facts.ct_field)
            inner.need(node.facts.fk_field)

    def _generic(self, node: Node, model: type, level: _LevelBuilder, here: _Here) -> None:
        level.need(here.orm + node.facts.ct_field)
        level.need(here.orm + node.facts.fk_field)
        lookup = here.attribute + node.field
        level.generic(lookup)
        targets = generic_targets(model, node.field)
        if not targets:
            self._note(here, "prefetch",
                       f"prefetch_related({lookup!r}): one query per content type; no model "
                       "declares a GenericRelation to it, so targets load whole rows",
                       always=True)
            for child in node.children:
                self._note(here.down(child.segment), "runtime lookup", child.note)
            return
        labels = ", ".join(target._meta.label for target in targets)
        self._note(here, "prefetch",
                   f"GenericPrefetch({lookup!r}): one query per content type; what is read "
                   f"below it is planned for {labels}", always=True)
        # The serializer reads below a generic target with Django's own lookup
        # rules; typing the same paths on each known target model tells what
        # those lookups touch, so each target queryset can load it up front.
        paths = _paths_below(node)
        # Template paths are typed as templates read them: a sensitive name
        # warns and is not loaded (run-time lookups refuse it anyway).
        typed = build_access_tree if here.origin is None else build_read_tree
        for target in targets:
            tree = typed(target, paths)
            inner = level.generic_target(lookup, target)
            self._object(tree, target, inner, _Here(path=here.path, origin=here.origin,
                                                    escaping=here.escaping))

    def _callable(self, node: Node, model: type, level: _LevelBuilder, here: _Here) -> None:
        refused = [name for name in ("alters_data", "needs_arguments",
                                     "do_not_call_in_templates")
                   if node.kind is Kind.METHOD and getattr(node.facts, name)]
        if node.kind is Kind.METHOD and refused and here.origin is None:
            self._note(here, "runtime lookup",
                       f"the template engine does not call it ({', '.join(refused)})")
            if node.bare and node.facts.do_not_call_in_templates:
                self._bound_method_display(model, level, here)
            return
        what = "property" if node.kind is Kind.PROPERTY else "method"
        self._code(model, node.field, level, here, f"{what} {model.__name__}.{node.field}")
        for child in node.children:
            self._note(here.down(child.segment), "runtime lookup", child.note)

    def _bound_method_display(self, model: type, level: _LevelBuilder, here: _Here) -> None:
        # The engine displays the method itself: str() of a bound method holds
        # repr() of the row, and Django's Model.__repr__ calls __str__.
        name = "__str__" if _defining_class(model, "__repr__") is models.Model else "__repr__"
        self._code(model, name, level, here, f"repr() of the {model.__name__} row in the "
                   "displayed bound method")

    def _code(self, model: type, name: str, level: _LevelBuilder, here: _Here,
              what: str) -> None:
        """Plan what ``model.<name>`` reads, as if a template read it."""
        key = (model, name)
        if key in self.analyzing:
            return
        reads = attribute_reads(model, name)
        if reads.opaque:
            level.load_all(model, here.orm, reads.opaque, here.attribute)
            self._note(here, "not pruned", f"{what}: {reads.opaque}; every "
                       f"{model._meta.label} column is loaded", always=True)
            return
        self._note(here, "python", f"{what} computed in Python from "
                   f"{', '.join(reads.paths) or 'nothing on the row'}")
        if not reads.paths:
            return
        tree = build_read_tree(model, reads.paths)
        origin = here.path if here.origin is None else here.origin
        inside = _Here(here.orm, here.attribute, "", origin, True, here.fresh, here.back)
        self.analyzing.add(key)
        try:
            self._object(tree, model, level, inside)
        finally:
            self.analyzing.discard(key)


class _RowsPlanner(NodeVisitor):
    """The planner's reads of a prefetched relation's rows, one method per
    kind, each given (node, target model, inner level, rows, here)."""

    def __init__(self, planner: _Planner) -> None:
        self.planner = planner

    def visit_aggregate(self, node: Node, target: type, inner: _LevelBuilder, rows: _Here,
                        here: _Here) -> None:
        self.planner._note(here, "from prefetch", f"{node.facts.method}: len()/bool() of the "
                           "prefetched rows")

    def visit_pick(self, node: Node, target: type, inner: _LevelBuilder, rows: _Here,
                   here: _Here) -> None:
        self.planner._note(here, "from prefetch", "picked from the prefetched rows")
        self.visit_each(node, target, inner, rows, here)

    visit_index = visit_pick

    def visit_each(self, node: Node, target: type, inner: _LevelBuilder, rows: _Here,
                   here: _Here) -> None:
        self.planner._object(node, target, inner, _at(rows, here))

    def visit_all(self, node: Node, target: type, inner: _LevelBuilder, rows: _Here,
                  here: _Here) -> None:
        at = _at(rows, here)
        if node.bare:
            self.planner._code(target, "__str__", inner, at, "str() of each row")
        if at.escaping and not node.children:
            inner.load_all(target, "", f"code uses whole {target.__name__} rows", "")
        for child in node.children:
            self.visit(child, target, inner, rows, here.down(child.segment))

    def visit_unknown(self, node: Node, target: type, inner: _LevelBuilder, rows: _Here,
                      here: _Here) -> None:
        self.planner._note(here, "runtime lookup", f"{node.note}; it may query for every row")

    # Met on rows only in hand-built trees: Django resolves them.
    visit_field = visit_display = visit_forward = visit_reverse_one = visit_unknown
    visit_generic_fk = visit_to_many = visit_key = visit_sensitive = visit_unknown
    visit_method = visit_property = visit_unknown


def _at(rows: _Here, here: _Here) -> _Here:
    """Where a read of prefetched rows happens: on the rows' level, at ``here``'s path."""
    return _Here(rows.orm, rows.attribute, here.path, rows.origin, rows.escaping,
                 back=rows.back)


def _paths_below(node: Node) -> tuple[str, ...]:
    """The paths read below ``node``, relative to its value (``""`` when it
    is displayed)."""
    return tuple(join_path(segments[1:]) for segments, below in node.walk() if below.bare)


def _back_link(node: Node, model: type) -> str | None:
    """The attribute of a row joined through ``node`` that Django sets to the
    row it was joined from (None when it sets none: a plain forward FK)."""
    if node.kind is Kind.REVERSE_ONE:
        return node.facts.remote_field
    return reverse_accessor(model, node.field)


def _inherited_column(model: type, lookup: str) -> str:
    """``lookup`` naming the column where a join loads it.

    A multi-table child joined from its parent (``item__specialitem``) takes
    its inherited columns from the parent's part of the same row, so
    ``only("item__specialitem__title")`` would not load the title: the
    column is ``item__title``.

        >>> from property_tests.fuzzapp.models import Comment
        >>> _inherited_column(Comment, "item__specialitem__title")
        'item__title'
    """
    names = lookup.split(SEP)
    steps: list[tuple[type, object]] = []
    current = model
    try:
        for name in names[:-1]:
            relation = current._meta.get_field(name)
            steps.append((current, relation))
            current = relation.related_model
        owner = current._meta.get_field(names[-1]).model
    except (FieldDoesNotExist, AttributeError):
        return lookup
    keep = len(steps)
    while keep and owner is not current and _is_reverse_parent_link(steps[keep - 1][1]):
        current = steps[keep - 1][0]
        if not issubclass(current, owner) and current is not owner:
            return lookup
        keep -= 1
    return SEP.join([*names[:keep], names[-1]])


def _is_reverse_parent_link(relation) -> bool:
    return (relation.one_to_one and not relation.concrete
            and bool(relation.field.remote_field.parent_link))


def _defining_class(model: type, name: str) -> type | None:
    return next((klass for klass in model.__mro__ if name in vars(klass)), None)


def _has_dynamic_getattr(model: type) -> bool:
    return any("__getattr__" in vars(klass) for klass in model.__mro__[:-1])


def _describe_level(level: Level, indent: int) -> list[str]:
    pad = "  " * indent
    lines = []
    if level.joins:
        lines.append(f"{pad}select_related: {', '.join(level.select_related)}")
    if level.unpruned:
        lines.append(f"{pad}only: not pruned ({level.unpruned})")
    else:
        lines.append(f"{pad}only: {', '.join(level.columns)}")
        own = {name for name in level.columns if SEP not in name}
        deferred = [f.name for f in level.model._meta.concrete_fields if f.name not in own]
        if deferred:
            lines.append(f"{pad}deferred: {', '.join(deferred)}")
    for spec in level.prefetches:
        if spec.level is None:
            lines.append(f"{pad}prefetch {spec.lookup} (generic: per content type)")
            for target in spec.targets:
                lines.append(f"{pad}  as {target.model._meta.label}:")
                lines += _describe_level(target, indent + 2)
            continue
        if spec.user:
            lines.append(f"{pad}your to_attr list {spec.lookup} ({spec.model._meta.label}), "
                         "merged into your Prefetch queryset:")
        else:
            lines.append(f"{pad}prefetch {spec.lookup} ({spec.model._meta.label}):")
        if spec.listed:
            accessor = spec.lookup.rsplit(SEP, 1)[-1]
            lines.append(f"{pad}  Serializer.many(): a plain list in "
                         f"{list_attribute(accessor)} (only the serializer reads these rows)")
        lines += _describe_level(spec.level, indent + 1)
    return lines


# -- applying ------------------------------------------------------------------


def _merge(queryset: QuerySet, level: Level, notes: list[str], prune: bool,
           lists: bool = False) -> QuerySet:
    """Merge ``level`` into ``queryset`` without undoing what it already does;
    ``lists``: prefetch listed relations into list attributes."""
    user_joins = queryset.query.select_related
    extra: list = []
    if user_joins is True:
        notes.append("select_related() with no fields kept; the plan's joins become FK "
                     "prefetches (skipped for rows already joined) and columns are not pruned")
        extra = _join_prefetches(level)
        prune = False
    elif level.joins:
        queryset = queryset.select_related(*level.select_related)
    needed = set(level.columns) | _user_join_columns(
        queryset.model, user_joins if isinstance(user_joins, dict) else {}, "")
    queryset = _restrict(queryset, needed, notes, prune, level.unpruned)
    return _merge_prefetches(queryset, level, extra, notes, lists)


def _user_join_columns(model: type, joins: dict, prefix: str) -> set[str]:
    """FK columns the queryset's own select_related traverses: ``only()``
    must keep them or evaluation raises."""
    columns = set()
    for name, below in joins.items():
        columns.add(prefix + name)
        try:
            relation = model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if relation.auto_created and not relation.concrete:
            columns.add(f"{prefix}{name}{SEP}{relation.field.name}")
        if relation.related_model is not None and below:
            columns |= _user_join_columns(relation.related_model, below, f"{prefix}{name}{SEP}")
    return columns


def _restrict(queryset: QuerySet, needed: set[str], notes: list[str], prune: bool,
              whole: str) -> QuerySet:
    """Load ``needed`` (pruning the rest when ``prune``), or every column
    when ``whole`` says why djust cannot tell what code reads."""
    names, defer = queryset.query.deferred_loading
    names = set(names)
    if whole == KEEP_COLUMNS:
        prune, whole = False, ""
    if whole:
        if names:
            notes.append(f"cleared only()/defer() on {queryset.model._meta.label}: {whole}")
            return queryset.defer(None)
        return queryset
    if defer:
        undeferred = names & needed
        if undeferred:
            notes.append(f"un-deferred {', '.join(sorted(undeferred))}: the paths read them")
        if prune:
            return queryset.defer(None).only(*needed)
        if not undeferred:
            return queryset
        queryset = queryset.defer(None)
        remaining = names - needed
        return queryset.defer(*remaining) if remaining else queryset
    if not names:
        return queryset.only(*needed) if prune else queryset
    added = needed - names
    if added:
        notes.append(f"added {', '.join(sorted(added))} to only(): the paths read them")
    return queryset.only(*(names | needed))


def _lookup_path(lookup) -> str:
    return lookup.prefetch_through if isinstance(lookup, Prefetch) else lookup


def _lookup_order(lookup) -> tuple[int, int]:
    # Shallow lookups first, and a lookup carrying a queryset before a plain
    # one on the same path: Django raises when a path it has already
    # traversed is given a queryset later.
    has_queryset = isinstance(lookup, Prefetch) and (
        lookup.queryset is not None or bool(getattr(lookup, "querysets", None)))
    return _lookup_path(lookup).count(SEP), 0 if has_queryset else 1


def _merge_prefetches(queryset: QuerySet, level: Level, extra: list,
                      notes: list[str], lists: bool) -> QuerySet:
    original = list(queryset._prefetch_related_lookups)
    user = list(original)
    level = _reach_into(level, user, notes)
    ours = [*extra, *_own_prefetches(level, notes, user, lists)]
    if not ours and all(a is b for a, b in zip(user, original, strict=True)):
        return queryset
    # The user's first where the order is free: a to_attr of theirs that
    # Django refuses must meet a relation cache still empty, as without djust.
    combined = sorted([*user, *ours], key=_lookup_order)
    return queryset.prefetch_related(None).prefetch_related(*combined)


def _reach_into(level: Level, user: list, notes: list[str]) -> Level:
    """Merge what the paths read below each of the user's Prefetches that
    reaches into rows the plan prefetches (``books__chapters`` with a
    queryset, ``picked__early`` with a to_attr) into that Prefetch, rewritten
    in place in ``user``; return ``level`` without those prefetches, which
    would otherwise fill the rows first, with other rows than the user's."""
    for index, item in enumerate(user):
        if not isinstance(item, Prefetch) or SEP not in item.prefetch_to:
            continue
        spec = _spec_below(level, item.prefetch_to)
        queryset = item.queryset
        if spec is None or spec.user != bool(item.to_attr):
            continue
        if queryset is None and spec.user:
            queryset = related_queryset(spec.model)
        if queryset is None or cannot_apply(queryset) or not issubclass(queryset.model,
                                                                        spec.model):
            continue  # Django's own rows are the plan's: nothing to keep apart
        deeper = any(_lookup_path(u).startswith(item.prefetch_to + SEP) for u in user)
        inner = _merge(queryset, spec.level, notes, prune=not deeper)
        user[index] = Prefetch(item.prefetch_through, queryset=inner, to_attr=item.to_attr)
        notes.append(f"kept your Prefetch({item.prefetch_through!r}) queryset and added what "
                     "the paths read below it")
        level = _without(level, item.prefetch_to)
    return level


def _spec_below(level: Level, path: str, depth: int = 0) -> PrefetchSpec | None:
    """The prefetch of ``level`` or of a level below it that fills ``path``,
    at least one prefetch down."""
    for spec in level.prefetches:
        if spec.level is None:
            continue
        if path == spec.lookup and depth:
            return spec
        if path.startswith(spec.lookup + SEP):
            return _spec_below(spec.level, path[len(spec.lookup) + len(SEP):], depth + 1)
    return None


def _without(level: Level, path: str) -> Level:
    """``level`` without the prefetch filling ``path`` (``_spec_below``)."""
    prefetches = []
    for spec in level.prefetches:
        if spec.level is not None and path.startswith(spec.lookup + SEP):
            rest = path[len(spec.lookup) + len(SEP):]
            inner = spec.level
            kept = tuple(below for below in inner.prefetches if below.lookup != rest)
            inner = replace(inner, prefetches=kept) if len(kept) < len(inner.prefetches) \
                else _without(inner, rest)
            spec = replace(spec, level=inner)
        prefetches.append(spec)
    return replace(level, prefetches=tuple(prefetches))


def _own_prefetches(level: Level, notes: list[str], user: list, lists: bool = False,
                    loaded: bool = False) -> list:
    """Our Prefetch objects; a user's Prefetch on the same path is rewritten
    in place (in ``user``) to carry what the paths need below it. With
    ``lists``, listed relations the user's lookups do not touch load into
    list attributes. ``loaded``: for rows already fetched, whose to_attr
    lists are filled (``apply_to_instances``)."""
    ours: list = []
    for spec in level.prefetches:
        if spec.level is None:
            ours.append(_generic_lookup(spec, notes, user))
            continue
        if spec.user:
            ours += _through_user_list(spec, notes, user, lists, loaded)
            continue
        if loaded:
            ours += _loaded_prefetches(spec, notes, lists)
            continue
        if any(isinstance(u, Prefetch) and u.to_attr and u.prefetch_to == spec.lookup
               for u in user):
            # A to_attr named as the relation: Django refuses it (ValueError)
            # unless a lookup of ours filled the relation's cache first.
            notes.append(f"{spec.lookup}: your to_attr names the relation; left to Django")
            continue
        deeper = any(_lookup_path(u).startswith(spec.lookup + SEP) for u in user)
        index = _user_prefetch_index(user, spec.lookup, spec.model)
        if index is not None:
            theirs = user[index]
            inner = _merge(theirs.queryset, spec.level, notes, prune=not deeper)
            user[index] = Prefetch(theirs.prefetch_through, queryset=inner,
                                   to_attr=theirs.to_attr)
            notes.append(f"kept your Prefetch({spec.lookup!r}) queryset and added what the "
                         "paths read below it")
            continue
        shared = deeper or any(_lookup_target(u) == spec.lookup for u in user)
        if shared:
            notes.append(f"{spec.lookup}: not pruned, your own lookups use those rows too")
        ours.append(_build_prefetch(spec, notes, prune=not shared, lists=lists and not shared))
    return ours


def _loaded_prefetches(spec: PrefetchSpec, notes: list[str], lists: bool) -> list:
    """The lookups of ``spec`` for rows already fetched: its Prefetch, which
    Django skips for rows whose relation is loaded already, then what is read
    below its rows as lookups through it, which reach those rows too (nested
    in its queryset, they would be skipped with it)."""
    alone = replace(spec, level=replace(spec.level, prefetches=()))
    top = _build_prefetch(alone, notes, prune=True, lists=lists)
    below = [*_join_prefetches(spec.level),
             *_own_prefetches(spec.level, notes, [], lists, loaded=True)]
    return [top, *(_prefixed(lookup, top.prefetch_to + SEP) for lookup in below)]


def _user_prefetch_index(user: list, lookup: str, model: type) -> int | None:
    """The user's Prefetch with a queryset filling the related manager's
    cache of ``lookup`` (not a to_attr list: a to_attr naming a relation is
    Django's error to raise, untouched)."""
    for index, item in enumerate(user):
        if (isinstance(item, Prefetch) and item.queryset is not None and not item.to_attr
                and item.prefetch_to == lookup and issubclass(item.queryset.model, model)):
            return index
    return None


def _user_list_index(user: list, lookup: str, model: type) -> int | None:
    """The user's Prefetch whose to_attr list ``lookup`` is."""
    for index, item in enumerate(user):
        if (isinstance(item, Prefetch) and item.to_attr and item.prefetch_to == lookup
                and (item.queryset is None or item.queryset.model is model)):
            return index
    return None


def _through_user_list(spec: PrefetchSpec, notes: list[str], user: list, lists: bool,
                       loaded: bool) -> list:
    """Merge what the paths read below the user's to_attr list ``spec`` into
    the user's Prefetch that fills it (rewritten in place in ``user``,
    keeping its filter, order and to_attr); on rows already loaded, our
    lookups go through the filled list. Returns our lookups."""
    index = _user_list_index(user, spec.lookup, spec.model)
    if index is None:
        if loaded:
            below = [*_join_prefetches(spec.level),
                     *_own_prefetches(spec.level, notes, [], lists, loaded)]
            return [_prefixed(lookup, spec.lookup + SEP) for lookup in below]
        # Set by a lookup of an outer queryset (``picked__early`` on the
        # root): left as the user wrote it, its rows read as they load.
        notes.append(f"{spec.lookup}: filled by a lookup outside this queryset; "
                     "nothing merged into it")
        return []
    theirs = user[index]
    queryset = theirs.queryset
    if queryset is None:
        # Django's own choice for a Prefetch without a queryset.
        queryset = related_queryset(spec.model)
    reason = cannot_apply(queryset)
    if reason:
        notes.append(f"your Prefetch(..., to_attr={theirs.to_attr!r}) left as it is: {reason}")
        return []
    deeper = any(_lookup_path(u).startswith(spec.lookup + SEP) for u in user)
    inner = _merge(queryset, spec.level, notes, prune=not deeper)
    user[index] = Prefetch(theirs.prefetch_through, queryset=inner, to_attr=theirs.to_attr)
    notes.append(f"kept your Prefetch({theirs.prefetch_through!r}, to_attr="
                 f"{theirs.to_attr!r}) queryset and added what the paths read below it")
    return []


def _lookup_target(lookup) -> str:
    """Where a lookup puts its rows (the to_attr path of a Prefetch)."""
    return lookup.prefetch_to if isinstance(lookup, Prefetch) else lookup


def _prefixed(lookup, prefix: str):
    """``lookup`` made from rows ``prefix`` leads to (``picked__``)."""
    if isinstance(lookup, KnownTargetsPrefetch):
        return KnownTargetsPrefetch(prefix + lookup.prefetch_through, lookup.querysets,
                                    lookup.to_attr)
    if isinstance(lookup, Prefetch):
        return Prefetch(prefix + lookup.prefetch_through, queryset=lookup.queryset,
                        to_attr=lookup.to_attr)
    return prefix + lookup


def _build_prefetch(spec: PrefetchSpec, notes: list[str], prune: bool,
                    lists: bool = False) -> Prefetch:
    # No ordering is added: iteration must follow what the live relation
    # gives, and runtime.pick_first/pick_last answer unordered rows by pk.
    queryset = _merge(related_queryset(spec.model), spec.level, notes, prune, lists)
    if lists and spec.listed:
        accessor = spec.lookup.rsplit(SEP, 1)[-1]
        return Prefetch(spec.lookup, queryset=queryset, to_attr=list_attribute(accessor))
    return Prefetch(spec.lookup, queryset=queryset)


def _generic_lookup(spec: PrefetchSpec, notes: list[str], user: list):
    """A GenericPrefetch with one planned queryset per known target model,
    or the plain lookup when there is none (or the user prefetches it)."""
    if not spec.targets:
        return spec.lookup
    if any(_lookup_path(u) == spec.lookup or _lookup_path(u).startswith(spec.lookup + SEP)
           for u in user):
        notes.append(f"{spec.lookup}: your own lookups use those rows; prefetched as they say")
        return spec.lookup
    # A GenericForeignKey reads its target through the base manager.
    querysets = [_merge(target.model._base_manager.all(), target, notes, prune=True)
                 for target in spec.targets]
    return KnownTargetsPrefetch(spec.lookup, querysets)


class KnownTargetsPrefetch(GenericPrefetch):
    """A GenericPrefetch that hands Django only the querysets of models whose
    content type is already cached.

    Django looks up the content type of every queryset it is given before it
    looks at the rows, which costs a query per target model not seen yet in
    this process, whether or not any row points at it. A model not handed
    over is fetched the way Django does unaided (whole rows, through its base
    manager); fetching it caches its content type, so the next evaluation
    uses the planned queryset.
    """

    def get_current_querysets(self, level):
        querysets = super().get_current_querysets(level)
        if querysets is None:
            return None
        return [queryset for queryset in querysets
                if _content_type_is_cached(queryset.model, queryset.db)]


def _content_type_is_cached(model: type, using: str) -> bool:
    from django.contrib.contenttypes.models import ContentType

    try:
        # Private, but the only way to ask without querying; present and
        # unchanged in every Django djust supports.
        ContentType.objects.db_manager(using)._get_from_cache(model._meta)
    except KeyError:
        return False
    return True


# ``Level.unpruned`` of a level for live rows (``QueryPlan.for_live_rows``):
# no column pruned, the user's only()/defer() kept.
KEEP_COLUMNS = "rows rendered live keep their columns"


def _keeping_columns(level: Level) -> Level:
    prefetches = tuple(
        replace(spec,
                level=None if spec.level is None else _keeping_columns(spec.level),
                targets=tuple(_keeping_columns(target) for target in spec.targets))
        for spec in level.prefetches)
    return replace(level, unpruned=level.unpruned or KEEP_COLUMNS, prefetches=prefetches)


def _join_prefetches(level: Level) -> list:
    """The joins as FK prefetches, for rows that did not load them: one
    Prefetch per first step (carrying the rest of its chain as joins), then
    each deeper step as a plain lookup that only queries for rows missing it."""
    lookups: list = []
    for join in level.joins:
        if SEP in join.lookup:
            lookups.append(join.attribute)
            continue
        prefix = join.lookup + SEP
        queryset = join.model._base_manager.all()
        below = [j.lookup[len(prefix):] for j in level.joins if j.lookup.startswith(prefix)]
        if below:
            queryset = queryset.select_related(*below)
        if not level.unpruned:
            columns = {c[len(prefix):] for c in level.columns if c.startswith(prefix)}
            queryset = queryset.only(*columns, join.model._meta.pk.name)
        lookups.append(Prefetch(join.attribute, queryset=queryset))
    return lookups


__all__ = [
    "Decision",
    "Join",
    "KnownTargetsPrefetch",
    "Level",
    "PrefetchSpec",
    "QueryPlan",
    "build_access_tree",
    "cannot_apply",
    "generic_targets",
    "live_plan",
    "optimize_queryset",
    "plan_queries",
    "related_queryset",
]
