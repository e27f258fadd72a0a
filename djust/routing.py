"""Routing djust's WebSocket in a project's ``asgi.py`` (Django Channels).

Either the whole application, for a project with nothing else on sockets::

    # asgi.py
    import os
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    from djust.routing import live_application
    application = live_application()

or djust's route beside the project's own, in Channels' usual stack::

    from channels.auth import AuthMiddlewareStack
    from channels.routing import ProtocolTypeRouter, URLRouter
    from channels.security.websocket import AllowedHostsOriginValidator
    from django.core.asgi import get_asgi_application
    django_app = get_asgi_application()
    from djust.routing import websocket_urlpatterns
    application = ProtocolTypeRouter({
        "http": django_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter([*websocket_urlpatterns, ...]))),
    })

The session and user middleware give the socket the request's session and
``request.user``; the origin validator refuses a page of another site (the
consumer checks the CSRF token and the origin again, as the POST does).
Pages offer the socket only in a process that imported these routes, so a
project still served by WSGI keeps every page on the HTTP transport.
"""

from __future__ import annotations

from django.urls import re_path

from djust import conf, live


def is_routed() -> bool:
    """Whether this process routes djust's consumer (imported this module's
    routes): the condition for a page to offer its WebSocket."""
    return live._socket_routed


def end_sockets_of_session(sender=None, request=None, **kwargs) -> None:
    """``user_logged_out`` receiver: close the WebSockets of the session
    being flushed, in every process the channel layer reaches, so a page
    left open does not go on acting as the user who logged out (its
    reconnect is then refused, as its POST would be)."""
    if not conf.get("WEBSOCKET_URL"):
        return
    key = getattr(getattr(request, "session", None), "session_key", None)
    if not key:
        return
    try:
        from djust.consumers import end_session
    except ImportError:  # Channels is not installed: there are no sockets
        return
    end_session(key)


def _urlpatterns() -> list:
    from djust.consumers import LiveConsumer

    url = conf.get("WEBSOCKET_URL") or "/djust/live/"
    live._socket_routed = True
    return [re_path(rf"^{url.strip('/')}/?$", LiveConsumer.as_asgi())]


def __getattr__(name: str):
    # Built on first access, so that merely importing djust (or this module
    # from a WSGI process) does not import Channels or mark the socket routed.
    if name == "websocket_urlpatterns":
        return _urlpatterns()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def live_application(http_application=None):
    """The ASGI application serving Django's HTTP and djust's WebSocket:
    Channels' ``ProtocolTypeRouter`` with the origin, session and
    authentication middleware around djust's route.

    ``http_application``: Django's (``get_asgi_application()``) by default::

        application = live_application()
    """
    from channels.auth import AuthMiddlewareStack
    from channels.routing import ProtocolTypeRouter, URLRouter
    from channels.security.websocket import AllowedHostsOriginValidator
    from django.core.asgi import get_asgi_application

    if http_application is None:
        http_application = get_asgi_application()
    return ProtocolTypeRouter({
        "http": http_application,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(_urlpatterns()))),
    })
