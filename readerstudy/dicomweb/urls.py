"""URLs of dicomweb: the DICOMweb endpoints the viewer loads series from (one root per kind of viewing)."""

from django.urls import path

from . import views

urlpatterns = [
    path("dicomweb/r/<uuid:public_id>/wado", views.wado_uri, name="wado_uri"),
    path(
        "dicomweb/r/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/instances",
        views.series_instances,
        name="qido_instances",
    ),
    path(
        "dicomweb/r/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/metadata",
        views.series_metadata,
        name="wado_metadata",
    ),
    path(
        "dicomweb/r/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/instances/<str:sop_uid>",
        views.instance,
        name="wado_instance",
    ),
    path(
        "dicomweb/r/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/instances/<str:sop_uid>"
        "/frames/<str:frames>",
        views.frames,
        name="wado_frames",
    ),
    path("dicomweb/d/<uuid:public_id>/wado", views.wado_uri, {"root": "draft"}, name="draft_wado_uri"),
    path(
        "dicomweb/d/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/instances",
        views.series_instances,
        {"root": "draft"},
        name="draft_qido_instances",
    ),
    path(
        "dicomweb/d/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/metadata",
        views.series_metadata,
        {"root": "draft"},
        name="draft_wado_metadata",
    ),
    path(
        "dicomweb/d/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/instances/<str:sop_uid>",
        views.instance,
        {"root": "draft"},
        name="draft_wado_instance",
    ),
    path(
        "dicomweb/d/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/instances/<str:sop_uid>"
        "/frames/<str:frames>",
        views.frames,
        {"root": "draft"},
        name="draft_wado_frames",
    ),
    path("dicomweb/m/<uuid:public_id>/wado", views.wado_uri, {"root": "measure"}, name="measure_wado_uri"),
    path(
        "dicomweb/m/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/instances",
        views.series_instances,
        {"root": "measure"},
        name="measure_qido_instances",
    ),
    path(
        "dicomweb/m/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/metadata",
        views.series_metadata,
        {"root": "measure"},
        name="measure_wado_metadata",
    ),
    path(
        "dicomweb/m/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/instances/<str:sop_uid>",
        views.instance,
        {"root": "measure"},
        name="measure_wado_instance",
    ),
    path(
        "dicomweb/m/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/instances/<str:sop_uid>"
        "/frames/<str:frames>",
        views.frames,
        {"root": "measure"},
        name="measure_wado_frames",
    ),
]
