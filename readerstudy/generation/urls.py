"""URLs of generation: SR image generation."""

from django.urls import path

from . import views

urlpatterns = [
    path("studies/<slug:slug>/generate/", views.study_generation, name="study_generation"),
    path(
        "studies/<slug:slug>/generate/state.json",
        views.study_generation_state,
        name="study_generation_state",
    ),
    path(
        "studies/<slug:slug>/generate/<int:job_id>/retry/",
        views.study_generation_retry,
        name="study_generation_retry",
    ),
]
