"""The catalogue of study templates a coordinator starts a new study from.

Plain data (no database access): each template names its conditions (arms), its
questions with their scales, and the confidence scale of lesion marks (empty when the
design has no lesion marking). ``studies.services.study_create_from_template`` turns a
template into a draft study; everything can be edited afterwards while the study is a
draft.

Question kinds are the values of ``Question.Kind`` (``likert``, ``finding``, ``text``);
a scale is a tuple of ``(value, label)`` points with increasing values.
"""

from dataclasses import dataclass, field

LIKERT = "likert"
FINDING = "finding"
TEXT = "text"
PREFERENCE = "preference"
AB_SCALE = "ab_scale"
REFERENCE_SCALE = "reference_scale"
Scale = tuple[tuple[int, str], ...]


def _points(*labels: str) -> Scale:
    """A scale numbered 1, 2, 3, ... with the given labels."""
    return tuple(enumerate(labels, start=1))


def scale_as_json(scale: Scale) -> list[dict[str, object]]:
    """The scale as stored on ``Question.scale`` / ``Study.mark_scale``."""
    return [{"value": value, "label": label} for value, label in scale]


# --- Scales shared by the templates --------------------------------------------------------------


#: 5-point overall image quality.
QUALITY_5 = _points("non-diagnostic", "poor", "fair", "good", "excellent")
#: Confidence that a finding or a marked lesion is present (1 possibly ... 4 definitely).
CONFIDENCE_4 = _points("possibly", "probably", "likely", "definitely")
#: 5-point noise scale (higher is better).
NOISE_5 = _points("severe, non-diagnostic", "marked", "moderate", "mild", "minimal or none")
#: 5-point visibility of an anatomical structure.
VISIBILITY_5 = _points(
    "not visible", "poorly visible", "adequately visible", "well visible", "excellently visible"
)


#: 4-point scales (higher is better).
NOISE_4 = _points("severe", "moderate", "mild", "minimal")
SHARPNESS_4 = _points("blurred", "moderately sharp", "sharp", "very sharp")
CONTRAST_4 = _points("poor", "moderate", "good", "excellent")
ARTEFACTS_4 = _points("severe", "moderate", "mild", "none")
#: 5-point scales for the image-quality-only template (higher is better).
SHARPNESS_5 = _points("severely blurred", "blurred", "acceptable", "sharp", "very sharp")
ARTEFACTS_5 = _points("severe, non-diagnostic", "marked", "moderate", "mild", "none")
CONFIDENCE_5 = _points("very low", "low", "moderate", "high", "very high")
#: 5-point judgement of a blinded test image against the labelled reference beside it.
REFERENCE_5 = (
    (-2, "much worse than the reference"),
    (-1, "slightly worse than the reference"),
    (0, "comparable to the reference"),
    (1, "slightly better than the reference"),
    (2, "much better than the reference"),
)


@dataclass(frozen=True)
class ConditionTemplate:
    """An arm of the study: its true label (coordinators only) and a description."""

    label: str
    description: str = ""


@dataclass(frozen=True)
class QuestionTemplate:
    """A question readers answer for every reading (per chosen lesion when ``lesion_rule`` is set:
    ``all``, ``largest`` or ``median``; see ``stats.lesion_choice``)."""

    key: str
    text: str
    kind: str
    scale: Scale = ()
    help_text: str = ""
    required: bool = True
    lesion_rule: str = ""


@dataclass(frozen=True)
class PhaseTemplate:
    """A reading phase: its questions, whether it takes lesion marks, the conditions it reads
    (labels; empty: all), the washout (days) after the reader completed the phase before, and
    its hanging protocol (``layout`` single or comparative, with the label of the condition
    shown as the ``reference``, if any)."""

    key: str
    name: str
    questions: tuple[QuestionTemplate, ...]
    takes_marks: bool = True
    kind: str = "reading"
    conditions: tuple[str, ...] = ()
    washout_days: int = 0
    layout: str = "single"
    reference: str = ""


