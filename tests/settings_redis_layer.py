"""tests.settings with Channels' Redis layer, for the process a browser test
starts to broadcast from (tests/test_browser_socket.py): the layer is the
throwaway redis-server of ``DJUST_TEST_REDIS_URL``, with the key prefix of
``DJUST_TEST_CHANNELS_PREFIX`` so that tests sharing the server do not hear
each other."""

import os

from tests.settings import *  # noqa: F403


def redis_layers(url: str, prefix: str) -> dict:
    """``CHANNEL_LAYERS`` for channels-redis on ``url``; the test process
    overrides its settings with the same value.

    ``socket_timeout: None``: redis-py 8 reads with a 5 s timeout by default,
    which channels-redis's blocking 5 s BZPOPMIN hits on an idle socket, so
    every consumer waiting for a message would crash after about 5 s and its
    page rejoin (django/channels_redis#422, redis/redis-py#4091)."""
    return {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                        "CONFIG": {"hosts": [{"address": url, "socket_timeout": None}],
                                   "prefix": prefix}}}


if os.environ.get("DJUST_TEST_REDIS_URL"):
    CHANNEL_LAYERS = redis_layers(os.environ["DJUST_TEST_REDIS_URL"],
                                  os.environ.get("DJUST_TEST_CHANNELS_PREFIX", "asgi"))
