"""The raw record of a finished reader study, and the bundle file that carries it.

A :class:`StudyRecord` holds everything the analysis tables are computed from, in plain
tables (lists of rows) with fixed columns: the conditions, readers and cases, every
reading, answer and mark, the reference lesions and findings, objective measurements,
image checksums, the :class:`AnalysisSettings` and the provenance (schedule seed and
version, reference versions, software versions). The platform builds one from its
database; a statistician gets it as a *reproducibility bundle* (a zip of CSV files and
JSON, :func:`write_bundle`), from which ``python -m stats tables BUNDLE`` re-creates
every table (:mod:`stats.study_tables`) without the platform.

Numbers are written as the shortest text that reads back as the same float, so a record
read back from its bundle equals the record that was written, and so do its tables.
Text that a spreadsheet would run as a formula gets a leading quote, which the reader
drops again (:mod:`stats.spreadsheet`), so such a case code or answer reads back exactly.
"""

import csv
import io
import itertools
import json
import math
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .dataset import DatasetError
from .fom import FROC_FOMS
from .matching import AcceptanceRule
from .mrmc import check_alternative
from .spreadsheet import SafeCsvWriter, spreadsheet_text

BUNDLE_FORMAT = "readerstudy-bundle/1"

#: The record's tables and their columns with types: str, int, float, bool (None = empty cell).
TABLES: dict[str, tuple[tuple[str, type], ...]] = {
    "conditions": (("condition", str), ("order", int), ("generative", bool)),
    "readers": (("reader", str),),
    "cases": (("case", str), ("abnormal", bool)),
    "questions": (("question", str), ("kind", str), ("text", str), ("scale", str)),
    "readings": (
        ("condition", str),
        ("reader", str),
        ("case", str),
        ("session", int),
        ("position", int),
        ("submitted_at", str),
        ("phase", str),
    ),
    "answers": (
        ("condition", str),
        ("reader", str),
        ("case", str),
        ("question", str),
        ("value", int),
        ("present", bool),
        ("text", str),
        ("lesion", str),
        ("phase", str),
    ),
    "marks": (
        ("condition", str),
        ("reader", str),
        ("case", str),
        ("mark", str),
        ("slice", int),
        ("x_mm", float),
        ("y_mm", float),
        ("z_mm", float),
        ("rating", float),
    ),
    "lesions": (
        ("case", str),
        ("lesion", str),
        ("x_mm", float),
        ("y_mm", float),
        ("z_mm", float),
        ("size_mm", float),
        ("weight", float),
        ("type", str),
    ),
    "findings": (("reference", str), ("case", str), ("finding", str), ("present", bool), ("grade", int)),
    "measurements": (
        ("case", str),
        ("condition", str),
        ("roi", str),
        ("kind", str),
        ("metric", str),
        ("value", float),
    ),
    "fidelity": (
        ("case", str),
        ("condition", str),
        ("reference", str),
        ("psnr", float),
        ("ssim", float),
        ("rmse", float),
        ("psnr_tissue", float),
        ("ssim_tissue", float),
    ),
    # DESS T2 maps against the reference condition's, per case x condition x region (tissue or ROI)
    "t2_agreement": (
        ("case", str),
        ("condition", str),
        ("reference", str),
        ("region", str),
        ("ccc", float),
        ("ccc_lower", float),
        ("ccc_upper", float),
        ("cv_percent", float),
        ("mean_t2_ms", float),
        ("reference_mean_t2_ms", float),
        ("n_voxels", int),
    ),
    # segmentation overlap of each condition's mask with the case's reference mask (stats.overlap)
    "overlap": (
        ("case", str),
        ("condition", str),
        ("label", str),
        ("dice", float),
        ("jaccard", float),
        ("hd95_mm", float),
        ("volume_ml", float),
        ("reference_volume_ml", float),
        ("volume_difference_ml", float),
        ("relative_volume_difference_percent", float),
    ),
    "images": (("case", str), ("condition", str), ("slice", int), ("sha256", str)),
    # ROI pairs of a case (a CNR's two circles: A the structure, B the background), by ROI name
    "roi_pairs": (("case", str), ("pair", str), ("roi_a", str), ("roi_b", str)),
    # one row per attribute of a case (Case.attributes), the value as text
    "case_attributes": (("case", str), ("attribute", str), ("value", str)),
    "comparisons": (
        ("reader", str),
        ("case", str),
        ("phase", str),
        ("question", str),
        ("kind", str),
        ("condition_a", str),
        ("condition_b", str),
        ("reference", str),
        ("value", int),
    ),
    # standalone algorithms ("CAD"), never readers of the human analyses (stats.tables.standalone):
    # kind "marks" (lesion marks, every case of a condition read) or "ratings" (one per case)
    "standalone_readers": (("reader", str), ("name", str), ("kind", str)),
    "standalone_marks": (
        ("reader", str),
        ("condition", str),
        ("case", str),
        ("mark", str),
        ("x_mm", float),
        ("y_mm", float),
        ("z_mm", float),
        ("rating", float),
    ),
    "standalone_ratings": (("reader", str), ("condition", str), ("case", str), ("rating", float)),
}
#: Tables a bundle written before they existed lacks; reading it gives them empty.
OPTIONAL_TABLES = frozenset(
    {
        "overlap",
        "roi_pairs",
        "case_attributes",
        "t2_agreement",
        "comparisons",
        "standalone_readers",
        "standalone_marks",
        "standalone_ratings",
    }
)

