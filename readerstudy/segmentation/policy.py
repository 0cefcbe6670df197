"""Who may import segmentation masks and see their overlap metrics.

The page shows each condition's overlap with the reference per case, with the condition's
label: coordinators of the study only, and never one who also reads in it (as measurements
and references).
"""

from readerstudy.studies.models import Study
from readerstudy.studies.policy import User, can_coordinate, reads_study


def can_segment(user: User, study: Study) -> bool:
    """Import and delete masks and see the per-case overlap metrics: coordinators of the study
    who do not read in it."""
    return can_coordinate(user, study) and not reads_study(user, study)
