"""Diffusion baselines (timing only): they build and run with the right shapes, WeatherDiff
matches the authors' code, FLOPs equal a hand count, and projections never pass as measurements."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from diffll.baselines import costs
from diffll.baselines.pixel_ddim import PixelDDIM
from diffll.baselines.weatherdiff import WeatherDiff, WeatherDiffSettings, grid_corners, unet_config
from diffll.config import DiffLLConfig
from diffll.inference import FrameTooLargeError
from efficiency.diffusion_timing import (
    DiffLLTiming,
    PixelDDIMTiming,
    WeatherDiffTiming,
    diffll_config,
)
from tests.conftest import REPO_ROOT

TINY = DiffLLConfig(ch=32, ch_mult=(1, 2), num_res_blocks=1, attn_level=1, sampling_steps=3)
WEATHERDIFF_DATA = REPO_ROOT / "tests" / "data" / "weatherdiff"


def test_pixel_ddim_runs_on_the_full_image_with_the_right_shape():
    torch.manual_seed(0)
    model = PixelDDIM(TINY).eval()
    x = torch.rand(1, 3, 16, 24) * 2 - 1
    with torch.inference_mode():
        out = model(x, torch.randn_like(x))
    assert out.shape == (1, 3, 16, 24) and float(out.min()) >= 0 and float(out.max()) <= 1
    assert model.Unet.conv_in.in_channels == 6  # condition and x_t, no wavelet band
    with pytest.raises(ValueError, match="start noise"):
        model(x, torch.randn(1, 3, 8, 8))


def test_pixel_ddim_timing_class_crops_back_and_is_seeded():
    method = PixelDDIMTiming(device="cpu")  # the authors' full-size UNet, a 12x10 image (padded to 16x16)
    image = np.random.default_rng(0).random((10, 12, 3)).astype(np.float32)
    first, second = method.enhance(image), method.enhance(image)
    assert first.shape == (10, 12, 3) and np.array_equal(first, second)
    assert method.info.parameters == 20_763_651  # the DiffLL UNet's count (diffll-architecture.md)
    assert "timing only" in method.info.description


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_diffll_runs_at_every_wavelet_depth(levels):
    method = DiffLLTiming(device="cpu", levels=levels)
    assert len(method.enhancer.model.hfrms) == levels  # one HFRM per level
    image = np.random.default_rng(levels).random((20, 24, 3)).astype(np.float32)
    out = method.enhance(image)
    assert out.shape == (20, 24, 3) and np.isfinite(out).all()
    side = diffll_config(levels).pad_multiple
    assert method.enhancer.noise_shape(1, 20, 24) == (1, 3, side // 2**levels, side // 2**levels)


def test_weatherdiff_patches_cover_the_image_and_shapes_hold():
    assert grid_corners(96, 80, 64, 16) == [(i, j) for i in (0, 16, 32) for j in (0, 16)]
    torch.manual_seed(0)
    model = WeatherDiff(unet_config(ch=32, ch_mult=(1, 2), num_res_blocks=1, num_train_timesteps=20, sampling_steps=2),
                        WeatherDiffSettings(patch=16, stride=8, patches_per_call=3)).eval()
    cond = torch.rand(1, 3, 32, 24) * 2 - 1
    with torch.inference_mode():
        out = model(cond, torch.randn_like(cond))
    assert out.shape == (1, 3, 32, 24)
    assert model.padded_size(50) == 56 and model.padded_size(5) == 16
    with pytest.raises(ValueError, match="smaller than one"):
        grid_corners(8, 40, 16, 8)


def _reference_module():
    spec = importlib.util.spec_from_file_location("weatherdiff_reference", WEATHERDIFF_DATA / "make_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_weatherdiff_matches_the_authors_code_on_seeded_random_weights():
    """Vectors from their generalized_steps_overlapping (tests/data/weatherdiff/README.md)."""
    from detectors.random_init import seeded_state_dict

    ref = _reference_module()
    stored = np.load(WEATHERDIFF_DATA / "reference.npz")
    model = WeatherDiff(unet_config(**ref.CONFIG), WeatherDiffSettings(patch=ref.PATCH, stride=ref.STRIDE, patches_per_call=4)).eval()
    model.Unet.load_state_dict(seeded_state_dict(model.Unet.state_dict(), seed=ref.SEED), strict=True)
    cond, noise = ref.inputs()
    assert model.corners(ref.HEIGHT, ref.WIDTH) == [tuple(c) for c in stored["corners"]]
    with torch.inference_mode():
        x0 = model.sample(torch.from_numpy(cond) * 2 - 1, torch.from_numpy(noise)).numpy()
    np.testing.assert_allclose(x0, stored["x0"], atol=1e-4, rtol=0)


@pytest.mark.slow  # one FLOP count of the width-128 UNet on the meta device: ~5 s
def test_weatherdiff_timing_class_uses_the_released_configuration():
    s = WeatherDiffTiming.settings
    assert (s.patch, s.stride, s.patches_per_call) == (64, 16, 64)
    config = unet_config()
    assert (config.ch, config.ch_mult, config.num_res_blocks, config.attn_level) == (128, (1, 2, 3, 4), 2, 2)
    assert (config.num_train_timesteps, config.sampling_steps) == (1000, 25)
    # 96 x 80: 3 x 2 patches of 64 on the stride-16 grid; 64 x 64: one patch (25 steps each)
    assert WeatherDiffTiming.count_flops({}, 96, 80) == 6 * WeatherDiffTiming.count_flops({}, 64, 64)


def _hand_count_tiny_unet(p: int) -> int:
    """FLOPs (2 per multiply-add) of a UNet with ch 32, ch_mult (1,), one res block, attention
    at level 0, on p positions, written out layer by layer."""
    conv3 = lambda cin, cout: 2 * 9 * cin * cout * p  # noqa: E731
    conv1 = lambda cin, cout: 2 * cin * cout * p  # noqa: E731
    linear = lambda cin, cout: 2 * cin * cout  # noqa: E731
    resblock = lambda cin, cout: conv3(cin, cout) + linear(128, cout) + conv3(cout, cout) + (conv1(cin, cout) if cin != cout else 0)  # noqa: E731
    attn = 4 * conv1(32, 32) + 2 * (2 * p * p * 32)  # q, k, v, proj_out; scores and weighted sum
    temb = linear(32, 128) + linear(128, 128)
    down = conv3(6, 32) + resblock(32, 32) + attn
    middle = resblock(32, 32) + attn + resblock(32, 32)
    up = 2 * (resblock(64, 32) + attn)  # two blocks, each on concat[h, skip] = 64 channels
    return temb + down + middle + up + conv3(32, 3)


def test_flop_count_equals_a_hand_count_on_a_tiny_unet():
    config = DiffLLConfig(ch=32, ch_mult=(1,), num_res_blocks=1, attn_level=0, wavelet_levels=1, pad_multiple=2)
    assert costs.unet_flops(config, 4, 6) == _hand_count_tiny_unet(24)
    assert costs.unet_flops(config, 8, 8) == _hand_count_tiny_unet(64)
    # the pixel-space baseline is steps x the UNet on the whole image; DiffLL's UNet sees 1/4^K of it
    assert costs.pixel_ddim_flops(config, 8, 8, steps=10) == 10 * _hand_count_tiny_unet(64)
    hfrm = costs.hfrm_flops(config, 4, 4)
    assert costs.diffll_flops(config, 8, 8, steps=10) == hfrm + 10 * _hand_count_tiny_unet(16)


def test_timing_only_classes_stay_out_of_the_enhancer_registry():
    from enhancers import list_methods

    assert not {"pixel_ddim", "weatherdiff", "diffll_timing"} & set(list_methods())


def test_a_frame_over_the_memory_budget_is_refused_before_running():
    method = PixelDDIMTiming(device="cpu", memory_budget_mb=1)
    with pytest.raises(FrameTooLargeError, match="not run") as caught:
        method.enhance(np.zeros((64, 64, 3), np.float32))
    assert caught.value.estimated_bytes > 2**20


def test_the_worker_records_a_refused_frame_as_over_memory(capsys, monkeypatch):
    from efficiency import worker

    spec = {"image": None, "photo": None, "method": "pixel_ddim", "width": 64, "height": 48, "device": "cpu", "warmup": 0,
            "repeats": 1, "options": {"method": "efficiency.diffusion_timing:PixelDDIMTiming", "memory_budget_mb": 1}}
    monkeypatch.setattr(sys, "argv", ["worker", json.dumps(spec)])
    worker.main()
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["status"] == "over_memory" and "memory budget" in result["error"]


# ---- projections ------------------------------------------------------------------------------


def _frame() -> pd.DataFrame:
    from efficiency.runner import COLUMNS

    rows = [
        {"method": "pixel_ddim", "width": 100, "height": 100, "megapixels": 0.01, "status": "ok", "median_s": 2.0,
         "peak_mem_mb": 600.0, "baseline_mem_mb": 500.0, "flops": 1e12, "est_mem_mb": 50.0},
        {"method": "pixel_ddim", "width": 200, "height": 200, "megapixels": 0.04, "status": "over_budget", "median_s": np.nan,
         "peak_mem_mb": np.nan, "baseline_mem_mb": np.nan, "flops": 8e12, "est_mem_mb": 400.0,
         "note": "not run: projected 16 s per image"},
        {"method": "pixel_ddim", "width": 400, "height": 400, "megapixels": 0.16, "status": "skipped", "flops": 1e14, "est_mem_mb": np.nan},
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def test_cells_not_run_get_projections_never_measurements():
    from efficiency.projection import add_projections

    frame = add_projections(_frame())
    measured, beyond, far = frame.iloc[0], frame.iloc[1], frame.iloc[2]
    assert not measured["projected"] and np.isnan(measured["projected_s"])
    assert beyond["projected"] and beyond["projected_s"] == pytest.approx(16.0)  # 2 s x FLOP ratio 8
    assert beyond["projected_mem_above_mb"] == pytest.approx(800.0)  # 100 MB x estimate ratio 8
    assert far["projected_s"] == pytest.approx(200.0) and "not measured" in far["projection_note"]
    for row in (beyond, far):  # the measured columns stay empty
        assert np.isnan(row["median_s"]) and np.isnan(row["peak_mem_mb"])


def test_the_report_marks_projections_as_such():
    from efficiency.projection import add_projections
    from reports.diffusion_scaling import headlines, ratio_table, scaling_figure

    frame = add_projections(_frame())
    reference = frame.iloc[[0]].assign(method="diffll_k2_bf16", median_s=0.5, peak_mem_mb=520.0, flops=1e11, ratio=1.0)
    ref_large = frame.iloc[[1]].assign(method="diffll_k2_bf16", status="ok", median_s=1.0, peak_mem_mb=540.0,
                                       baseline_mem_mb=500.0, flops=4e11, projected=False, projected_s=np.nan)
    frame = pd.concat([frame.assign(ratio=[4.0, np.nan, np.nan], ratio_low=[3.5, np.nan, np.nan], ratio_high=[4.5, np.nan, np.nan]),
                       reference, ref_large], ignore_index=True)
    frame["reference"] = "diffll_k2_bf16"
    table = ratio_table(frame).set_index("resolution")
    assert table.loc["100x100", "time ratio [95% interval]"] == "4x [3.5-4.5]"
    assert table.loc["100x100", "measured or projected"] == "measured"
    assert table.loc["200x200", "time ratio [95% interval]"] == "projected 16x"
    assert table.loc["200x200", "measured or projected"] == "projection (not measured)"
    assert table.loc["200x200", "UNet positions ratio (analytical)"] == 16.0  # 4^K with K = 2
    assert headlines(frame) == ["diffll_k2_bf16 is 4x [3.5-4.5] faster and uses 5x less memory than pixel_ddim at 100x100 "
                                "(both measured, same interleaved run)"]
    assert scaling_figure(frame, "t")[:4] == b"\x89PNG"


def test_the_demo_report_shows_the_committed_diffusion_scaling_run(tmp_path):
    from lowlight_common.config_schema import validate_config
    from reports.build import build_report

    committed = REPO_ROOT / "docs" / "results" / "diffusion_scaling_cpu.csv"
    config = validate_config({
        "datasets": {"tiny": {"kind": "unpaired", "path": str(tmp_path / "none")}}, "methods": {"raw": {}}, "detectors": {},
        "benchmark": {"enabled": False, "diffusion_scaling": [str(committed)]},
    })
    html, md = build_report(config, tmp_path / "results", tmp_path / "report")
    text = md.read_text()
    assert "DiffLL against pixel-space diffusion" in text and "Timing only" in text
    assert (tmp_path / "report" / "figures" / "diffusion_scaling_0.png").is_file()
    ratios = pd.read_csv(tmp_path / "report" / "diffusion_ratios_0.csv")
    projections = ratios[ratios["measured or projected"] == "projection (not measured)"]
    assert projections["time ratio [95% interval]"].str.startswith("projected").all()
    measured = ratios[ratios["measured or projected"] == "measured"]
    assert not measured.empty and not measured["time ratio [95% interval]"].str.contains("projected").any()


@pytest.mark.parametrize("name", ["pixel_ddim", "weatherdiff"])
def test_the_baselines_run_diffll_s_bf16_kernels_on_cpu(name: str) -> None:
    """A fair comparison: in bf16 on a CPU the baselines' UNet runs the kernels DiffLL's Enhancer
    runs there (diffll.fused, blocked attention), not the earlier SDPA path."""
    from diffll.inference import cpu_supports_bf16
    from diffll.unet import AttnBlock
    from efficiency.diffusion_timing import PixelDDIMTiming, WeatherDiffTiming

    if not cpu_supports_bf16():
        pytest.skip("this CPU has no fast bf16 kernels: the baselines fall back to fp32")
    cls = {"pixel_ddim": PixelDDIMTiming, "weatherdiff": WeatherDiffTiming}[name]
    unet = cls(device="cpu", precision="bf16").network().Unet
    assert unet.fused
    assert {m.backend for m in unet.modules() if isinstance(m, AttnBlock)} == {"chunked"}
    assert not cls(device="cpu").network().Unet.fused  # fp32: the authors' order
