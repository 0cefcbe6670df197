"""Django admin for every model. Day-to-day work happens on the coordinator pages;
the admin is for staff who need to look at or repair raw records."""

from django.contrib import admin

from readerstudy.audit.models import AuditEvent
from readerstudy.design.models import ReadingSchedule
from readerstudy.generation.models import GenerationJob, GenerationTask
from readerstudy.imaging.models import DicomInstance, ImageSeries, ImportJob, SourceIdentity
from readerstudy.measurements.models import (
    FidelityReference,
    FidelityResult,
    MeasurementCNR,
    MeasurementCNRValue,
    MeasurementROI,
    MeasurementValue,
    T2AgreementResult,
)
from readerstudy.reading.models import (
    Answer,
    LesionMark,
    Reading,
    ReadingSession,
    ReadingViewport,
    ReadingVisit,
)
from readerstudy.references.models import ReferenceFinding, ReferenceLesion, ReferenceSet, ReferenceStandard
from readerstudy.results.models import AnalysisRun
from readerstudy.segmentation.models import OverlapMeasurement, SegmentationMask
from readerstudy.standalone.models import (
    StandaloneAlgorithm,
    StandaloneImport,
    StandaloneMark,
    StandaloneRating,
)
from readerstudy.studies.models import Case, Condition, Question, ReaderParticipation, ReadingPhase, Study


class ConditionInline(admin.TabularInline):
    model = Condition
    extra = 0


class QuestionInline(admin.StackedInline):
    model = Question
    extra = 0


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "status",
        "washout_days",
        "navigation",
        "submitted_editable",
        "created_at",
    ]
    list_filter = ["status"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["coordinators", "statisticians"]
    inlines = [ConditionInline, QuestionInline]


@admin.register(ReadingPhase)
class ReadingPhaseAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "study", "order", "kind", "takes_marks", "washout_days"]
    list_filter = ["study", "kind"]


@admin.register(Condition)
class ConditionAdmin(admin.ModelAdmin):
    list_display = ["label", "code", "study", "order"]
    list_filter = ["study"]


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ["code", "study", "created_at"]
    list_filter = ["study"]
    search_fields = ["code"]


@admin.register(ReaderParticipation)
class ReaderParticipationAdmin(admin.ModelAdmin):
    list_display = ["code", "user", "study", "group", "active"]
    list_filter = ["study", "active"]


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ["key", "text", "kind", "required", "study", "phase", "lesion_rule", "order"]
    list_filter = ["study", "kind"]


class DicomInstanceInline(admin.TabularInline):
    model = DicomInstance
    extra = 0
    readonly_fields = ("slice_index", "instance_number", "sop_instance_uid", "sha256", "size")
    fields = readonly_fields
    can_delete = False
    show_change_link = True


@admin.register(ImageSeries)
class ImageSeriesAdmin(admin.ModelAdmin):
    list_display = ["case", "condition", "modality", "rows", "columns", "num_slices", "created_at"]
    list_filter = ["case__study", "condition__label", "modality"]
    readonly_fields = ["public_id"]
    inlines = [DicomInstanceInline]


@admin.register(DicomInstance)
class DicomInstanceAdmin(admin.ModelAdmin):
    list_display = ["series", "slice_index", "instance_number", "sop_instance_uid", "size"]
    list_filter = ["series__case__study"]


@admin.register(SourceIdentity)
class SourceIdentityAdmin(admin.ModelAdmin):
    list_display = ["series", "patient_id", "accession_number", "study_date"]
    list_filter = ["series__case__study"]


@admin.register(ReadingSession)
class ReadingSessionAdmin(admin.ModelAdmin):
    list_display = [
        "participation",
        "phase",
        "number",
        "opens_at",
        "closes_at",
        "completed_at",
        "washout_waived_at",
        "opened_notified_at",
    ]
    list_filter = ["participation__study"]


class AnswerInline(admin.TabularInline):
    model = Answer
    extra = 0


class ViewportInline(admin.TabularInline):
    model = ReadingViewport
    extra = 0
    readonly_fields = ["public_id"]


class LesionMarkInline(admin.TabularInline):
    model = LesionMark
    extra = 0