#: The CNR formulas of ``AnalysisSettings.cnr_formula`` (see :func:`stats.tables.measurements.cnr_value`).
CNR_FORMULAS = ("background_sd", "pooled_sd")


@dataclass(frozen=True, kw_only=True)
class AnalysisSettings:
    """How a study's results are analysed; every field has a default.

    * ``radius_mm``, ``size_factor``, ``min_radius_mm``, ``duplicates``: the mark-to-lesion
      matching (:class:`stats.matching.AcceptanceRule`, :func:`stats.matching.match_case`);
    * ``size_strata``: edges (mm) of the lesion-size strata of the sensitivity table;
    * ``case_rating``: ``"marks"`` (a case is rated by its highest mark, -inf when unmarked)
      or the key of a question whose value is the per-case confidence;
    * ``fom``: the FROC figure of merit of the JAFROC analysis (``wAFROC`` by default);
    * ``covariance``: the Obuchowski-Rockette covariance estimator (``jackknife``);
    * ``kappa_weights``: ``linear`` or ``quadratic`` weights of Cohen's kappa on Likert items;
    * ``confidence``: of every interval;
    * ``detection_min_rating``: a lesion counts as detected by a reader in the sensitivity
      tables (overall, by size, McNemar) and a case as positive/clear in ``case_detection``
      and ``false_positives`` only through marks rated at least this (None: any mark); JAFROC
      and ROC use every rating;
    * ``cnr_formula``: ``background_sd`` (|m_A - m_B| / SD_B, as measured) or ``pooled_sd``
      (|m_A - m_B| / sqrt((SD_A^2 + SD_B^2) / 2)) for every ROI pair;
    * ``contrast_ratio_pairs``: names of the ROI pairs that also get the contrast ratio m_A / m_B;
    * ``characteristics``: the case attributes of the case-characteristics table (None: all);
    * ``characteristics_group_by``: ``abnormal`` (normal vs abnormal cases) or an attribute name;
    * ``characteristics_t_test``: ``welch`` or ``student`` for numeric characteristics;
    * ``alternative``, ``margin``: ``two-sided`` (margin 0) is the OR analysis's own test;
      ``greater`` or ``less`` with a margin >= 0 adds the one-sided (non-inferiority;
      margin 0: superiority) test of every OR difference to the MRMC tables
      (:func:`stats.mrmc.one_sided`).
    """

    radius_mm: float | None = None
    size_factor: float = 0.5
    min_radius_mm: float = 3.0
    duplicates: str = "discard"
    size_strata: tuple[float, ...] = (5.0, 10.0)
    case_rating: str = "marks"
    fom: str = "wAFROC"
    covariance: str = "jackknife"
    kappa_weights: str = "quadratic"
    confidence: float = 0.95
    detection_min_rating: float | None = None
    cnr_formula: str = "background_sd"
    contrast_ratio_pairs: tuple[str, ...] = ()
    characteristics: tuple[str, ...] | None = None
    characteristics_group_by: str = "abnormal"
    characteristics_t_test: str = "welch"
    alternative: str = "two-sided"
    margin: float = 0.0

    def __post_init__(self) -> None:
        self.acceptance_rule()  # validates the radius fields
        if self.duplicates not in ("discard", "nl"):
            raise ValueError('duplicates must be "discard" or "nl".')
        strata = tuple(float(e) for e in self.size_strata)
        if not strata or strata[0] <= 0 or any(b <= a for a, b in itertools.pairwise(strata)):
            raise ValueError("size_strata must be positive and strictly increasing (mm).")
        object.__setattr__(self, "size_strata", strata)
        if self.fom not in FROC_FOMS:
            raise ValueError(f"fom must be a FROC figure of merit, got {self.fom!r}.")
        if self.covariance not in ("jackknife", "bootstrap"):
            raise ValueError('covariance must be "jackknife" or "bootstrap".')
        if self.kappa_weights not in ("linear", "quadratic"):
            raise ValueError('kappa_weights must be "linear" or "quadratic".')
        if not 0 < self.confidence < 1:
            raise ValueError("confidence must be between 0 and 1.")
        self._validate_new_fields()

    def _validate_new_fields(self) -> None:
        k = self.detection_min_rating
        if k is not None:
            if isinstance(k, bool) or not isinstance(k, int | float) or not math.isfinite(k):
                raise ValueError(
                    f"detection_min_rating must be a number (a mark rating) or empty, got {k!r}."
                )
            object.__setattr__(self, "detection_min_rating", float(k))
        if self.cnr_formula not in CNR_FORMULAS:
            raise ValueError(
                f"cnr_formula must be one of {', '.join(CNR_FORMULAS)}, got {self.cnr_formula!r}."
            )
        object.__setattr__(
            self, "contrast_ratio_pairs", _names(self.contrast_ratio_pairs, "contrast_ratio_pairs")
        )
        if self.characteristics is not None:
            object.__setattr__(self, "characteristics", _names(self.characteristics, "characteristics"))
        if not isinstance(self.characteristics_group_by, str) or not self.characteristics_group_by.strip():
            raise ValueError('characteristics_group_by must be "abnormal" or the name of a case attribute.')
        if self.characteristics_t_test not in ("welch", "student"):
            raise ValueError(
                f'characteristics_t_test must be "welch" or "student", got {self.characteristics_t_test!r}.'
            )
        check_alternative(self.margin, self.alternative)
        object.__setattr__(self, "margin", float(self.margin))

    def acceptance_rule(self) -> AcceptanceRule:
        return AcceptanceRule(
            radius_mm=self.radius_mm, size_factor=self.size_factor, min_radius_mm=self.min_radius_mm
        )

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> "AnalysisSettings":
        """Settings from a dict (a study's ``analysis_settings``); unknown keys are an error."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"Unknown analysis setting(s): {', '.join(sorted(unknown))}.")
        for name in ("size_strata", "contrast_ratio_pairs", "characteristics"):
            if isinstance(values.get(name), list):
                values[name] = tuple(values[name])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        for name in ("size_strata", "contrast_ratio_pairs", "characteristics"):
            if values[name] is not None:
                values[name] = list(values[name])
        return values

    def detection_note(self) -> str:
        """What the sensitivity tables count as a detection under these settings."""
        if self.detection_min_rating is None:
            return "Detection threshold: any mark counts (every rating)."
        return (
            f"Detection threshold: only marks rated >= {self.detection_min_rating:g} count; "
            "a lesion matched only by lower-rated marks is missed."
        )


def _names(values: Any, setting: str) -> tuple[str, ...]:
    """A tuple of non-empty, distinct names (a setting that lists names)."""
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) and v.strip() for v in values):
        raise ValueError(f"{setting} must be a list of non-empty names.")
    names = tuple(v.strip() for v in values)
    if len(set(names)) != len(names):
        raise ValueError(f"{setting} names a value twice.")
    return names


#: Columns a record's rows may leave out, with the value they then hold: an answer is about
#: the case unless it names the reference lesion it is about (``lesion``); readings and
#: answers of a study with several reading phases name their phase (its key; empty: the
#: study's only phase); a condition is not generative unless it says so (made by a model that
#: can invent detail, a GAN or diffusion model). A bundle from before such a column existed
#: has none in its CSV: its rows read back with the default.
COLUMN_DEFAULTS: dict[str, dict[str, Any]] = {
    "answers": {"lesion": "", "phase": ""},
    "readings": {"phase": ""},
    "conditions": {"generative": False},
}


@dataclass(kw_only=True)
class StudyRecord:
    """Everything a study's analysis needs (tables as lists of dicts; see :data:`TABLES`)."""

    study: dict[str, Any]
    settings: AnalysisSettings = field(default_factory=AnalysisSettings)
    provenance: dict[str, Any] = field(default_factory=dict)
    conditions: list[dict] = field(default_factory=list)
    readers: list[dict] = field(default_factory=list)
    cases: list[dict] = field(default_factory=list)
    questions: list[dict] = field(default_factory=list)
    readings: list[dict] = field(default_factory=list)
    answers: list[dict] = field(default_factory=list)
    marks: list[dict] = field(default_factory=list)
    lesions: list[dict] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    measurements: list[dict] = field(default_factory=list)
    fidelity: list[dict] = field(default_factory=list)
    t2_agreement: list[dict] = field(default_factory=list)
    overlap: list[dict] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    roi_pairs: list[dict] = field(default_factory=list)
    case_attributes: list[dict] = field(default_factory=list)
    comparisons: list[dict] = field(default_factory=list)
    standalone_readers: list[dict] = field(default_factory=list)
    standalone_marks: list[dict] = field(default_factory=list)
    standalone_ratings: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name, defaults in COLUMN_DEFAULTS.items():
            rows = getattr(self, name)
            if any(column not in row for row in rows for column in defaults):
                setattr(self, name, [{**defaults, **row} for row in rows])

    def table(self, name: str) -> list[dict]:
        return getattr(self, name)

    @property
    def generative_condition_ids(self) -> set[str]:
        """The conditions made by a generative model (``generative`` true in their row)."""
        return {row["condition"] for row in self.conditions if row.get("generative")}

    @property
    def condition_ids(self) -> list[str]:
        return [
            row["condition"] for row in sorted(self.conditions, key=lambda r: (r["order"], r["condition"]))
        ]

    @property
    def reader_ids(self) -> list[str]:
        return [row["reader"] for row in self.readers]

    def question_scale(self, key: str) -> list[dict]:
        for row in self.questions:
            if row["question"] == key:
                return json.loads(row["scale"] or "[]")
        raise KeyError(key)


