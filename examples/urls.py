from django.urls import path

from examples.rentals.views import Dashboard, LeaseList

urlpatterns = [
    path("", Dashboard.as_view(), name="dashboard"),
    path("leases/", LeaseList.as_view(), name="lease-list"),
]
