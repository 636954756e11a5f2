"""The re-implemented competitor networks reproduce the authors' golden vectors.

Golden files (../shared/reference/competitors/*_golden.npz) were produced by the authors' code
with the released weights; see that folder's README. Every listed intermediate is checked, then
the public ``Method`` on the same input must give the clipped final output.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import shared_path

import enhancers
from enhancers.nets.ruas import RUAS
from enhancers.nets.sci import SCIEnhance
from enhancers.nets.uretinex import URetinex
from enhancers.nets.zero_dce import ZeroDCE, ZeroDCEPP
from enhancers.weights import load_checkpoint

# The brief asks for 1e-4; the reference README observed <= 1.1e-6 between float32/float64 and
# thread counts, and recommends 1e-5 for a float32 CPU re-implementation. We hold the tighter one.
ATOL = 1e-5
INPUTS = ("lime", "rand")


@pytest.fixture(scope="module")
def weights() -> Path:
    return shared_path("weights")


def golden(name: str) -> dict[str, np.ndarray]:
    with np.load(shared_path("reference", "competitors", name), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _zero_dce(w: Path) -> ZeroDCE:
    net = ZeroDCE()
    net.load_state_dict(load_checkpoint("zero_dce/Epoch99.pth", w))
    return net


def _sci(w: Path) -> SCIEnhance:
    net = SCIEnhance()
    net.load_state_dict(SCIEnhance.inference_state(load_checkpoint("sci/medium.pt", w)))
    return net


def _ruas(variant: str) -> Callable[[Path], RUAS]:
    def build(w: Path) -> RUAS:
        net = RUAS()
        net.load_state_dict(load_checkpoint(f"ruas/{variant}.pt", w))
        return net

    return build


def _uretinex(w: Path) -> URetinex:
    net = URetinex(ratio=5)
    net.decom.load_state_dict(load_checkpoint("uretinex/init_low.pth", w)["state_dict"]["model_R"])
    unfolding = load_checkpoint("uretinex/unfolding.pth", w)["state_dict"]
    net.restore.load_state_dict(unfolding["model_R"])
    net.illumination.load_state_dict(unfolding["model_L"])
    net.adjust.load_state_dict(load_checkpoint("uretinex/L_adjust.pth", w)["state_dict"]["model_A"])
    return net


# (method name, golden file, network builder, traced arrays, trace kwargs)
CASES = [
    ("zero_dce", "zerodce_golden.npz", _zero_dce, ("output", "enhance_image_1", "curve_maps"), {}),
    ("sci_medium", "sci_medium_golden.npz", _sci, ("output", "illumination"), {}),
    (
        "ruas_lol",
        "ruas_lol_golden.npz",
        _ruas("lol"),
        ("output", "denoised", "u1", "u2", "u3", "t1", "t2", "t3"),
        {"denoise": True},
    ),
    (
        "ruas_dark",
        "ruas_dark_golden.npz",
        _ruas("dark"),
        ("output", "denoised", "u1", "u2", "u3", "t1", "t2", "t3"),
        {"denoise": False, "always_denoise": True},
    ),
    (
        "uretinex",
        "uretinex_golden.npz",
        _uretinex,
        ("output", "R", "L", "L_adjusted", "decom_R0", "decom_L0"),
        {},
    ),
]


def assert_close(got: torch.Tensor, want: np.ndarray, what: str, atol: float = ATOL) -> None:
    got_np = got.detach().cpu().numpy()
    assert got_np.shape == want.shape, f"{what}: shape {got_np.shape} != {want.shape}"
    err = float(np.abs(got_np - want).max())
    assert err <= atol, f"{what}: max abs error {err:.3g} > {atol}"


@pytest.mark.parametrize(
    ("method", "npz", "build", "keys", "kwargs"), CASES, ids=[c[0] for c in CASES]
)
def test_network_matches_golden(weights, method, npz, build, keys, kwargs) -> None:
    ref = golden(npz)
    net = build(weights).eval()
    for which in INPUTS:
        with torch.no_grad():
            trace = net.trace(torch.from_numpy(ref[f"input_{which}"]), **kwargs)
        for key in keys:
            assert_close(trace[key], ref[f"{key}_{which}"], f"{method} {key}_{which}")


@pytest.mark.parametrize(("method", "npz"), [(c[0], c[1]) for c in CASES])
def test_method_gives_clipped_golden_output(weights, method, npz) -> None:
    ref = golden(npz)
    m = enhancers.create_method(method, device="cpu", weights_dir=weights)
    for which in INPUTS:
        out = m.enhance(torch.from_numpy(ref[f"input_{which}"]))
        assert_close(out, np.clip(ref[f"output_{which}"], 0, 1), f"{method} {which}")
        # and the numpy path agrees with the tensor path
        img = ref[f"input_{which}"][0].transpose(1, 2, 0)
        out_np = m.enhance(img)
        assert out_np.dtype == np.float32
        np.testing.assert_allclose(out_np, out[0].numpy().transpose(1, 2, 0), atol=1e-6)


def test_zero_dce_pp_matches_golden_scale_12_and_1(weights) -> None:
    ref = golden("zerodcepp_golden.npz")
    state = load_checkpoint("zero_dce_pp/Epoch99.pth", weights)
    net12, net1 = ZeroDCEPP(12), ZeroDCEPP(1)
    net12.load_state_dict(state)
    net1.load_state_dict(state)
    for which in INPUTS:
        with torch.no_grad():
            t12 = net12.trace(torch.from_numpy(ref[f"input_cropped_{which}"]))
            t1 = net1.trace(torch.from_numpy(ref[f"input_{which}"]))
        for key in ("output", "input_down", "curve_map_lowres", "curve_map"):
            assert_close(t12[key], ref[f"{key}_{which}"], f"zero_dce_pp {key}_{which}")
        for key in ("output", "curve_map"):
            assert_close(t1[key], ref[f"{key}_{which}_sf1"], f"zero_dce_pp sf1 {key}_{which}")


def test_zero_dce_pp_method_pads_instead_of_cropping(weights) -> None:
    """Multiples of 12: exactly the authors' output. Other sizes: full size kept, and the
    region the authors keep stays close to theirs (the curve map differs near the padding)."""
    ref = golden("zerodcepp_golden.npz")
    m = enhancers.create_method("zero_dce_pp", device="cpu", weights_dir=weights)
    m1 = enhancers.create_method("zero_dce_pp", device="cpu", weights_dir=weights, scale_factor=1)
    for which in INPUTS:
        cropped = m.enhance(torch.from_numpy(ref[f"input_cropped_{which}"]))
        assert_close(cropped, ref[f"output_{which}"], f"zero_dce_pp cropped {which}")
        full = m.enhance(torch.from_numpy(ref[f"input_{which}"]))
        assert full.shape == ref[f"input_{which}"].shape
        h, w = ref[f"output_{which}"].shape[-2:]
        diff = np.abs(full[..., :h, :w].numpy() - ref[f"output_{which}"])
        assert float(diff.mean()) < 0.03
        assert_close(
            m1.enhance(torch.from_numpy(ref[f"input_{which}"])), ref[f"output_{which}_sf1"], "sf1"
        )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("method", "npz"), [(c[0], c[1]) for c in CASES])
def test_method_matches_golden_on_cuda(weights, method, npz) -> None:
    ref = golden(npz)
    m = enhancers.create_method(method, device="cuda", weights_dir=weights)
    for which in INPUTS:
        out = m.enhance(torch.from_numpy(ref[f"input_{which}"]).cuda())
        assert out.device.type == "cuda"
        assert_close(out, np.clip(ref[f"output_{which}"], 0, 1), f"{method} cuda {which}", 1e-4)
