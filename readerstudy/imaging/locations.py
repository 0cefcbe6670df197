"""Where a page's viewer finds its series: the DICOMweb root of a reading or draft, and the
blinded UIDs of the series under it (``views.dicomweb`` serves them)."""

from dataclasses import dataclass

from django.urls import reverse

from readerstudy.imaging import blinding


@dataclass(frozen=True)
class SeriesLocation:
    root: str
    study_uid: str
    series_uid: str

    @property
    def series_path(self) -> str:
        """WADO-RS URL (path) of the series."""
        return f"{self.root}studies/{self.study_uid}/series/{self.series_uid}"

    @property
    def metadata_url(self) -> str:
        """WADO-RS metadata of the series (the page preloads it)."""
        return f"{self.series_path}/metadata"

    def config(self) -> dict[str, str]:
        """The keys the page scripts read from their JSON configuration."""
        return {"dicomwebRoot": self.root, "studyUid": self.study_uid, "seriesUid": self.series_uid}


def series_location(viewing: blinding.BlindedViewing, wado_uri_name: str) -> SeriesLocation:
    """The location of ``viewing.series`` under the root whose WADO-URI URL is named ``wado_uri_name``."""
    series = viewing.series
    if series is None:  # a draft is only shown once it has its series
        raise ValueError(f"{viewing.public_id} has no series to locate.")
    return SeriesLocation(
        root=reverse(wado_uri_name, args=[viewing.public_id]).removesuffix("wado"),
        study_uid=blinding.reading_uid(viewing, series.study_instance_uid),
        series_uid=blinding.reading_uid(viewing, series.series_instance_uid),
    )
