"""URLs of the reader-study app: each domain's routes, under one namespace."""

from readerstudy.design import urls as design
from readerstudy.dicomweb import urls as dicomweb
from readerstudy.generation import urls as generation
from readerstudy.imaging import urls as imaging
from readerstudy.measurements import urls as measurements
from readerstudy.reading import urls as reading
from readerstudy.references import urls as references
from readerstudy.results import urls as results
from readerstudy.segmentation import urls as segmentation
from readerstudy.standalone import urls as standalone
from readerstudy.studies import urls as studies

app_name = "readerstudy"

urlpatterns = [
    *studies.urlpatterns,
    *imaging.urlpatterns,
    *design.urlpatterns,
    *reading.urlpatterns,
    *references.urlpatterns,
    *generation.urlpatterns,
    *measurements.urlpatterns,
    *segmentation.urlpatterns,
    *standalone.urlpatterns,
    *results.urlpatterns,
    *dicomweb.urlpatterns,
]
