"""A real ASGI server for the tests: uvicorn (wsproto for WebSockets) on a
free loopback port, in a thread of the test process, serving djust's
``live_application()`` with the static files, as ``run.py demo`` does.

A thread rather than a process: the test database (SQLite in shared-cache
memory, or PostgreSQL inside a transactional test) is the one the server
sees, and a test can call server-side code (``view.push()``,
``djust.broadcast``) in the same process, as a background job would.
"""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest


@contextlib.contextmanager
def asgi_server():
    """Serve the project's URLs over HTTP and WebSocket; yields the base URL."""
    uvicorn = pytest.importorskip("uvicorn", reason="uvicorn comes with the live extra "
                                                    "(python3 run.py test installs it)")
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    from djust import live
    from djust.routing import live_application

    # Pages offer the socket while this server runs, and only then: the
    # other browser tests' WSGI live_server has no socket to offer.
    was_routed = live._socket_routed
    application = ASGIStaticFilesHandler(live_application())
    started = threading.Event()

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            started.set()

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(application, ws="wsproto", http="h11", lifespan="off",
                            loop="asyncio", log_level="warning")
    server = Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]},
                              name="asgi-server", daemon=True)
    thread.start()
    try:
        if not started.wait(30):
            raise RuntimeError("uvicorn did not start within 30 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        live._socket_routed = was_routed
        server.should_exit = True
        thread.join(30)
        listener.close()
