"""Evaluation scores against the boxes validation accepted: with ``clip_boxes`` a box reaching
outside the image is clipped, and a perfect prediction of the clipped box must count as a hit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detectors.cli import main as detectors_main
from lldata.cli import main as lldata_main
from lldata.imageio import write_png


@pytest.fixture
def clipped(tmp_path):
    """A 40x30 image whose only face box starts 20 px left of the image (clipped to x1 = 0)."""
    root = tmp_path / "ds"
    write_png(root / "image" / "1.png", np.full((30, 40, 3), 60, np.uint8))
    write_png(root / "image" / "2.png", np.full((30, 40, 3), 60, np.uint8))
    (root / "label").mkdir()
    (root / "label" / "1.txt").write_text("1\n-20 2 10 12\n")
    (root / "label" / "2.txt").write_text("1\n5 5 20 20\n")
    summary = tmp_path / "dataset.json"
    assert lldata_main(["validate", str(root), "--kind", "darkface", "--clip-boxes", "--report", str(summary)]) == 0
    preds = tmp_path / "preds"
    preds.mkdir()
    (preds / "1.txt").write_text("0 2 10 12 0.9\n")  # exactly the clipped box
    (preds / "2.txt").write_text("5 5 20 20 0.8\n")
    return root, summary, preds


def test_evaluate_with_the_dataset_summary_uses_the_clipped_boxes(clipped, tmp_path):
    root, summary, preds = clipped
    assert json.loads(summary.read_text())["items"][0]["boxes"] == [[0.0, 2.0, 10.0, 12.0]]
    out = tmp_path / "eval"
    assert detectors_main(["evaluate", "--dataset", str(summary), "--pred", str(preds), "--out", str(out), "--bootstrap", "0"]) == 0
    assert json.loads((out / "ap.json").read_text())["ap"] == pytest.approx(1.0)
    # The raw label file still holds the unclipped box: IoU 11/31 with the prediction, a miss.
    raw = tmp_path / "raw"
    assert detectors_main(["evaluate", "--gt", str(root / "label"), "--pred", str(preds), "--out", str(raw), "--bootstrap", "0"]) == 0
    assert json.loads((raw / "ap.json").read_text())["ap"] < 0.75


def test_compare_with_the_dataset_summary(clipped, tmp_path):
    _, summary, preds = clipped
    out = tmp_path / "vs.json"
    assert detectors_main(["compare", "--dataset", str(summary), "--pred", str(preds), "--pred", str(preds),
                           "--bootstrap", "40", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["ap_a"] == pytest.approx(1.0) and result["ap_b"] == pytest.approx(1.0)


def test_a_summary_without_boxes_is_a_clear_error(tmp_path, capsys):
    write_png(tmp_path / "u" / "1.png", np.zeros((8, 8, 3), np.uint8))
    summary = tmp_path / "u.json"
    assert lldata_main(["validate", str(tmp_path / "u"), "--kind", "unpaired", "--report", str(summary)]) == 0
    (tmp_path / "p").mkdir()
    assert detectors_main(["evaluate", "--dataset", str(summary), "--pred", str(tmp_path / "p"), "--bootstrap", "0"]) != 0
    assert "u.json" in capsys.readouterr().err


def test_gt_and_dataset_are_exclusive(tmp_path):
    with pytest.raises(SystemExit):
        detectors_main(["evaluate", "--gt", "a", "--dataset", "b.json", "--pred", "p"])
