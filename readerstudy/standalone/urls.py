"""URLs of standalone algorithms (the coordinator's import page)."""

from django.urls import path

from . import views

urlpatterns = [
    path("studies/<slug:slug>/standalone/", views.standalone_index, name="standalone_index"),
    path("studies/<slug:slug>/standalone/new/", views.standalone_create, name="standalone_create"),
    path(
        "studies/<slug:slug>/standalone/<int:algorithm_id>/import/",
        views.standalone_import_view,
        name="standalone_import",
    ),
    path(
        "studies/<slug:slug>/standalone/<int:algorithm_id>/delete/",
        views.standalone_delete,
        name="standalone_delete",
    ),
]