@dataclass(frozen=True)
class StudyTemplate:
    """A study design: conditions in order, its phases with their questions, the lesion-mark
    scale, and the analysis settings and reference the design's paper used.

    A one-phase design gives ``questions`` only: its one phase ("Reading") asks them all.
    ``reference`` names the kind of reference standard (a ``ReferenceSource`` value, e.g.
    ``arthroscopy``) and ``reference_note`` what it covers (e.g. "10 of the cases").
    """

    key: str
    title: str
    description: str
    conditions: tuple[ConditionTemplate, ...]
    questions: tuple[QuestionTemplate, ...] = ()
    mark_scale: Scale = field(default=())
    explicit_phases: tuple[PhaseTemplate, ...] = ()
    analysis_settings: tuple[tuple[str, object], ...] = ()
    reference: str = ""
    reference_note: str = ""
    washout_days: int = 7

    @property
    def has_lesion_marks(self) -> bool:
        return bool(self.mark_scale)

    @property
    def condition_labels(self) -> list[str]:
        return [condition.label for condition in self.conditions]

    @property
    def phases(self) -> tuple[PhaseTemplate, ...]:
        """The phases in order (one "Reading" phase asking ``questions`` when none are given)."""
        if self.explicit_phases:
            return self.explicit_phases
        return (PhaseTemplate(key="reading", name="Reading", questions=self.questions),)

    @property
    def all_questions(self) -> tuple[QuestionTemplate, ...]:
        return tuple(q for phase in self.phases for q in phase.questions)


COMMENT = QuestionTemplate(key="comment", text="Comment", kind=TEXT, required=False)


def _visibility(key: str, structure: str) -> QuestionTemplate:
    return QuestionTemplate(
        key=f"visibility_{key}", text=f"Visibility of the {structure}", kind=LIKERT, scale=VISIBILITY_5
    )


def _finding(key: str, text: str, help_text: str = "") -> QuestionTemplate:
    return QuestionTemplate(key=key, text=text, kind=FINDING, scale=CONFIDENCE_4, help_text=help_text)


KNEE_3ARM = StudyTemplate(
    key="knee-3arm",
    title="Knee MRI: LR vs SR vs HR (image quality and pathology)",
    description=(
        "Follows the published design of a 3-arm LR/SR/HR reader study of knee MRI: each case is "
        "read as a low-resolution acquisition (LR), its super-resolution reconstruction (SR) and "
        "the high-resolution acquisition (HR). Readers grade image quality on Likert items (overall "
        "quality, noise and the visibility of menisci, cruciate ligaments, cartilage and bone "
        "marrow) and report pathology per structure (medial and lateral meniscal tear, ACL tear, "
        "cartilage lesion, bone marrow oedema) as present or absent with a confidence; the findings "
        "are compared against arthroscopy as the reference standard. No lesion marks."
    ),
    conditions=(
        ConditionTemplate("LR", "Low-resolution (accelerated) acquisition"),
        ConditionTemplate("SR", "Super-resolution reconstruction of the low-resolution acquisition"),
        ConditionTemplate("HR", "High-resolution (standard) acquisition"),
    ),
    questions=(
        QuestionTemplate(key="overall_quality", text="Overall image quality", kind=LIKERT, scale=QUALITY_5),
        QuestionTemplate(key="noise", text="Image noise", kind=LIKERT, scale=NOISE_5),
        _visibility("menisci", "menisci"),
        _visibility("cruciate_ligaments", "cruciate ligaments"),
        _visibility("cartilage", "articular cartilage"),
        _visibility("bone_marrow", "bone marrow"),
        _finding("meniscal_tear_medial", "Medial meniscal tear"),
        _finding("meniscal_tear_lateral", "Lateral meniscal tear"),
        _finding("acl_tear", "Anterior cruciate ligament (ACL) tear", "Partial or complete tear."),
        _finding("cartilage_lesion", "Cartilage lesion", "Any focal cartilage defect in any compartment."),
        _finding("bone_marrow_oedema", "Bone marrow oedema"),
        COMMENT,
    ),
    reference="arthroscopy",
    reference_note="Arthroscopy in the subset of cases that had it (10 in the paper); the findings "
    "are compared against it on those cases only.",
)


