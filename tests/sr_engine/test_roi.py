"""ROI measurements on synthetic images with known answers: a Gaussian of known FWHM, ideal and
blurred step edges of known 10-90 % width, structures with two edges, uniform noisy discs."""

import math

import numpy as np
import pytest
from scipy.special import ndtr

from sr_engine.roi import (
    CircleStats,
    circle_mask,
    circle_stats,
    cnr,
    edge_rise,
    fwhm,
    line_profile,
    snr,
)

#: FWHM of a Gaussian in units of its sigma: 2 sqrt(2 ln 2).
FWHM_PER_SIGMA = 2 * math.sqrt(2 * math.log(2))
#: 10-90 % width of a Gaussian-blurred step (the normal CDF) in units of sigma: 2 z(0.9).
ERD_PER_SIGMA_STEP = 2 * 1.2815515655446004
#: 10-90 % rise of one side of a Gaussian peak, in units of sigma.
ERD_PER_SIGMA_GAUSSIAN = math.sqrt(2 * math.log(10)) - math.sqrt(2 * math.log(10 / 9))


def pixel_grid(rows: int, columns: int, spacing=(0.5, 0.5)):
    """Pixel-centre positions in mm: (x_mm, y_mm) arrays of shape (rows, columns)."""
    row_mm, col_mm = spacing
    yy, xx = np.mgrid[0:rows, 0:columns]
    return xx * col_mm, yy * row_mm


def gaussian_image(centre_px, sigma_mm, spacing=(0.5, 0.5), shape=(101, 121), height=200.0, base=10.0):
    x_mm, y_mm = pixel_grid(*shape, spacing)
    cx, cy = centre_px[0] * spacing[1], centre_px[1] * spacing[0]
    return base + height * np.exp(-((x_mm - cx) ** 2 + (y_mm - cy) ** 2) / (2 * sigma_mm**2))


# ----------------------------------------------------------------------------- line profiles


def test_profile_distances_and_bilinear_values_on_a_ramp():
    # A linear ramp is reproduced exactly by bilinear interpolation, anywhere.
    rows, columns = 20, 30
    yy, xx = np.mgrid[0:rows, 0:columns]
    image = 3.0 * xx + 2.0 * yy + 1.0
    profile = line_profile(image, (2.25, 3.5), (20.75, 15.0), (0.4, 0.7))
    expected_length = math.hypot(18.5 * 0.7, 11.5 * 0.4)
    assert profile.length_mm == pytest.approx(expected_length)
    assert profile.distances_mm[0] == 0 and profile.distances_mm[-1] == pytest.approx(expected_length)
    assert profile.step_mm <= 0.25 * 0.4 + 1e-12
    np.testing.assert_allclose(profile.values, 3.0 * profile.x + 2.0 * profile.y + 1.0, rtol=1e-12)


def test_profile_step_option_and_pixel_edges():
    image = np.ones((10, 10))
    profile = line_profile(image, (-0.5, 4), (9.5, 4), 1.0, step_mm=2.5)
    assert profile.length_mm == pytest.approx(10.0)
    assert len(profile.values) == 5  # 0, 2.5, 5, 7.5, 10 mm
    np.testing.assert_allclose(profile.values, 1.0)


@pytest.mark.parametrize(
    "start, end, message",
    [
        ((5, 5), (5, 5), "zero length"),
        ((-1, 5), (5, 5), "outside the image"),
        ((5, 5), (5, 10.6), "outside the image"),
        ((5, float("nan")), (5, 8), "finite"),
    ],
)
def test_profile_refuses_bad_lines(start, end, message):
    with pytest.raises(ValueError, match=message):
        line_profile(np.zeros((11, 11)), start, end, 0.5)


def test_profile_refuses_bad_spacing_and_images():
    with pytest.raises(ValueError, match="positive"):
        line_profile(np.zeros((5, 5)), (0, 0), (3, 3), (0.5, 0))
    with pytest.raises(ValueError, match="2D image"):
        line_profile(np.zeros((2, 5, 5)), (0, 0), (3, 3), 0.5)


# ----------------------------------------------------------------------------- FWHM


def test_fwhm_of_a_sampled_gaussian_curve():
    sigma = 1.7
    x = np.linspace(-10, 10, 2001)
    result = fwhm(x + 4.0, 5.0 + 80.0 * np.exp(-(x**2) / (2 * sigma**2)))
    assert result.fwhm_mm == pytest.approx(FWHM_PER_SIGMA * sigma, rel=1e-5)
    assert result.peak_mm == pytest.approx(4.0)
    assert result.baseline == pytest.approx(5.0, abs=1e-3)
    assert result.half_level == pytest.approx(45.0, abs=1e-3)
    assert result.polarity == 1


