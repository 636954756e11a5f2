"""Classical baselines: LIME, MSRCR, HE, CLAHE, gamma."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from skimage import color, data, transform

import enhancers
from enhancers.classical import auto_gamma, luminance
from enhancers.lime import forward_gradients, lime_enhance, lime_system, smoothness_weights
from enhancers.msrcr import msrcr


def dark_photo(size: int = 192, factor: float = 0.15) -> np.ndarray:
    """scikit-image's astronaut, resized and darkened: a natural low-light stand-in."""
    img = data.astronaut().astype(np.float64) / 255.0
    img = transform.resize(img, (size, size), anti_aliasing=True)
    return (img * factor).astype(np.float32)


def total_variation(t: np.ndarray) -> float:
    gh, gv = forward_gradients(np.asarray(t, dtype=np.float64))
    return float(np.abs(gh).sum() + np.abs(gv).sum())


def dark_ramp(h: int = 16, w: int = 64) -> np.ndarray:
    ramp = np.linspace(0.01, 0.2, w, dtype=np.float32)
    return np.repeat(np.repeat(ramp[None, :, None], h, axis=0), 3, axis=2)


# ---- LIME ----------------------------------------------------------------------------------


def test_lime_system_equals_explicit_difference_operators() -> None:
    rng = np.random.default_rng(0)
    t = rng.random((5, 7))
    w_h, w_v = smoothness_weights(t, 0.15, 1e-3, 2, 2.0)
    h, w = t.shape
    n = h * w

    def diff(axis: int) -> sp.csr_matrix:
        rows, cols, vals = [], [], []
        for i in range(h):
            for j in range(w):
                p = i * w + j
                q = p + 1 if axis == 1 else p + w
                if (axis == 1 and j < w - 1) or (axis == 0 and i < h - 1):
                    rows += [p, p]
                    cols += [p, q]
                    vals += [-1.0, 1.0]
        return sp.csr_matrix((vals, (rows, cols)), shape=(n, n))

    dh, dv = diff(1), diff(0)
    explicit = sp.eye(n) + dh.T @ sp.diags(w_h.ravel()) @ dh + dv.T @ sp.diags(w_v.ravel()) @ dv
    assert abs(explicit - lime_system(w_h, w_v)).max() < 1e-9
    gh, gv = forward_gradients(t)
    np.testing.assert_allclose(dh @ t.ravel(), gh.ravel())
    np.testing.assert_allclose(dv @ t.ravel(), gv.ravel())


@pytest.mark.parametrize("strategy", [2, 3])
def test_lime_refined_illumination_is_close_to_max_rgb_and_smoother(strategy: int) -> None:
    img = dark_photo(96)
    out, t_hat, t = lime_enhance(img, strategy=strategy)
    np.testing.assert_array_equal(t_hat, img.max(axis=2))
    # close: I + graph Laplacian preserves the sum exactly, the map keeps the scene's
    # structure (nearer to T_hat than T_hat's own mean is, and correlated with it) ...
    assert abs(float(t.mean()) - float(t_hat.mean())) < 1e-9
    assert float(np.abs(t - t_hat).mean()) < float(np.abs(t_hat - t_hat.mean()).mean())
    assert np.corrcoef(t.ravel(), t_hat.ravel())[0, 1] > 0.6
    # ... and smoother: far lower total variation
    assert total_variation(t) < 0.5 * total_variation(t_hat)
    assert out.dtype == np.float32 and out.min() >= 0.0 and out.max() <= 1.0
    assert out.mean() > 2 * img.mean()


def test_lime_refinement_vanishes_as_alpha_goes_to_zero() -> None:
    img = dark_photo(48)
    _, t_hat, t = lime_enhance(img, alpha=1e-7)
    assert float(np.abs(t - t_hat).max()) < 1e-3


def test_lime_brightens_a_dark_ramp_monotonically() -> None:
    ramp = dark_ramp()
    out = enhancers.create_method("lime").enhance(ramp)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.all(out >= ramp - 1e-6)
    assert np.all(np.diff(out, axis=1) >= -1e-6)
    assert out[:, -1].mean() > out[:, 0].mean()


def test_lime_denoise_option_smooths_noise() -> None:
    rng = np.random.default_rng(1)
    img = np.clip(dark_photo(64) + rng.normal(0, 0.01, (64, 64, 3)), 0, 1).astype(np.float32)
    plain = lime_enhance(img)[0]
    denoised = lime_enhance(img, denoise=True, denoise_weight=0.1)[0]
    tv = lambda x: total_variation(luminance(x))  # noqa: E731
    assert tv(denoised) < tv(plain)
    assert denoised.min() >= 0 and denoised.max() <= 1


def test_lime_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="strategy"):
        enhancers.create_method("lime", strategy=4)
    with pytest.raises(ValueError, match="alpha"):
        enhancers.create_method("lime", alpha=0)


