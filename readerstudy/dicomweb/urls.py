"""URLs of dicomweb: the DICOMweb endpoints the viewer loads series from (one root per kind of viewing).

Every root has the same endpoints: ``r/`` a reading, ``d/`` a reference draft (names prefixed
``draft_``), ``m/`` a series on the measuring page (``measure_``), ``v/`` a viewport of a comparative
reading (``viewport_``).
"""

from django.urls import URLPattern, path

from . import views

STUDY = "studies/<str:study_uid>"
SERIES = f"{STUDY}/series/<str:series_uid>"
INSTANCE = f"{SERIES}/instances/<str:sop_uid>"


def _root_patterns(letter: str, prefix: str, root: str | None) -> list[URLPattern]:
    kwargs = {"root": root} if root else {}
    base = f"dicomweb/{letter}/<uuid:public_id>/"
    endpoints = (
        ("wado", views.wado_uri, "wado_uri"),
        # QIDO-RS searches (PS3.18 10.6)
        ("studies", views.search_studies, "qido_studies"),
        (f"{STUDY}/series", views.search_series, "qido_series"),
        (f"{STUDY}/instances", views.study_instances, "qido_study_instances"),
        (f"{SERIES}/instances", views.series_instances, "qido_instances"),
        # WADO-RS (PS3.18 10.4)
        (STUDY, views.retrieve_study, "wado_study"),
        (f"{STUDY}/metadata", views.study_metadata, "wado_study_metadata"),
        (SERIES, views.retrieve_series, "wado_series"),
        (f"{SERIES}/metadata", views.series_metadata, "wado_metadata"),
        (INSTANCE, views.instance, "wado_instance"),
        (f"{INSTANCE}/frames/<str:frames>", views.frames, "wado_frames"),
        # Bulk pixel data of slice ranges and the first image (the reading page's fast path)
        (f"{SERIES}/slices/<str:slices>", views.bulk_frames, "wado_bulk_frames"),
        (f"{SERIES}/first-image.png", views.first_image, "first_image"),
    )
    return [path(base + route, view, kwargs, name=prefix + name) for route, view, name in endpoints]


urlpatterns = [
    *_root_patterns("r", "", None),
    *_root_patterns("d", "draft_", "draft"),
    *_root_patterns("m", "measure_", "measure"),
    *_root_patterns("v", "viewport_", "viewport"),
]
