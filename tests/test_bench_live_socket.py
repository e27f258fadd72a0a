"""``benchmarks/bench_live_socket.py`` in a tiny configuration: it serves the
rentals example with uvicorn in a process of its own, sends the same events
over a WebSocket and over the HTTP POST, and checks every WebSocket reply
(its diff applied to the HTML before) against the POST's HTML and state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import bench_live_socket as bench

ROOT = Path(__file__).resolve().parent.parent
if os.environ.get("DJUST_TEST_DB") == "postgres":
    pytest.skip("the benchmark serves its own SQLite file: it runs in the SQLite phases only",
                allow_module_level=True)

EVENTS, ROWS = 8, 2


def test_a_tiny_run_measures_both_transports_and_checks_every_reply(tmp_path):
    pytest.importorskip("uvicorn", reason="uvicorn comes with the live extra")
    pytest.importorskip("wsproto", reason="wsproto comes with the live extra")
    figures_file = tmp_path / "figures.json"
    env = {name: value for name, value in os.environ.items()
           if name not in ("DJANGO_SETTINGS_MODULE", "DJUST_DEMO_DATABASE")}
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_live_socket", "--events", str(EVENTS),
         "--rows", str(ROWS), "--connections", "2", "--scale", "0.1",
         "--json", str(figures_file)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("Machine: ") and "CPUs" in lines[0] and "Django" in lines[0]
    for heading in ("round trip (ms)", "  p50", "  p99", "  p50 less the render",
                    "events per second",
                    "  1 sequential client(s)", "  2 concurrent client(s)",
                    "bytes per event (median)", "  filter (status)", "  sort",
                    "  one row changed", "  nothing changed", "checked: "):
        assert any(line.startswith(heading) for line in lines), heading

    figures = json.loads(figures_file.read_text())
    # Every pair was checked: 4 warm-up events, the timed ones, and two per
    # changed row; the socket sent the whole HTML once, then diffs only.
    assert figures["checked"] == len(bench.CYCLE) + EVENTS + 2 * ROWS
    assert figures["diffs"] == figures["checked"] - 1
    assert figures["deflate"] is True
    for transport in ("websocket", "http"):
        times = figures["round_trip_ms"][transport]
        assert 0 < times["p50"] <= times["p99"]
        assert figures["events_per_second"]["1 sequential"][transport] > 0
        assert figures["events_per_second"]["2 concurrent"][transport] > 0
        assert figures["outside_render_ms"][transport]["p50"] < times["p50"]
    sizes = figures["bytes"]
    assert set(sizes) == {"filter (status)", "sort", "one row changed", "nothing changed"}
    # One changed cell: a diff of a few bytes against the whole HTML.
    assert sizes["nothing changed"]["ws diff"] < sizes["one row changed"]["ws diff"] < 100
    for case in sizes.values():
        assert case["ws message"] < case["http body"]


class Held:
    """What the benchmark's check reads of its WebSocket client."""

    def __init__(self, html: str, state: dict) -> None:
        self.html = html
        self.state = state


def test_the_check_compares_html_and_state_but_not_the_demo_timings():
    ws = Held('<p class="stats" id="stats">1.2 ms</p><td>7</td>', {"n": 1})
    same = {"html": '<p class="stats" id="stats">3.4 ms</p><td>7</td>', "state": {"n": 1}}
    bench.check("case", ws, {}, same)
    with pytest.raises(bench.Mismatch, match="HTML"):
        bench.check("case", ws, {}, dict(same, html="<td>8</td>"))
    with pytest.raises(bench.Mismatch, match="state"):
        bench.check("case", Held(ws.html, {"n": 2}), {}, same)


def test_percentiles_are_nearest_rank():
    values = list(range(1, 101))
    assert bench.percentile(values, 50) == 50
    assert bench.percentile(values, 99) == 99
    assert bench.percentile([3.0], 99) == 3.0
