"""Root URL configuration.

Media files (DICOM) are never served as plain static files: images reach readers
only through views that check permission on each request.
"""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("readerstudy.urls")),
]
