"""Network structure (the authors' state dict), schedule, sampler and the training forward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import shared_path
from torch import nn

from diffll.config import DiffLLConfig
from diffll.model import DiffLL
from diffll.sampler import DDIMSampler
from diffll.schedule import NoiseSchedule
from diffll.unet import UNet
from tests.diffll_models import initial_small_model as small_model

# ---- structure ---------------------------------------------------------------------------


@pytest.mark.shared
def test_full_model_state_dict_equals_authors_tsv() -> None:
    rows = shared_path("reference", "diffll-official-state-dict.tsv").read_text().splitlines()
    expected = {}
    for row in rows:
        key, shape = row.split("\t")
        expected[key] = tuple(int(v) for v in shape.strip("[]").split(",") if v.strip())
    state = DiffLL(DiffLLConfig()).state_dict()
    assert list(state) == list(expected)  # same keys, same order
    assert {k: tuple(v.shape) for k, v in state.items()} == expected


def test_full_model_parameter_counts() -> None:
    model = DiffLL(DiffLLConfig())
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(model) == 22_078_917
    assert count(model.unet) == 20_763_651
    assert count(model.high_enhance0) == count(model.high_enhance1) == 657_633
    assert model.unet is model.Unet


def test_config_round_trip_and_validation() -> None:
    cfg = DiffLLConfig.small()
    assert DiffLLConfig.from_dict(cfg.to_dict()) == cfg
    assert DiffLLConfig().ch_mult == (1, 2, 3, 4) and DiffLLConfig().pad_multiple == 32
    with pytest.raises(ValueError, match="unknown"):
        DiffLLConfig.from_dict({**cfg.to_dict(), "chanels": 3})
    with pytest.raises(ValueError, match="pad_multiple"):
        DiffLLConfig(pad_multiple=16)
    with pytest.raises(ValueError, match="sampling_steps"):
        DiffLLConfig(sampling_steps=0)


def test_unet_rejects_sizes_it_cannot_downsample() -> None:
    unet = UNet(DiffLLConfig.small())
    with pytest.raises(ValueError, match="multiples of 8"):
        unet(torch.zeros(1, 6, 12, 16), torch.tensor([0.0]))


def test_attention_backends_agree() -> None:
    model = small_model()
    x = torch.randn(1, 6, 16, 24)
    t = torch.tensor([120.0])
    with torch.no_grad():
        model.unet.set_attention_backend("math")
        a = model.unet(x, t)
        model.unet.set_attention_backend("sdpa")
        b = model.unet(x, t)
    assert (a - b).abs().max() < 1e-4


# ---- schedule and sampler ----------------------------------------------------------------


def test_schedule_values() -> None:
    sched = NoiseSchedule(200, 1e-4, 0.02, "linear")
    betas64 = np.linspace(1e-4, 0.02, 200, dtype=np.float64)
    assert sched.betas.dtype == torch.float32
    np.testing.assert_array_equal(sched.betas.numpy(), betas64.astype(np.float32))
    np.testing.assert_allclose(sched.alphas_cumprod.numpy(), np.cumprod(1 - betas64), rtol=1e-5)
    assert float(sched.alpha_bar(-1)) == 1.0
    t = torch.tensor([0, 199])
    assert torch.equal(sched.alpha_bar(t), sched.alphas_cumprod[[0, 199]])
    x0, noise = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    a = sched.alphas_cumprod[t].view(-1, 1, 1, 1)
    assert torch.allclose(sched.add_noise(x0, noise, t), a.sqrt() * x0 + (1 - a).sqrt() * noise)
    with pytest.raises(ValueError, match="-1..199"):
        sched.alpha_bar(200)


def test_sampler_timesteps_as_authors() -> None:
    sampler = DDIMSampler(NoiseSchedule())
    assert sampler.set_timesteps(10) == list(range(180, -1, -20))
    assert [sampler.next_timestep(t) for t in sampler.timesteps] == [*range(160, -1, -20), -1]
    # T % S != 0: the authors' range(0, T, T // S) visits more than S steps
    assert len(sampler.set_timesteps(7)) == 8
    with pytest.raises(ValueError):
        sampler.set_timesteps(0)


class _FakeEps(nn.Module):
    """A smooth, x- and t-dependent stand-in for the UNet, easy to redo in numpy."""

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        cond, xt = x[:, :3], x[:, 3:]
        return torch.tanh(0.5 * xt + 0.1 * cond) + t.view(-1, 1, 1, 1) / 1000.0


def test_sampling_loop_matches_independent_ddim() -> None:
    model = small_model()
    model.Unet = _FakeEps()
    gen = torch.Generator().manual_seed(3)
    cond = torch.randn(2, 3, 4, 6, generator=gen)
    x_T = torch.randn(2, 3, 4, 6, generator=gen)
    ours, eps_first = model.sample(cond, x_T)

    betas = np.linspace(1e-4, 0.02, 200, dtype=np.float64)
    abar = np.concatenate([[1.0], np.cumprod(1 - betas)])  # index t + 1
    x, c = x_T.double().numpy(), cond.double().numpy()
    for t in range(180, -1, -20):
        eps = np.tanh(0.5 * x + 0.1 * c) + t / 1000.0
        at, an = abar[t + 1], abar[max(t - 20, -1) + 1]
        x0 = (x - np.sqrt(1 - at) * eps) / np.sqrt(at)
        x = np.sqrt(an) * x0 + np.sqrt(1 - an) * eps
    np.testing.assert_allclose(ours.numpy(), x, atol=1e-5)
    np.testing.assert_allclose(
        eps_first.numpy(), np.tanh(0.5 * x_T.numpy() + 0.1 * c) + 0.18, atol=1e-6
    )


def test_sampler_step_stays_float32_under_autocast() -> None:
    sampler = DDIMSampler(NoiseSchedule())
    sampler.set_timesteps(10)
    x = torch.randn(1, 3, 4, 4)
    eps = torch.randn(1, 3, 4, 4).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x_next, x0 = sampler.step(eps, 180, x)
    assert x_next.dtype == x0.dtype == torch.float32
    ref_next, _ = sampler.step(eps.float(), 180, x)
    assert torch.equal(x_next, ref_next)


# ---- forwards ----------------------------------------------------------------------------


def test_inference_forward_shapes_and_range() -> None:
    model = small_model()
    x = torch.rand(2, 3, 32, 64) * 2 - 1
    with torch.no_grad():
        out = model.forward_inference(x, torch.randn(2, 3, 8, 16))
    assert out["output"].shape == x.shape
    assert float(out["output"].min()) >= 0 and float(out["output"].max()) <= 1
    assert out["high1_refined"].shape == (6, 3, 16, 32)
    assert out["high2_refined"].shape == (6, 3, 8, 16)
    assert out["LL2_low"].shape == out["LL2_pred"].shape == out["eps_first"].shape == (2, 3, 8, 16)
    with pytest.raises(ValueError, match="multiples of 32"):
        model.forward_inference(torch.zeros(1, 3, 40, 64), torch.zeros(1, 3, 10, 16))


def test_training_forward_backpropagates_through_the_sampler() -> None:
    model = small_model().train()
    gen = torch.Generator().manual_seed(1)
    low = torch.rand(2, 3, 32, 32, generator=gen) * 2 - 1
    gt = torch.rand(2, 3, 32, 32, generator=gen) * 2 - 1
    t = torch.tensor([37, 162])
    e, x_T = torch.randn(2, 2, 3, 8, 8, generator=gen)
    out = model.forward_train(low, gt, t, e, x_T)
    for key, shape in {
        "noise_output": (2, 3, 8, 8),
        "pred_x": (2, 3, 32, 32),
        "pred_LL": (2, 3, 16, 16),
        "pred_LL2": (2, 3, 8, 8),
        "input_high0": (6, 3, 16, 16),
        "input_high1": (6, 3, 8, 8),
        "gt_LL1": (2, 3, 16, 16),
        "gt_high1": (6, 3, 16, 16),
        "gt_high2": (6, 3, 8, 8),
    }.items():
        assert tuple(out[key].shape) == shape, key
    # The sampler's output depends on the UNet (ten calls, all differentiated) but not on the
    # HFRMs, which enter only through the reconstruction.
    out["pred_LL2"].pow(2).mean().backward(retain_graph=True)
    assert model.Unet.conv_in.weight.grad.abs().sum() > 0
    assert model.high_enhance1.conv_head.point_conv.weight.grad is None
    model.zero_grad()
    out["pred_LL"].pow(2).mean().backward()
    assert model.high_enhance1.conv_head.point_conv.weight.grad.abs().sum() > 0
