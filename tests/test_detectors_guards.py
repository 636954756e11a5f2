"""Numeric options of ``detectors evaluate``/``compare`` are bounded and checked (issue 32, item
16): a negative or too-small resample count, NaN thresholds and edges, negative seeds; scores
near the float64 limits; and a refused pickle's message without torch's advice to unpickle
unrestricted."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import torch

from detectors.checkpoints import load_state_dict
from detectors.cli import main
from detectors.evaluation import DarkFaceEvaluator
from enhancers.weights import WeightsError


@pytest.fixture
def folders(tmp_path):
    gt, pred = tmp_path / "label", tmp_path / "pred"
    gt.mkdir()
    pred.mkdir()
    (gt / "1.txt").write_text("2\n1 1 20 20\n30 30 50 50\n")
    (pred / "1.txt").write_text("1 1 20 20 0.9\n30 30 50 50 0.2\n60 60 70 70 0.5\n")
    return gt, pred


@pytest.mark.parametrize(
    "extra",
    [
        ["--bootstrap", "-5"],
        ["--bootstrap", "1"],
        ["--bootstrap", "39"],  # 95%: fewer than 40 leaves a tail without a resample
        ["--bootstrap", "100001"],
        ["--bootstrap", "100", "--level", "0.999"],  # 99.9% needs 2000
        ["--level", "nan"],
        ["--level", "1.5"],
        ["--seed", "-1"],
        ["--working-threshold", "nan"],
        ["--working-threshold", "1.5"],
        ["--size-edges", "nan"],
        ["--size-edges", "16,nan"],
        ["--size-edges", "16,16"],
        ["--size-edges", "-4,16"],
        ["--size-edges", "16,inf"],
    ],
)
def test_evaluate_refuses_out_of_range_numbers_with_exit_2(folders, extra, capsys):
    gt, pred = folders
    try:
        code = main(["evaluate", "--gt", str(gt), "--pred", str(pred), *extra])
    except SystemExit as exc:  # argparse's usage error
        code = exc.code
    assert code == 2
    assert "AP =" not in capsys.readouterr().out


@pytest.mark.parametrize("n", ["1", "-3", "0"])
def test_compare_refuses_too_few_resamples(folders, n, capsys):
    gt, pred = folders
    try:
        code = main(["compare", "--gt", str(gt), "--pred", str(pred), "--pred", str(pred), "--bootstrap", n])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert "CI" not in capsys.readouterr().out


def test_evaluate_with_zero_resamples_and_the_minimum_works(folders, capsys):
    gt, pred = folders
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--bootstrap", "0"]) == 0
    assert "CI" not in capsys.readouterr().out
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--bootstrap", "40"]) == 0
    assert "95% CI" in capsys.readouterr().out


@pytest.mark.parametrize("options", [{"working_threshold": float("nan")}, {"size_edges": (float("nan"),)}])
def test_evaluator_refuses_nan_options(options):
    with pytest.raises(ValueError):
        DarkFaceEvaluator(**options)


def _ap(scores):
    ev = DarkFaceEvaluator()
    gt = np.array([[1, 1, 20, 20], [30, 30, 50, 50]], float)
    pred = np.array([[1, 1, 20, 20], [30, 30, 50, 50], [60, 60, 70, 70]], float)
    ev.process("1", gt, pred, np.array(scores, float))
    return ev.evaluate()


def test_scores_near_the_float64_limits_normalise_like_small_ones():
    small, huge = _ap([1.0, -1.0, 0.0]), _ap([1e308, -1e308, 0.0])
    assert np.isfinite(huge["ap"]) and huge["ap"] == small["ap"]
    assert huge["working_threshold"] == small["working_threshold"]
    assert huge["best_f1"] == small["best_f1"]


class _RunsCode:
    def __reduce__(self):
        return (os.getcwd, ())


def test_refused_pickle_names_the_global_without_advising_unrestricted_loading(tmp_path):
    buffer = io.BytesIO()
    torch.save({"conv.weight": torch.zeros(1), "x": _RunsCode()}, buffer)
    (tmp_path / "dsfd").mkdir()
    (tmp_path / "dsfd" / "WIDERFace_DSFD_RES152.pth").write_bytes(buffer.getvalue())
    with pytest.raises(WeightsError) as info:
        load_state_dict("dsfd/WIDERFace_DSFD_RES152.pth", tmp_path)
    message = str(info.value)
    assert "WIDERFace_DSFD_RES152.pth" in message and "getcwd" in message
    assert "weights_only" not in message and "will likely succeed" not in message


@pytest.mark.parametrize(
    ("tensor", "message"),
    [(torch.full((2, 2), float("nan")), "non-finite"), (torch.ones(2, 2, dtype=torch.int8), "floating point")],
)
def test_checkpoint_with_nan_or_integer_weights_is_refused_naming_the_tensor(tmp_path, tensor, message):
    (tmp_path / "dsfd").mkdir()
    state = {"conv.weight": tensor, "bn.num_batches_tracked": torch.tensor(3)}
    torch.save(state, tmp_path / "dsfd" / "WIDERFace_DSFD_RES152.pth")
    with pytest.raises(WeightsError, match=message) as info:
        load_state_dict("dsfd/WIDERFace_DSFD_RES152.pth", tmp_path)
    assert "WIDERFace_DSFD_RES152.pth" in str(info.value) and "conv.weight" in str(info.value)


def test_checkpoint_with_finite_floats_and_a_step_counter_loads(tmp_path):
    (tmp_path / "dsfd").mkdir()
    torch.save({"conv.weight": torch.ones(2), "bn.num_batches_tracked": torch.tensor(3)},
               tmp_path / "dsfd" / "WIDERFace_DSFD_RES152.pth")
    assert set(load_state_dict("dsfd/WIDERFace_DSFD_RES152.pth", tmp_path)) == {"conv.weight", "bn.num_batches_tracked"}