@admin.register(Reading)
class ReadingAdmin(admin.ModelAdmin):
    list_display = ["session", "position", "series", "status", "opened_at", "submitted_at"]
    list_filter = ["session__participation__study", "status"]
    readonly_fields = ["public_id"]
    inlines = [ViewportInline, AnswerInline, LesionMarkInline]


@admin.register(ReadingViewport)
class ReadingViewportAdmin(admin.ModelAdmin):
    list_display = ["reading", "slot", "label", "is_reference", "series"]
    list_filter = ["reading__session__participation__study"]
    readonly_fields = ["public_id"]


@admin.register(Answer)
class AnswerAdmin(admin.ModelAdmin):
    list_display = ["reading", "question", "value", "present", "updated_at"]
    list_filter = ["question__study"]


@admin.register(LesionMark)
class LesionMarkAdmin(admin.ModelAdmin):
    list_display = ["reading", "slice_index", "x", "y", "rating", "label"]
    list_filter = ["reading__session__participation__study"]


@admin.register(ReadingVisit)
class ReadingVisitAdmin(admin.ModelAdmin):
    list_display = ["reading", "started_at", "active_ms", "first_mark_ms", "window_changes", "updated_at"]
    list_filter = ["reading__session__participation__study"]
    readonly_fields = ["client_id", "started_at", "updated_at"]


def _locked_set(obj) -> bool:
    """Whether ``obj`` (a reference set, standard, lesion or finding) belongs to a locked set."""
    if obj is None:
        return False
    if isinstance(obj, ReferenceSet):
        return obj.locked
    if isinstance(obj, ReferenceStandard):
        return obj.reference_set.locked
    return obj.reference.reference_set.locked


