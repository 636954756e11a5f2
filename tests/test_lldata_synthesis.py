"""The darkening model darkens by the configured factor, is seeded, and leaves geometry alone."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from lldata.synthesis import DarkenParams, darken, linear_mean, linear_to_srgb, srgb_to_linear


def test_srgb_transfer_round_trip():
    x = np.linspace(0, 1, 1001)
    assert np.allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-12)


@pytest.mark.parametrize("exposure", [0.05, 0.1, 0.3])
def test_mean_linear_intensity_drops_by_the_exposure_factor(exposure):
    image = data.coffee()
    params = DarkenParams(exposure=exposure, photons_at_white=4000.0, read_noise=0.001)
    dark = darken(image, params, np.random.default_rng(0))
    ratio = linear_mean(dark) / linear_mean(image)
    # Zero-mean noise leaves the mean alone; 8-bit quantisation of dark values costs a little.
    assert ratio == pytest.approx(exposure, rel=0.06)
    assert dark.shape == image.shape and dark.dtype == np.uint8


def test_seeded_and_deterministic():
    image = data.chelsea()
    params = DarkenParams()
    a = darken(image, params, np.random.default_rng(7))
    b = darken(image, params, np.random.default_rng(7))
    c = darken(image, params, np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_fewer_photons_mean_more_noise():
    flat = np.full((64, 64, 3), 128, dtype=np.uint8)
    quiet = darken(flat, DarkenParams(exposure=0.2, photons_at_white=20000, read_noise=0), np.random.default_rng(0))
    noisy = darken(flat, DarkenParams(exposure=0.2, photons_at_white=200, read_noise=0), np.random.default_rng(0))
    assert noisy.astype(float).std() > 3 * quiet.astype(float).std()


def test_colour_cast_and_jpeg():
    image = data.astronaut()
    params = DarkenParams(exposure=0.3, colour_cast=(1.0, 0.8, 0.5), jpeg_quality=90)
    dark = darken(image, params, np.random.default_rng(0)).astype(float)
    assert dark[..., 0].mean() > dark[..., 1].mean() > dark[..., 2].mean()


@pytest.mark.parametrize(
    "bad", [{"exposure": 0}, {"exposure": 1.5}, {"photons_at_white": -1}, {"read_noise": -0.1}, {"colour_cast": (1, 1)}, {"jpeg_quality": 0}]
)
def test_bad_parameters_are_rejected(bad):
    with pytest.raises(ValueError):
        DarkenParams.from_dict(bad)


def test_unknown_parameter_named():
    with pytest.raises(ValueError, match="brightness"):
        DarkenParams.from_dict({"brightness": 0.1})
