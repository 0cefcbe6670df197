"""``manage.py instance_pixel_offsets``: store the pixel data offsets of instances imported before.

The import stores each instance's Pixel Data offset and length (``imaging.pixels``); instances
imported earlier have none, and are parsed on each frame request until this has run. Also
makes the first image (``imaging.first_image``) of series that lack it.
"""

from django.core.management.base import BaseCommand

from readerstudy.imaging.first_image import first_image_png
from readerstudy.imaging.models import DicomInstance, ImageSeries
from readerstudy.imaging.pixels import instance_pixel_span_store


class Command(BaseCommand):
    help = (
        "Store the pixel data offset and length of every instance that has none; make missing first images."
    )

    def handle(self, *args, **options) -> None:
        pending = DicomInstance.objects.filter(pixel_offset__isnull=True).select_related("series__case")
        stored = skipped = 0
        for instance in pending.iterator():
            if instance_pixel_span_store(instance) is None:
                skipped += 1
            else:
                stored += 1
        images = sum(1 for series in ImageSeries.objects.select_related("case") if first_image_png(series))
        self.stdout.write(
            f"{stored} offsets stored, {skipped} instances left to parsing (not native pixel data); "
            f"{images} series have a first image."
        )
