"""A fresh worker's first request: the compiler is imported at start-up, and a
store warmed by ``djust_cache warm`` serves the first page without compiling.

How long that first request takes is measured by
``benchmarks/bench_first_request.py``, not here.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from examples.rentals.seed import seed
from tests.test_store_integration import forget_this_process, page_state

ROOT = Path(__file__).resolve().parent.parent

# What extracting a template and compiling a serializer import; a worker's
# first page would pay for any of them that start-up left out.
COMPILER_MODULES = [
    "bytecode",
    "djust.compiler.extraction",
    "djust.compiler.tree",
    "djust.compiler.plan",
    "djust.compiler.lowering",
    "djust.compiler.projection",
    "djust.compiler.emit",
    "djust.compiler.serializer",
    "djust.context",
    "djust.live",
]

# A new worker: which of COMPILER_MODULES importing djust, then
# django.setup(), brought in; then which djust or bytecode modules its first
# extraction and its first compilation still had to import.
WORKER = """
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
import django
import djust
names = json.loads(sys.argv[1])
imported = [[name for name in names if name in sys.modules]]
django.setup()
imported.append([name for name in names if name in sys.modules])
from djust.compiler import compile_serializer, extract_template_variables
from examples.rentals.models import Lease
before = set(sys.modules)
extract_template_variables("{% for l in leases %}{{ l.tenant.user.email }}{% endfor %}")
compile_serializer(Lease, ["tenant.user.email", "end_date", "days_until_expiration"])
imported.append(sorted(name for name in set(sys.modules) - before
                       if name.split(".")[0] in ("djust", "bytecode")))
print(json.dumps(imported))
"""


def test_start_up_imports_what_the_first_request_would():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", WORKER, json.dumps(COMPILER_MODULES)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    after_import, after_setup, during_first_use = json.loads(done.stdout)
    assert after_import == []  # importing djust alone stays cheap
    assert after_setup == COMPILER_MODULES
    assert during_first_use == []


@pytest.mark.django_db
def test_a_store_warmed_by_djust_cache_warm_serves_the_first_page(filesystem_store):
    seed(scale=0.02)
    # A worker of the previous deployment served the page: the store's
    # manifest now lists its serializers.
    before = Client().get("/dashboard/")
    manifest = len(list(filesystem_store.entries("m")))
    assert manifest >= 3
    # A code change makes the analysed templates and the serializers stale;
    # the manifest is what is left to warm from.
    for kind in ("x", "s"):
        for key, _payload in list(filesystem_store.entries(kind)):
            filesystem_store.delete(kind, key)
    forget_this_process()
    call_command("djust_cache", "warm", stdout=io.StringIO(), stderr=io.StringIO())
    forget_this_process()
    counted = dict(filesystem_store.counters)

    first = Client().get("/dashboard/")

    spent = {name: filesystem_store.counters[name] - counted[name] for name in counted}
    # The template and every serializer came from the store; nothing was compiled.
    assert spent["misses"] == 0 and spent["writes"] == 0 and spent["rejected"] == 0
    assert spent["hits"] == 1 + manifest
    assert page_state(first.content.decode()) == page_state(before.content.decode())
