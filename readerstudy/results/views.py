"""The statistician's analysis pages: every table and plot, CSV per table, exports and the report.

Each view is one audited analysis run (``results.services.results_compute``) under the
unblinding rule: GET once the study and its reference are locked; before that, POST with
a written ``interim_reason`` (the pages then carry the reason in every download form).
"""

import csv
from typing import cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods

from readerstudy.measurements.selectors import measurement_pair_rows
from readerstudy.results.models import AnalysisRun
from readerstudy.results.selectors import (
    READING_COLUMNS,
    study_reading_rows,
    study_record,
)
from readerstudy.results.services import (
    EXPORTS,
    ExportUnavailable,
    Results,
    ResultsBlinded,
    analysis_blockers,
    analysis_default_reference_sets,
    analysis_run_filename,
    analysis_run_start,
    analysis_settings_save,
    results_compute,
    results_export,
    results_export_filename,
)
from readerstudy.standalone.policy import can_manage_standalone
from readerstudy.standalone.selectors import standalone_exists
from readerstudy.studies.models import Study
from readerstudy.studies.policy import can_set_analysis_settings, can_view_results, study_for_request
from stats.dataset import DatasetError
from stats.fom import FROC_FOMS
from stats.plots import fom_per_reader_svg, likert_plots_svg, operating_curves_svg
from stats.spreadsheet import spreadsheet_safe
from stats.study_export import answers_csv
from stats.study_record import AnalysisSettings
from stats.study_tables import PREVIEW_ROWS, SECTIONS, StudyAnalysis
from stats.tables import Table, display


def _compute(request: HttpRequest, slug: str, kind: str) -> Results | HttpResponse:
    """The results, or the redirect (with the reason as a message) when they cannot be computed."""
    study = study_for_request(request, slug, allowed=can_view_results)
    reason = request.POST.get("interim_reason", "") if request.method == "POST" else ""
    try:
        return results_compute(study=study, user=request.user, kind=kind, interim_reason=reason)
    except ResultsBlinded as blinded:
        messages.error(request, f"Results are still blinded. {blinded}")
    except (DatasetError, ValueError) as problem:
        messages.error(request, f"The results cannot be computed: {problem}")
    return redirect("readerstudy:study_results", slug=study.slug)


def _shown(table: Table) -> dict:
    limit = PREVIEW_ROWS.get(table.name)
    rows = table.rows if limit is None else table.rows[:limit]
    return {
        "table": table,
        "rows": [[display(row[column], column) for column in table.columns] for row in rows],
        "truncated": limit is not None and len(table.rows) > limit,
    }


def _safe_svg(svg: str) -> str:
    """An SVG from ``stats.plots`` for inline use: matplotlib escapes every text it writes
    (labels come from coordinators), which tests/stats/test_study_tables.py checks."""
    return mark_safe(svg)  # noqa: S308


def _plots(analysis: StudyAnalysis) -> dict:
    """Server-rendered SVG plots (matplotlib escapes the text it writes)."""
    plots: dict[str, str | list[str]] = {
        "likert": [_safe_svg(svg) for svg in likert_plots_svg(analysis.likert)]
    }
    if analysis.froc is not None and analysis.froc.k1 >= 1 and analysis.froc.k2 >= 1:
        plots["curves"] = _safe_svg(operating_curves_svg(analysis.froc, analysis.roc))
    if analysis.mrmc is not None and analysis.jackknife is not None:  # both come from the JAFROC part
        plots["fom"] = _safe_svg(fom_per_reader_svg(analysis.jackknife, analysis.mrmc))
    return plots


def _context(results: Results) -> dict:
    analysis = results.analysis
    sections = []
    for section in SECTIONS:
        tables = [_shown(analysis.tables[name]) for name in section.tables if name in analysis.tables]
        if tables:
            sections.append({"key": section.key, "title": section.title, "tables": tables})
    return {
        "study": results.run.study,
        "run": results.run,
        "record": results.record,
        "analysis": analysis,
        "sections": sections,
        "plots": _plots(analysis),
        "settings": results.record.settings,
        "rule": results.record.settings.acceptance_rule().describe(),
        "exports": [(kind, label) for kind, (_, label) in EXPORTS.items()],
        "interim_reason": results.run.reason if results.run.interim else "",
    }


@login_required
@require_http_methods(["GET", "POST"])
def study_analysis(request: HttpRequest, slug: str) -> HttpResponse:
    """Every analysis table of the study with its plots, CSV downloads and exports."""
    if request.method == "GET":
        study = study_for_request(request, slug, allowed=can_view_results)
        if analysis_blockers(study, analysis_default_reference_sets(study)):
            messages.info(request, "Results are still blinded; an interim analysis needs a written reason.")
            return redirect("readerstudy:study_results", slug=study.slug)
    results = _compute(request, slug, "analysis")
    if isinstance(results, HttpResponse):
        return results
    return render(request, "readerstudy/study_analysis.html", _context(results))


