"""The qualitative panel draws the detections of a detector that ran (issue 32, item 10): when
the first configured detector was skipped (weights absent), the next one that has predictions
is used, and with none the panel draws ground truth only instead of "0 detections"."""

from __future__ import annotations

import numpy as np

from lldata.imageio import write_png
from reports.inputs import Layout
from reports.panels import panel_detector, qualitative_panel


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
    panel = qualitative_panel(layout, "d", summary, ["raw", "he"], det, 1, 0.5)
    html = panel.html
    assert "Magenta: detections of retinaface" in html and "raw: 1 detection(s)" in html


def test_a_detector_without_predictions_is_not_the_panels_either(tmp_path):
    layout = _results(tmp_path, ran=())
    assert panel_detector(layout, "d", ["raw", "he"], ["dsfd", "retinaface"], {}) is None


def test_panels_are_full_resolution_files_with_face_crops_for_chosen_images(tmp_path):
    """Issue 30, item 4: the chosen images, every method at full resolution with a zoom of each
    face beside it, a figure of figures/ referenced from the Markdown; boxes drawn in green
    (ground truth) and magenta (detections), each between black lines."""
    from PIL import Image

    from reports.figures import DET_COLOUR, GT_COLOUR

    layout = Layout(tmp_path)
    for method in ("raw", "he"):
        for stem in ("1", "2"):
            write_png(layout.images("d", method) / f"{stem}.png", np.full((120, 200, 3), 30, np.uint8))
        folder = layout.predictions("d", method, "yunet")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "2.txt").write_text("50 40 65 57 0.9\n")
    summary = {"root": "d", "items": [{"stem": "1", "boxes": [[5, 5, 20, 20]]},
                                      {"stem": "2", "boxes": [[50, 40, 65, 57], [100, 10, 115, 25]]}]}
    import io

    made = qualitative_panel(layout, "d", summary, ["raw", "he"], "yunet", 3, 0.5, stems=["2"], crop_size=64)
    assert list(made.figures) == ["panel_d_2.png"]
    assert "![d/2 (2 faces)](figures/panel_d_2.png)" in made.markdown and 'href="figures/panel_d_2.png"' in made.html
    panel = np.asarray(Image.open(io.BytesIO(made.figures["panel_d_2.png"])).convert("RGB"))
    # two rows (raw, he), each the 200 px wide image, then its two 64 px face crops (one fits
    # per column in 120 px of height: two columns, 4 px apart)
    assert panel.shape[1] == 200 + 2 * (64 + 4) + 4 and panel.shape[0] >= 2 * 120
    colours = {tuple(c) for c in panel.reshape(-1, 3)}
    assert GT_COLOUR in colours and DET_COLOUR in colours
    import pytest

    with pytest.raises(ValueError, match="report.panel_stems: no image '9'"):
        qualitative_panel(layout, "d", summary, ["raw"], "yunet", 3, 0.5, stems=["9"])