# --------------------------------------------------------------------------- cells


def format_cell(value: Any) -> str:
    """A cell's text: empty for None, 1/0 for booleans, the shortest exact text for floats."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Inf" if value > 0 else "-Inf"
        return repr(value)
    return str(value)


def _parse_cell(text: str, kind: type, where: str) -> Any:
    if kind is str:
        return spreadsheet_text(text)
    if text == "":
        return None
    try:
        if kind is bool:
            if text not in ("0", "1"):
                raise ValueError
            return text == "1"
        if kind is int:
            return int(text)
        return float(text.replace("Inf", "inf"))
    except ValueError:
        raise DatasetError(f"{where}: {text!r} is not a valid {kind.__name__}.") from None


def table_csv(rows: list[dict], columns: tuple[str, ...]) -> str:
    """Rows as CSV text with a header (``\\n`` line ends), safe to open in a spreadsheet
    (:class:`stats.spreadsheet.SafeCsvWriter`: text cells only ever get a quote)."""
    out = io.StringIO()
    writer = SafeCsvWriter(out, lineterminator="\n", cell=format_cell)
    writer.writerow(columns)
    writer.writerows([row.get(c) for c in columns] for row in rows)
    return out.getvalue()


def _read_table(name: str, text: str) -> list[dict]:
    schema = TABLES[name]
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    expected = [c for c, _ in schema]
    defaults = COLUMN_DEFAULTS.get(name, {})
    left_out = [c for c in expected if c not in (header or ())]  # a bundle from before these columns
    if header is None or header != [c for c in expected if c in header] or set(left_out) - set(defaults):
        raise DatasetError(f"record/{name}.csv: expected the columns {', '.join(expected)}; got {header}.")
    schema = tuple((c, kind) for c, kind in schema if c in header)
    missing = {c: defaults[c] for c in left_out}
    rows = []
    for line, cells in enumerate(reader, start=2):
        if len(cells) != len(schema):
            raise DatasetError(f"record/{name}.csv line {line}: {len(cells)} cells, expected {len(schema)}.")
        rows.append(
            {
                **missing,
                **{
                    c: _parse_cell(cell, kind, f"record/{name}.csv line {line}, {c}")
                    for (c, kind), cell in zip(schema, cells, strict=True)
                },
            }
        )
    return rows


def normalise(record: StudyRecord) -> StudyRecord:
    """The record with every cell in its column's type, exactly as reading its bundle back gives it."""
    for name, schema in TABLES.items():
        rows = record.table(name)
        text = table_csv(rows, tuple(c for c, _ in schema))
        setattr(record, name, _read_table(name, text))
    return record


