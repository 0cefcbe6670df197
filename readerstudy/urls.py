"""URLs of the reader-study app."""

from django.urls import path

from .views import home, imports, reader, studies

app_name = "readerstudy"

urlpatterns = [
    path("", home.home, name="home"),
    path("reading/", reader.reader_sessions, name="reader_sessions"),
    path("reading/<uuid:public_id>/", reader.reading_detail, name="reading_detail"),
    path("reading/<uuid:public_id>/slices/<int:index>.png", reader.reading_slice, name="reading_slice"),
    path("studies/", studies.study_list, name="study_list"),
    path("studies/<slug:slug>/", studies.study_detail, name="study_detail"),
    path("studies/<slug:slug>/import/", imports.study_import, name="study_import"),
    path("studies/<slug:slug>/identities/", studies.study_identities, name="study_identities"),
    path("studies/<slug:slug>/references/", studies.study_references, name="study_references"),
    path("studies/<slug:slug>/results/answers.csv", studies.study_results_csv, name="study_results_csv"),
]