BRAIN_METS_FROC = StudyTemplate(
    key="brain-mets-froc",
    title="Brain metastases: LR vs SR, lesion marks (FROC)",
    description=(
        "Follows the published design of a 2-arm brain-metastasis reader study: each case is read "
        "as the standard low-resolution acquisition (LR) and its super-resolution reconstruction "
        "(SR). Readers mark every suspected metastasis with a 4-point confidence (1 possibly to 4 "
        "definitely), analysed per lesion as FROC data with JAFROC, say whether at least one "
        "metastasis is present, and grade image quality on a 5-point overall scale and 4-point "
        "scales for noise, sharpness, contrast and artefacts."
    ),
    conditions=(
        ConditionTemplate("LR", "Standard (low-resolution) acquisition"),
        ConditionTemplate("SR", "Super-resolution reconstruction of the standard acquisition"),
    ),
    questions=(
        QuestionTemplate(key="overall_quality", text="Overall image quality", kind=LIKERT, scale=QUALITY_5),
        QuestionTemplate(key="noise", text="Image noise", kind=LIKERT, scale=NOISE_4),
        QuestionTemplate(
            key="sharpness", text="Sharpness of grey-white matter borders", kind=LIKERT, scale=SHARPNESS_4
        ),
        QuestionTemplate(key="contrast", text="Lesion-to-background contrast", kind=LIKERT, scale=CONTRAST_4),
        QuestionTemplate(key="artefacts", text="Artefacts", kind=LIKERT, scale=ARTEFACTS_4),
        _finding(
            "metastasis_present",
            "At least one metastasis present",
            "Mark each suspected metastasis on the image as well.",
        ),
        COMMENT,
    ),
    mark_scale=CONFIDENCE_4,
)


IMAGE_QUALITY = StudyTemplate(
    key="image-quality",
    title="Image quality only: two conditions",
    description=(
        "Image-quality-only study: each case is read under two conditions (standard and "
        "super-resolution) and graded on Likert items (overall quality, noise, sharpness, artefacts "
        "and diagnostic confidence). No findings and no lesion marks."
    ),
    conditions=(
        ConditionTemplate("Standard", "Standard acquisition"),
        ConditionTemplate("SR", "Super-resolution reconstruction"),
    ),
    questions=(
        QuestionTemplate(key="overall_quality", text="Overall image quality", kind=LIKERT, scale=QUALITY_5),
        QuestionTemplate(key="noise", text="Image noise", kind=LIKERT, scale=NOISE_5),
        QuestionTemplate(key="sharpness", text="Image sharpness", kind=LIKERT, scale=SHARPNESS_5),
        QuestionTemplate(key="artefacts", text="Artefacts", kind=LIKERT, scale=ARTEFACTS_5),
        QuestionTemplate(
            key="diagnostic_confidence", text="Diagnostic confidence", kind=LIKERT, scale=CONFIDENCE_5
        ),
    ),
)


#: 4-point lesion confidence where 1 is a rating, not a detection: "1 = not present".
LESION_CONFIDENCE_4 = _points("not present", "possibly present", "probably present", "definitely present")


