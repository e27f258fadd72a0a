"""``stream``: a serializer's ``many()`` as JSON text, chunk by chunk.

``stream(serializer, queryset)`` yields the text of the JSON array
``json.dumps(serializer.many(queryset), cls=DjangoJSONEncoder)`` writes,
byte for byte, in pieces: the rows are fetched, serialized and encoded
``chunk_size`` at a time and each chunk is dropped once its text is
yielded, so memory is bounded by a chunk, not by the queryset.

How a chunk is fetched follows ``many()``:

- paths answered from columns (``projection``): the queryset's
  ``values_list()`` rows come through one query, read through
  ``QuerySet.iterator(chunk_size)`` (a server-side cursor on PostgreSQL,
  ``fetchmany`` on SQLite), and each to-many level runs one query per chunk,
  filtered by that chunk's parent keys: ``1 + levels x chunks`` queries
  (a level whose parents in a chunk have no key runs none for it);
- paths needing model instances: ``plan.apply(queryset, lists=True)``
  iterated with ``iterator(chunk_size)``, which runs the plan's prefetches
  once per chunk (Django >= 4.1): ``1 + prefetches x chunks`` queries;
- a ``union()``/``intersection()``/``difference()``: its rows through
  ``iterator(chunk_size)``, completed per chunk by
  ``plan.apply_to_instances`` (``many_combined``'s rule);
- any other iterable of instances: taken ``chunk_size`` at a time, each
  chunk completed by ``plan.apply_to_instances``.

Projected rows on which no code runs are written straight to text, a
chunk per call of the projection's text function (``jsontext``), as
``serializer.json(queryset, in_database=False)`` writes them. Other rows
are encoded: the JSON mode only writes JSON values (str, int, float, bool,
None, lists and dicts with str keys), so the encoder's ``default`` never
runs: the rows go through one ``DjangoJSONEncoder`` (identical text should
something else slip through) without the circular-reference bookkeeping,
which fresh rows never need, ``SLICE`` rows per call, and the texts are
joined as ``json.dumps`` joins a list's items.

    >>> from djust.compiler import compile_serializer
    >>> from examples.rentals.models import Unit
    >>> "".join(stream(compile_serializer(Unit, ["number"]), Unit.objects.none()))
    '[]'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from django.db.models import QuerySet

from djust.compiler import jsontext, projection, relations

DEFAULT_CHUNK_SIZE = 2000
# With to-many levels a chunk also holds every row below its root rows:
# S3 (10 units and 60 requests a property) peaks near 62 MiB at 2,000 and
# under 6 MiB at 100 (benchmarks/bench_streaming.py).
LEVELS_CHUNK_SIZE = 100


def default_chunk_size(serializer) -> int:
    """``DEFAULT_CHUNK_SIZE`` root rows a chunk, ``LEVELS_CHUNK_SIZE`` when
    the serializer reads to-many relations.

        >>> from djust.compiler import compile_serializer
        >>> from examples.rentals.models import Property
        >>> default_chunk_size(compile_serializer(Property, ["units.all.*.number"]))
        100
    """
    plan = serializer.plan
    return LEVELS_CHUNK_SIZE if plan is not None and plan.prefetches else DEFAULT_CHUNK_SIZE



def _describe(serializer) -> str:
    return (f"<serializer {serializer.model._meta.label} {serializer.mode} "
            f"{list(serializer.paths)!r}>")


def stream(serializer, queryset, chunk_size: int | None = None) -> Iterator[str]:
    """The JSON text of ``serializer.many(queryset)``, in chunks of
    ``chunk_size`` rows (``default_chunk_size`` when None):
    ``"".join(stream(...))`` is exactly
    ``json.dumps(serializer.many(queryset), cls=DjangoJSONEncoder)``.

    Nothing is queried before the first chunk is asked for. JSON mode only
    (TypeError otherwise: python-mode rows are not JSON); ``chunk_size``
    must be a positive int (ValueError).
    """
    if serializer.mode != "json":
        raise TypeError(
            f"stream() writes JSON: {_describe(serializer)} is compiled in "
            f"{serializer.mode!r} mode; compile it with mode='json'")
    if chunk_size is None:
        chunk_size = default_chunk_size(serializer)
    if type(chunk_size) is not int or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, not {chunk_size!r}")
    if isinstance(queryset, QuerySet) and not projection.yields_instances(queryset):
        raise TypeError(
            f"{_describe(serializer)}: stream() needs model instances; this QuerySet of "
            f"{queryset.model._meta.label} yields plain rows (values()/values_list())")
    return _text(_chunks(serializer, queryset, chunk_size))


def _text(take: Callable[[], str | None]) -> Iterator[str]:
    """The chunks' texts ``take()`` gives (each its rows' items of the JSON
    array), chunk after chunk until None, as the parts of one array.
    Between chunks nothing here holds a chunk's rows or its text: only the
    consumer holds what was yielded."""
    text = take()
    if text is None:
        yield "[]"
        return
    yield "[" + text
    del text
    while True:
        text = take()
        if text is None:
            break
        yield ", " + text
        del text
    yield "]"


# Rows encoded, and (projected with no level) serialized, at a time.
SLICE = 256


def _written(rows: Iterable[dict]) -> str:
    """``json.dumps(list(rows))`` without its brackets: ``SLICE`` rows per
    encoder call, the texts joined with ", " as ``json.dumps`` joins a
    list's items. Faster than one call per chunk on CPython 3.11 (its C
    encoder keeps every piece of a call until it joins them) and 3.13
    alike, and than one call per row (each call's set-up)."""
    rows = iter(rows)
    parts = []
    while part := list(islice(rows, SLICE)):
        parts.append(jsontext.encode(part)[1:-1])
        del part
    return ", ".join(parts)


def _chunks(serializer, rows, chunk_size: int) -> Callable[[], str | None]:
    """A function giving the next chunk's rows as text, None at the end."""
    if not isinstance(rows, QuerySet):
        return _instance_chunks(serializer, iter(rows), chunk_size, apply=True)
    if rows.query.combinator:
        return _combined_chunks(serializer, rows, chunk_size)
    if projection.queryset_accepts_projection(rows):
        # Written straight to text where the rows allow it (``jsontext``).
        projected = serializer.text_projection
        if projected is None:
            projected = serializer.text_projection = serializer.build_text_projection()
        written = bool(projected)
        projected = projected or _projection(serializer)
        if projected:
            function, spec = projected
            starts = level_querysets(rows, spec)
            if starts is not None:
                return _projected_chunks(function, spec, starts, rows, chunk_size,
                                         written=written,
                                         dicts=lambda: _projection(serializer)[0])
    if serializer.plan is not None:
        # As many(): the rows are ours, relations only the serializer reads
        # load as plain lists; iterator() runs the prefetches once per chunk.
        rows = serializer.plan.apply(rows, lists=True)
    return _instance_chunks(serializer, rows.iterator(chunk_size=chunk_size), chunk_size,
                            apply=False)


def level_querysets(queryset: QuerySet, spec: projection.Projection) -> list[QuerySet] | None:
    """The querysets each level of ``spec`` filters by its parent keys, or
    None when ``queryset`` must be read as instances: ``projection.fetch``'s
    checks that need no query.

    ``fetch`` also declines a queryset repeating a row that has levels (its
    copies would share their groups, as lists in python mode); written as
    JSON, shared and separate groups are the same text, so chunks do not.
    """
    starts = [relations.related_queryset(level.model) for level in spec.levels]
    if not all(projection.queryset_accepts_projection(start) and not start.query.is_sliced
               for start in starts):
        return None
    if spec.runs and (queryset.model is not spec.model
                      or projection.names_set_on_rows(queryset) & spec.runs):
        return None
    if any(level.runs & projection.names_set_on_rows(start)
           for level, start in zip(spec.levels, starts, strict=True)):
        return None
    return starts


def fetch_levels(chunk: list[tuple], spec: projection.Projection,
                 starts: list[QuerySet]) -> list[list[tuple]]:
    """``chunk`` (rows of the queryset's ``values_list``) and the rows of
    each level below it: one query per level, filtered by this chunk's
    parent keys (none for a level whose parents have no key), their
    ``text`` columns as JSON text (``projection.text_rows``)."""
    fetched = [chunk]
    for level, start in zip(spec.levels, starts, strict=True):
        keys = {row[level.key] for row in fetched[level.parent]}
        keys.discard(None)
        if not keys:
            fetched.append([])
            continue
        rows = start.filter(**{f"{level.lookup}__in": keys})
        fetched.append(projection.text_rows(list(rows.values_list(*level.columns)),
                                            level.text))
    return fetched


def _projection(serializer):
    """The serializer's dict-building projection, built on first use."""
    if serializer.projection is None:
        serializer.projection = serializer.build_projection()
    return serializer.projection


def _projected_chunks(function, spec: projection.Projection, starts: list[QuerySet],
                      queryset: QuerySet, chunk_size: int, *, written: bool,
                      dicts: Callable) -> Callable[[], str | None]:
    """``written``: ``function`` writes the rows' text (``jsontext``), else
    it builds their dicts."""
    source = queryset.values_list(*spec.columns).iterator(chunk_size=chunk_size)

    def take() -> str | None:
        chunk = list(islice(source, chunk_size))
        if not chunk:
            return None
        # JSON mode: date, datetime and decimal columns as the function takes them.
        chunk = projection.text_rows(chunk, spec.text)
        if written:
            return jsontext.write_text(function, dicts, fetch_levels(chunk, spec, starts))[1:-1]
        if not spec.levels:
            return _written(_in_slices(function, chunk))
        return _written(function(*fetch_levels(chunk, spec, starts)))
    return take


def _in_slices(project, chunk: list[tuple]) -> Iterator[dict]:
    """``project(chunk)``'s dicts, built ``SLICE`` rows at a time (a
    chunk's dicts, the bulk of its memory, then never all exist at once),
    each slice's rows dropped from ``chunk`` once serialized."""
    while chunk:
        part = chunk[:SLICE]
        del chunk[:SLICE]
        yield from project(part)


def _instance_chunks(serializer, rows: Iterator, chunk_size: int, *, apply: bool,
                     lists: bool = False,
                     lookups: Iterable = ()) -> Callable[[], str | None]:
    """``rows`` (instances) ``chunk_size`` at a time; ``apply``: complete
    each chunk with the plan (rows not loaded through it), ``lists`` and
    ``lookups`` as for ``plan.apply_to_instances``."""
    plan = serializer.plan if apply else None

    def take() -> str | None:
        chunk = list(islice(rows, chunk_size))
        if not chunk:
            return None
        if plan is not None:
            plan.apply_to_instances(chunk, lists=lists, lookups=lookups)
        # Serialized as encoded: a chunk's dicts never all exist at once.
        return _written(map(serializer, chunk))
    return take


def _combined_chunks(serializer, queryset: QuerySet,
                     chunk_size: int) -> Callable[[], str | None]:
    """``many_combined`` per chunk: rows already fetched are the caller's
    and used as they are; otherwise a copy is iterated, its own prefetch
    lookups run per chunk, and the plan completes each chunk (plain lists
    only where no lookup of the caller's loaded the relation)."""
    fetched = queryset._result_cache is not None
    lookups = queryset._prefetch_related_lookups
    rows = iter(queryset) if fetched else queryset.all().iterator(chunk_size=chunk_size)
    return _instance_chunks(serializer, rows, chunk_size, apply=True,
                            lists=not (fetched or lookups), lookups=lookups)
