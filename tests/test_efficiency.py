"""The measuring code, checked on calibration methods whose cost is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from efficiency.benchmark import run_benchmark
from efficiency.runner import BenchmarkSettings, run_cell
from efficiency.scaling import compare_runs, fit_exponent, scaling_table
from tests.efficiency_dummies import ALLOC, OOM, SLEEP, SLEEP_DETECTOR, dummy_options

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


def _detector(seconds: float = 0.05) -> dict:
    return {"kind": "detector", "method": SLEEP_DETECTOR, "seconds": seconds}


def test_a_detector_label_is_timed_by_the_same_loop():
    settings = BenchmarkSettings(warmup=1, repeats=3, method_options={"det": _detector(0.1)})
    result = run_cell("det", 64, 48, settings)
    assert result["status"] == "ok" and result["runs"] == 3 and result["weights"] == "released"
    assert 0.1 <= result["median_s"] < 0.2
    budget = run_cell("det", 64, 48, BenchmarkSettings(warmup=1, repeats=5, budget_s=0.05, method_options={"det": _detector(0.1)}))
    assert budget["status"] == "over_budget" and budget["runs"] == 1
    bad = run_cell("det", 64, 48, BenchmarkSettings(repeats=1, method_options={"det": {"kind": "detectr"}}))
    assert bad["status"] == "error" and "unknown kind 'detectr'" in bad["note"]


def test_the_reference_is_paired_only_with_labels_of_its_kind():
    from efficiency.runner import cell_spec

    options = {"ref": {"method": SLEEP, "seconds": 0.01}, "enh": {"method": SLEEP, "seconds": 0.01},
               "det": _detector(0.01), "det_ref": _detector(0.01)}
    settings = BenchmarkSettings(warmup=0, repeats=2, interleave=True, reference="ref", method_options=options)
    assert cell_spec("enh", 8, 8, settings)["pair_with"]["label"] == "ref"
    assert "pair_with" not in cell_spec("det", 8, 8, settings)  # no detector over an enhancer
    result = run_cell("det", 8, 8, settings)
    assert result["status"] == "ok" and "pair_ratios" not in result
    detectors = BenchmarkSettings(warmup=0, repeats=2, interleave=True, reference="det_ref", method_options=options)
    paired = run_cell("det", 8, 8, detectors)
    assert paired["paired_with"] == "det_ref" and len(paired["pair_ratios"]) == 2
    assert "pair_with" not in cell_spec("enh", 8, 8, detectors)


def test_interleaved_ratios_stay_within_a_kind():
    from efficiency.interleave import run_interleaved

    def measure(method, width, height, settings):
        seconds = {"ref": 1.0, "enh": 2.0, "det": 3.0}[method]
        return {"status": "ok", "times_s": [seconds], "median_s": seconds, "peak_mem_mb": 1.0, "baseline_mem_mb": 0.0}

    options = {"det": _detector()}
    settings = BenchmarkSettings(resolutions=((10, 10),), rounds=2, interleave=True, reference="ref", method_options=options)
    frame = run_interleaved(["ref", "enh", "det"], settings, progress=lambda _: None, measure=measure).set_index("method")
    assert frame.loc["enh", "ratio"] == pytest.approx(2.0) and frame.loc["enh", "kind"] == "enhancer"
    assert np.isnan(frame.loc["det", "ratio"]) and frame.loc["det", "kind"] == "detector"
    from efficiency.interleave import choose_reference

    medians = {"det": {(10, 10): 0.1}, "enh": {(10, 10): 5.0}}
    unset = BenchmarkSettings(method_options=options)
    assert choose_reference(["det", "enh"], unset, medians, learned=lambda m: True) == "enh"  # not the cheaper detector


def _photo(path):
    from lldata.imageio import write_png

    rng = np.random.default_rng(3)
    write_png(path, rng.integers(0, 255, (30, 40, 3), dtype=np.uint8))
    return path


def test_image_option_times_the_photo_resized(tmp_path):
    from PIL import Image

    from efficiency.runner import cached_image, cell_spec
    from efficiency.worker import benchmark_image, photo_frame
    from lldata.imageio import read_rgb

    photo = _photo(tmp_path / "photo.png")
    frame = photo_frame(photo, 20, 16)
    expected = np.asarray(Image.fromarray(read_rgb(photo)).resize((20, 16), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(frame, expected)
    cached = cached_image(20, 16, tmp_path, photo)
    np.testing.assert_array_equal(np.load(cached), frame)
    assert cached != cached_image(20, 16, tmp_path)  # the synthetic frame of the size is another file
    assert not np.array_equal(np.load(cached_image(20, 16, tmp_path)), frame)
    assert np.array_equal(np.load(cached_image(20, 16, tmp_path)), benchmark_image(20, 16))
    settings = BenchmarkSettings(warmup=0, repeats=1, image_path=str(photo), method_options={"det": _detector(0.01)})
    assert cell_spec("det", 20, 16, settings)["photo"] == str(photo)
    assert run_cell("det", 20, 16, settings)["status"] == "ok"  # no cache: the child resizes the photo itself
    with pytest.raises(ValueError, match="missing.png: file not found"):
        photo_frame(tmp_path / "missing.png", 8, 8)


def test_run_detectors_from_the_command_line(tmp_path, capsys):
    import json

    from efficiency.cli import main

    photo = _photo(tmp_path / "photo.png")
    out = tmp_path / "det.csv"
    options = json.dumps({"det": _detector(0.01), "enh": {"method": SLEEP, "seconds": 0.01}})
    argv = ["run", "--methods", "enh", "--detectors", "det", "--resolutions", "16x12", "--repeats", "1", "--warmup", "0",
            "--options-json", options, "--image", str(photo), "-o", str(out)]
    assert main(argv) == 0
    rows = pd.read_csv(out).set_index("method")
    assert rows["status"].tolist() == ["ok", "ok"] and rows.loc["det", "kind"] == "detector"
    assert rows.loc["enh", "kind"] == "enhancer" and set(rows["image"]) == {str(photo)}
    assert rows.loc["det", "weights"] == "released" and pd.isna(rows.loc["enh", "weights"])
    bad = ["run", "--detectors", "det", "--image", str(tmp_path / "none.png"), "-o", str(tmp_path / "x.csv")]
    assert main(bad) == 2 and "none.png: file not found" in capsys.readouterr().err
    assert main(["run", "-o", str(tmp_path / "x.csv")]) == 2 and "--diffll-modes and/or --detectors" in capsys.readouterr().err
    assert main(["run", "--methods", "he", "--detectors", "he", "-o", str(tmp_path / "x.csv")]) == 2
    assert "both --methods and --detectors" in capsys.readouterr().err
    wrong = json.dumps({"det": {"kind": "enhancer"}})
    assert main(["run", "--detectors", "det", "--options-json", wrong, "-o", str(tmp_path / "x.csv")]) == 2
    assert not (tmp_path / "x.csv").exists()
