"""Agreement with the reference vectors in ../shared/reference/golden-small (fp32, CPU).

Every stage is checked within 1e-4 against the authors' code (small UNet, random weights): the
Haar pyramid, both HFRMs, the UNet's first sampling step and training noise branch, the 10-step
DDIM result on the coarsest LL band, and the final images of inference and of the training
forward. The folder's README says how the vectors were made.
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


@pytest.mark.parametrize("name", CASES)
def test_golden_sampler_and_final_image(model: DiffLL, name: str) -> None:
    """The 10-step DDIM result on LL2 and the final image (cropped back to the input size)."""
    case = golden(name)
    out = _inference(model, case)
    assert _max_err(out["LL2_pred"], case["LL2_sampled"]) < ATOL
    assert _max_err(out["output"], case["output"]) < ATOL


def test_golden_training_forward_final_images(model: DiffLL) -> None:
    """Training mode runs the full sampler too: ``pred_LL2``, ``pred_LL`` (LL1) and ``pred_x``."""
    case = golden("train_case.npz")
    out = _train(model, case)
    assert _max_err(out["pred_LL2"], case["LL2_sampled"]) < ATOL
    assert _max_err(out["pred_LL"], case["pred_LL"]) < ATOL
    assert _max_err(out["pred_x"], case["pred_x"]) < ATOL
