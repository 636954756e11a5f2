"""The two real detectors on the DARK FACE sample (../shared) and on synthetic inputs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path

from detectors import create_detector, detect_folder
from detectors.evaluation import evaluate_dirs


@pytest.fixture(scope="module")
def retinaface():
    return create_detector("retinaface", device="cpu")


def test_retinaface_no_faces_and_shapes(retinaface):
    dets = retinaface.detect(np.zeros((96, 128, 3), np.uint8))
    assert dets.boxes.shape[1] == 4 and len(dets) == len(dets.scores)
    assert retinaface.providers[0] == "CPUExecutionProvider"
    with pytest.raises(ValueError, match="scales must be positive"):
        create_detector("retinaface", device="cpu", scales=[0])


@pytest.mark.shared
def test_retinaface_on_darkface_sample(retinaface, tmp_path):
    root = shared_path("data", "darkface")
    written = detect_folder(retinaface, root / "image", tmp_path, progress=False)
    assert len(written) == 5
    res = evaluate_dirs(root / "label", tmp_path)
    assert 0.0 <= res["ap"] <= 1.0
    assert res["n_gt"] == 27 and res["n_pred"] > 0
    # the large, well-lit face of image 252 is found with a confident score
    boxes = np.loadtxt(tmp_path / "252.txt", ndmin=2)
    assert boxes[0, 4] > 0.9 and abs(boxes[0, 0] - 590) < 10


@pytest.mark.shared
def test_retinaface_multiscale_on_one_image(retinaface):
    from lldata.imageio import read_rgb

    image = read_rgb(shared_path("data", "darkface", "image", "252.png"))
    single = retinaface.detect(image)
    multi = create_detector("retinaface", device="cpu", scales=[1, 2]).detect(image)
    assert len(multi) > 0 and len(single) > 0
    assert np.all(np.diff(multi.scores) <= 0)


@pytest.mark.slow
@pytest.mark.shared
def test_mtcnn_on_darkface_sample(tmp_path):
    root = shared_path("data", "darkface")
    mtcnn = create_detector("mtcnn", device="cpu")
    assert len(mtcnn.detect(np.zeros((60, 80, 3), np.uint8))) == 0  # no faces: no crash
    detect_folder(mtcnn, root / "image", tmp_path, progress=False)
    res = evaluate_dirs(root / "label", tmp_path)
    assert 0.0 <= res["ap"] <= 1.0 and res["n_gt"] == 27


def test_benchmark_smoke(tmp_path):
    """A detector timed through the one harness (``efficiency run --detectors``)."""
    import pandas as pd

    from efficiency.cli import main
    from efficiency.worker import benchmark_image
    from lowlight_common.sizes import parse_size

    assert parse_size("1080x720") == (1080, 720)
    img = benchmark_image(64, 48, seed=1)
    assert img.shape == (48, 64, 3) and img.dtype == np.uint8 and img.mean() < 60
    np.testing.assert_array_equal(img, benchmark_image(64, 48, seed=1))
    out = tmp_path / "bench.csv"
    args = "run --resolutions 64x48 --repeats 1 --warmup 0 --detectors retinaface --device cpu"
    assert main([*args.split(), "-o", str(out)]) == 0
    res = pd.read_csv(out).iloc[0]
    assert res["method"] == "retinaface" and res["kind"] == "detector" and res["status"] == "ok"
    assert res["median_s"] > 0 and res["weights"] == "released"
