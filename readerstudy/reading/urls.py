"""URLs of reading: the reader's pages and the workstation's JSON API."""

from django.urls import path

from . import views

urlpatterns = [
    path("after-login/", views.after_login, name="after_login"),
    path("reading/", views.reader_sessions, name="reader_sessions"),
    path("reading/<uuid:public_id>/", views.reading_detail, name="reading_detail"),
    path("reading/<uuid:public_id>/complete/", views.session_complete, name="session_complete"),
    path("api/readings/<uuid:public_id>/state", views.reading_state, name="api_reading_state"),
    path("api/readings/<uuid:public_id>/answers", views.answer_put, name="api_answer"),
    path("api/readings/<uuid:public_id>/marks/<uuid:client_id>", views.mark_put, name="api_mark"),
    path("api/readings/<uuid:public_id>/position", views.position_put, name="api_position"),
    path("api/readings/<uuid:public_id>/visits/<uuid:client_id>", views.visit_put, name="api_visit"),
]