BRAIN_METS_2PHASE = StudyTemplate(
    key="brain-mets-2phase",
    title="Brain metastases: LR vs SR, detection then image quality (two phases)",
    description=(
        "Follows the published design of a brain-metastasis super-resolution reader study. Phase 1, "
        "detection: each case is read as the standard acquisition (LR) and its super-resolution "
        "reconstruction (SR), in two sessions at least a week apart (the two versions of a case never in "
        "one session); readers mark every suspected metastasis with a 4-point confidence (1 not "
        "present to 4 definitely present). A lesion counts as detected when marked with confidence "
        "2 or higher (sensitivity, size strata, McNemar); JAFROC uses every mark. Phase 2, image "
        "quality, opens at least a week after a reader completed detection: the visibility of the "
        "median-sized metastasis of each case (the smaller of the two medians when the count is "
        "even; shown to the reader), the visibility of veins and the falx, sharpness, noise and "
        "overall quality. CNR is computed with the pooled SD of CSF and brain ROIs."
    ),
    conditions=(
        ConditionTemplate("LR", "Standard (low-resolution) acquisition"),
        ConditionTemplate("SR", "Super-resolution reconstruction of the standard acquisition"),
    ),
    mark_scale=LESION_CONFIDENCE_4,
    explicit_phases=(
        PhaseTemplate(
            key="detection",
            name="Detection",
            questions=(
                QuestionTemplate(
                    key="metastasis_present",
                    text="At least one metastasis present",
                    kind=FINDING,
                    scale=CONFIDENCE_4,
                    help_text="Mark each suspected metastasis on the image as well.",
                ),
            ),
        ),
        PhaseTemplate(
            key="image-quality",
            name="Image quality",
            takes_marks=False,
            washout_days=7,
            questions=(
                QuestionTemplate(
                    key="lesion_visibility",
                    text="Visibility of the lesion shown",
                    kind=LIKERT,
                    scale=VISIBILITY_5,
                    lesion_rule="median",
                    help_text="The lesion is shown with a dashed circle (Show the lesion).",
                ),
                _visibility("veins", "cortical veins"),
                _visibility("falx", "falx cerebri"),
                QuestionTemplate(key="sharpness", text="Image sharpness", kind=LIKERT, scale=SHARPNESS_5),
                QuestionTemplate(key="noise", text="Image noise", kind=LIKERT, scale=NOISE_5),
                QuestionTemplate(
                    key="overall_quality", text="Overall image quality", kind=LIKERT, scale=QUALITY_5
                ),
                COMMENT,
            ),
        ),
    ),
    analysis_settings=(("detection_min_rating", 2), ("cnr_formula", "pooled_sd")),
    reference="consensus",
    reference_note="Lesions by expert consensus on the standard and follow-up images.",
)


#: Whether an image is judged to be a real acquisition (1 surely synthetic ... 5 surely real).
REALNESS_5 = _points("surely synthetic", "probably synthetic", "cannot tell", "probably real", "surely real")
DETAIL_5 = _points(
    "not depicted", "poorly depicted", "adequately depicted", "well depicted", "excellently depicted"
)


SYNTHESIS_COMPARISON = StudyTemplate(
    key="synthesis-comparison",
    title="3T to 7T synthesis: synthetic vs real 7T, blinded judgement and segmentation overlap",
    description=(
        "Follows the published design of a 3T-to-7T MRI synthesis study: blinded experts read each "
        "case as the real 7T acquisition and the 7T image synthesised from the 3T one, in separate "
        "sessions, and judge overall quality, the depiction of fine structures (hippocampal "
        "subfields, amygdala borders), contrast, artefacts and whether the image is a real "
        "acquisition. Automated segmentations of the amygdalae on each condition are imported as "
        "label masks and compared with the manual reference segmentation by Dice, Jaccard, 95th-"
        "percentile Hausdorff distance and volume difference, with paired tests between conditions. "
        "A second, comparative phase shows the synthetic 7T image (blinded) beside the real 7T image "
        "labelled as the reference, in linked viewports, and asks how the test image compares with "
        "the reference. No lesion marks."
    ),
    conditions=(
        ConditionTemplate("7T", "Real 7T acquisition"),
        ConditionTemplate("synthetic 7T", "7T image synthesised from the 3T acquisition"),
    ),
    explicit_phases=(
        PhaseTemplate(
            key="reading",
            name="Reading",
            takes_marks=False,
            questions=(
                QuestionTemplate(
                    key="overall_quality", text="Overall image quality", kind=LIKERT, scale=QUALITY_5
                ),
                QuestionTemplate(
                    key="fine_structures",
                    text="Depiction of fine structures (hippocampal subfields, amygdala borders)",
                    kind=LIKERT,
                    scale=DETAIL_5,
                ),
                QuestionTemplate(
                    key="contrast", text="Grey-white matter contrast", kind=LIKERT, scale=CONTRAST_4
                ),
                QuestionTemplate(key="artefacts", text="Artefacts", kind=LIKERT, scale=ARTEFACTS_5),
                QuestionTemplate(
                    key="realness",
                    text="Is this a real 7T acquisition?",
                    kind=LIKERT,
                    scale=REALNESS_5,
                    help_text="Judge from the image alone: some images are synthesised.",
                ),
                COMMENT,
            ),
        ),
        PhaseTemplate(
            key="comparison",
            name="Comparison with the reference",
            takes_marks=False,
            layout="comparative",
            reference="7T",
            washout_days=7,
            questions=(
                QuestionTemplate(
                    key="reference_overall",
                    text="Overall quality of the test image compared with the reference",
                    kind=REFERENCE_SCALE,
                    scale=REFERENCE_5,
                ),
                QuestionTemplate(
                    key="reference_fine_structures",
                    text="Fine structures (hippocampal subfields, amygdala borders) against the reference",
                    kind=REFERENCE_SCALE,
                    scale=REFERENCE_5,
                ),
                QuestionTemplate(key="comparison_comment", text="Comment", kind=TEXT, required=False),
            ),
        ),
    ),
    reference="consensus",
    reference_note="Manual segmentations of the amygdalae on the real 7T images are the reference "
    "masks (imported on the segmentation page).",
)


