"""What the three ONNX face detectors (YuNet, SCRFD, CenterFace) share: the onnxruntime session,
the frame-size policy and its options, and the one output format of their decoders.

Each detector module keeps its own pre-processing, decoding and NMS, because those differ in
details that change the AP (score formula, strict or non-strict thresholds, +1 pixel areas):
each follows its reference code exactly, so that it reproduces the reference detections in
``../shared/reference/detectors``.

The frame-size policy, common to the three:

* ``input_size=None`` (default): the frame at full resolution (night faces are tiny), brought to
  a multiple of 32 the way each reference code does it (zero padding for YuNet and SCRFD, a
  stretch for CenterFace);
* ``input_size=[W, H]``: the reference code's own fixed-size mode (a letterbox for YuNet and
  SCRFD, CenterFace's ``in_shape``);
* ``upscale=f``: the frame is first resized by ``f`` (bilinear), then run under the policy above,
  and the detections are divided by the factor (x2 helps some detectors on some frames).

Decoders return rows of 15 float32 values (the reference vectors' layout): x1, y1, x2, y2, score,
then five landmarks (x, y), in the frame's pixels and not clipped.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from detectors.base import Detections, Detector, check_image, check_thresholds
from lowlight_common.threads import onnx_session_options

CUDA_EP = "CUDAExecutionProvider"
ROW_WIDTH = 15  # x1 y1 x2 y2 score, then 5 landmarks (x, y)
X_COLUMNS = [0, 2, 5, 7, 9, 11, 13]
Y_COLUMNS = [1, 3, 6, 8, 10, 12, 14]


def next_multiple(n: int, multiple: int = 32) -> int:
    """Smallest multiple of ``multiple`` that is >= ``n`` (n >= 1)."""
    return -(-int(n) // multiple) * multiple


def cell_corners(height: int, width: int, stride: int) -> np.ndarray:
    """(x, y) of the top-left corner of every cell of a ``height x width`` input's grid at
    ``stride``, row-major, float32: YuNet's priors and SCRFD's anchor centres both sit there
    (no +0.5)."""
    grid = np.mgrid[: height // stride, : width // stride][::-1]  # (col, row)
    return (np.stack(grid, axis=-1) * stride).astype(np.float32).reshape(-1, 2)


def pad_bottom_right(image: np.ndarray, multiple: int = 32) -> np.ndarray:
    """The image on a zero canvas whose sides are multiples of ``multiple`` (top-left aligned):
    the networks' grids then cover it exactly at scale 1."""
    height, width = image.shape[:2]
    canvas = np.zeros(
        (next_multiple(height, multiple), next_multiple(width, multiple), 3), np.uint8
    )
    canvas[:height, :width] = image
    return canvas


def make_session(
    model: bytes | str | os.PathLike[str], device: str, num_threads: int, quiet: bool = False
) -> Any:
    """An onnxruntime session on CUDA (with CPU fallback) or the CPU; ``num_threads`` > 0 fixes
    the intra-op threads (0: torch's thread count, :func:`lowlight_common.threads.thread_count`);
    ``quiet`` drops warnings (errors remain)."""
    import onnxruntime as ort

    providers = [CUDA_EP, "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    options = onnx_session_options(int(num_threads))  # the project's one thread policy
    if quiet:
        options.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=options, providers=providers)


def empty_rows() -> np.ndarray:
    return np.zeros((0, ROW_WIDTH), np.float32)


def greedy_nms(
    boxes: np.ndarray, order: np.ndarray, threshold: float, *, plus_one: bool, suppress_equal: bool
) -> list[int]:
    """Greedy NMS over ``boxes`` (x1 y1 x2 y2) visited in ``order``; the kept indices in that order.

    Arithmetic stays in the boxes' dtype (float32 in both reference codes), so decisions on
    near-threshold overlaps are the references' own. ``plus_one``: areas and overlaps count
    (x2 - x1 + 1) pixels (InsightFace); ``suppress_equal``: an overlap equal to the threshold
    suppresses (deface's ``>=``) instead of keeping (InsightFace's ``<=`` keeps).
    """
    x1, y1, x2, y2 = (boxes[:, k] for k in range(4))
    one = boxes.dtype.type(1) if plus_one else boxes.dtype.type(0)
    areas = (x2 - x1 + one) * (y2 - y1 + one)
    remaining = np.asarray(order)
    keep: list[int] = []
    while remaining.size:
        i, rest = remaining[0], remaining[1:]
        keep.append(int(i))
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + one)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + one)
        inter = w * h
        with np.errstate(invalid="ignore", divide="ignore"):  # two empty boxes: 0/0, as there
            overlap = inter / (areas[i] + areas[rest] - inter)
        # NaN (two empty boxes) compares false either way, as in each reference code
        survives = ~(overlap >= threshold) if suppress_equal else overlap <= threshold
        remaining = rest[survives]
    return keep


class OnnxFaceDetector(Detector):
    """Base of the ONNX face detectors: option checks, the upscale step, rows -> Detections.

    Subclasses set ``self.session`` and implement :meth:`_rows` (one frame, already upscaled).
    """

    def _check_common(
        self,
        score_threshold: float,
        nms_threshold: float,
        top_k: int | None,
        input_size: Sequence[int] | None,
        upscale: float,
    ) -> None:
        name = self.name
        check_thresholds(name, score_threshold, nms_threshold)
        if top_k is not None and int(top_k) < 1:
            raise ValueError(f"{name}: top_k must be >= 1 or null (no limit), got {top_k}")
        if input_size is not None and (
            len(input_size) != 2 or any(int(v) < 32 for v in input_size)
        ):
            raise ValueError(
                f"{name}: input_size must be null (full resolution) or [width, height] with "
                f"both >= 32, got {input_size}"
            )
        if not 0.0 < float(upscale) <= 8.0:
            raise ValueError(f"{name}: upscale must be in (0, 8], got {upscale}")
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.top_k = None if top_k is None else int(top_k)
        self.input_size = None if input_size is None else (int(input_size[0]), int(input_size[1]))
        self.upscale = float(upscale)

    def rows(self, image: np.ndarray) -> np.ndarray:
        """K x 15 float32 rows (box, score, landmarks) in ``image``'s pixels, not clipped, in the
        reference code's order; ``image`` is H x W x 3 uint8 RGB."""
        image = check_image(image)
        if self.upscale == 1.0:
            return self._rows(image)
        height, width = image.shape[:2]
        new_w, new_h = max(1, round(width * self.upscale)), max(1, round(height * self.upscale))
        resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        rows = self._rows(resized)
        rows[:, X_COLUMNS] /= new_w / width
        rows[:, Y_COLUMNS] /= new_h / height
        return rows

    @abc.abstractmethod
    def _rows(self, image: np.ndarray) -> np.ndarray:
        """Rows of one frame (already upscaled), in its own pixels."""

    def _detect(self, image: np.ndarray) -> Detections:
        rows = self.rows(image)
        return Detections(rows[:, :4], rows[:, 4])


def letterbox_top_left(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """InsightFace's ``detect`` resize: keep the aspect ratio (the new side truncated), resize
    bilinearly, paste top-left on a zero ``W x H`` canvas; det_scale = new height / height."""
    height, width = image.shape[:2]
    in_w, in_h = size
    im_ratio, model_ratio = height / width, in_h / in_w
    if im_ratio > model_ratio:
        new_h = in_h
        new_w = int(new_h / im_ratio)
    else:
        new_w = in_w
        new_h = int(new_w * im_ratio)
    canvas = np.zeros((in_h, in_w, 3), np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h))
    return canvas, new_h / height