def test_fwhm_interpolates_between_coarse_samples():
    # A triangle of half-width 4 has FWHM 4 exactly, whatever the (coarse) sampling.
    x = np.arange(0.0, 21.0, 1.0)
    values = np.clip(4 - np.abs(x - 10.3), 0, None)
    result = fwhm(x, values)
    assert result.baseline == 0.0 and result.peak == pytest.approx(3.7)
    # Linear interpolation of a piecewise linear profile finds the exact half-level crossings
    # (of the highest sample: 3.7 at x = 10).
    left_true = 10.3 - (4 - values.max() / 2)
    right_true = 10.3 + (4 - values.max() / 2)
    assert result.left_mm == pytest.approx(left_true, abs=1e-9)
    assert result.right_mm == pytest.approx(right_true, abs=1e-9)


@pytest.mark.parametrize(
    "spacing, start, end",
    [
        ((0.5, 0.5), (20, 50.4), (100, 50.4)),  # horizontal, through the centre
        ((0.5, 0.5), (60.3, 5), (60.3, 95)),  # vertical
        ((0.4, 0.6), (25, 20), (95, 80.8)),  # oblique, non-square pixels
    ],
)
def test_fwhm_of_a_gaussian_blob_on_a_line_profile(spacing, start, end):
    sigma_mm = 2.5
    # The blob's centre lies on every line above (so the profile's width is the blob's).
    x0, y0 = start
    x1, y1 = end
    t = 0.5
    centre = (x0 + t * (x1 - x0), y0 + t * (y1 - y0))
    image = gaussian_image(centre, sigma_mm, spacing=spacing)
    profile = line_profile(image, start, end, spacing)
    result = fwhm(profile.distances_mm, profile.values)
    assert result.fwhm_mm == pytest.approx(FWHM_PER_SIGMA * sigma_mm, rel=0.01)
    assert result.peak_mm == pytest.approx(profile.length_mm / 2, abs=0.2)
    assert result.baseline == pytest.approx(10.0, abs=0.5)


def test_fwhm_of_a_dark_structure():
    sigma = 2.0
    x = np.linspace(0, 30, 601)
    values = 100 - 60 * np.exp(-((x - 15) ** 2) / (2 * sigma**2))
    result = fwhm(x, values)
    assert result.polarity == -1
    assert result.fwhm_mm == pytest.approx(FWHM_PER_SIGMA * sigma, rel=1e-4)
    assert fwhm(x, values, polarity="dip").fwhm_mm == pytest.approx(result.fwhm_mm)


def test_fwhm_is_undefined_on_an_edge_or_a_flat_profile():
    x = np.linspace(0, 20, 201)
    edge = 100 * ndtr((x - 10) / 1.5)
    with pytest.raises(ValueError, match="does not fall to half its maximum"):
        fwhm(x, edge)
    with pytest.raises(ValueError, match="no peak"):
        fwhm(x, np.full_like(x, 7.0))
    with pytest.raises(ValueError, match="polarity"):
        fwhm(x, edge, polarity="up")


# ----------------------------------------------------------------------------- edge rise


def test_ideal_step_edge_rises_over_0_8_pixel():
    # Columns < 50 are 0, the others 100: bilinear interpolation ramps over one pixel,
    # so 10 % to 90 % takes 0.8 of a pixel. Samples every 0.1 pixel fall on the ramp's ends,
    # so the linear interpolation of the crossings is exact.
    image = np.zeros((40, 100))
    image[:, 50:] = 100.0
    spacing = (0.5, 0.7)
    profile = line_profile(image, (30, 20), (70, 20), spacing, step_mm=0.07)
    result = edge_rise(profile.distances_mm, profile.values)
    assert result.kind == "edge" and len(result.edges) == 1
    assert result.distance_mm == pytest.approx(0.8 * 0.7, abs=1e-9)
    assert result.slope == pytest.approx(0.8 * 100 / (0.8 * 0.7), rel=1e-9)
    edge = result.edges[0]
    assert (edge.low, edge.high) == (0.0, 100.0)
    assert edge.start_mm == pytest.approx((49.1 - 30) * 0.7)
    assert edge.end_mm == pytest.approx((49.9 - 30) * 0.7)


