"""djust against the alternatives: the same templates' data serialized by
an expert's hand-written ``values_list()`` code (the baseline every ratio is
quoted against), a model-instance optimum (second reference), a naive
generic resolver, Django REST Framework, django-readers, serpy and djust
(``many()``, ``json()``, and ``json(in_database=False)``, its Python path),
with four physical limits (raw cursor; raw cursor, DB text; raw cursor,
text written; JSON built in SQL) reported as distances, on SQLite and
PostgreSQL.

    .venv/py3.11/bin/python -m benchmarks.compare            # full run, both databases
    .venv/py3.11/bin/python -m benchmarks.compare --quick    # N = 1,000 and 10,000, fewer rounds

Modules: ``scenarios`` (templates S1-S3), ``contenders`` (the registry and
the library serializers), ``expert`` (the baseline), ``limits`` (the raw
cursors, JSON in SQL), ``base`` (what they share), ``harness`` (agreement check and
measurement), ``environment`` (Django settings, seed data, machine and djust
revision), ``report`` (``benchmarks/RESULTS.md`` and
``benchmarks/results.png``), ``__main__`` (one worker process per database,
then the report).
"""
