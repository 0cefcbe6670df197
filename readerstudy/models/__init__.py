"""The reader-study data model, one module per part of the domain."""

from .analysis import AnalysisRun
from .audit import AuditAction, AuditEvent
from .generation import GenerationJob, GenerationTask
from .imaging import DicomInstance, ImageSeries, SourceIdentity
from .imports import ImportJob
from .measurement import (
    FidelityReference,
    FidelityResult,
    MeasurementCNR,
    MeasurementCNRValue,
    MeasurementROI,
    MeasurementValue,
)
from .reading import Answer, LesionMark, Reading, ReadingSession, ReadingVisit
from .reference import ReferenceFinding, ReferenceLesion, ReferenceSet, ReferenceSource, ReferenceStandard
from .schedule import ReadingSchedule, ScheduleImmutable
from .study import Case, Condition, Question, ReaderParticipation, Study

__all__ = [
    "AnalysisRun",
    "Answer",
    "AuditAction",
    "AuditEvent",
    "Case",
    "Condition",
    "DicomInstance",
    "FidelityReference",
    "FidelityResult",
    "GenerationJob",
    "GenerationTask",
    "ImageSeries",
    "ImportJob",
    "LesionMark",
    "MeasurementCNR",
    "MeasurementCNRValue",
    "MeasurementROI",
    "MeasurementValue",
    "Question",
    "ReaderParticipation",
    "Reading",
    "ReadingSchedule",
    "ReadingSession",
    "ReadingVisit",
    "ReferenceFinding",
    "ReferenceLesion",
    "ReferenceSet",
    "ReferenceSource",
    "ReferenceStandard",
    "ScheduleImmutable",
    "SourceIdentity",
    "Study",
]