class LockedReferenceReadOnly(admin.options.BaseModelAdmin):
    """A locked reference set never changes, not even in the admin (a change is a new version)."""

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and not _locked_set(obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and not _locked_set(obj)


class LockedReferenceInline(LockedReferenceReadOnly, admin.options.InlineModelAdmin):
    """Inlines of a reference standard: nothing added, changed or deleted once its set is locked."""

    def has_add_permission(self, request, obj=None) -> bool:
        return super().has_add_permission(request, obj) and not _locked_set(obj)


class ReferenceLesionInline(LockedReferenceInline, admin.TabularInline):
    model = ReferenceLesion
    extra = 0


class ReferenceFindingInline(LockedReferenceInline, admin.TabularInline):
    model = ReferenceFinding
    extra = 0


@admin.register(ReferenceSet)
class ReferenceSetAdmin(LockedReferenceReadOnly, admin.ModelAdmin):
    list_display = ["study", "source", "version", "status", "locked_at", "locked_by"]
    list_filter = ["study", "source", "status"]
    filter_horizontal = ["reviewers"]


@admin.register(ReferenceStandard)
class ReferenceStandardAdmin(LockedReferenceReadOnly, admin.ModelAdmin):
    list_display = ["case", "reference_set", "kind", "author", "is_abnormal", "submitted_at"]
    list_filter = ["case__study", "reference_set__source", "kind"]
    readonly_fields = ["public_id"]
    inlines = [ReferenceLesionInline, ReferenceFindingInline]


@admin.register(ReferenceLesion)
class ReferenceLesionAdmin(LockedReferenceReadOnly, admin.ModelAdmin):
    list_display = ["reference", "label", "lesion_type", "size_mm"]


@admin.register(ReferenceFinding)
class ReferenceFindingAdmin(LockedReferenceReadOnly, admin.ModelAdmin):
    list_display = ["reference", "key", "present", "grade"]


@admin.register(ReadingSchedule)
class ReadingScheduleAdmin(admin.ModelAdmin):
    """Read-only: schedules change only through the coordinator's schedule page (new versions)."""

    list_display = ["study", "version", "status", "kind", "seed", "created_at", "activated_at"]
    list_filter = ["study", "status"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AnalysisRun)
class AnalysisRunAdmin(admin.ModelAdmin):
    list_display = ["study", "kind", "interim", "requested_by", "created_at"]
    list_filter = ["study", "interim"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only."""

    list_display = ["created_at", "actor", "action", "target_type", "target_repr", "study"]
    list_filter = ["action", "study"]
    search_fields = ["action", "target_repr"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    """Read-only: jobs change only through the coordinator's generation page and its runners."""

    list_display = ["study", "target_condition", "source_condition", "method", "factor", "status"]
    list_filter = ["study", "status", "method"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(GenerationTask)
class GenerationTaskAdmin(admin.ModelAdmin):
    """Read-only, like the jobs: a task's state is its runner's record."""

    list_display = ["job", "case", "status", "progress", "attempts", "updated_at", "error"]
    list_filter = ["status"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """Read-only: imports change only through the import page, the command and their runners."""

    list_display = ["study", "source_name", "status", "progress", "created_by", "created_at", "error"]
    list_filter = ["study", "status", "pacs_server"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


# ----------------------------------------------------------------------------- image-quality measurements


class MeasurementReadOnly:
    """Read-only: measurements change only through the measuring page (audited), and values are
    computed from the stored pixels, never typed in."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(MeasurementROI)
class MeasurementROIAdmin(MeasurementReadOnly, admin.ModelAdmin):
    list_display = ["case", "number", "kind", "label", "drawn_on", "created_by", "updated_at"]
    list_filter = ["kind", "case__study"]


@admin.register(MeasurementValue)
class MeasurementValueAdmin(MeasurementReadOnly, admin.ModelAdmin):
    list_display = [
        "roi",
        "series",
        "slice_index",
        "fwhm_mm",
        "edge_rise_distance_mm",
        "mean",
        "sd",
        "snr",
        "error",
    ]


@admin.register(MeasurementCNR)
class MeasurementCNRAdmin(MeasurementReadOnly, admin.ModelAdmin):
    list_display = ["case", "roi_a", "roi_b", "label", "created_by"]


@admin.register(MeasurementCNRValue)
class MeasurementCNRValueAdmin(MeasurementReadOnly, admin.ModelAdmin):
    list_display = ["cnr", "series", "value", "error"]


@admin.register(FidelityReference)
class FidelityReferenceAdmin(MeasurementReadOnly, admin.ModelAdmin):
    list_display = ["study", "condition", "chosen_by", "chosen_at"]


@admin.register(FidelityResult)
class FidelityResultAdmin(MeasurementReadOnly, admin.ModelAdmin):
    list_display = ["case", "condition", "reference", "psnr", "ssim", "rmse", "note", "computed_at"]
    list_filter = ["case__study"]


@admin.register(T2AgreementResult)
class T2AgreementResultAdmin(MeasurementReadOnly, admin.ModelAdmin):
    list_display = ["case", "condition", "reference", "region", "ccc", "cv_percent", "mean_t2_ms", "note"]
    list_filter = ["case__study"]


# ----------------------------------------------------------------------------- segmentation masks


@admin.register(SegmentationMask)
class SegmentationMaskAdmin(MeasurementReadOnly, admin.ModelAdmin):
    list_display = ["case", "condition", "file_name", "file_format", "uploaded_by", "uploaded_at"]
    list_filter = ["case__study", "file_format"]


@admin.register(OverlapMeasurement)
class OverlapMeasurementAdmin(MeasurementReadOnly, admin.ModelAdmin):
    list_display = ["mask", "label", "dice", "jaccard", "hd95_mm", "volume_ml", "reference_volume_ml"]


# ----------------------------------------------------------------------------- standalone algorithms


@admin.register(StandaloneAlgorithm)
class StandaloneAlgorithmAdmin(MeasurementReadOnly, admin.ModelAdmin):
    """Read-only: algorithms and their outputs change only through their import page (audited)."""

    list_display = ["study", "code", "name", "kind", "created_by", "created_at"]
    list_filter = ["study", "kind"]


@admin.register(StandaloneImport)
class StandaloneImportAdmin(MeasurementReadOnly, admin.ModelAdmin):
    list_display = ["algorithm", "file_name", "kind", "rows", "sha256", "imported_by", "imported_at"]
    list_filter = ["algorithm__study"]


@admin.register(StandaloneMark)
class StandaloneMarkAdmin(MeasurementReadOnly, admin.ModelAdmin):
    list_display = ["algorithm", "case", "condition", "x_mm", "y_mm", "z_mm", "rating"]
    list_filter = ["algorithm__study"]


@admin.register(StandaloneRating)
class StandaloneRatingAdmin(MeasurementReadOnly, admin.ModelAdmin):
    list_display = ["algorithm", "case", "condition", "rating"]
    list_filter = ["algorithm__study"]