# ---- MSRCR ---------------------------------------------------------------------------------


def test_msrcr_range_brightening_and_clipping_fractions() -> None:
    img = dark_photo(128)
    out = enhancers.create_method("msrcr").enhance(img)
    assert out.shape == img.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.mean() > 3 * img.mean()
    for c in range(3):  # simplest colour balance saturates about 1 % at each end
        assert 0.005 <= float((out[..., c] <= 0.0).mean()) <= 0.03
        assert 0.005 <= float((out[..., c] >= 1.0).mean()) <= 0.03


def test_msrcr_gain_and_offset_are_absorbed_by_the_colour_balance() -> None:
    """The documented property: Jobson's G and b do not change the balanced output."""
    img = dark_photo(64)
    np.testing.assert_allclose(msrcr(img), msrcr(img, gain=1.0, offset=0.0), atol=1e-4)


def test_msrcr_uniform_image_is_returned_unchanged() -> None:
    flat = np.full((20, 30, 3), 0.3, np.float32)
    np.testing.assert_allclose(enhancers.create_method("msrcr").enhance(flat), flat, atol=1e-6)
    black = np.zeros((20, 30, 3), np.float32)
    assert enhancers.create_method("msrcr").enhance(black).max() == 0.0


def test_msrcr_brightens_a_dark_ramp_monotonically() -> None:
    ramp = dark_ramp()
    out = enhancers.create_method("msrcr").enhance(ramp)
    assert np.all(np.diff(out.mean(axis=0), axis=0) >= -1e-6)
    assert out.mean() > ramp.mean()


# ---- HE, CLAHE, gamma ----------------------------------------------------------------------


def test_he_equalises_value_and_keeps_hue() -> None:
    img = dark_photo(96)
    out = enhancers.create_method("he").enhance(img)
    v = out.max(axis=2)
    assert abs(float(v.mean()) - 0.5) < 0.05  # equalised V is roughly uniform on [0, 1]
    hue_in, hue_out = color.rgb2hsv(img)[..., 0], color.rgb2hsv(out)[..., 0]
    sat = color.rgb2hsv(img)[..., 1] > 0.2  # hue is only defined for coloured pixels
    dh = np.abs(hue_in - hue_out)[sat]
    assert float(np.minimum(dh, 1 - dh).max()) < 1e-3


def test_clahe_brightens_and_respects_options() -> None:
    img = dark_photo(96)
    mild = enhancers.create_method("clahe", clip_limit=1.0).enhance(img)
    strong = enhancers.create_method("clahe", clip_limit=4.0, tile=4).enhance(img)
    assert mild.mean() > img.mean() and strong.mean() > mild.mean()
    assert strong.min() >= 0.0 and strong.max() <= 1.0
    with pytest.raises(ValueError, match="clip_limit"):
        enhancers.create_method("clahe", clip_limit=0)


def test_gamma_is_the_documented_power_law() -> None:
    img = dark_photo(32)
    out = enhancers.create_method("gamma", gamma=2.0).enhance(img)
    np.testing.assert_allclose(out, np.sqrt(img), rtol=1e-5, atol=1e-7)


def test_gamma_auto_hits_the_target_mean_luma() -> None:
    img = dark_photo(96)
    m = enhancers.create_method("gamma_auto", target=0.5)
    out = m.enhance(img)
    assert abs(float(luminance(out).mean()) - 0.5) < 1e-3
    assert m.last_gamma is not None and m.last_gamma > 1.0  # a dark image needs brightening
    # unreachable targets fall back to the nearest bound without error
    assert auto_gamma(np.zeros((4, 4, 3)), 0.5, (0.1, 100.0)) == 100.0
    assert auto_gamma(np.ones((4, 4, 3)), 0.5, (0.1, 100.0)) == 0.1


@pytest.mark.parametrize(("cls", "function"), [("LIME", "lime_enhance"), ("MSRCR", "msrcr")])
def test_the_method_and_its_function_share_defaults(cls: str, function: str) -> None:
    """The defaults are written once, in the constructor's signature (the registry reads them
    there); the published-parameter function the method calls takes them from it."""
    import importlib
    import inspect

    module = importlib.import_module(f"enhancers.{'lime' if cls == 'LIME' else 'msrcr'}")
    method, run = getattr(module, cls), getattr(module, function)
    params = inspect.signature(run).parameters.values()
    assert [p.name for p in params if p.default is not inspect.Parameter.empty] == []
    img = np.random.default_rng(3).random((12, 14, 3)).astype(np.float32) * 0.3
    plain = run(img)[0] if cls == "LIME" else run(img)
    np.testing.assert_array_equal(plain, method(device="cpu").enhance(img))
    with pytest.raises(TypeError, match="unexpected option.*bogus"):
        run(img, bogus=1)
