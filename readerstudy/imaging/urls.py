"""URLs of imaging: dICOM imports of a study."""

from django.urls import path

from . import views

urlpatterns = [
    path("studies/<slug:slug>/import/", views.study_import, name="study_import"),
    path("studies/<slug:slug>/import/pacs/", views.study_import_pacs, name="study_import_pacs"),
    path("studies/<slug:slug>/import/state.json", views.study_import_state, name="study_import_state"),
    path("studies/<slug:slug>/import/<int:job_id>/", views.study_import_job, name="study_import_job"),
    path(
        "studies/<slug:slug>/import/<int:job_id>/cancel/",
        views.study_import_cancel,
        name="study_import_cancel",
    ),
]
