"""The audit log: an append-only record of who did what to which object, and when."""

from django.conf import settings
from django.db import models


class AuditAction(models.TextChoices):
    """Every action the audit log records, as ``<entity>.<verb>`` (the stored value).

    One list, so that a newcomer sees every action in one place and a typo fails at once
    (``audit_event_create`` refuses a value that is not here).
    """

    ANALYSIS_INTERIM = "analysis.interim"
    ANALYSIS_RUN = "analysis.run"
    ANSWER_SAVE = "answer.save"
    DEMO_ARCHIVE = "demo.archive"
    DEMO_CREATE = "demo.create"
    DICOM_IMPORT = "dicom.import"
    DICOM_IMPORT_CANCEL = "dicom.import_cancel"
    DICOM_IMPORT_FAILED = "dicom.import_failed"
    DICOM_IMPORT_INTERRUPTED = "dicom.import_interrupted"
    DICOM_IMPORT_QUEUED = "dicom.import_queued"
    FIDELITY_COMPUTE = "fidelity.compute"
    FIDELITY_REFERENCE_SET = "fidelity.reference.set"
    GENERATION_CASE_FAIL = "generation.case_fail"
    GENERATION_FINISH = "generation.finish"
    GENERATION_RETRY = "generation.retry"
    GENERATION_START = "generation.start"
    LOGIN_FAILED = "login.failed"
    LOGIN_LOCKED_OUT = "login.locked_out"
    MARK_CREATE = "mark.create"
    MARK_DELETE = "mark.delete"
    MARK_UPDATE = "mark.update"
    MEASUREMENT_CNR_CREATE = "measurement.cnr.create"
    MEASUREMENT_CNR_DELETE = "measurement.cnr.delete"
    MEASUREMENT_CNR_UPDATE = "measurement.cnr.update"
    MEASUREMENT_RECOMPUTE = "measurement.recompute"
    MEASUREMENT_ROI_CREATE = "measurement.roi.create"
    MEASUREMENT_ROI_DELETE = "measurement.roi.delete"
    MEASUREMENT_ROI_UPDATE = "measurement.roi.update"
    PHASE_CREATE = "phase.create"
    PHASE_UPDATE = "phase.update"
    QUESTION_CREATE = "question.create"
    QUESTION_DELETE = "question.delete"
    QUESTION_MOVE = "question.move"
    QUESTION_UPDATE = "question.update"
    READER_DEACTIVATE = "reader.deactivate"
    READER_INVITATION_RENEW = "reader.invitation_renew"
    READER_INVITE = "reader.invite"
    READER_REACTIVATE = "reader.reactivate"
    READING_OPEN = "reading.open"
    READING_SUBMIT = "reading.submit"
    REFERENCE_ADJUDICATE = "reference.adjudicate"
    REFERENCE_DRAFT_CREATE = "reference.draft.create"
    REFERENCE_DRAFT_FINDINGS = "reference.draft.findings"
    REFERENCE_DRAFT_SUBMIT = "reference.draft.submit"
    REFERENCE_LESION_CREATE = "reference.lesion.create"
    REFERENCE_LESION_DELETE = "reference.lesion.delete"
    REFERENCE_LESION_UPDATE = "reference.lesion.update"
    REFERENCE_SET_CREATE = "reference_set.create"
    REFERENCE_SET_IMPORT = "reference_set.import"
    REFERENCE_SET_LOCK = "reference_set.lock"
    SCHEDULE_ACTIVATE = "schedule.activate"
    SCHEDULE_DISCARD = "schedule.discard"
    SCHEDULE_GENERATE = "schedule.generate"
    SEGMENTATION_MASK_DELETE = "segmentation.mask.delete"
    SEGMENTATION_MASK_IMPORT = "segmentation.mask.import"
    SEGMENTATION_MASK_IMPORT_FAILED = "segmentation.mask.import_failed"
    SERIES_DISPLAY_GRID = "series.display_grid"
    SERIES_IMPORT = "series.import"
    SESSION_OPEN_NOTIFY = "session.open_notify"
    SESSION_WASHOUT_WAIVE = "session.washout_waive"
    STANDALONE_CREATE = "standalone.create"
    STANDALONE_DELETE = "standalone.delete"
    STANDALONE_IMPORT = "standalone.import"
    STUDY_ANALYSIS_SETTINGS = "study.analysis_settings"
    STUDY_CREATE = "study.create"
    STUDY_DISPLAY_GRID = "study.display_grid"
    STUDY_LOCK = "study.lock"
    T2_AGREEMENT_COMPUTE = "t2_agreement.compute"


