"""Smoke test of the benchmark script on a tiny size (the lead runs the real measurement)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from diffll.benchmarks import CSV_FIELDS, main, psnr


def test_psnr() -> None:
    a = np.zeros((2, 2))
    assert psnr(a, a) == math.inf
    assert psnr(a, a + 0.1) == pytest.approx(20.0)


@pytest.mark.slow
def test_benchmark_smoke_writes_csv(tmp_path: Path) -> None:
    out = tmp_path / "bench.csv"
    code = main(
        ["--device", "cpu", "--config", "small", "--sizes", "64x32", "--repeats", "1",
         "--warmup", "0", "--steps", "2", "--threads", "1", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(CSV_FIELDS)
    assert [r["mode"] for r in rows] == ["fp32", "bf16"]
    for row in rows:
        assert row["error"] == ""
        assert float(row["median_s"]) > 0 and int(row["peak_mem_bytes"]) > 0
        assert row["peak_mem_kind"] == "vm_hwm" and row["torch_version"]
        assert (row["width"], row["height"], row["steps"]) == ("64", "32", "2")
    assert rows[0]["psnr_vs_fp32_db"] == "inf"
    assert float(rows[1]["psnr_vs_fp32_db"]) > 30


def test_throughput_modes_put_the_fp32_loop_first() -> None:
    from diffll.throughput import Mode, modes_for

    modes = modes_for(["bf16", "fp32"], [1, 4])
    assert modes[0] == Mode("fp32", 1) and modes[0].name == "fp32-loop"
    assert [m.name for m in modes] == ["fp32-loop", "bf16-b1", "bf16-b4", "fp32-b4"]


def test_throughput_benchmark_interleaves_modes_and_compares_with_the_loop(tmp_path: Path) -> None:
    out = tmp_path / "tp.csv"
    code = main(
        ["--device", "cpu", "--config", "small", "--sizes", "64x96", "--batch-sizes", "1", "2",
         "--modes", "fp32", "--images", "2", "--rounds", "2", "--steps", "1", "--threads", "1",
         "--warmup", "0", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    with out.open() as handle:
        rows = {r["mode"]: r for r in csv.DictReader(handle)}
    assert set(rows) == {"fp32-loop", "fp32-b2"}
    for row in rows.values():
        assert float(row["images_per_s"]) > 0 and row["peak_mem_kind"] == "rss_sampled_delta"
        assert (row["rounds"], row["images"], row["width"], row["height"]) == ("2", "2", "64", "96")
    # the loop against itself, and a batch with bit-identical images (see test_diffll_batching)
    assert rows["fp32-loop"]["psnr_vs_fp32_loop_db"] == "inf"
    assert rows["fp32-b2"]["psnr_vs_fp32_loop_db"] == "inf"
    assert float(rows["fp32-loop"]["ratio_vs_fp32_loop"]) == 1.0


def test_conv_precision_times_every_format() -> None:
    from diffll.conv_precision import measure

    medians = measure(32, 24, 32, repeats=1, threads=1)
    assert {"fp32", "bf16"} <= set(medians)
    assert any(k.startswith("int8-") for k in medians)  # x86 builds ship fbgemm/onednn
    assert all(v > 0 for v in medians.values())
