"""Settings for the test suite: SQLite by default, PostgreSQL when
``DJUST_TEST_DB=postgres`` (``run.py test`` starts a throwaway server and sets
the ``DJUST_PG_*`` variables). ``DJUST_TEST_REVERSE_UNORDERED=1`` makes
SQLite reverse the rows of unordered scans (``run.py test`` sets it for one
SQLite pass)."""

import os
from pathlib import Path

from tests.realapps.available import installed_apps

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "djust-tests-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]

INSTALLED_APPS = installed_apps([
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "djust",
    "examples.rentals",
    "tests.testapp",
    "property_tests.fuzzapp",
])
# The real apps of tests/realapps, when installed (the realapps extra), and
# the site framework django-todo needs.
SITE_ID = 1
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

if os.environ.get("DJUST_TEST_DB") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "djust",
            "USER": os.environ.get("DJUST_PG_USER", "djust"),
            "HOST": os.environ.get("DJUST_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("DJUST_PG_PORT", "5432"),
        }
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    if os.environ.get("DJUST_TEST_REVERSE_UNORDERED"):
        # SQLite then scans tables backwards when no ORDER BY says otherwise,
        # so that a test relying on an order no query asked for fails here
        # rather than now and then on PostgreSQL.
        DATABASES["default"]["OPTIONS"] = {
            "init_command": "PRAGMA reverse_unordered_selects = ON",
        }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Cache-backed sessions keep the database query log to the app's own queries.
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
