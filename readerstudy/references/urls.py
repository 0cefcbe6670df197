"""URLs of references: reference sets, drafting, adjudication and finals."""

from django.urls import path

from . import views

urlpatterns = [
    path("studies/<slug:slug>/references/", views.reference_overview, name="study_references"),
    path("references/", views.reference_mine, name="reference_mine"),
    path("references/<int:set_id>/cases/", views.reference_cases, name="reference_cases"),
    path("references/<int:set_id>/lock/", views.reference_set_lock_view, name="reference_set_lock"),
    path(
        "references/<int:set_id>/cases/<int:case_id>/discrepancies/",
        views.reference_discrepancies_view,
        name="reference_discrepancies",
    ),
    path(
        "references/<int:set_id>/cases/<int:case_id>/final/",
        views.reference_final_view,
        name="reference_final",
    ),
    path("references/drafts/<uuid:public_id>/", views.reference_draft, name="reference_draft"),
    path("studies/<slug:slug>/references/new/", views.reference_set_new, name="reference_set_create"),
    path("studies/<slug:slug>/references/import/", views.reference_import, name="reference_import"),
    path(
        "api/reference-drafts/<uuid:public_id>/state",
        views.api_reference_draft_state,
        name="api_reference_draft_state",
    ),
    path(
        "api/reference-drafts/<uuid:public_id>/lesions/<uuid:client_id>",
        views.api_reference_lesion,
        name="api_reference_lesion",
    ),
]
