"""The suite's settings (``tests.settings``) plus the real apps that are
installed, and this package's URLs and templates.

``DJUST_REALAPPS_BACKEND=djust`` renders through ``DjustTemplates`` (the tests
switch backends themselves; the variable is for running a page by hand)."""

import os
from pathlib import Path

from tests.realapps.available import installed_apps
from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS as BASE_INSTALLED_APPS

HERE = Path(__file__).resolve().parent

INSTALLED_APPS = installed_apps(BASE_INSTALLED_APPS)
ROOT_URLCONF = "tests.realapps.urls"
SITE_ID = 1

PLAIN_BACKEND = "django.template.backends.django.DjangoTemplates"
DJUST_BACKEND = "djust.template.backends.DjustTemplates"


def templates(backend: str) -> list[dict]:
    return [
        {
            "BACKEND": backend,
            "DIRS": [HERE / "templates"],
            "APP_DIRS": True,
            "OPTIONS": {
                "context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                ]
            },
        }
    ]


TEMPLATES = templates(
    DJUST_BACKEND if os.environ.get("DJUST_REALAPPS_BACKEND") == "djust" else PLAIN_BACKEND
)
