"""Root URL configuration.

Media files (DICOM) are never served as plain static files: images reach readers
only through views that check permission on each request.

Refusals (400, 403, 404, 500) are the site's styled pages, or JSON ``{"error": ...}`` for
the API and DICOMweb paths (``readerstudy.errors``).
"""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("readerstudy.urls")),
]

handler400 = "readerstudy.errors.bad_request"
handler403 = "readerstudy.errors.permission_denied"
handler404 = "readerstudy.errors.page_not_found"
handler500 = "readerstudy.errors.server_error"