#: The actions that change something stored: their ``data`` always holds ``before`` and
#: ``after`` (see ``readerstudy.audit.services.audit_change``), next to facts about the
#: context (the case, the client id, a reason). Every other action records something that
#: ran or was tried (an import, a generation, an analysis, a login, opening a reading, a new
#: study or reference set made from its inputs) and carries only the facts of that run.
AUDIT_CHANGE_ACTIONS: frozenset[AuditAction] = frozenset(
    {
        AuditAction.ANSWER_SAVE,
        AuditAction.PHASE_CREATE,
        AuditAction.PHASE_UPDATE,
        AuditAction.DEMO_ARCHIVE,
        AuditAction.FIDELITY_REFERENCE_SET,
        AuditAction.MARK_CREATE,
        AuditAction.MARK_DELETE,
        AuditAction.MARK_UPDATE,
        AuditAction.MEASUREMENT_CNR_CREATE,
        AuditAction.MEASUREMENT_CNR_DELETE,
        AuditAction.MEASUREMENT_CNR_UPDATE,
        AuditAction.MEASUREMENT_ROI_CREATE,
        AuditAction.MEASUREMENT_ROI_DELETE,
        AuditAction.MEASUREMENT_ROI_UPDATE,
        AuditAction.QUESTION_CREATE,
        AuditAction.QUESTION_DELETE,
        AuditAction.QUESTION_MOVE,
        AuditAction.QUESTION_UPDATE,
        AuditAction.READER_DEACTIVATE,
        AuditAction.READER_REACTIVATE,
        AuditAction.READING_SUBMIT,
        AuditAction.REFERENCE_DRAFT_FINDINGS,
        AuditAction.REFERENCE_DRAFT_SUBMIT,
        AuditAction.REFERENCE_LESION_CREATE,
        AuditAction.REFERENCE_LESION_DELETE,
        AuditAction.REFERENCE_LESION_UPDATE,
        AuditAction.REFERENCE_SET_LOCK,
        AuditAction.SCHEDULE_ACTIVATE,
        AuditAction.SEGMENTATION_MASK_DELETE,
        AuditAction.SEGMENTATION_MASK_IMPORT,
        AuditAction.SESSION_WASHOUT_WAIVE,
        AuditAction.STANDALONE_CREATE,
        AuditAction.STANDALONE_DELETE,
        AuditAction.STANDALONE_IMPORT,
        AuditAction.STUDY_ANALYSIS_SETTINGS,
        AuditAction.STUDY_DISPLAY_GRID,
        AuditAction.STUDY_LOCK,
    }
)


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Audit events are append-only.")

    def delete(self):
        raise PermissionError("Audit events are append-only.")


class AuditEvent(models.Model):
    """One action on one object. Rows are never changed or deleted.

    Write them through ``readerstudy.audit.services.audit_event_create``. ``data`` of a
    change (``AUDIT_CHANGE_ACTIONS``) holds ``before`` and ``after``; see ``audit_change``.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=60, db_index=True)  # an AuditAction value
    study = models.ForeignKey(
        "readerstudy.Study", null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    target_type = models.CharField(max_length=60, blank=True, help_text="Model name of the target.")
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target_repr}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise PermissionError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit events are append-only.")
