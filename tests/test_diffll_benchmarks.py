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