@login_required
@require_http_methods(["GET", "POST"])
def study_report(request: HttpRequest, slug: str) -> HttpResponse:
    """A one-page, printable study report: design, counts, the main tables and plots."""
    results = _compute(request, slug, "report")
    if isinstance(results, HttpResponse):
        return results
    return render(request, "readerstudy/study_report.html", _context(results))


@login_required
@require_http_methods(["GET", "POST"])
def study_analysis_table(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    """One analysis table as CSV."""
    results = _compute(request, slug, f"table {name}")
    if isinstance(results, HttpResponse):
        return results
    table = results.analysis.tables.get(name)
    if table is None:
        raise Http404(f"This study has no table {name!r}.")
    response = HttpResponse(table.csv(), content_type="text/csv; charset=utf-8")
    return analysis_run_download(response, results.run, analysis_run_filename(results.run, name, "csv"))


@login_required
@require_http_methods(["GET", "POST"])
def study_export(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    """One export file of the study (see ``results.services.EXPORTS``)."""
    if kind not in EXPORTS:
        raise Http404
    results = _compute(request, slug, f"export {kind}")
    if isinstance(results, HttpResponse):
        return results
    content_type, _ = EXPORTS[kind]
    try:
        body = results_export(results, kind)
    except ExportUnavailable as problem:
        messages.error(request, str(problem))
        return redirect("readerstudy:study_results", slug=slug)
    response = HttpResponse(body, content_type=content_type)
    return analysis_run_download(response, results.run, results_export_filename(results, kind))


class AnalysisSettingsForm(forms.Form):
    """The fields of :class:`stats.study_record.AnalysisSettings`."""

    radius_mm = forms.FloatField(
        required=False,
        min_value=0.001,
        label="Fixed acceptance radius (mm)",
        help_text="Leave empty to tie the radius to each lesion's size (below).",
    )
    size_factor = forms.FloatField(min_value=0.001, label="Radius as a fraction of the lesion diameter")
    min_radius_mm = forms.FloatField(min_value=0, label="Smallest radius (mm)")
    duplicates = forms.ChoiceField(
        choices=[("discard", "discarded"), ("nl", "counted as false positives")],
        label="Second marks on a found lesion are",
    )
    size_strata = forms.CharField(label="Lesion-size strata edges (mm, comma-separated)")
    case_rating = forms.ChoiceField(label="Per-case ROC rating")
    fom = forms.ChoiceField(choices=[(f, f) for f in FROC_FOMS], label="JAFROC figure of merit")
    covariance = forms.ChoiceField(choices=[("jackknife", "jackknife"), ("bootstrap", "bootstrap")])
    kappa_weights = forms.ChoiceField(choices=[("quadratic", "quadratic"), ("linear", "linear")])
    confidence = forms.FloatField(min_value=0.5, max_value=0.999, label="Confidence level of the intervals")
    detection_min_rating = forms.FloatField(
        required=False,
        label="Smallest mark rating that counts as a detection",
        help_text="Leave empty to count every mark. With k, a lesion counts as detected by a reader (lesion "
        "sensitivity overall and by size, McNemar tests, per-case sensitivity and specificity, false "
        "positives) only when a mark rated k or more localises it, e.g. 2 when 1 means “not present”. "
        "JAFROC and ROC use every rating.",
    )
    cnr_formula = forms.ChoiceField(
        required=False,
        choices=[
            ("background_sd", "|mean A - mean B| / SD B (background SD, as measured)"),
            ("pooled_sd", "|mean A - mean B| / √((SD A² + SD B²) / 2) (pooled SD)"),
        ],
        label="CNR formula of every ROI pair",
        help_text="A is the structure, B the background of each CNR pair; the pooled form gives the metric "
        "cnr_pooled_sd.",
    )
    contrast_ratio_pairs = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="ROI pairs that also get the contrast ratio",
        help_text="Contrast ratio = mean A / mean B (e.g. lesion to brain), for the pairs ticked (by name, "
        "in every case).",
    )
    characteristics = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Case characteristics",
        help_text="The case attributes compared between groups in the case-characteristics table; none "
        "ticked: every attribute. An attribute is numeric when all its values are numbers.",
    )
    characteristics_group_by = forms.ChoiceField(
        required=False,
        label="Compare case characteristics between",
        help_text="Numeric: mean ± SD and a t-test (ANOVA for three or more groups); categorical: counts "
        "and % with Fisher's exact test (2 x 2) or the chi-square test.",
    )
    characteristics_t_test = forms.ChoiceField(
        required=False,
        choices=[("welch", "Welch's t-test (unequal variances)"), ("student", "Student's t-test")],
        label="t-test of numeric characteristics",
    )
    alternative = forms.ChoiceField(
        required=False,
        choices=[
            ("two-sided", "two-sided: do the conditions differ? (no margin)"),
            ("greater", "greater: first condition non-inferior (or, margin 0, superior) to the second"),
            ("less", "less: second condition non-inferior (or, margin 0, superior) to the first"),
        ],
        label="Alternative of the MRMC (OR) tests",
        help_text="Each OR difference is the first condition minus the second, in the study's condition "
        "order. One-sided, the JAFROC and ROC MRMC tables add the hypothesis in words, its one-sided p "
        "and the one-sided 95% bound of the difference.",
    )
    margin = forms.FloatField(
        required=False,
        min_value=0,
        label="Non-inferiority margin (FOM units)",
        help_text="With greater, H0: first - second <= -margin; with less, H0: first - second >= margin. "
        "0 (or empty) tests superiority; a margin needs a one-sided alternative.",
    )

    def __init__(self, *args, study, current: AnalysisSettings | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        questions = study.questions.filter(kind__in=["likert", "finding"]).exclude(scale=[])
        case_rating = cast(forms.ChoiceField, self.fields["case_rating"])
        case_rating.choices = [("marks", "the highest mark on the case")] + [
            (q.key, f"question: {q.text}") for q in questions
        ]
        scale = ", ".join(f"{p['value']} = {p['label']}" for p in study.mark_scale or [] if "value" in p)
        if scale:
            self.fields["detection_min_rating"].help_text += f" The study's mark scale: {scale}."
        current = current or AnalysisSettings()
        pairs = sorted(
            {row["pair"] for row in measurement_pair_rows(study)} | set(current.contrast_ratio_pairs)
        )
        cast(forms.MultipleChoiceField, self.fields["contrast_ratio_pairs"]).choices = [(p, p) for p in pairs]
        attributes = sorted(
            {str(key) for values in study.cases.values_list("attributes", flat=True) for key in values or {}}
            | set(current.characteristics or ())
        )
        cast(forms.MultipleChoiceField, self.fields["characteristics"]).choices = [(a, a) for a in attributes]
        grouping = {current.characteristics_group_by} - {"abnormal"}
        cast(forms.ChoiceField, self.fields["characteristics_group_by"]).choices = [
            ("abnormal", "normal and abnormal cases (the reference standard)")
        ] + [(a, f"the values of the attribute {a}") for a in sorted(set(attributes) | grouping)]

    def clean_cnr_formula(self) -> str:
        return self.cleaned_data["cnr_formula"] or AnalysisSettings().cnr_formula

    def clean_contrast_ratio_pairs(self) -> tuple[str, ...]:
        return tuple(self.cleaned_data["contrast_ratio_pairs"])

    def clean_characteristics(self) -> tuple[str, ...] | None:
        return tuple(self.cleaned_data["characteristics"]) or None

    def clean_characteristics_group_by(self) -> str:
        return self.cleaned_data["characteristics_group_by"] or "abnormal"

    def clean_characteristics_t_test(self) -> str:
        return self.cleaned_data["characteristics_t_test"] or AnalysisSettings().characteristics_t_test

    def clean_alternative(self) -> str:
        return self.cleaned_data["alternative"] or AnalysisSettings().alternative

    def clean_margin(self) -> float:
        margin = self.cleaned_data["margin"]
        return AnalysisSettings().margin if margin is None else margin

    def clean_size_strata(self) -> tuple[float, ...]:
        try:
            return tuple(float(part) for part in self.cleaned_data["size_strata"].split(",") if part.strip())
        except ValueError:
            raise forms.ValidationError("Give numbers separated by commas, e.g. 5, 10.") from None

    def settings(self) -> AnalysisSettings | None:
        """The settings, or None with the problem added to the form's errors."""
        try:
            return AnalysisSettings(**self.cleaned_data)
        except ValueError as problem:
            self.add_error(None, str(problem))
            return None


@login_required
@require_http_methods(["GET", "POST"])
def study_analysis_settings(request: HttpRequest, slug: str) -> HttpResponse:
    """How the study's results are analysed: matching radius, size strata, case ratings, FOM."""
    study = study_for_request(request, slug, allowed=can_set_analysis_settings)
    try:
        current = AnalysisSettings.from_dict(study.analysis_settings)
    except (TypeError, ValueError) as problem:
        messages.error(request, f"The stored settings are invalid ({problem}); the defaults are shown.")
        current = AnalysisSettings()
    if request.method == "POST":
        form = AnalysisSettingsForm(request.POST, study=study, current=current)
        if form.is_valid() and (settings := form.settings()) is not None:
            analysis_settings_save(study=study, settings=settings, actor=request.user)
            messages.success(request, "Analysis settings saved; the next analysis uses them.")
            return redirect("readerstudy:study_analysis_settings", slug=study.slug)
    else:
        initial = current.to_dict()
        initial["size_strata"] = ", ".join(f"{e:g}" for e in current.size_strata)
        form = AnalysisSettingsForm(initial=initial, study=study, current=current)
    return render(request, "readerstudy/study_analysis_settings.html", {"study": study, "form": form})


def _csv_response(filename: str, columns: list[str], rows: list[dict[str, object]]) -> HttpResponse:
    """A CSV download with a header row; no text cell opens as a formula (``stats.spreadsheet``)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.DictWriter(response, fieldnames=columns)
    writer.writeheader()
    writer.writerows({key: spreadsheet_safe(value) for key, value in row.items()} for row in rows)
    return response


def analysis_run_download(response: HttpResponse, run, filename: str) -> HttpResponse:
    """Name an analysis run's download and say which run and reference versions made it."""
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Analysis-Run"] = str(run.pk)
    response["X-Reference-Versions"] = ", ".join(s.name for s in run.reference_sets.all()) or "none"
    return response


def _answers_response(filename: str, study: Study, run: AnalysisRun) -> HttpResponse:
    """Every answer of the submitted readings, from the study record the analyses read."""
    record = study_record(study, run.reference_sets.all(), run)
    return HttpResponse(answers_csv(record), content_type="text/csv; charset=utf-8")


def _readings_response(filename: str, study: Study, run: AnalysisRun) -> HttpResponse:
    return _csv_response(filename, READING_COLUMNS, study_reading_rows(study))


#: The unblinded downloads: kind -> (file name suffix, the response for a study's analysis run).
RESULT_DOWNLOADS = {
    "answers.csv": ("answers", _answers_response),
    "readings.csv": ("readings", _readings_response),
}


def _result_download(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    """An unblinded CSV, under the unblinding rule (``results.services``).

    GET works once the study and its reference are locked; before that the statistician
    POSTs a written reason and gets an interim analysis. Each download is an audited
    analysis run; the file's name and the ``X-Analysis-Run`` header name the run, and
    ``X-Reference-Versions`` the reference versions it used.
    """
    study = study_for_request(request, slug, allowed=can_view_results)
    reason = request.POST.get("interim_reason", "") if request.method == "POST" else ""
    try:
        run = analysis_run_start(study=study, user=request.user, kind=kind, interim_reason=reason)
    except ResultsBlinded as blinded:
        messages.error(request, f"Results are still blinded. {blinded}")
        return redirect("readerstudy:study_results", slug=study.slug)
    suffix, response = RESULT_DOWNLOADS[kind]
    filename = analysis_run_filename(run, suffix, "csv")
    return analysis_run_download(response(filename, study, run), run, filename)


@login_required
@require_http_methods(["GET", "POST"])
def study_results_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """Every answer of the submitted readings as one row of a long CSV table, with condition
    labels (statisticians only)."""
    return _result_download(request, slug, "answers.csv")


@login_required
@require_http_methods(["GET", "POST"])
def study_readings_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """One row per reading with status, marks count and reading telemetry (statisticians only)."""
    return _result_download(request, slug, "readings.csv")


@login_required
@require_GET
def study_results(request: HttpRequest, slug: str) -> HttpResponse:
    """The statistician's results page: whether results are unblinded yet, downloads, past runs."""
    study = study_for_request(request, slug, allowed=can_view_results)
    reference_sets = analysis_default_reference_sets(study)
    return render(
        request,
        "readerstudy/study_results.html",
        {
            "study": study,
            "blockers": analysis_blockers(study, reference_sets),
            "reference_sets": reference_sets,
            "downloads": [
                ("answers.csv", "readerstudy:study_results_csv", "Answers (one row per answer)"),
                ("readings.csv", "readerstudy:study_readings_csv", "Readings with status and telemetry"),
            ],
            "runs": study.analysis_runs.select_related("requested_by").prefetch_related("reference_sets")[
                :50
            ],
            "standalone_import_link": can_manage_standalone(request.user, study)
            and not standalone_exists(study),
        },
    )
