"""The measuring code, checked on calibration methods whose cost is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from efficiency.runner import BenchmarkSettings, run_benchmark, run_cell
from efficiency.scaling import compare_runs, fit_exponent, scaling_table
from tests.efficiency_dummies import ALLOC, OOM, SLEEP, dummy_options

SMALL = ((64, 48), (128, 96))


def test_sleep_time_is_measured():
    settings = BenchmarkSettings(resolutions=SMALL, warmup=1, repeats=3, method_options={"dummy_sleep": {"method": SLEEP, "seconds": 0.2}})
    result = run_cell("dummy_sleep", 64, 48, settings)
    assert result["status"] == "ok" and result["runs"] == 3
    assert 0.2 <= result["median_s"] < 0.3


def test_allocation_shows_in_peak_memory():
    small = run_cell("dummy_alloc", 64, 48, BenchmarkSettings(repeats=1, method_options={"dummy_alloc": {"method": ALLOC, "megabytes": 10}}))
    large = run_cell("dummy_alloc", 64, 48, BenchmarkSettings(repeats=1, method_options={"dummy_alloc": {"method": ALLOC, "megabytes": 400}}))
    grown = (large["peak_mem_mb"] - large["baseline_mem_mb"]) - (small["peak_mem_mb"] - small["baseline_mem_mb"])
    assert grown == pytest.approx(390, abs=40)


def test_out_of_memory_is_a_result_and_larger_sizes_are_skipped():
    frame = run_benchmark(["dummy_oom", "dummy_sleep"], BenchmarkSettings(resolutions=SMALL, repeats=1,
                          method_options=dummy_options(dummy_sleep={"seconds": 0.01})), progress=lambda _: None)
    assert frame.set_index(["method", "width"])["status"].to_dict() == {
        ("dummy_oom", 64): "OOM", ("dummy_oom", 128): "skipped", ("dummy_sleep", 64): "ok", ("dummy_sleep", 128): "ok",
    }
    assert {"device_name", "torch_version", "precision", "date"} <= set(frame.columns)


def test_time_budget_stops_a_slow_method():
    settings = BenchmarkSettings(resolutions=SMALL, warmup=1, repeats=10, budget_s=0.5, method_options={"dummy_sleep": {"method": SLEEP, "seconds": 0.3}})
    frame = run_benchmark(["dummy_sleep"], settings, progress=lambda _: None)
    first = frame.iloc[0]
    assert first["status"] == "over_budget" and first["runs"] == 1
    assert frame.iloc[1]["status"] == "skipped"


def test_unknown_method_is_an_error_row():
    result = run_cell("no_such_method", 64, 48, BenchmarkSettings(repeats=1))
    assert result["status"] == "error" and "no_such_method" in result["note"]


def test_exponent_fit_and_scaling_table():
    mp = np.array([0.24, 0.92, 2.07, 8.29])
    assert fit_exponent(mp, 3.0 * mp**1.5) == pytest.approx(1.5)
    assert np.isnan(fit_exponent([1.0], [2.0]))
    frame = pd.DataFrame({"method": "m", "device": "cpu", "status": "ok", "megapixels": mp, "median_s": 0.1 * mp,
                          "peak_mem_mb": 100 + 50 * mp**2, "baseline_mem_mb": 100.0})
    table = scaling_table(frame)
    assert table.loc[0, "time_exponent"] == pytest.approx(1.0) and table.loc[0, "memory_exponent"] == pytest.approx(2.0)


def test_compare_runs_flags_unstable_cells():
    a = pd.DataFrame({"method": ["m", "m", "n"], "width": [1, 2, 1], "height": [1, 2, 1], "device": "cpu", "status": "ok",
                      "median_s": [0.10, 1.0, 0.01]})
    b = a.assign(median_s=[0.11, 1.3, 0.02])
    table = compare_runs(a, b)
    assert table["stable"].tolist() == [True, False, True]  # the 10 ms cell is not checked
    assert table["checked"].tolist() == [True, True, False]


def test_a_bad_resolution_is_a_usage_error_naming_it(tmp_path, capsys):
    from efficiency.cli import main

    assert main(["run", "--methods", "identity", "--resolutions", "big", "--output", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert "WIDTHxHEIGHT" in err and "'big'" in err and not (tmp_path / "r.csv").exists()


def test_rounds_pool_the_timings_of_every_visit():
    settings = BenchmarkSettings(resolutions=SMALL[:1], warmup=0, repeats=2, rounds=3,
                                 method_options={"dummy_sleep": {"method": SLEEP, "seconds": 0.05}, "dummy_oom": {"method": OOM}})
    seen = []
    frame = run_benchmark(["dummy_sleep", "dummy_oom"], settings, progress=seen.append)
    row = frame.set_index("method").loc["dummy_sleep"]
    assert row["status"] == "ok" and row["rounds"] == 3 and row["runs"] == 6
    assert 0.05 <= row["median_s"] < 0.1 and 0 <= row["round_spread"] < 0.5
    assert frame.set_index("method").loc["dummy_oom", "status"] == "OOM"  # not revisited
    assert sum(line.startswith("round ") for line in seen) == 2


def test_pool_rounds_keeps_the_highest_peak_and_spread():
    from efficiency.runner import pool_rounds

    visit = {"status": "ok", "peak_mem_mb": 100.0}
    pooled = pool_rounds([{**visit, "times_s": [1.0, 1.2]}, {**visit, "times_s": [2.0, 2.2], "peak_mem_mb": 130.0}])
    assert pooled["median_s"] == pytest.approx(1.6) and pooled["runs"] == 4 and pooled["rounds"] == 2
    assert pooled["round_spread"] == pytest.approx(2.1 / 1.1 - 1) and pooled["peak_mem_mb"] == 130.0
    assert pool_rounds([{"status": "OOM"}]) == {"status": "OOM"}
    # a slow later visit still counts; a failed one is named, not silently dropped
    slow = {"status": "over_budget", "peak_mem_mb": 90.0, "times_s": [9.0]}
    pooled = pool_rounds([{**visit, "times_s": [1.0]}, slow, {"status": "timeout", "note": "child exceeded 9 s"}])
    assert pooled["status"] == "ok" and pooled["runs"] == 2 and pooled["median_s"] == pytest.approx(5.0)
    assert pooled["note"] == "visit 3: timeout"


def test_status_changes_lists_cells_that_flipped():
    from efficiency.scaling import status_changes

    base = {"method": "m", "device": "cpu", "height": 1}
    a = pd.DataFrame([{**base, "width": 1, "status": "ok"}, {**base, "width": 2, "status": "ok"}])
    b = pd.DataFrame([{**base, "width": 1, "status": "ok"}, {**base, "width": 2, "status": "over_budget"}])
    changed = status_changes(a, b)
    assert changed[["width", "status_a", "status_b"]].values.tolist() == [[2, "ok", "over_budget"]]
    assert status_changes(a, a).empty