@pytest.mark.parametrize("sigma_px", [2.0, 4.0])
@pytest.mark.parametrize("edge_px", [60.0, 60.3, 60.5])
def test_blurred_step_edge_in_both_directions(sigma_px, edge_px):
    spacing = (0.5, 0.5)
    x_mm, _ = pixel_grid(30, 120, spacing)
    sigma_mm = sigma_px * 0.5
    image = 20 + 180 * ndtr((x_mm - edge_px * 0.5) / sigma_mm)
    # Bilinear interpolation between pixel centres blurs a little more: on average like a
    # triangle of one pixel, which adds a variance of 1/6 pixel².
    expected = ERD_PER_SIGMA_STEP * math.sqrt(sigma_px**2 + 1 / 6) * 0.5
    rising = edge_rise(*_profile(image, (20, 15), (100, 15), spacing))
    falling = edge_rise(*_profile(image, (100, 15), (20, 15), spacing))
    for result in (rising, falling):
        assert result.kind == "edge"
        assert result.distance_mm == pytest.approx(expected, rel=0.015)
        assert result.slope == pytest.approx(0.8 * 180 / expected, rel=0.015)


def _profile(image, start, end, spacing):
    profile = line_profile(image, start, end, spacing)
    return profile.distances_mm, profile.values


def test_structure_with_two_edges_is_averaged():
    # A bright band 40 px wide, blurred by sigma = 3 px: each edge rises over 2 z(0.9) sigma.
    spacing = (0.5, 0.5)
    x_mm, _ = pixel_grid(20, 160, spacing)
    sigma_mm = 1.5
    left, right = 40 * 0.5, 80 * 0.5
    band = ndtr((x_mm - left) / sigma_mm) - ndtr((x_mm - right) / sigma_mm)
    image = 10 + band * 200
    result = edge_rise(*_profile(image, (10, 10), (150, 10), spacing))
    expected = ERD_PER_SIGMA_STEP * sigma_mm
    assert result.kind == "structure" and len(result.edges) == 2
    for edge in result.edges:
        assert edge.distance_mm == pytest.approx(expected, rel=0.01)
        assert edge.high == pytest.approx(210.0, abs=0.5)
    assert result.distance_mm == pytest.approx(expected, rel=0.01)
    rising, falling = result.edges
    assert rising.start_mm < rising.end_mm < falling.end_mm < falling.start_mm


def test_structure_on_unequal_backgrounds_and_dark_structures():
    x = np.linspace(0, 60, 1201)
    sigma = 1.2
    # Background 10 on the left, 50 on the right, a band at 150 between 20 and 40 mm.
    background = 10 + 40 * ndtr((x - 30) / 0.3)
    band = ndtr((x - 20) / sigma) - ndtr((x - 40) / sigma)
    values = background * (1 - band) + 150 * band
    result = edge_rise(x, values)
    assert result.kind == "structure"
    rising, falling = result.edges
    assert rising.distance_mm == pytest.approx(ERD_PER_SIGMA_STEP * sigma, rel=0.01)
    assert falling.distance_mm == pytest.approx(ERD_PER_SIGMA_STEP * sigma, rel=0.01)
    assert rising.slope == pytest.approx(0.8 * 140 / rising.distance_mm, rel=0.01)
    assert falling.slope == pytest.approx(0.8 * 100 / falling.distance_mm, rel=0.01)
    assert result.slope == pytest.approx((rising.slope + falling.slope) / 2)
    # A dark band (e.g. a tendon in fat): the same widths.
    dark = edge_rise(x, 200 - 150 * band)
    assert dark.kind == "structure"
    assert dark.distance_mm == pytest.approx(ERD_PER_SIGMA_STEP * sigma, rel=0.01)
    assert dark.slope == pytest.approx(0.8 * 150 / dark.distance_mm, rel=0.01)


def test_gaussian_structure_on_an_image():
    sigma_mm = 2.5
    image = gaussian_image((60, 50), sigma_mm, spacing=(0.5, 0.5), height=300.0, base=0.0)
    result = edge_rise(*_profile(image, (20, 50), (100, 50), (0.5, 0.5)))
    assert result.kind == "structure"
    # Within 2 %: near the peak (90 %) the Gaussian is curved and bilinear interpolation
    # between pixel centres flattens it a little.
    assert result.distance_mm == pytest.approx(ERD_PER_SIGMA_GAUSSIAN * sigma_mm, rel=0.02)


