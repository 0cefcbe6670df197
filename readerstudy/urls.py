"""URLs of the reader-study app."""

from django.urls import path

from .views import api, dicomweb, home, imports, reader, studies

app_name = "readerstudy"

urlpatterns = [
    path("", home.home, name="home"),
    path("reading/", reader.reader_sessions, name="reader_sessions"),
    path("reading/<uuid:public_id>/", reader.reading_detail, name="reading_detail"),
    path("reading/<uuid:public_id>/complete/", reader.session_complete, name="session_complete"),
    path("api/readings/<uuid:public_id>/state", api.reading_state, name="api_reading_state"),
    path("api/readings/<uuid:public_id>/answers", api.answer_put, name="api_answer"),
    path("api/readings/<uuid:public_id>/marks/<uuid:client_id>", api.mark_put, name="api_mark"),
    path("api/readings/<uuid:public_id>/position", api.position_put, name="api_position"),
    path("api/readings/<uuid:public_id>/visits/<uuid:client_id>", api.visit_put, name="api_visit"),
    path("dicomweb/r/<uuid:public_id>/wado", dicomweb.wado_uri, name="wado_uri"),
    path(
        "dicomweb/r/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/instances",
        dicomweb.series_instances,
        name="qido_instances",
    ),
    path(
        "dicomweb/r/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/metadata",
        dicomweb.series_metadata,
        name="wado_metadata",
    ),
    path(
        "dicomweb/r/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/instances/<str:sop_uid>",
        dicomweb.instance,
        name="wado_instance",
    ),
    path(
        "dicomweb/r/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/instances/<str:sop_uid>"
        "/frames/<str:frames>",
        dicomweb.frames,
        name="wado_frames",
    ),
    path("studies/", studies.study_list, name="study_list"),
    path("studies/<slug:slug>/", studies.study_detail, name="study_detail"),
    path("studies/<slug:slug>/import/", imports.study_import, name="study_import"),
    path("studies/<slug:slug>/identities/", studies.study_identities, name="study_identities"),
    path("studies/<slug:slug>/references/", studies.study_references, name="study_references"),
    path("studies/<slug:slug>/results/answers.csv", studies.study_results_csv, name="study_results_csv"),
    path("studies/<slug:slug>/results/readings.csv", studies.study_readings_csv, name="study_readings_csv"),
]
