"""URLs of the reader-study app."""

from django.urls import path

from .views import home

app_name = "readerstudy"

urlpatterns = [
    path("", home.home, name="home"),
]
