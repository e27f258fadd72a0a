"""Settings for the bundled rentals example (the README's demo command)."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "djust-example-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "djust",
    "examples.rentals",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "examples.urls"
TEMPLATES = [
    {
        # Django's DjangoTemplates, with every page's queries planned.
        "BACKEND": "djust.template.backends.DjustTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ],
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        # `run.py demo --database PATH` serves another file (its test does).
        "NAME": os.environ.get("DJUST_DEMO_DATABASE") or BASE_DIR / "rentals.sqlite3",
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"
SESSION_ENGINE = "django.contrib.sessions.backends.cache"

# djust.broadcast() between the dashboard's pages: the in-memory layer
# reaches the pages of the one process `run.py demo` runs. With
# DJUST_DEMO_REDIS_URL (redis://127.0.0.1:6379/0) the layer is channels-redis,
# so a broadcast from another process (`python -m django shell`) reaches them.
if os.environ.get("DJUST_DEMO_REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # socket_timeout None: redis-py 8 would time idle reads out after
            # 5 s and drop every idle page's socket (django/channels_redis#422).
            "CONFIG": {"hosts": [{"address": os.environ["DJUST_DEMO_REDIS_URL"],
                                  "socket_timeout": None}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
