"""Query parity: serializing through the plan never issues a query per row.

In a "full" world every relation has rows (so Django never skips a prefetch
for lack of instances), and ``.many(queryset)`` for one row and for several
rows must issue the same number of queries: one for the rows plus one per
prefetch lookup in the plan.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import assume, given
from hypothesis import strategies as st

from property_tests import strategies as S
from property_tests.fuzzapp import models as fz
from property_tests.rendering import world_of
from property_tests.test_json_parity import compile_quietly


def full_worlds():
    """Worlds where one owner owns, reviews and comments on every item."""
    return S.worlds(min_items=3, max_items=4).map(_fill)


def _fill(spec: S.WorldSpec) -> S.WorldSpec:
    from dataclasses import replace

    owner = {**spec.owners[0], "with_user": True}
    tags = spec.tags or ("t",)
    comment = {"text": "c", "author": 0, "posted": None, "score": 1}
    items = tuple(
        replace(item, owner=0, reviewer=0, tags=tuple(range(len(tags))),
                comments=(*[{**c, "author": 0} for c in item.comments], comment),
                notes=item.notes or ("n",), detail=item.detail or {"notes_text": "", "weight": 1},
                special=None)
        for item in spec.items
    )
    return replace(spec, owners=(owner,), tags=tags, items=items,
                   groups=(("g", ((0, "member"),)),))


# The models generic foreign keys point at in full worlds (notes target items,
# never special items): Django runs one query per content type present.
GENERIC_TARGETS_PRESENT = (fz.Item,)


def prefetch_count(level) -> int:
    """Queries the prefetches below a plan level issue, nested ones included.

    A plain prefetch is one query; a generic one is one query per target
    model present, plus what is prefetched below each of those targets.
    """
    total = 0
    for spec in level.prefetches:
        if spec.level is not None:
            total += 1 + prefetch_count(spec.level)
            continue
        present = [target for target in spec.targets if target.model in GENERIC_TARGETS_PRESENT]
        total += sum(1 + prefetch_count(target) for target in present)
    return total


def queries_for(serializer, queryset) -> int:
    with CaptureQueriesContext(connection) as queries:
        serializer.many(queryset)
    return len(queries)


@pytest.mark.django_db
@given(spec=full_worlds(), paths=S.paths_for("Item"), data=st.data())
def test_query_count_is_independent_of_row_count(spec, paths, data):
    assume(not S.contains_star_with_named_sibling(paths))
    # Full worlds hold no SpecialItem rows: Django skips prefetches below
    # ``specialitem`` for lack of instances, so the count would be lower.
    assume(not any("specialitem" in p for p in paths))
    with world_of(spec) as world:
        serializer = compile_quietly(fz.Item, paths, "json")
        pks = [item.pk for item in world.items]
        one = queries_for(serializer, fz.Item.objects.filter(pk=pks[0]))
        several = queries_for(serializer, fz.Item.objects.filter(pk__in=pks))
        assert one == several, (serializer.plan.explain(), paths)
        assert one == 1 + prefetch_count(serializer.plan.root), serializer.plan.explain()