# --------------------------------------------------------------------------- bundle


def bundle_files(record: StudyRecord) -> dict[str, str]:
    """The record's files: ``record/<table>.csv``, ``study.json``, ``settings.json``, ``provenance.json``."""
    files = {
        "study.json": json.dumps({"format": BUNDLE_FORMAT, **record.study}, indent=2, sort_keys=True),
        "settings.json": json.dumps(record.settings.to_dict(), indent=2, sort_keys=True),
        "provenance.json": json.dumps(record.provenance, indent=2, sort_keys=True, default=str),
    }
    for name, schema in TABLES.items():
        files[f"record/{name}.csv"] = table_csv(record.table(name), tuple(c for c, _ in schema))
    return files


def write_bundle(record: StudyRecord, path: str | Path, extra: dict[str, str | bytes] | None = None) -> None:
    """Write the record (and ``extra`` files, e.g. computed tables) as a zip bundle."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in {**bundle_files(record), **(extra or {})}.items():
            archive.writestr(name, text)


def bundle_reader(path: Path) -> Callable[[str], str | None]:
    """A function giving the text of a bundle's file by name (None when it is missing)."""
    if path.is_dir():
        # bytes decoded as they are: reading as text would turn a CR inside a field into LF
        return lambda name: (path / name).read_bytes().decode("utf-8") if (path / name).exists() else None
    if not zipfile.is_zipfile(path):
        raise DatasetError(f"{path}: not a reproducibility bundle (a zip file or its unpacked folder).")
    archive = zipfile.ZipFile(path)
    names = set(archive.namelist())
    return lambda name: archive.read(name).decode("utf-8") if name in names else None


def read_bundle(path: str | Path) -> StudyRecord:
    """Read a reproducibility bundle (the zip, or the folder it was unpacked into)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder.")
    read = bundle_reader(path)
    study_text = read("study.json")
    if study_text is None:
        raise DatasetError(f"{path}: no study.json; not a reproducibility bundle.")
    study = json.loads(study_text)
    if study.pop("format", None) != BUNDLE_FORMAT:
        raise DatasetError(f"{path}: not a {BUNDLE_FORMAT} bundle.")
    try:
        settings = AnalysisSettings.from_dict(json.loads(read("settings.json") or "{}"))
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{path}: settings.json: {exc}") from None
    record = StudyRecord(
        study=study, settings=settings, provenance=json.loads(read("provenance.json") or "{}")
    )
    for name in TABLES:
        text = read(f"record/{name}.csv")
        if text is None and name in OPTIONAL_TABLES:
            continue  # a bundle from before this table existed: no rows
        if text is None:
            raise DatasetError(f"{path}: record/{name}.csv is missing.")
        setattr(record, name, _read_table(name, text))
    return record
