"""Interleaved benchmark: visit order, ratio pairing and bootstrap, threads, compare on ratios,
the exponent's interval. Child processes run only the calibration methods (no torch)."""

from __future__ import annotations

import statistics

import numpy as np
import pandas as pd
import pytest

from efficiency.benchmark import run_benchmark
from efficiency.cli import main as cli_main
from efficiency.interleave import (
    choose_reference,
    median_interval,
    paired_ratios,
    run_interleaved,
    visit_order,
)
from efficiency.runner import (
    COLUMNS,
    BenchmarkSettings,
    cell_spec,
    child_env,
    run_cell,
    write_csv,
)
from efficiency.scaling import (
    bootstrap_exponent,
    compare_ratios,
    regression_interval,
    scaling_table,
)
from tests.efficiency_dummies import ALLOC, SLEEP, dummy_options

METHODS = ["a", "b", "c", "d", "e", "f"]


def test_visit_order_is_a_seeded_shuffle():
    first = [visit_order(METHODS, 0, 600, 400, r) for r in range(1, 6)]
    assert first == [visit_order(METHODS, 0, 600, 400, r) for r in range(1, 6)]  # reproducible
    assert all(sorted(order) == METHODS for order in first)  # every method once per round
    assert len({tuple(o) for o in first}) > 1  # not the same order every round
    assert visit_order(METHODS, 1, 600, 400, 1) != first[0] or visit_order(METHODS, 1, 600, 400, 2) != first[1]
    # dropping a method does not reshuffle the others' relative order differently per run
    assert visit_order(METHODS[:4], 0, 1280, 720, 3) == visit_order(METHODS[:4], 0, 1280, 720, 3)


class FakeMachine:
    """A machine whose speed changes every visit: each method costs a fixed multiple of the
    reference, times a drift factor for the round it runs in."""

    cost = {"ref": 1.0, "twice": 2.0, "tenth": 0.1, "oom_big": 3.0}

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.drift = {1: 1.0, 2: 1.6, 3: 0.7, 4: 1.2}

    def __call__(self, method: str, width: int, height: int, settings: BenchmarkSettings) -> dict:
        self.calls.append((method, width, height))
        if method == "oom_big" and width > 100:
            return {"status": "OOM", "note": "simulated"}
        visits_here = sum(1 for c in self.calls if c[1:] == (width, height) and c[0] == method)
        seconds = self.cost[method] * self.drift[visits_here] * width / 100
        return {"status": "ok", "times_s": [seconds], "median_s": seconds, "peak_mem_mb": 10.0, "baseline_mem_mb": 5.0}


def test_interleaved_run_pairs_each_visit_with_the_reference_of_its_round():
    machine = FakeMachine()
    settings = BenchmarkSettings(resolutions=((100, 10), (200, 10), (300, 10)), rounds=4, interleave=True,
                                 reference="ref", seed=3)
    methods = ["ref", "twice", "tenth", "oom_big"]
    frame = run_interleaved(methods, settings, progress=lambda _: None, measure=machine).set_index(["method", "width"])
    # every method visited once per round at each resolution, in the seeded shuffled order
    at_100 = [c[0] for c in machine.calls if c[1] == 100]
    assert at_100 == [m for r in range(1, 5) for m in visit_order(methods, 3, 100, 10, r)]
    # the method that ran out of memory at 200 is not revisited there and skipped at 300
    assert sum(c[:2] == ("oom_big", 200) for c in machine.calls) == 1
    assert frame.loc[("oom_big", 200), "status"] == "OOM" and frame.loc[("oom_big", 300), "status"] == "skipped"
    assert not any(c[:2] == ("oom_big", 300) for c in machine.calls)
    # the drift (x0.7 .. x1.6 per round) cancels in the paired ratio, not in the seconds
    for width in (100, 200, 300):
        row = frame.loc[("twice", width)]
        assert row["ratio"] == pytest.approx(2.0) and row["ratio_low"] == pytest.approx(2.0) and row["ratio_high"] == pytest.approx(2.0)
        assert row["ratio_pairs"] == 4 and row["rounds"] == 4 and row["reference"] == "ref" and row["ratio_spread"] == pytest.approx(0.0)
        assert frame.loc[("tenth", width), "ratio"] == pytest.approx(0.1)
        assert frame.loc[("ref", width), "ratio"] == pytest.approx(1.0)
        assert row["round_spread"] == pytest.approx(1.6 / 0.7 - 1)
    # median seconds: the median of the four visits (2 * width/100 * median drift 1.1)
    assert frame.loc[("twice", 100), "median_s"] == pytest.approx(2.0 * 1.1)
    assert [float(v) for v in frame.loc[("twice", 100), "visit_s"].split(";")] == pytest.approx([2.0, 3.2, 1.4, 2.4])
    assert list(frame.reset_index().columns) == COLUMNS


