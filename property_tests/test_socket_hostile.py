"""Whatever a client sends over the socket, the consumer answers each
message with one reply (a refusal with a status, or the join's or an
event's answer), keeps the connection, and the page's state changes only
through events that passed: after any sequence of hostile messages, a valid
event still answers from the state the valid events left.
"""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("channels", reason="channels comes with the live extra "
                                       "(python3 run.py test installs it)")

from tests.test_consumers import connect, join, mount
from tests.test_consumers import urlpatterns as urlpatterns

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls(__name__)]

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
messages = st.one_of(
    values.map(json.dumps),
    st.fixed_dictionaries({"t": st.sampled_from(["event", "join", "nope", ""]),
                           "ref": st.one_of(st.integers(), st.text(max_size=3), st.none()),
                           "event": st.sampled_from(["inc", "explode", "mount", "_x", "",
                                                     "touch_row", "dispatch"]) | st.text(),
                           "params": values,
                           "path": st.sampled_from(["/counter/", "/board/", "//x", "/plain/",
                                                    "counter", "/counter/?n=1"]) | st.text(),
                           "id": st.text(max_size=70),
                           "csrf": st.text(max_size=70)}).map(json.dumps),
    st.binary(max_size=40).map(lambda b: b.decode("latin1")),
    # Events of the right shape, some of whose handlers fail half-way.
    st.fixed_dictionaries({"t": st.just("event"), "ref": st.integers(0, 9),
                           "event": st.sampled_from(["inc", "explode", "forbidden",
                                                     "touch_row"]),
                           "params": st.sampled_from([{}, {"by": 2}, {"index": 3},
                                                      {"index": 99}, {"by": "x"}])}
                          ).map(json.dumps),
    st.just('{"t": "event", "ref": 1, "event": "inc", "params": {"by": 1e999}}'),
    st.just("[" * 5000 + "]" * 5000),
)


@given(st.lists(messages, min_size=1, max_size=8))
def test_hostile_messages_are_answered_and_change_nothing(sequence):
    from djust import live
    from djust.routing import live_application

    was_routed = live._socket_routed
    application = live_application()
    client = Client()
    try:
        page = mount(client)
    finally:
        live._socket_routed = was_routed

    async def scenario():
        socket = connect(application, client)
        connected, _ = await socket.connect()
        assert connected
        assert await join(socket, page) == {"t": "joined"}
        shown = 0  # the count the last render showed
        for text in sequence:
            await socket.send_to(text)
            reply = await socket.receive_json_from(timeout=10)
            assert reply["t"] in {"error", "joined", "render"}, reply
            if reply["t"] == "render":
                shown = reply["_state"]["n"]
            if reply["t"] == "error":
                assert isinstance(reply["status"], int) and 400 <= reply["status"] < 600
                assert reply["message"]
            if reply["t"] == "joined":
                # A hostile join that passed joined this very page again: one
                # more reply may follow (a rejoin's render).
                data = json.loads(text)
                if data.get("rejoin") is True:
                    await socket.receive_json_from(timeout=10)
        await socket.send_json_to({"t": "event", "ref": 99, "event": "inc", "params": {}})
        final = await socket.receive_json_from(timeout=10)
        assert final["t"] == "render" and final["ref"] == 99
        assert final["_state"]["n"] == shown + 1  # nothing refused left a change
        await socket.disconnect()

    async_to_sync(scenario)()
