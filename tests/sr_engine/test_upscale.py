"""upscale(): one grid, dtype and header for every method; provenance; the background rule."""

import subprocess
import sys

import numpy as np
import pytest

from sr_engine.interpolate import tci, upscaled_affine
from sr_engine.metrics import tissue_mask
from sr_engine.simulate import simulate_slices, voxel_sha256
from sr_engine.upscale import CLASSICAL, METHODS, background_weight, blend_background, upscale
from sr_engine.volume import Volume, index_spacing

ACQUISITION = {
    "echo_times_ms": (7.48, 42.52),
    "repetition_time_ms": 25.0,
    "flip_angle_deg": 30.0,
    "magnetic_field_t": 3.0,
    "modality": "MR",
}


def affine(slice_mm=1.0) -> np.ndarray:
    angle = np.deg2rad(15)
    result = np.eye(4)
    result[:3, 0] = [0.0, np.cos(angle), np.sin(angle)]
    result[:3, 1] = [0.0, -np.sin(angle), np.cos(angle)]
    result[:3, 2] = np.cross(result[:3, 0], result[:3, 1]) * slice_mm
    result[:3, 0] *= 0.5
    result[:3, 1] *= 0.5
    result[:3, 3] = [10.0, -20.0, 30.0]
    return result


def knee_like(n_slices=16, size=48, echoes=2) -> Volume:
    """A bright cylinder with a darker core, smooth along the slices, on an empty background."""
    rows, cols = np.indices((size, size)).astype(float)
    radius = np.hypot(rows - size / 2, cols - size / 2)
    plane = np.where(radius < size / 6, 200.0, 0.0) - np.where(radius < size / 16, 80.0, 0.0)
    z = np.arange(n_slices)[:, None, None]
    echo = plane[None] * (1.0 + 0.3 * np.sin(z / 3.0))
    data = np.stack([echo * 0.4**e for e in range(echoes)]).astype(np.float32)
    return Volume(data, affine(), ACQUISITION)


@pytest.fixture(scope="module")
def thick() -> Volume:
    return simulate_slices(knee_like(), factor=4)


def test_every_classical_method_shares_grid_dtype_and_header(thick):
    results = {method: upscale(thick, 4, method) for method in CLASSICAL}
    expected_affine = upscaled_affine(thick, 4)
    for method, result in results.items():
        assert result.data.dtype == np.float32
        assert result.data.shape == (2, 16, 48, 48)
        np.testing.assert_array_equal(result.affine, expected_affine)
        header = {k: v for k, v in result.acquisition.items() if k != "provenance"}
        thick_header = {k: v for k, v in thick.acquisition.items() if k != "provenance"}
        assert header == {**thick_header, "slice_thickness_mm": pytest.approx(1.0)}
        assert result.acquisition["provenance"]["method"] == method
    headers = [{k: v for k, v in r.acquisition.items() if k != "provenance"} for r in results.values()]
    assert all(h == headers[0] for h in headers)


def test_provenance_records_how_the_volume_was_made(thick):
    result = upscale(thick, 4, "fi", seed=7)
    provenance = result.acquisition["provenance"]
    assert provenance["factor"] == 4 and provenance["seed"] == 7 and provenance["axis"] == "slice"
    assert provenance["options"] == {} and provenance["weights"] is None
    assert provenance["input_sha256"] == voxel_sha256(thick.data)
    assert provenance["input_provenance"]["simulation"][0]["operation"] == "simulate_slices"
    assert provenance["sr_engine_version"]
    again = upscale(thick, 4, "fi", seed=7)
    np.testing.assert_array_equal(again.data, result.data)


def test_thickened_then_upscaled_lands_on_the_thin_grid():
    thin = knee_like(n_slices=24, echoes=1)
    ramp = thin.with_data((np.arange(24, dtype=np.float32)[:, None, None] * np.ones((24, 48, 48))) + 5)
    back = upscale(simulate_slices(ramp, factor=3, profile="box"), 3, "linear")
    np.testing.assert_allclose(back.affine, thin.affine, atol=1e-12)
    np.testing.assert_allclose(back.data, ramp.data, rtol=1e-5)


def test_inplane_upscaling_keeps_the_slice_thickness(thick):
    result = upscale(thick, 2, "tci", axis="inplane")
    assert result.data.shape == (2, 4, 96, 96)
    assert result.acquisition["slice_thickness_mm"] == thick.acquisition["slice_thickness_mm"]
    np.testing.assert_array_equal(result.affine, upscaled_affine(thick, 2, "inplane"))


def test_magnitude_images_are_clipped_at_zero_and_signed_ones_are_not():
    step = np.zeros((6, 4, 4), dtype=np.float32)
    step[3:] = 100.0  # tci undershoots before a step
    magnitude = Volume(step, affine(4.0))
    assert tci(magnitude, 4).min() < 0
    assert upscale(magnitude, 4, "tci").data.min() == 0.0
    signed = Volume(step - 1.0, affine(4.0))
    assert upscale(signed, 4, "tci").data.min() < -1.0


def test_bad_arguments_are_refused_with_the_list_of_methods(thick):
    every = "nearest, linear, tci, fi, selfsr, selfsr-v1, resnet3d, resnet2d, model"
    with pytest.raises(ValueError, match=every):
        upscale(thick, 2, "bicubic")
    for factor in (1, 2.5, True, 0):
        with pytest.raises(ValueError, match="integer of at least 2"):
            upscale(thick, factor, "tci")
    with pytest.raises(ValueError, match="only axis"):
        upscale(thick, 2, "tci", steps=3)
    with pytest.raises(ValueError, match="needs weights"):
        upscale(thick, 2, "resnet3d")
    with pytest.raises(ValueError, match="disagrees with the volume's spacing"):
        upscale(thick, 2, "selfsr", axis="row")
    with pytest.raises(ValueError, match="not the image plane"):
        upscale(thick, 2, "selfsr", axis="inplane")
    assert set(METHODS) >= {"nearest", "tci", "fi", "selfsr", "resnet3d", "resnet2d"}


def test_progress_reaches_one(thick):
    seen = []
    upscale(thick, 2, "fi", progress=seen.append)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)


def test_the_background_rule_keeps_network_noise_out_of_the_air(thick):
    """A fake learned output (TCI plus noise everywhere) goes through the real blending."""
    smooth = tci(thick, 4)
    learned = smooth + np.random.default_rng(0).normal(0, 10, smooth.shape).astype(np.float32)
    spacing = index_spacing(upscaled_affine(thick, 4))  # (slice, row, column)
    weight = background_weight(smooth, spacing)
    result = blend_background(smooth, learned, weight)
    tissue = tissue_mask(smooth)
    far = weight == 0
    assert far.sum() > 0.3 * far.size  # most of the air
    np.testing.assert_array_equal(result[:, far], smooth[:, far])
    assert (weight[tissue] == 1).all()
    np.testing.assert_array_equal(result[:, tissue], learned[:, tissue])
    between = ~tissue & ~far
    assert weight[between].min() > 0 and weight[between].max() < 1  # a smooth transition
    with pytest.raises(ValueError, match="not on the TCI grid"):
        blend_background(smooth, learned[:, :-1], weight)


def test_importing_upscale_does_not_import_torch():
    code = "import sys, sr_engine.upscale; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