def test_reference_outside_the_methods_is_refused():
    with pytest.raises(ValueError, match="reference method 'zz'"):
        run_interleaved(["a"], BenchmarkSettings(interleave=True, reference="zz"), measure=FakeMachine())


def test_paired_ratios_and_the_bootstrap_interval():
    assert paired_ratios([2.0, np.nan, 6.0, 8.0], [1.0, 1.0, 2.0]).tolist() == [2.0, 3.0]  # round 2 lacks the method, round 4 the reference
    values = [1.0, 1.1, 0.9, 1.05, 0.95, 1.2, 0.8]
    median, low, high = median_interval(values, resamples=4000, seed=0)
    assert median == pytest.approx(1.0)
    assert 0.8 <= low < median < high <= 1.2
    assert median_interval(values, resamples=4000, seed=0) == (median, low, high)  # seeded
    assert median_interval([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    assert all(np.isnan(median_interval([np.nan])))
    # the interval narrows with more rounds of the same spread
    wide = median_interval(np.random.default_rng(1).lognormal(0, 0.2, 5), seed=0)
    narrow = median_interval(np.random.default_rng(1).lognormal(0, 0.2, 80), seed=0)
    assert narrow[2] - narrow[1] < wide[2] - wide[1]


def test_reference_choice():
    settings = BenchmarkSettings()
    family = {"he": False, "clahe": False, "sci_easy": True, "ruas_lol": True, "zero_dce": True}.__getitem__
    medians = {"he": {(600, 400): 0.01}, "sci_easy": {(600, 400): 0.05, (1280, 720): 0.2},
               "ruas_lol": {(600, 400): 0.03}, "zero_dce": {(600, 400): 0.5, (1280, 720): 2.0}}
    assert choose_reference(["he", "zero_dce_pp", "sci_easy"], settings, medians) == "zero_dce_pp"
    assert choose_reference(["he", "sci_easy"], BenchmarkSettings(reference="he"), medians) == "he"
    # learned methods only (he is classical), most resolutions first, then cheapest at the smallest
    assert choose_reference(["he", "sci_easy", "ruas_lol", "zero_dce"], settings, medians, family) == "sci_easy"
    assert choose_reference(["he", "ruas_lol"], settings, medians, family) == "ruas_lol"
    assert choose_reference(["he", "clahe"], settings, {"he": {(600, 400): 0.01}, "clahe": {(600, 400): 0.02}}, family) == "he"
    assert choose_reference(["he"], settings, {}, family) is None


def test_threads_reach_the_child():
    env = child_env(2, base={"PATH": "/bin"})
    assert env == {"PATH": "/bin", "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}
    assert child_env(None, base={"PATH": "/bin"}) == {"PATH": "/bin"}
    settings = BenchmarkSettings(threads=1, repeats=1, method_options={"dummy_sleep": {"method": SLEEP, "seconds": 0.001}})
    assert cell_spec("dummy_sleep", 8, 8, settings)["threads"] == 1  # torch.set_num_threads in the child
    assert run_cell("dummy_sleep", 8, 8, settings)["threads"] == 1  # what the child ran with
    assert run_cell("dummy_sleep", 8, 8, BenchmarkSettings(threads=3, repeats=1, method_options=dummy_options()))["threads"] == 3


def test_min_time_repeats_a_cheap_method():
    result = run_cell("dummy_sleep", 8, 8, BenchmarkSettings(warmup=0, repeats=1, min_time_s=0.2,
                                                           method_options={"dummy_sleep": {"method": SLEEP, "seconds": 0.02}}))
    assert result["status"] == "ok" and 9 <= result["runs"] <= 11
    assert run_cell("dummy_sleep", 8, 8, BenchmarkSettings(warmup=0, repeats=1, method_options={"dummy_sleep": {"method": SLEEP, "seconds": 0.02}}))["runs"] == 1


def test_interleaved_children_write_the_csv(tmp_path):
    settings = BenchmarkSettings(resolutions=((32, 24),), warmup=0, repeats=1, rounds=2, interleave=True, threads=1,
                                 reference="fast", seed=5, method_options={
                                     "fast": {"method": SLEEP, "seconds": 0.03},
                                     "slow": {"method": SLEEP, "seconds": 0.09}})
    frame = run_benchmark(["fast", "slow"], settings, progress=lambda _: None, partial_csv=tmp_path / "part.csv")
    write_csv(frame, tmp_path / "out.csv")
    back = pd.read_csv(tmp_path / "out.csv").set_index("method")
    assert list(back.reset_index().columns) == COLUMNS
    assert back.loc["slow", "ratio"] == pytest.approx(3.0, rel=0.25)
    assert back.loc["slow", "ratio_low"] <= back.loc["slow", "ratio"] <= back.loc["slow", "ratio_high"]
    assert back["threads"].tolist() == [1, 1] and back["interleaved"].all() and back["seed"].tolist() == [5, 5]
    assert back["rounds"].tolist() == [2, 2] and back.loc["fast", "ratio"] == 1.0
    assert len(back.loc["slow", "visit_s"].split(";")) == 2
    one = run_interleaved(["ref", "twice"], BenchmarkSettings(resolutions=((100, 10),), rounds=1, interleave=True, reference="ref"),
                          progress=lambda _: None, measure=FakeMachine()).set_index("method")
    assert one.loc["twice", "ratio"] == pytest.approx(2.0) and np.isnan(one.loc["twice", "ratio_low"])  # no interval from one round


def _ratio_run(ratios, medians, reference="ref") -> pd.DataFrame:
    n = len(ratios)
    return pd.DataFrame({"method": [reference] + [f"m{i}" for i in range(1, n)], "width": 1, "height": 1, "device": "cpu",
                         "status": "ok", "median_s": medians, "ratio": ratios, "ratio_low": ratios, "ratio_high": ratios,
                         "reference": reference})


def test_compare_ratios():
    a = _ratio_run([1.0, 2.0, 4.0, 0.5], [0.1, 0.2, 0.4, 0.01])
    b = _ratio_run([1.0, 2.2, 5.0, 0.9], [0.3, 0.5, 0.5, 0.02])
    table = compare_ratios(a, b)
    assert table["checked"].tolist() == [False, True, True, False]  # the reference itself; the 10 ms cell
    assert table["stable"].tolist() == [True, True, False, True]  # +10% holds, +25% does not; seconds are not compared
    assert table["relative_difference"].iloc[2] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="different reference"):
        compare_ratios(a, _ratio_run([1.0, 2.0, 4.0, 0.5], [0.1, 0.2, 0.4, 0.01], reference="other"))


def test_compare_cli_uses_ratios_of_interleaved_runs(tmp_path, capsys):
    a = _ratio_run([1.0, 2.0, 4.0], [0.1, 0.2, 0.4])
    b = _ratio_run([1.0, 2.1, 4.2], [0.2, 0.4, 0.8])  # the machine halved its speed; the ratios held
    a.to_csv(tmp_path / "a.csv", index=False)
    b.to_csv(tmp_path / "b.csv", index=False)
    assert cli_main(["compare", str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]) == 0
    out = capsys.readouterr().out
    assert "ratio to ref: 2 cell(s) over 50 ms checked, 2 agree within 15%, 0 do not" in out
    assert "seconds: 3 cell(s) over 50 ms checked, 0 agree within 15%, 3 do not" in out
    assert cli_main(["compare", "--on", "seconds", str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]) == 1
    a.drop(columns=["ratio"]).to_csv(tmp_path / "old.csv", index=False)
    assert cli_main(["compare", "--on", "ratio", str(tmp_path / "old.csv"), str(tmp_path / "b.csv")]) == 2


def test_exponent_interval_on_synthetic_visits():
    mp = np.array([0.24, 0.92, 2.07, 3.69, 8.29])
    rng = np.random.default_rng(0)
    visits = [1.3e-1 * m**1.3 * rng.lognormal(0.0, 0.1, 6) for m in mp]
    low, high = bootstrap_exponent(mp, visits, seed=0)
    assert low < 1.3 < high and high - low < 0.2
    exact_low, exact_high = regression_interval(mp, 2.0 * mp**0.8)
    assert exact_low == pytest.approx(0.8) and exact_high == pytest.approx(0.8)
    noisy_low, noisy_high = regression_interval(mp, 2.0 * mp**0.8 * np.array([1.1, 0.9, 1.05, 0.95, 1.0]))
    assert noisy_low < 0.8 < noisy_high
    assert all(np.isnan(regression_interval(mp[:2], mp[:2])))
    frame = pd.DataFrame({"method": "m", "device": "cpu", "status": "ok", "megapixels": mp,
                          "median_s": [float(np.median(v)) for v in visits], "peak_mem_mb": 100 + 10 * mp,
                          "baseline_mem_mb": 100.0, "visit_s": [";".join(f"{x:.6g}" for x in v) for v in visits]})
    row = scaling_table(frame).iloc[0]
    assert row["exponent_interval"] == "bootstrap over visits"
    assert row["time_exponent_low"] < 1.3 < row["time_exponent_high"] and row["time_exponent"] == pytest.approx(1.3, abs=0.05)
    row = scaling_table(frame.drop(columns=["visit_s"])).iloc[0]
    assert row["exponent_interval"] == "regression t" and row["time_exponent_low"] < row["time_exponent"] < row["time_exponent_high"]


def test_frames_are_made_once_and_are_the_childs_frame(tmp_path):
    from efficiency.runner import cached_image
    from efficiency.worker import benchmark_image

    path = cached_image(40, 30, tmp_path)
    assert np.array_equal(np.load(path), benchmark_image(40, 30))
    stamp = path.stat().st_mtime_ns
    assert cached_image(40, 30, tmp_path) == path and path.stat().st_mtime_ns == stamp  # reused, not remade
    settings = BenchmarkSettings(repeats=1, image_dir=str(tmp_path), method_options=dummy_options())
    assert cell_spec("dummy_sleep", 40, 30, settings)["image"] == str(path)
    assert run_cell("dummy_sleep", 40, 30, settings)["status"] == "ok"


def test_report_table_shows_seconds_ratio_and_exponent_interval():
    from reports.efficiency_table import efficiency_table, exponent_table, table_note

    mp = np.array([0.24, 0.92])
    base = {"device": "cpu", "status": "ok", "peak_mem_mb": 150.0, "baseline_mem_mb": 100.0, "threads": 1, "rounds": 3}
    rows = [{**base, "method": "ref", "width": 600, "height": 400, "megapixels": mp[0], "median_s": 0.1, "ratio": 1.0,
             "ratio_low": 1.0, "ratio_high": 1.0, "reference": "ref", "visit_s": "0.1;0.11;0.09"},
            {**base, "method": "ref", "width": 1280, "height": 720, "megapixels": mp[1], "median_s": 0.4, "ratio": 1.0,
             "ratio_low": 1.0, "ratio_high": 1.0, "reference": "ref", "visit_s": "0.4;0.42;0.38"},
            {**base, "method": "slow", "width": 600, "height": 400, "megapixels": mp[0], "median_s": 0.25, "ratio": 2.5,
             "ratio_low": 2.3, "ratio_high": 2.75, "reference": "ref", "visit_s": "0.25;0.26;0.24"},
            {**base, "method": "slow", "width": 1280, "height": 720, "megapixels": mp[1], "status": "over_budget",
             "median_s": 31.0, "ratio": np.nan, "ratio_low": np.nan, "ratio_high": np.nan, "reference": "ref", "visit_s": ""}]
    frame = pd.DataFrame(rows)
    table = efficiency_table(frame).set_index("method")
    assert table.loc["slow", "600x400"] == "0.250 s / 50 MB / 2.50x [2.30-2.75]"
    assert table.loc["slow", "1280x720"] == "over_budget"
    assert efficiency_table(frame.drop(columns=["ratio"])).set_index("method").loc["slow", "600x400"] == "0.250 s / 50 MB"
    exps = exponent_table(frame).set_index("method")
    assert exps.loc["ref", "time exponent"] == pytest.approx(np.log(4) / np.log(mp[1] / mp[0]), abs=0.01)
    assert exps.loc["ref", "95% interval"].endswith("(bootstrap over visits)") and exps.loc["slow", "95% interval"] == ""
    assert "threads per child: 1" in table_note(frame) and "time of ref in the same round" in table_note(frame)


def test_thread_count_per_label_and_spread_against_a_chosen_reference():
    settings = BenchmarkSettings(threads=1, repeats=1, method_options={"s2": {"method": SLEEP, "seconds": 0.001, "threads": 2}})
    spec = cell_spec("s2", 8, 8, settings)
    assert spec["threads"] == 2 and "threads" not in spec["options"]  # not passed on to the method
    assert run_cell("s2", 8, 8, settings)["threads"] == 2
    from efficiency.interleave import ratio_spreads

    row = {"width": 1, "height": 1, "status": "ok", "reference": "r1"}
    frame = pd.DataFrame([{**row, "method": "r1", "threads": 1, "median_s": 0.1, "visit_s": "0.1;0.2;0.1"},
                          {**row, "method": "m1", "threads": 1, "median_s": 0.3, "visit_s": "0.3;0.6;0.45"},
                          {**row, "method": "r2", "threads": 2, "median_s": 0.1, "visit_s": "0.1;0.1;0.1"},
                          {**row, "method": "m2", "threads": 2, "median_s": 0.2, "visit_s": "0.2;0.2;0.3"}])
    one = ratio_spreads(frame)
    assert one["method"].tolist() == ["m1"]  # m2 ran with another thread count than r1
    assert one["ratio"].iloc[0] == pytest.approx(3.0) and one["ratio_spread"].iloc[0] == pytest.approx(4.5 / 3.0 - 1)
    two = ratio_spreads(frame, reference="r2")
    assert two["method"].tolist() == ["m2"] and two["ratio_spread"].iloc[0] == pytest.approx(0.5)


def test_reference_is_timed_inside_the_visit_and_memory_stays_the_methods_own():
    options = {"ref": {"method": ALLOC, "megabytes": 300}, "small": {"method": ALLOC, "megabytes": 5},
               "slow": {"method": SLEEP, "seconds": 0.06}, "fast": {"method": SLEEP, "seconds": 0.02}}
    settings = BenchmarkSettings(warmup=1, repeats=4, interleave=True, reference="ref", method_options=options)
    spec = cell_spec("small", 8, 8, settings)
    assert spec["pair_with"] == {"label": "ref", "method": "ref", "options": {"method": ALLOC, "megabytes": 300}}
    assert "pair_with" not in cell_spec("ref", 8, 8, settings)  # the reference is not paired with itself
    assert "pair_with" not in cell_spec("small", 8, 8, BenchmarkSettings(interleave=True, reference="ref", pairing="round"))
    assert "pair_with" not in cell_spec("small", 8, 8, BenchmarkSettings(reference="ref"))  # not interleaved
    small = run_cell("small", 8, 8, settings)
    alone = run_cell("ref", 8, 8, settings)
    # the peak is read before the 300 MB reference is loaded: it is the 5 MB method's, not the pair's
    assert small["peak_mem_mb"] - small["baseline_mem_mb"] < alone["peak_mem_mb"] - alone["baseline_mem_mb"] - 200
    assert small["paired_with"] == "ref" and len(small["pair_ratios"]) == 4 and len(small["reference_times_s"]) == 5
    timed = run_cell("slow", 8, 8, BenchmarkSettings(warmup=0, repeats=3, interleave=True, reference="fast", method_options=options))
    assert len(timed["times_s"]) == 3 and len(timed["pair_ratios"]) == 3  # warmup 0: one untimed call alone, for the memory
    assert statistics.median(timed["pair_ratios"]) == pytest.approx(3.0, rel=0.25)


def test_pairs_of_another_thread_count_or_a_failing_reference_are_not_pairs():
    options = {"m": {"method": SLEEP, "seconds": 0.001}, "r2": {"method": SLEEP, "seconds": 0.001, "threads": 2},
               "broken": {"method": "tests.efficiency_dummies:NoSuchClass"}}
    settings = BenchmarkSettings(threads=1, repeats=2, interleave=True, reference="r2", method_options=options)
    assert "pair_with" not in cell_spec("m", 8, 8, settings)
    result = run_cell("m", 8, 8, BenchmarkSettings(repeats=2, interleave=True, reference="broken", method_options=options))
    assert result["status"] == "ok" and result["runs"] == 2 and "pair_ratios" not in result
    assert result["note"].startswith("not paired: reference broken failed: ValueError: plug-in 'tests.efficiency_dummies:NoSuchClass'")
    assert result["note"].endswith("has no attribute 'NoSuchClass'")


def test_table_pools_the_pairs_measured_inside_visits_and_falls_back_to_rounds():
    def visit(seconds: float, pairs: list[float] | None = None) -> dict:
        result = {"status": "ok", "times_s": [seconds], "median_s": seconds, "peak_mem_mb": 1.0, "baseline_mem_mb": 0.0}
        if pairs is not None:
            result.update(pair_ratios=pairs, paired_with="ref")
        return result

    plan = {"ref": [visit(1.0), visit(2.0), visit(1.0)],
            "inside": [visit(3.0, [3.0, 3.1]), visit(9.0, [2.9]), visit(3.0, [3.0, 3.2, 2.8])],
            "rounds": [visit(2.0), visit(4.0), visit(2.0)]}

    def measure(method, width, height, settings):
        done = sum(1 for m in seen if m == method)
        seen.append(method)
        return plan[method][done]

    seen: list[str] = []
    settings = BenchmarkSettings(resolutions=((10, 10),), rounds=3, interleave=True, reference="ref")
    frame = run_interleaved(list(plan), settings, progress=lambda _: None, measure=measure).set_index("method")
    inside = frame.loc["inside"]
    assert inside["pairing"] == "visit" and inside["ratio_pairs"] == 6
    assert inside["ratio"] == pytest.approx(3.0)  # median of the six pairs; the slow second visit's seconds do not matter
    assert inside["visit_ratio"] == "3.05;2.9;3" and inside["ratio_spread"] == pytest.approx(3.05 / 2.9 - 1)
    rounds = frame.loc["rounds"]
    assert rounds["pairing"] == "round" and rounds["ratio"] == pytest.approx(2.0) and rounds["ratio_pairs"] == 3
    assert frame.loc["ref", "ratio"] == 1.0
    from efficiency.interleave import ratio_spreads

    spreads = ratio_spreads(frame.reset_index().assign(threads=1), min_seconds=0.0).set_index("method")
    assert spreads.loc["inside", "pairs"] == 3 and spreads.loc["inside", "ratio"] == pytest.approx(3.0)


def test_report_note_says_how_the_ratio_was_paired():
    from reports.efficiency_table import table_note

    row = {"method": "m", "width": 8, "height": 8, "status": "ok", "threads": 1, "rounds": 2, "reference": "r", "ratio": 2.0}
    assert "just before and after it in the same process" in table_note(pd.DataFrame([{**row, "pairing": "visit"}]))
    assert "in the same round" in table_note(pd.DataFrame([{**row, "pairing": "round"}]))
