"""The reader-study data model, one module per part of the domain."""

from .audit import AuditEvent
from .imaging import DicomInstance, ImageSeries, SourceIdentity
from .reading import Answer, LesionMark, Reading, ReadingSession, ReadingVisit
from .reference import ReferenceFinding, ReferenceLesion, ReferenceStandard
from .study import Case, Condition, Question, ReaderParticipation, Study

__all__ = [
    "Answer",
    "AuditEvent",
    "Case",
    "Condition",
    "DicomInstance",
    "ImageSeries",
    "LesionMark",
    "Question",
    "ReaderParticipation",
    "Reading",
    "ReadingSession",
    "ReadingVisit",
    "ReferenceFinding",
    "ReferenceLesion",
    "ReferenceStandard",
    "SourceIdentity",
    "Study",
]
