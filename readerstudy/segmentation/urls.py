"""URLs of segmentation: label masks per case and their overlap with the reference mask."""

from django.urls import path

from . import views

urlpatterns = [
    path("studies/<slug:slug>/segmentation/", views.segmentation_index, name="segmentation_index"),
    path("studies/<slug:slug>/segmentation/delete/", views.segmentation_delete, name="segmentation_delete"),
]
