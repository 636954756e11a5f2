"""An image that validates must not cost the IQA table (issue 32, item 8): an image smaller than
a metric needs (1 x 1 with PIQE, under 96 px with NIQE) gets NaN in its row and a note in the
summary, which the report shows; the other images are scored and averaged."""

from __future__ import annotations

import json

import numpy as np
import pytest
from skimage import data

from iqa.cli import main
from iqa.score import score_images
from lldata.imageio import write_png
from reports.quality import section


@pytest.fixture
def images(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    write_png(tmp_path / "big.png", data.coffee()[:64, :80])
    write_png(tmp_path / "dot.png", np.full((1, 1, 3), 90, np.uint8))
    return tmp_path


@pytest.mark.parametrize("metric", ["piqe", "ssim"])
def test_too_small_image_is_nan_with_a_note(images, metric):
    items = [("big", images / "big.png", images / "big.png"), ("dot", images / "dot.png", images / "dot.png")]
    table, skipped = score_images(items, [metric], too_small="nan")
    assert not skipped and np.isfinite(table.loc[0, metric]) and np.isnan(table.loc[1, metric])
    assert "1 image(s) smaller than" in table.attrs["notes"][metric] and "dot" in table.attrs["notes"][metric]


def test_too_small_image_is_still_an_error_naming_it_on_request(images):
    with pytest.raises(ValueError, match=r"dot.png: piqe needs images of at least"):
        score_images([("dot", images / "dot.png", None)], ["piqe"], too_small="error")


def test_iqa_score_cli_writes_the_table_and_the_notes(images, capsys):
    summary = images / "dataset.json"
    summary.write_text(json.dumps({"items": [{"stem": "big"}, {"stem": "dot"}]}))
    out, means = images / "per_image.csv", images / "summary.json"
    assert main(["score", "--dataset", str(summary), "--enhanced", str(images), "--metrics", "piqe",
                 "-o", str(out), "--summary", str(means)]) == 0
    result = json.loads(means.read_text())
    assert np.isfinite(result["mean"]["piqe"]) and "dot" in result["notes"]["piqe"]
    assert "note piqe" in capsys.readouterr().err

    # the report lists the images without a value
    results = images / "results"
    (results / "d" / "m" / "iqa").mkdir(parents=True)
    (results / "d" / "m" / "iqa" / "summary.json").write_text(means.read_text())
    made = section(results, ["d"], ["m"], {"d": {"has_references": False}})
    html, md = made.html, made.markdown
    assert "Images without a value" in html and any("no value d: piqe" in line for line in md)
