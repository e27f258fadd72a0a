"""djust: Django templates compiled into query plans and serializers.

Public API::

    from djust.compiler import (
        extract_template_variables, compile_serializer, optimize_queryset,
    )
    from djust import LiveView, event_handler, warm_up
    from djust import broadcast, abroadcast    # LiveView server push (Channels)
"""

__version__ = "0.1.0"

_LAZY = {"LiveView": "djust.live", "event_handler": "djust.live", "warm_up": "djust.warmup",
         "broadcast": "djust.consumers", "abroadcast": "djust.consumers"}


def __getattr__(name):
    # Lazy so that importing djust does not import Django's view machinery
    # before settings are configured.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'djust' has no attribute {name!r}")
