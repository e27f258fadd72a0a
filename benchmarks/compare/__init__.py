"""djust against the alternatives: the same templates' data serialized by
a naive generic resolver, Django REST Framework, django-readers, serpy, a
hand-written optimum and djust, on SQLite and PostgreSQL.

    .venv/py3.11/bin/python -m benchmarks.compare            # full run, both databases
    .venv/py3.11/bin/python -m benchmarks.compare --quick    # N = 100 and 1,000, fewer rounds

Modules: ``scenarios`` (templates S1-S3), ``contenders`` (the six
serializers), ``harness`` (agreement check and measurement), ``environment``
(Django settings, seed data, machine description), ``report``
(``benchmarks/RESULTS.md`` and ``benchmarks/results.png``), ``__main__``
(one worker process per database, then the report).
"""
