"""Where Django finds the app's models: each domain keeps its own in ``<domain>/models.py``.

Import models from their domain (``from readerstudy.reading.models import Reading``), not from
here; this module only makes the app registry load them all.
"""

from readerstudy.audit import models as audit_models  # noqa: F401
from readerstudy.design import models as design_models  # noqa: F401
from readerstudy.generation import models as generation_models  # noqa: F401
from readerstudy.imaging import models as imaging_models  # noqa: F401
from readerstudy.measurements import models as measurements_models  # noqa: F401
from readerstudy.reading import models as reading_models  # noqa: F401
from readerstudy.references import models as references_models  # noqa: F401
from readerstudy.results import models as results_models  # noqa: F401
from readerstudy.segmentation import models as segmentation_models  # noqa: F401
from readerstudy.standalone import models as standalone_models  # noqa: F401
from readerstudy.studies import models as studies_models  # noqa: F401
