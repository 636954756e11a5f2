"""Batch sizes, output fidelity (PSNR against a reference label) and DiffLL's modes in the one
benchmark harness. Calibration methods check the arithmetic; a tiny DiffLL checks the real path."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from efficiency.benchmark import run_benchmark
from efficiency.cli import main as cli_main
from efficiency.diffll_modes import REFERENCE_LABEL, diffll_labels
from efficiency.fidelity import add_psnr, output_path
from efficiency.runner import BenchmarkSettings, run_cell
from lowlight_common.metrics import psnr
from tests.efficiency_dummies import OFFSET, SLEEP


def test_psnr() -> None:
    a = np.zeros((2, 2, 3))
    assert psnr(a, a) == math.inf
    assert psnr(a, a + 0.1) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="shapes"):
        psnr(a, np.zeros((2, 3, 3)))


def test_a_batched_label_reports_seconds_per_image():
    settings = BenchmarkSettings(warmup=0, repeats=2, interleave=True, reference="ref", method_options={
        "ref": {"method": SLEEP, "seconds": 0.05}, "batched": {"method": SLEEP, "seconds": 0.05, "batch_size": 4}})
    result = run_cell("batched", 16, 16, settings)
    assert result["status"] == "ok" and result["batch_size"] == 4
    assert 0.05 <= result["median_s"] < 0.08  # a call of 4 images takes >= 0.2 s: per image 0.05
    assert all(0.8 < q < 1.3 for q in result["pair_ratios"])  # per image, as cheap as the reference
    assert 0.05 <= min(result["reference_times_s"]) < 0.08


def test_a_bad_batch_size_is_an_error_before_any_child():
    settings = BenchmarkSettings(resolutions=((8, 8),), method_options={"x": {"method": SLEEP, "batch_size": 0}})
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        run_benchmark(["x"], settings, progress=lambda _: None)


def test_outputs_are_compared_with_the_reference_label():
    options = {"same": {"method": OFFSET}, "shifted": {"method": OFFSET, "offset": 0.1}, "ref": {"method": OFFSET}}
    settings = BenchmarkSettings(resolutions=((24, 16), (32, 24)), warmup=0, repeats=1, psnr_reference="ref", method_options=options)
    frame = run_benchmark(["ref", "same", "shifted"], settings, progress=lambda _: None).set_index(["method", "width"])
    assert frame.loc[("ref", 24), "psnr_db"] == math.inf and frame.loc[("same", 32), "psnr_db"] == math.inf
    assert frame.loc[("shifted", 24), "psnr_db"] == pytest.approx(20.0)
    assert frame.loc[("shifted", 32), "psnr_reference"] == "ref"
    no_psnr = run_benchmark(["same"], BenchmarkSettings(resolutions=((8, 8),), repeats=1, method_options=options), progress=lambda _: None)
    assert no_psnr["psnr_db"].isna().all()
    with pytest.raises(ValueError, match="PSNR reference 'absent' is not among"):
        run_benchmark(["same"], BenchmarkSettings(psnr_reference="absent", method_options=options), progress=lambda _: None)


def test_add_psnr_leaves_rows_without_both_outputs_empty(tmp_path):
    np.save(output_path(tmp_path, "ref", 4, 4), np.zeros((4, 4, 3), np.float32))
    np.save(output_path(tmp_path, "a/b c", 4, 4), np.full((4, 4, 3), 0.01, np.float32))
    frame = pd.DataFrame({"method": ["a/b c", "gone", "a/b c"], "width": [4, 4, 8], "height": [4, 4, 8],
                          "status": ["ok", "ok", "ok"], "psnr_db": [np.nan] * 3, "psnr_reference": [np.nan] * 3})
    out = add_psnr(frame, "ref", tmp_path)
    assert out.loc[0, "psnr_db"] == pytest.approx(40.0, abs=1e-4)
    assert np.isnan(out.loc[1, "psnr_db"]) and np.isnan(out.loc[2, "psnr_db"])  # no output / no reference at 8x8
    assert output_path(tmp_path, "a/b", 4, 4) != output_path(tmp_path, "a_b", 4, 4)  # sanitised names stay apart


def test_diffll_labels_put_the_fp32_path_first():
    labels = diffll_labels(["bf16", "fp32", "bf16-compile"], [1, 4], {"checkpoint": "c", "steps": 2, "precision": "bf16"})
    assert list(labels) == [REFERENCE_LABEL, "diffll_bf16", "diffll_bf16_b4", "diffll_fp32_b4", "diffll_bf16_compile",
                            "diffll_bf16_compile_b4"]
    assert labels[REFERENCE_LABEL] == {"method": "diffll", "checkpoint": "c", "steps": 2, "precision": "fp32"}
    assert labels["diffll_bf16_compile_b4"] == {"method": "diffll", "checkpoint": "c", "steps": 2, "precision": "bf16",
                                                "compile": True, "batch_size": 4}
    with pytest.raises(ValueError, match="unknown DiffLL mode"):
        diffll_labels(["int8"])
    with pytest.raises(ValueError, match="positive integers"):
        diffll_labels(["bf16"], [0])


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    import torch

    from diffll.checkpoint import save_checkpoint
    from diffll.config import DiffLLConfig
    from diffll.model import DiffLL

    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", DiffLL(DiffLLConfig.small()))


def test_diffll_modes_from_the_command_line(tmp_path, tiny_checkpoint, capsys):
    out = tmp_path / "modes.csv"
    options = f'{{"diffll": {{"checkpoint": "{tiny_checkpoint}", "steps": 2}}}}'
    code = cli_main(["run", "--diffll-modes", "fp32", "bf16", "--batch-sizes", "1", "2", "--resolutions", "64x48",
                     "--repeats", "1", "--warmup", "0", "--threads", "1", "--interleave", "--options-json", options, "-o", str(out)])
    assert code == 0
    frame = pd.read_csv(out).set_index("method")
    assert list(frame.index) == [REFERENCE_LABEL, "diffll_fp32_b2", "diffll_bf16", "diffll_bf16_b2"]
    assert (frame["status"] == "ok").all() and (frame["reference"] == REFERENCE_LABEL).all()
    assert frame.loc["diffll_bf16_b2", "batch_size"] == 2 and frame.loc["diffll_bf16", "precision"] == "bf16"
    assert frame.loc[REFERENCE_LABEL, "psnr_db"] == math.inf
    # a batch holds the bytes of its images alone on CPU (tests/test_diffll_batching.py)
    assert frame.loc["diffll_fp32_b2", "psnr_db"] == math.inf
    assert 30 < frame.loc["diffll_bf16", "psnr_db"] < math.inf
    assert (frame["psnr_reference"] == REFERENCE_LABEL).all()
    assert code == 0 and "psnr_db" in capsys.readouterr().out


def test_batch_sizes_without_diffll_modes_is_a_usage_error(tmp_path, capsys):
    assert cli_main(["run", "--methods", "raw", "--batch-sizes", "2", "-o", str(tmp_path / "x.csv")]) == 2
    assert "--batch-sizes goes with --diffll-modes" in capsys.readouterr().err


def test_the_report_table_shows_psnr_and_keeps_kinds_apart():
    from reports.efficiency_table import efficiency_table, table_note

    base = {"width": 600, "height": 400, "status": "ok", "peak_mem_mb": 100.0, "baseline_mem_mb": 40.0,
            "ratio": 1.0, "ratio_low": 1.0, "ratio_high": 1.0, "reference": "diffll_fp32", "pairing": "visit"}
    frame = pd.DataFrame([
        {**base, "method": "mtcnn", "kind": "detector", "median_s": 0.2, "psnr_db": np.nan, "psnr_reference": np.nan},
        {**base, "method": "diffll_fp32", "kind": "enhancer", "median_s": 6.0, "psnr_db": np.inf, "psnr_reference": "diffll_fp32"},
        {**base, "method": "diffll_fp32_b2", "kind": np.nan, "median_s": 6.1, "psnr_db": np.inf, "psnr_reference": "diffll_fp32"},
        {**base, "method": "diffll_bf16", "kind": "enhancer", "median_s": 2.5, "ratio": 0.4, "ratio_low": 0.38,
         "ratio_high": 0.42, "psnr_db": 55.96, "psnr_reference": "diffll_fp32"},
    ])
    table = efficiency_table(frame)
    assert table["kind"].tolist() == ["enhancer", "enhancer", "enhancer", "detector"]  # no kind: an enhancer
    assert table["method"].tolist() == ["diffll_fp32", "diffll_fp32_b2", "diffll_bf16", "mtcnn"]
    cells = dict(zip(table["method"], table["600x400"], strict=True))
    assert cells["diffll_bf16"] == "2.500 s / 60 MB / 0.40x [0.38-0.42] / 56.0 dB"
    assert cells["diffll_fp32"].endswith("/ PSNR reference") and cells["diffll_fp32_b2"].endswith("/ identical output")
    assert "dB" not in cells["mtcnn"] and "PSNR" not in cells["mtcnn"]
    assert "PSNR of each label's output against diffll_fp32's output" in table_note(frame)
    enhancers_only = efficiency_table(frame[frame["kind"] != "detector"])
    assert "kind" not in enhancers_only
    assert enhancers_only["method"].tolist() == ["diffll_fp32", "diffll_fp32_b2", "diffll_bf16"]
