"""URLs of design: reading schedules and washout waivers."""

from django.urls import path

from . import views

urlpatterns = [
    path("studies/<slug:slug>/schedule/", views.study_schedule, name="study_schedule"),
    path(
        "studies/<slug:slug>/sessions/<int:session_id>/waive-washout/",
        views.session_waive_washout,
        name="session_waive_washout",
    ),
]
