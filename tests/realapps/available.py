"""Which real apps are importable, and what each adds to ``INSTALLED_APPS``.

Importing this module imports no app (``find_spec`` only), so settings may
use it."""

from __future__ import annotations

import importlib.util

# app -> (its pip requirement, the INSTALLED_APPS entries it needs, in order)
REALAPPS = {
    # todo.utils imports django.contrib.sites' models; its checks ask for
    # django-autocomplete-light's apps.
    "todo": ("django-todo>=2.7", ["django.contrib.sites", "dal", "dal_select2", "todo"]),
    "organizations": ("django-organizations>=2.7", ["organizations"]),
}


def importable(app: str) -> bool:
    return importlib.util.find_spec(app) is not None


def installed_apps(base: list[str]) -> list[str]:
    """``base`` plus the entries of every importable real app, once each."""
    apps = list(base)
    for app, (_requirement, entries) in REALAPPS.items():
        if importable(app):
            apps += [entry for entry in entries if entry not in apps]
    return apps
