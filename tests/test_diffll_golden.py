"""Agreement with the reference vectors in ../shared/reference/golden-small (fp32, CPU).

What matches (to ~1e-6): the Haar pyramid, both HFRMs, the UNet (first sampling step and the
training noise branch). What does not: the final images (``output``, ``pred_x``, ``pred_LL``).
Those golden arrays equal, to ~1e-6, a sampler in which *every* UNet call returns the first
UNet output of the forward (``eps_first`` at inference, ``noise_output`` in training) -- which
is what a recording hook that caches the first output produces, not the 10-step DDIM the spec
(and the authors' ``sample_training``) describe. ``test_golden_final_images_*`` pins that
diagnosis; the strict xfail turns into a failure as soon as corrected vectors arrive.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import shared_path

from diffll.config import DiffLLConfig
from diffll.model import DiffLL
from diffll.padding import pad_to_multiple


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """Tiny tensors: extra threads only add contention on the shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


pytestmark = pytest.mark.shared
ATOL = 1e-4
CASES = ["case_0_64x96.npz", "case_1_45x70.npz"]


def golden(name: str) -> dict[str, np.ndarray]:
    with np.load(shared_path("reference", "golden-small", name)) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def model() -> DiffLL:
    weights = golden("weights.npz")
    net = DiffLL(DiffLLConfig.small())
    net.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=True)
    return net.eval()


def _inference(model: DiffLL, case: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    x = torch.from_numpy(case["input"])
    x_pad = pad_to_multiple(x, 32)
    with torch.no_grad():
        out = model.forward_inference(x_pad * 2 - 1, torch.from_numpy(case["x_T"]))
    out["output"] = out["output"][..., : x.shape[-2], : x.shape[-1]]
    return out


def _train(model: DiffLL, case: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return model.forward_train(
            torch.from_numpy(case["low"]) * 2 - 1,
            torch.from_numpy(case["gt"]) * 2 - 1,
            torch.from_numpy(case["t"]),
            torch.from_numpy(case["e"]),
            torch.from_numpy(case["x_T"]),
        )


def _max_err(ours: torch.Tensor, ref: np.ndarray) -> float:
    assert tuple(ours.shape) == ref.shape
    return float((ours.float() - torch.from_numpy(ref)).abs().max())


def test_config_matches_golden_config() -> None:
    data = json.loads(shared_path("reference", "golden-small", "config.json").read_text())
    assert DiffLLConfig.from_authors(data) == DiffLLConfig.small()


@pytest.mark.parametrize("name", CASES)
def test_inference_intermediates(model: DiffLL, name: str) -> None:
    case = golden(name)
    out = _inference(model, case)
    for key in ("LL2_low", "high1_refined", "high2_refined", "eps_first"):
        assert _max_err(out[key], case[key]) < ATOL, key


def test_training_forward_intermediates(model: DiffLL) -> None:
    case = golden("train_case.npz")
    out = _train(model, case)
    for key in ("noise_output", "input_high0", "input_high1"):
        assert _max_err(out[key], case[key]) < ATOL, key


@pytest.mark.xfail(
    strict=True,
    reason="golden output/pred_x/pred_LL were made with a stale-eps sampler (see module doc)",
)
@pytest.mark.parametrize("name", [*CASES, "train_case.npz"])
def test_golden_final_images(model: DiffLL, name: str) -> None:
    case = golden(name)
    if name.startswith("train"):
        out = _train(model, case)
        errors = [_max_err(out[k], case[k]) for k in ("pred_x", "pred_LL")]
    else:
        errors = [_max_err(_inference(model, case)["output"], case["output"])]
    assert max(errors) < ATOL


@pytest.mark.parametrize("name", [*CASES, "train_case.npz"])
def test_golden_final_images_are_from_a_stale_eps_sampler(
    model: DiffLL, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reproduce the golden final images by replaying the first UNet output at every call."""
    real_forward = model.Unet.forward
    cache: list[torch.Tensor] = []

    def stale_forward(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = real_forward(x, t)
        if not cache:
            cache.append(out)
        return cache[0]

    monkeypatch.setattr(model.Unet, "forward", stale_forward)
    case = golden(name)
    if name.startswith("train"):
        out = _train(model, case)
        assert _max_err(out["pred_x"], case["pred_x"]) < ATOL
        assert _max_err(out["pred_LL"], case["pred_LL"]) < ATOL
    else:
        assert _max_err(_inference(model, case)["output"], case["output"]) < ATOL
