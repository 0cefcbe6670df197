"""URLs of the reader-study app."""

from django.urls import path

from .views import (
    api,
    dicomweb,
    generation,
    home,
    imports,
    measurements,
    reader,
    references,
    results,
    schedules,
    studies,
    study_setup,
)

app_name = "readerstudy"

urlpatterns = [
    path("", home.home, name="home"),
    path("reading/", reader.reader_sessions, name="reader_sessions"),
    path("reading/<uuid:public_id>/", reader.reading_detail, name="reading_detail"),
    path("reading/<uuid:public_id>/complete/", reader.session_complete, name="session_complete"),
    path("api/readings/<uuid:public_id>/state", api.reading_state, name="api_reading_state"),
    path("api/readings/<uuid:public_id>/answers", api.answer_put, name="api_answer"),
    path("api/readings/<uuid:public_id>/marks/<uuid:client_id>", api.mark_put, name="api_mark"),
    path("api/readings/<uuid:public_id>/position", api.position_put, name="api_position"),
    path("api/readings/<uuid:public_id>/visits/<uuid:client_id>", api.visit_put, name="api_visit"),
    path("dicomweb/r/<uuid:public_id>/wado", dicomweb.wado_uri, name="wado_uri"),
    path(
        "dicomweb/r/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/instances",
        dicomweb.series_instances,
        name="qido_instances",
    ),
    path(
        "dicomweb/r/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/metadata",
        dicomweb.series_metadata,
        name="wado_metadata",
    ),
    path(
        "dicomweb/r/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/instances/<str:sop_uid>",
        dicomweb.instance,
        name="wado_instance",
    ),
    path(
        "dicomweb/r/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/instances/<str:sop_uid>"
        "/frames/<str:frames>",
        dicomweb.frames,
        name="wado_frames",
    ),
    path("studies/", studies.study_list, name="study_list"),
    path("studies/<slug:slug>/", studies.study_detail, name="study_detail"),
    path("studies/<slug:slug>/import/", imports.study_import, name="study_import"),
    path("studies/<slug:slug>/import/state.json", imports.study_import_state, name="study_import_state"),
    path("studies/<slug:slug>/import/<int:job_id>/", imports.study_import_job, name="study_import_job"),
    path(
        "studies/<slug:slug>/import/<int:job_id>/cancel/",
        imports.study_import_cancel,
        name="study_import_cancel",
    ),
    path("studies/<slug:slug>/identities/", studies.study_identities, name="study_identities"),
    path("studies/<slug:slug>/references/", references.reference_overview, name="study_references"),
    path("studies/<slug:slug>/results/", studies.study_results, name="study_results"),
    path("studies/<slug:slug>/results/answers.csv", studies.study_results_csv, name="study_results_csv"),
    path("studies/<slug:slug>/results/readings.csv", studies.study_readings_csv, name="study_readings_csv"),
    path("studies/<slug:slug>/results/analysis/", results.study_analysis, name="study_analysis"),
    path("studies/<slug:slug>/results/report/", results.study_report, name="study_report"),
    path(
        "studies/<slug:slug>/results/settings/",
        results.study_analysis_settings,
        name="study_analysis_settings",
    ),
    path(
        "studies/<slug:slug>/results/tables/<slug:name>.csv",
        results.study_analysis_table,
        name="study_analysis_table",
    ),
    path("studies/<slug:slug>/results/export/<str:kind>", results.study_export, name="study_export"),
    # Reading schedule and sessions
    path("studies/<slug:slug>/schedule/", schedules.study_schedule, name="study_schedule"),
    path(
        "studies/<slug:slug>/sessions/<int:session_id>/waive-washout/",
        schedules.session_waive_washout,
        name="session_waive_washout",
    ),
    # Study set-up
    path("new-study/", study_setup.study_create, name="study_create"),
    path("studies/<slug:slug>/questions/", study_setup.study_questions, name="study_questions"),
    path(
        "studies/<slug:slug>/questions/<int:question_id>/edit/",
        study_setup.study_questions,
        name="study_question_edit",
    ),
    path(
        "studies/<slug:slug>/questions/<int:question_id>/delete/",
        study_setup.study_question_delete,
        name="study_question_delete",
    ),
    path(
        "studies/<slug:slug>/questions/<int:question_id>/move/",
        study_setup.study_question_move,
        name="study_question_move",
    ),
    path("studies/<slug:slug>/readers/", study_setup.study_readers, name="study_readers"),
    path(
        "studies/<slug:slug>/readers/<int:participation_id>/deactivate/",
        study_setup.study_reader_deactivate,
        name="study_reader_deactivate",
    ),
    path(
        "studies/<slug:slug>/readers/<int:participation_id>/reactivate/",
        study_setup.study_reader_reactivate,
        name="study_reader_reactivate",
    ),
    path(
        "studies/<slug:slug>/readers/<int:participation_id>/link/",
        study_setup.study_reader_link,
        name="study_reader_link",
    ),
    path("studies/<slug:slug>/lock/", study_setup.study_lock, name="study_lock"),
    # Generating a condition with the SR engine (background jobs)
    path("studies/<slug:slug>/generate/", generation.study_generation, name="study_generation"),
    path(
        "studies/<slug:slug>/generate/state.json",
        generation.study_generation_state,
        name="study_generation_state",
    ),
    path(
        "studies/<slug:slug>/generate/<int:job_id>/retry/",
        generation.study_generation_retry,
        name="study_generation_retry",
    ),
    # Reference standard
    path("references/", references.reference_mine, name="reference_mine"),
    path("references/<int:set_id>/cases/", references.reference_cases, name="reference_cases"),
    path("references/<int:set_id>/lock/", references.reference_set_lock_view, name="reference_set_lock"),
    path(
        "references/<int:set_id>/cases/<int:case_id>/discrepancies/",
        references.reference_discrepancies_view,
        name="reference_discrepancies",
    ),
    path(
        "references/<int:set_id>/cases/<int:case_id>/final/",
        references.reference_final_view,
        name="reference_final",
    ),
    path("references/drafts/<uuid:public_id>/", references.reference_draft, name="reference_draft"),
    path("studies/<slug:slug>/references/new/", references.reference_set_new, name="reference_set_create"),
    path("studies/<slug:slug>/references/import/", references.reference_import, name="reference_import"),
    path(
        "api/reference-drafts/<uuid:public_id>/state",
        references.api_reference_draft_state,
        name="api_reference_draft_state",
    ),
    path(
        "api/reference-drafts/<uuid:public_id>/lesions/<uuid:client_id>",
        references.api_reference_lesion,
        name="api_reference_lesion",
    ),
    path("dicomweb/d/<uuid:public_id>/wado", dicomweb.wado_uri, {"root": "draft"}, name="draft_wado_uri"),
    path(
        "dicomweb/d/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/instances",
        dicomweb.series_instances,
        {"root": "draft"},
        name="draft_qido_instances",
    ),
    path(
        "dicomweb/d/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/metadata",
        dicomweb.series_metadata,
        {"root": "draft"},
        name="draft_wado_metadata",
    ),
    path(
        "dicomweb/d/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/instances/<str:sop_uid>",
        dicomweb.instance,
        {"root": "draft"},
        name="draft_wado_instance",
    ),
    path(
        "dicomweb/d/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/instances/<str:sop_uid>"
        "/frames/<str:frames>",
        dicomweb.frames,
        {"root": "draft"},
        name="draft_wado_frames",
    ),
    # Objective image-quality measurements (coordinators; statisticians may look)
    path("studies/<slug:slug>/measurements/", measurements.measurement_index, name="measurement_index"),
    path(
        "studies/<slug:slug>/measurements/reference/",
        measurements.measurement_reference,
        name="measurement_reference",
    ),
    path(
        "studies/<slug:slug>/measurements/fidelity/",
        measurements.measurement_fidelity,
        name="measurement_fidelity",
    ),
    path(
        "studies/<slug:slug>/cases/<int:case_id>/measure/",
        measurements.measurement_case,
        name="measurement_case",
    ),
    path(
        "studies/<slug:slug>/cases/<int:case_id>/measure/recompute/",
        measurements.measurement_recompute,
        name="measurement_recompute",
    ),
    path(
        "studies/<slug:slug>/cases/<int:case_id>/measure/state.json",
        measurements.api_measurement_state,
        name="api_measurement_state",
    ),
    path(
        "studies/<slug:slug>/cases/<int:case_id>/measure/rois/<uuid:client_id>",
        measurements.api_measurement_roi,
        name="api_measurement_roi",
    ),
    path(
        "studies/<slug:slug>/cases/<int:case_id>/measure/cnrs/<uuid:client_id>",
        measurements.api_measurement_cnr,
        name="api_measurement_cnr",
    ),
    path("dicomweb/m/<uuid:public_id>/wado", dicomweb.wado_uri, {"root": "measure"}, name="measure_wado_uri"),
    path(
        "dicomweb/m/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/instances",
        dicomweb.series_instances,
        {"root": "measure"},
        name="measure_qido_instances",
    ),
    path(
        "dicomweb/m/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/metadata",
        dicomweb.series_metadata,
        {"root": "measure"},
        name="measure_wado_metadata",
    ),
    path(
        "dicomweb/m/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/instances/<str:sop_uid>",
        dicomweb.instance,
        {"root": "measure"},
        name="measure_wado_instance",
    ),
    path(
        "dicomweb/m/<uuid:public_id>/studies/<str:study_uid>/series/<str:series_uid>/instances/<str:sop_uid>"
        "/frames/<str:frames>",
        dicomweb.frames,
        {"root": "measure"},
        name="measure_wado_frames",
    ),
]
