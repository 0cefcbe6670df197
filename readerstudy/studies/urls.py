"""URLs of studies: the coordinator's study pages and the home page."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("studies/", views.study_list, name="study_list"),
    path("studies/<slug:slug>/", views.study_detail, name="study_detail"),
    path("studies/<slug:slug>/identities/", views.study_identities, name="study_identities"),
    path("new-study/", views.study_create, name="study_create"),
    path("studies/<slug:slug>/questions/", views.study_questions, name="study_questions"),
    path("studies/<slug:slug>/phases/", views.study_phases, name="study_phases"),
    path("studies/<slug:slug>/phases/<int:phase_id>/edit/", views.study_phases, name="study_phase_edit"),
    path(
        "studies/<slug:slug>/questions/<int:question_id>/edit/",
        views.study_questions,
        name="study_question_edit",
    ),
    path(
        "studies/<slug:slug>/questions/<int:question_id>/delete/",
        views.study_question_delete,
        name="study_question_delete",
    ),
    path(
        "studies/<slug:slug>/questions/<int:question_id>/move/",
        views.study_question_move,
        name="study_question_move",
    ),
    path("studies/<slug:slug>/readers/", views.study_readers, name="study_readers"),
    path(
        "studies/<slug:slug>/readers/<int:participation_id>/deactivate/",
        views.study_reader_deactivate,
        name="study_reader_deactivate",
    ),
    path(
        "studies/<slug:slug>/readers/<int:participation_id>/reactivate/",
        views.study_reader_reactivate,
        name="study_reader_reactivate",
    ),
    path(
        "studies/<slug:slug>/readers/<int:participation_id>/link/",
        views.study_reader_link,
        name="study_reader_link",
    ),
    path("studies/<slug:slug>/display-grid/", views.study_display_grid, name="study_display_grid"),
    path("studies/<slug:slug>/lock/", views.study_lock, name="study_lock"),
]
