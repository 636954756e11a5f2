"""DSFD (ResNet-152, FEM, progressive-anchor heads) against the authors' code.

tests/data/dsfd/reference.npz (made as its README describes) holds the outputs of
Tencent/FaceDetection-DSFD's network and test script on two small images with the seeded random
weights of detectors.random_init: the heads' outputs and priors of the first pass, the
single-pass detections, and the final detections after flip, multi-scale, pyramid and box
voting. The project's network must reproduce them within 1e-4.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from detectors import create_detector
from detectors.checkpoints import WeightsError
from detectors.dsfd import MEANS_BGR, RANDOM_GAIN, bbox_vote, priors
from detectors.registry import unavailable_reason

DATA = Path(__file__).parent / "data" / "dsfd" / "reference.npz"
TOL, RTOL = 1e-4, 1e-6  # 1e-6 relative: float32 rounding of pixel coordinates (see RetinaFace test)


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    with np.load(DATA) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def dsfd(ref):
    assert float(ref["gain"]) == RANDOM_GAIN and bool(ref["align_corners"])
    return create_detector("dsfd", device="cpu", random_weights_seed=int(ref["seed"]))


@pytest.mark.parametrize("i", [0, 1])
def test_network_and_single_pass_match_authors(dsfd, ref, i):
    image = ref[f"image{i}"]
    bgr = np.ascontiguousarray(image[:, :, ::-1])
    x = torch.from_numpy(bgr.astype(np.float32) - np.array(MEANS_BGR, np.float32))
    with torch.no_grad():
        loc, conf, sizes = dsfd.net(x.permute(2, 0, 1)[None])
    np.testing.assert_allclose(loc.numpy(), ref[f"loc{i}"], atol=TOL, rtol=0)
    np.testing.assert_allclose(torch.softmax(conf, -1).numpy(), ref[f"conf{i}"], atol=TOL, rtol=0)
    np.testing.assert_allclose(
        priors(sizes, *image.shape[:2]).numpy(), ref[f"priors{i}"], atol=1e-7
    )
    single = dsfd.detect_pass(bgr, 1)
    assert single.shape == ref[f"single{i}"].shape
    np.testing.assert_allclose(single, ref[f"single{i}"], atol=TOL, rtol=RTOL)


@pytest.mark.parametrize("i", [0, 1])
def test_full_test_time_procedure_matches_authors(dsfd, ref, i):
    """Flip + multi-scale (0.5, 0.75, 1.5, 2, 3) + pyramid (0.25, 1.25, 1.75, 2.25) + voting."""
    out = dsfd.detect_raw(ref[f"image{i}"])
    expected = ref[f"final{i}"]
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=TOL, rtol=RTOL)


def test_bbox_vote_by_hand():
    det = np.array(
        [
            [0, 0, 9, 9, 0.9],  # group of two: weighted corners, best score
            [1, 1, 10, 10, 0.3],
            [50, 50, 60, 60, 0.8],  # alone: dropped, as in the authors' voting
        ]
    )
    out = bbox_vote(det)
    assert out.shape == (1, 5)
    np.testing.assert_allclose(out[0], [0.25, 0.25, 9.25, 9.25, 0.9])
    assert bbox_vote(np.zeros((0, 5))).shape == (0, 5)


def test_options_and_missing_checkpoint(tmp_path):
    reason = unavailable_reason("dsfd", weights_dir=str(tmp_path))
    assert (
        "dsfd/WIDERFace_DSFD_RES152.pth" in reason and "1WeXlNYsM6dMP3xQQELI-4gxhwKUQxc3-" in reason
    )
    assert "none published" in reason
    with pytest.raises(WeightsError, match="not found"):
        create_detector("dsfd", device="cpu", weights_dir=str(tmp_path))
    with pytest.raises(ValueError, match="vote_threshold"):
        create_detector("dsfd", device="cpu", vote_threshold=0, random_weights_seed=0)