DESS_OBJECTIVE = StudyTemplate(
    key="dess-objective",
    title="Knee DESS: LR vs SR vs HR, objective quality with T2 maps and image-quality grades",
    description=(
        "Follows the published design of a dual-echo steady-state (DESS) knee super-resolution study: "
        "each case is a DESS exam acquired at high resolution (HR), its thick-slice low-resolution "
        "version (LR) and the super-resolution reconstruction of the LR (SR). Objective quality: SSIM, "
        "PSNR and RMSE of LR and SR against HR, and T2 maps from the two DESS echoes (the analytic "
        "model of Sveinsson et al. 2017) whose agreement with the HR map is the concordance "
        "correlation coefficient (Lin) and the within-subject CV%, over the tissue mask and the ROIs "
        "drawn on the measurement page. The second echo of each condition is imported as a condition "
        "of its own, labelled with the suffix echo 2 (LR echo 2, SR echo 2, HR echo 2), and read by no "
        "one. Readers grade overall quality, sharpness, noise and artefacts on 5-point scales. No "
        "lesion marks."
    ),
    conditions=(
        ConditionTemplate("LR", "Low-resolution (thick-slice) DESS, echo 1"),
        ConditionTemplate("SR", "Super-resolution reconstruction of the LR DESS, echo 1"),
        ConditionTemplate("HR", "High-resolution DESS, echo 1 (the reference)"),
        ConditionTemplate("LR echo 2", "Second echo of the LR DESS: for its T2 map, not read"),
        ConditionTemplate("SR echo 2", "Second echo of the SR DESS: for its T2 map, not read"),
        ConditionTemplate("HR echo 2", "Second echo of the HR DESS: for its T2 map, not read"),
    ),
    explicit_phases=(
        PhaseTemplate(
            key="image-quality",
            name="Image quality",
            takes_marks=False,
            conditions=("LR", "SR", "HR"),
            questions=(
                QuestionTemplate(
                    key="overall_quality", text="Overall image quality", kind=LIKERT, scale=QUALITY_5
                ),
                QuestionTemplate(key="sharpness", text="Image sharpness", kind=LIKERT, scale=SHARPNESS_5),
                QuestionTemplate(key="noise", text="Image noise", kind=LIKERT, scale=NOISE_5),
                QuestionTemplate(key="artefacts", text="Artefacts", kind=LIKERT, scale=ARTEFACTS_5),
            ),
        ),
    ),
    reference="",
)


#: Every template, in the order the "New study" page lists them.
STUDY_TEMPLATES: dict[str, StudyTemplate] = {
    template.key: template
    for template in (
        KNEE_3ARM,
        BRAIN_METS_FROC,
        BRAIN_METS_2PHASE,
        SYNTHESIS_COMPARISON,
        IMAGE_QUALITY,
        DESS_OBJECTIVE,
    )
}


def study_template_get(key: str) -> StudyTemplate | None:
    """The template with this key, or None."""
    return STUDY_TEMPLATES.get(key)
