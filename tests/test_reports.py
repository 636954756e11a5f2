"""Report tables built from committed results files."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from reports.speed import diffll_speed_table


def _row(width: int, height: int, mode: str, seconds: float, mem: int, psnr: float, error: str = "") -> dict:
    return {"width": width, "height": height, "mode": mode, "median_s": seconds,
            "peak_mem_bytes": mem, "psnr_vs_fp32_db": psnr, "error": error}


def test_diffll_speed_table_relative_to_fp32_of_the_same_size() -> None:
    frame = pd.DataFrame([
        _row(600, 400, "fp32", 4.0, 1_000_000_000, math.inf),
        _row(600, 400, "bf16", 2.0, 500_000_000, 63.0),
        _row(1080, 720, "fp32", 9.0, 3_000_000_000, math.inf),
        _row(1080, 720, "bf16", 3.0, 1_000_000_000, 62.0),
        _row(1080, 720, "bf16-compile", float("nan"), 0, float("nan"), "timed out after 60 s"),
    ]).replace({"error": {"": float("nan")}})  # as pandas reads an empty CSV cell
    table = diffll_speed_table(frame)
    bf16 = table[(table["size"] == "600x400") & (table["mode"] == "bf16")].iloc[0]
    assert bf16["speed-up vs fp32"] == pytest.approx(2.0)
    assert bf16["memory vs fp32"] == pytest.approx(0.5)
    assert bf16["PSNR vs fp32 dB"] == 63.0
    big = table[(table["size"] == "1080x720") & (table["mode"] == "bf16")].iloc[0]
    assert big["speed-up vs fp32"] == pytest.approx(3.0)
    assert big["peak memory MB"] == pytest.approx(1000.0)
    failed = table[table["mode"] == "bf16-compile"].iloc[0]
    assert math.isnan(failed["median s"]) and failed["note"] == "timed out after 60 s"


def test_diffll_speed_table_reads_the_committed_files() -> None:
    from conftest import REPO_ROOT

    for name in ("diffll_speed_cpu.csv", "diffll_speed_h100.csv"):
        table = diffll_speed_table(pd.read_csv(REPO_ROOT / "docs" / "results" / name))
        fp32 = table[table["mode"] == "fp32"]
        assert len(fp32) >= 2 and (fp32["speed-up vs fp32"] == 1.0).all()
        assert (table["PSNR vs fp32 dB"][table["mode"] != "fp32"] > 45).all()
