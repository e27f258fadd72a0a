"""The suite's URLs plus each installed real app's own URLconf."""

from django.apps import apps
from django.urls import include, path

from tests.urls import urlpatterns as suite_urlpatterns

urlpatterns = list(suite_urlpatterns)
if apps.is_installed("todo"):
    urlpatterns.append(path("todo/", include("todo.urls", namespace="todo")))
if apps.is_installed("organizations"):
    urlpatterns.append(path("orgs/", include("organizations.urls")))
