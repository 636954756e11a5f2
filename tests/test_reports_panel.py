"""The qualitative panel draws the detections of a detector that ran (issue 32, item 10): when
the first configured detector was skipped (weights absent), the next one that has predictions
is used, and with none the panel draws ground truth only instead of "0 detections"."""

from __future__ import annotations

import numpy as np

from lldata.imageio import write_png
from reports.build import Layout, panel_detector, qualitative_panel


def _results(tmp_path, ran=("retinaface",)):
    layout = Layout(tmp_path)
    for method in ("raw", "he"):
        write_png(layout.images("d", method) / "1.png", np.full((40, 60, 3), 50, np.uint8))
        for det in ran:
            folder = layout.predictions("d", method, det)
            folder.mkdir(parents=True)
            (folder / "1.txt").write_text("5 5 20 20 0.9\n")
    return layout


def test_a_skipped_first_detector_is_not_the_panels(tmp_path):
    layout = _results(tmp_path)
    det = panel_detector(layout, "d", ["raw", "he"], ["dsfd", "retinaface"], {"dsfd": "weights absent"})
    assert det == "retinaface"
    summary = {"items": [{"stem": "1", "boxes": [[5, 5, 20, 20]]}]}
    html = qualitative_panel(layout, "d", summary, ["raw", "he"], det, 1, 0.5)
    assert "Red: retinaface detections" in html and "raw: 1 detection(s)" in html


def test_a_detector_without_predictions_is_not_the_panels_either(tmp_path):
    layout = _results(tmp_path, ran=())
    assert panel_detector(layout, "d", ["raw", "he"], ["dsfd", "retinaface"], {}) is None
