"""ASGI config for the rentals example: Django's HTTP and djust's WebSocket.

``python3 run.py demo`` serves it with uvicorn::

    DJANGO_SETTINGS_MODULE=examples.settings \\
        python -m uvicorn examples.asgi:application --ws wsproto --lifespan off

It exposes the ASGI callable as a module-level variable named
``application``, as Django's own ``asgi.py`` template does. For more
information on this file, see
https://docs.djangoproject.com/en/stable/howto/deployment/asgi/
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.settings")

# live_application() sets Django up (get_asgi_application) before anything
# imports a model; the static files handler serves djust.js as runserver would.
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from djust.routing import live_application

application = ASGIStaticFilesHandler(live_application())
