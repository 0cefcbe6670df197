"""URLs of measurements: objective image-quality measurements."""

from django.urls import path

from . import views

urlpatterns = [
    path("studies/<slug:slug>/measurements/", views.measurement_index, name="measurement_index"),
    path(
        "studies/<slug:slug>/measurements/reference/",
        views.measurement_reference,
        name="measurement_reference",
    ),
    path(
        "studies/<slug:slug>/measurements/fidelity/",
        views.measurement_fidelity,
        name="measurement_fidelity",
    ),
    path(
        "studies/<slug:slug>/measurements/t2-agreement/",
        views.measurement_t2_agreement,
        name="measurement_t2_agreement",
    ),
    path(
        "studies/<slug:slug>/cases/<int:case_id>/measure/",
        views.measurement_case,
        name="measurement_case",
    ),
    path(
        "studies/<slug:slug>/cases/<int:case_id>/measure/recompute/",
        views.measurement_recompute,
        name="measurement_recompute",
    ),
    path(
        "studies/<slug:slug>/cases/<int:case_id>/measure/state.json",
        views.api_measurement_state,
        name="api_measurement_state",
    ),
    path(
        "studies/<slug:slug>/cases/<int:case_id>/measure/rois/<uuid:client_id>",
        views.api_measurement_roi,
        name="api_measurement_roi",
    ),
    path(
        "studies/<slug:slug>/cases/<int:case_id>/measure/cnrs/<uuid:client_id>",
        views.api_measurement_cnr,
        name="api_measurement_cnr",
    ),
]
