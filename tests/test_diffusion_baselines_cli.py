"""``efficiency run`` with the diffusion baselines, and its usage errors (exit 2) before anything runs."""

from __future__ import annotations

import pytest

from efficiency.benchmark import run_benchmark
from efficiency.cli import main
from efficiency.diffusion_labels import diffusion_labels, is_timing_only
from efficiency.runner import BenchmarkSettings
from tests.efficiency_dummies import SLEEP


def test_baseline_names_become_timing_only_labels():
    labels = diffusion_labels(["diffll_k2_bf16", "pixel_ddim", "diffll_k3"])
    assert labels["diffll_k2_bf16"] == {"method": "efficiency.diffusion_timing:DiffLLTiming", "levels": 2, "precision": "bf16"}
    assert labels["pixel_ddim"]["precision"] == "fp32" and labels["diffll_k3"]["levels"] == 3
    assert all(is_timing_only(options) for options in labels.values())
    with pytest.raises(ValueError, match="unknown diffusion baseline 'ddpm'"):
        diffusion_labels(["ddpm"])


@pytest.mark.parametrize("argv, message", [
    (["--methods", "no_such_method"], "unknown method or detector label(s): no_such_method"),
    (["--methods", "raw", "--rounds", "0"], "--rounds must be >= 1"),
    (["--methods", "raw", "--repeats", "-1"], "--repeats must be >= 1"),
    (["--methods", "raw", "--threads", "-3"], "--threads must be >= 0"),
    (["--methods", "raw", "--interleave", "--reference", "nosuch"], "--reference 'nosuch' is not among"),
    (["--methods", "raw", "--budget", "0"], "--budget must be > 0"),
    (["--diffusion-baselines", "pixel_ddim", "nosuch_k9"], "unknown diffusion baseline 'nosuch_k9'"),
])
def test_bad_arguments_exit_2_before_running(argv, message, tmp_path, capsys):
    out = tmp_path / "run.csv"
    assert main(["run", *argv, "--resolutions", "64x48", "-o", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_frame_over_the_memory_budget_is_refused_without_being_made():
    """A 20000 x 20000 frame (about 70 GB to synthesise) is not built, its cell is over_memory."""
    settings = BenchmarkSettings(resolutions=((64, 48), (20000, 20000)), repeats=1, memory_budget_mb=4096,
                                 method_options={"dummy_sleep": {"method": SLEEP, "seconds": 0.01}})
    frame = run_benchmark(["dummy_sleep"], settings, progress=lambda _: None).set_index("width")
    assert frame.loc[64, "status"] == "ok"
    assert frame.loc[20000, "status"] == "over_memory" and "making the 20000x20000 frame" in frame.loc[20000, "note"]


def test_a_cell_projected_over_budget_is_not_run():
    """Measured 1 s at 64x48; the next size costs 100x the FLOPs: 100 s projected, over a 60 s budget."""
    from efficiency.projection import preflight

    basis = {"width": 64, "height": 48, "median_s": 1.0, "flops": 1e10}
    gate = preflight(640, 480, 1e12, float("nan"), basis, budget_s=60, calls=1, memory_budget=2**40)
    assert gate["status"] == "over_budget" and "projected 100 s" in gate["note"] and "64x48" in gate["note"]
    assert preflight(640, 480, 1e11, float("nan"), basis, budget_s=60, calls=1, memory_budget=2**40) is None  # 10 s fits
    assert preflight(640, 480, 1e11, float("nan"), basis, budget_s=60, calls=10, memory_budget=2**40)["status"] == "over_budget"
    memory = preflight(640, 480, 1e11, 2.0**31, basis, budget_s=60, calls=1, memory_budget=2**30)
    assert memory["status"] == "over_memory" and "estimated 2.0 GiB" in memory["note"]
