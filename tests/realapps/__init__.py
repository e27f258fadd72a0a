"""Real open-source Django apps from the package index, driven through the
test client with and without ``djust.template.backends.DjustTemplates``
(issue #19): query counts at two data sizes and byte-identical HTML.

The apps (``django-todo`` and ``django-organizations``) are test extras, not
dependencies: when one is not installed, or the settings in use do not list
it in ``INSTALLED_APPS``, its tests skip and say why. ``settings.py`` here is
the suite's settings plus the apps; run with
``pytest tests/realapps --ds=tests.realapps.settings``.
"""