def test_edge_rise_kind_can_be_forced_and_refuses_profiles_without_edges():
    x = np.linspace(0, 20, 401)
    step = 100 * ndtr((x - 10) / 1.0)
    assert edge_rise(x, step, kind="edge").distance_mm == pytest.approx(ERD_PER_SIGMA_STEP, rel=1e-3)
    with pytest.raises(ValueError, match="no edge"):
        edge_rise(x, np.full_like(x, 3.0), kind="edge")
    with pytest.raises(ValueError, match="kind"):
        edge_rise(x, step, kind="ramp")
    # A structure needs its extreme inside the profile.
    with pytest.raises(ValueError, match="at an end of the profile"):
        edge_rise(x, x, kind="structure")


# ----------------------------------------------------------------------------- circles, SNR, CNR


def brute_force_mask(shape, centre, radius_mm, spacing):
    rows, columns = shape
    mask = np.zeros(shape, bool)
    for r in range(rows):
        for c in range(columns):
            if math.hypot((c - centre[0]) * spacing[1], (r - centre[1]) * spacing[0]) <= radius_mm:
                mask[r, c] = True
    return mask


@pytest.mark.parametrize("spacing", [(0.5, 0.5), (0.5, 1.0)])
def test_circle_stats_on_a_uniform_noise_disc(spacing):
    rng = np.random.default_rng(7)
    shape = (120, 100)
    image = rng.normal(100.0, 5.0, size=shape)
    centre, radius = (49.3, 60.0), 12.0
    stats = circle_stats(image, centre, radius, spacing)
    mask = brute_force_mask(shape, centre, radius, spacing)
    np.testing.assert_array_equal(circle_mask(shape, centre, radius, spacing), mask)
    assert stats.n == mask.sum()
    assert stats.mean == pytest.approx(image[mask].mean(), rel=1e-12)
    assert stats.sd == pytest.approx(np.std(image[mask], ddof=1), rel=1e-12)
    assert stats.area_mm2 == pytest.approx(stats.n * spacing[0] * spacing[1])
    # The circle's area in mm² is about pi r², whatever the pixel shape.
    assert stats.area_mm2 == pytest.approx(math.pi * radius**2, rel=0.03)
    # Known answers within sampling error: mean 100 +- 5/sqrt(n), SD 5.
    assert abs(stats.mean - 100.0) < 4 * 5.0 / math.sqrt(stats.n)
    assert stats.sd == pytest.approx(5.0, rel=0.08)
    assert snr(stats.mean, stats.sd) == pytest.approx(20.0, rel=0.1)


def test_constant_disc_has_zero_sd_and_no_snr():
    image = np.full((30, 30), 42.0)
    stats = circle_stats(image, (15, 15), 3.0, 0.5)
    assert (stats.mean, stats.sd) == (42.0, 0.0)
    with pytest.raises(ValueError, match="SD is zero"):
        snr(stats.mean, stats.sd)


def test_circle_is_clipped_at_the_border_and_refuses_bad_regions():
    image = np.arange(100.0).reshape(10, 10)
    stats = circle_stats(image, (0, 0), 1.0, 1.0)
    assert stats.n == 3  # (0,0), (1,0), (0,1); the rest lies beyond the image
    with pytest.raises(ValueError, match="outside the image"):
        circle_stats(image, (10.6, 3), 2.0, 1.0)
    with pytest.raises(ValueError, match="at least two pixels"):
        circle_stats(image, (3.5, 3.5), 0.2, 1.0)
    with pytest.raises(ValueError, match="radius"):
        circle_stats(image, (3, 3), -1.0, 1.0)


def test_cnr_uses_the_background_sd_unless_told_otherwise():
    rng = np.random.default_rng(11)
    image = rng.normal(100.0, 4.0, size=(80, 160))
    image[:, 80:] += 60.0  # the "lesion" half
    lesion = circle_stats(image, (120, 40), 10.0, 0.5)
    background = circle_stats(image, (40, 40), 10.0, 0.5)
    value = cnr(lesion, background)
    assert value == pytest.approx(abs(lesion.mean - background.mean) / background.sd)
    assert value == pytest.approx(15.0, rel=0.1)
    assert cnr(lesion, background, noise_sd=6.0) == pytest.approx(abs(lesion.mean - background.mean) / 6.0)
    assert cnr(background, lesion) == pytest.approx(abs(lesion.mean - background.mean) / lesion.sd)
    with pytest.raises(ValueError, match="noise SD is zero"):
        cnr(lesion, CircleStats(mean=1.0, sd=0.0, n=5, area_mm2=1.0))
