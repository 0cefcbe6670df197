"""URLs of results: results: downloads, the analysis pages, exports and settings."""

from django.urls import path

from . import views

urlpatterns = [
    path("studies/<slug:slug>/results/", views.study_results, name="study_results"),
    path("studies/<slug:slug>/results/answers.csv", views.study_results_csv, name="study_results_csv"),
    path("studies/<slug:slug>/results/readings.csv", views.study_readings_csv, name="study_readings_csv"),
    path("studies/<slug:slug>/results/analysis/", views.study_analysis, name="study_analysis"),
    path("studies/<slug:slug>/results/report/", views.study_report, name="study_report"),
    path(
        "studies/<slug:slug>/results/settings/",
        views.study_analysis_settings,
        name="study_analysis_settings",
    ),
    path(
        "studies/<slug:slug>/results/tables/<slug:name>.csv",
        views.study_analysis_table,
        name="study_analysis_table",
    ),
    path("studies/<slug:slug>/results/export/<str:kind>", views.study_export, name="study_export"),
]
