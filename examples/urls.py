from django.urls import path

from examples.rentals.views import Dashboard

urlpatterns = [
    path("", Dashboard.as_view(), name="dashboard"),
]
