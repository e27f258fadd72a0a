from django.urls import path

from examples.rentals.views import Dashboard
from tests import views

urlpatterns = [
    path("leases/", views.LeaseList.as_view()),
    path("leases-nojit/", views.NoJit.as_view()),
    path("count-only/", views.CountOnly.as_view()),
    path("unanalysable/", views.Unanalysable.as_view()),
    path("from-file/", views.FromFile.as_view()),
    path("dashboard/", Dashboard.as_view()),
    path("values/", views.ValuesRows.as_view()),
    path("no-template/", views.NoTemplate.as_view()),
]
