"""The method model on the generation page: model files (ONNX, TorchScript) brought in the weights
folder, made here by the tests, generate a condition; misfits fail their cases with the reason."""

import hashlib
import re
import uuid

import pytest
from django.test import override_settings
from django.urls import reverse

from readerstudy.generation import services as gen
from readerstudy.generation.models import GenerationJob, GenerationTask
from tests.generation.cases import CASES, SLICES
from tests.sr_engine.test_model_method import META, Residual, SliceShuffle, save, seeded

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*is deprecated:DeprecationWarning")
NORMALISED = {**META, "normalisation": {"kind": "percentile", "low": 0.5, "high": 99.5}, "halo": 2}


def page(study) -> str:
    return reverse("readerstudy:study_generation", args=[study.slug])


def post(client, study, model: str, factor: int = 2, target: str = "SR"):
    return client.post(
        page(study),
        {
            "source": study.conditions.get(label="LR").pk,
            "target": target,
            "method": "model",
            "factor": factor,
            "seed": 0,
            "weights": "",
            "model": model,
            "options": "",
            "request_key": str(uuid.uuid4()),
        },
    )


@pytest.fixture
def weights_dir(tmp_path):
    folder = tmp_path / "weights"
    folder.mkdir()
    with override_settings(READERSTUDY_SR_WEIGHTS_DIR=folder):
        yield folder


@pytest.mark.parametrize("onnx", [True, False], ids=["onnx", "torchscript"])
def test_a_model_file_generates_a_condition_through_the_page(
    onnx, weights_dir, client, lr_study, coordinator, eager, django_capture_on_commit_callbacks
):
    study, _ = lr_study
    generative = onnx  # one of each
    metadata = {**NORMALISED, "name": "toy shuffle", "generative": generative}
    path = save(seeded(SliceShuffle), weights_dir / "knee", "shuffle_x2", metadata, onnx=onnx)
    name = f"knee/{path.name}"
    client.force_login(coordinator)
    listing = client.get(page(study)).content.decode()
    assert f'<option value="{name}">toy shuffle (x2, slice{", generative" if generative else ""})' in listing

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, study, name)
    assert response.status_code == 302
    job = GenerationJob.objects.get()
    assert job.method == "model" and job.weights == name
    assert job.status == GenerationJob.Status.DONE, list(job.tasks.values_list("error", flat=True))
    assert job.target_condition.generative is generative
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    for task in job.tasks.all():
        assert task.output_series.num_slices == SLICES * 2
        weights = task.provenance["weights"]
        assert weights["sha256"] == sha256 and weights["format"] == ("onnx" if onnx else "torchscript")
        assert weights["metadata"] == metadata and task.provenance["generative"] is generative
    shown = client.get(page(study)).content.decode()
    assert f"model {name}" in shown and (", generative" in shown) is generative


def test_the_page_lists_model_files_and_offers_only_the_usable_ones(
    weights_dir, client, lr_study, coordinator
):
    study, _ = lr_study
    save(
        seeded(Residual),
        weights_dir,
        "refine",
        {**NORMALISED, "input_grid": "interpolated", "name": "Refiner"},
    )
    save(seeded(SliceShuffle), weights_dir, "no_metadata", META, onnx=True).with_suffix(".json").unlink()
    save(seeded(SliceShuffle), weights_dir, "bad", {**META, "factor": 1})
    (weights_dir / "resnet3d-x2.pt").write_bytes(b"an sr_engine weight file")
    client.force_login(coordinator)
    content = client.get(page(study)).content.decode()
    assert '<option value="refine.pt">Refiner (x2, slice)' in content
    assert "no_metadata.onnx has no metadata file: no_metadata.json must lie beside it" in content
    assert "bad.json: &#x27;factor&#x27; must be an integer of at least 2, not 1." in content
    assert '<option value="bad.pt"' not in content and '<option value="no_metadata.onnx"' not in content
    assert gen.generation_weights_choices() == ["resnet3d-x2.pt"]  # model files are no resnet weights


@pytest.mark.parametrize(
    "module, metadata, reason",
    [
        ((3, 1), {**NORMALISED, "factor": 3}, r"Case K00\d: shuffle\.onnx upscales by 3, not 2\."),
        (
            (2, 2),
            {**NORMALISED, "channels": 2},
            r"Case K00\d: shuffle\.onnx takes 2 channel\(s\); this volume has 1\.",
        ),
    ],
    ids=["factor", "channels"],
)
def test_a_model_that_does_not_fit_the_volume_fails_its_cases_with_the_reason(
    module,
    metadata,
    reason,
    weights_dir,
    client,
    lr_study,
    coordinator,
    eager,
    django_capture_on_commit_callbacks,
):
    study, _ = lr_study
    save(seeded(SliceShuffle, *module), weights_dir, "shuffle", metadata, onnx=True)
    client.force_login(coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, study, "shuffle.onnx").status_code == 302
    job = GenerationJob.objects.get()
    assert job.status == GenerationJob.Status.FAILED
    errors = list(job.tasks.values_list("status", "error"))
    assert len(errors) == len(CASES)
    for status, error in errors:
        assert status == GenerationTask.Status.FAILED
        assert re.fullmatch(reason, error), error
    content = client.get(page(study)).content.decode()
    assert "Retry failed cases" in content and re.search(reason, content.replace("&#x27;", "'"))
    assert "Traceback" not in content and not job.target_condition.series.exists()


def test_a_model_path_must_stay_inside_the_weights_folder(
    weights_dir, tmp_path, client, lr_study, coordinator
):
    study, _ = lr_study
    save(seeded(SliceShuffle), tmp_path, "outside", META, onnx=True)
    save(seeded(SliceShuffle), weights_dir, ".hidden", META, onnx=True)
    save(seeded(SliceShuffle), weights_dir, "unusable", {**META, "axes": "oblique"}, onnx=True)
    request = gen.GenerationRequest(
        source_condition=study.conditions.get(label="LR"), target_label="SR", method="model", factor=2
    )
    for name, message in (
        ("../outside.onnx", "no model file '../outside.onnx'"),
        (str(tmp_path / "outside.onnx"), "no model file"),
        ("sub/../../outside.onnx", "no model file"),
        (".hidden.onnx", "no model file"),
        ("unusable.onnx", "cannot be used: unusable.json: 'axes' must be"),
        ("", "needs a model file"),
    ):
        with pytest.raises(gen.GenerationError, match=message):
            gen.generation_job_start(
                study=study,
                request=gen.GenerationRequest(**{**request.__dict__, "weights": name}),
                actor=coordinator,
            )
    client.force_login(coordinator)
    response = post(client, study, "../outside.onnx")
    assert response.status_code == 200 and b"Select a valid choice" in response.content
    assert not GenerationJob.objects.exists() and not study.conditions.filter(label="SR").exists()
