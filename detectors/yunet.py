"""YuNet (Wu, Peng and Yu, Machine Intelligence Research 2023), the detector of libfacedetection
and of OpenCV's ``FaceDetectorYN``, in its two released sizes (``variant`` n or s), run with
onnxruntime on the authors' dynamic-input ONNX files (found under ``weights_dir``).

Decoding follows the authors' onnxruntime demo (libfacedetection.train
``tools/compare_inference.py``, class ``YUNET``), spelled out in
``../shared/reference/detectors/yunet.md``: BGR 0-255 input, one prior per cell at the cell's
top-left corner, boxes (cx, cy) = (cell + d) * stride and (w, h) = exp(d) * stride, and
**score = cls x obj**, the product their demo and their WIDER FACE evaluation use. OpenCV's
``FaceDetectorYN`` reports sqrt(cls x obj) instead (and runs NMS on truncated integer boxes); the
two order boxes alike but give different AP under the DARK FACE protocol's min-max normalisation,
and a threshold of t here equals sqrt(t) in OpenCV's score. Candidates with score > threshold go
to OpenCV's ``NMSBoxes`` on float (x, y, w, h) boxes, as in the demo.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from detectors.onnx_faces import (
    OnnxFaceDetector,
    cell_corners,
    empty_rows,
    letterbox_top_left,
    make_session,
    pad_bottom_right,
)

STRIDES = (8, 16, 32)
CHECKPOINTS = {
    "n": "detectors/yunet/yunet_n_dynamic.onnx",
    "s": "detectors/yunet/yunet_s_dynamic.onnx",
}


def letterbox(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """The authors' ``resize_img(img, 'W,H')``: the target's long side goes to the image's long
    side; the image, resized bilinearly with the new short side truncated, sits top-left on
    zeros. Returns the canvas and det_scale (new height / height, used for both axes)."""
    height, width = image.shape[:2]
    long_side, short_side = max(size), min(size)
    oriented = (long_side, short_side) if width > height else (short_side, long_side)
    return letterbox_top_left(image, oriented)


def decode(outputs: dict[str, np.ndarray], height: int, width: int) -> tuple[np.ndarray, ...]:
    """Boxes (x1 y1 x2 y2), scores (cls x obj) and landmarks of every prior, strides 8, 16, 32
    in row-major cell order, float32 as in the authors' demo."""
    boxes, scores, landmarks = [], [], []
    for stride in STRIDES:
        cls = outputs[f"cls_{stride}"].reshape(-1)
        obj = outputs[f"obj_{stride}"].reshape(-1)
        reg = outputs[f"bbox_{stride}"].reshape(-1, 4)
        kps = outputs[f"kps_{stride}"].reshape(-1, 10)
        centres = cell_corners(height, width, stride)
        if len(centres) != len(cls):
            raise RuntimeError(
                f"yunet: {len(cls)} outputs at stride {stride}, {len(centres)} priors"
            )
        cxy = reg[:, :2] * stride + centres
        wh = np.exp(reg[:, 2:]) * stride
        boxes.append(np.concatenate([cxy - wh / 2.0, cxy + wh / 2.0], axis=1))
        landmarks.append(
            np.concatenate([kps[:, 2 * k : 2 * k + 2] * stride + centres for k in range(5)], axis=1)
        )
        scores.append(cls * obj)
    return np.concatenate(boxes), np.concatenate(scores), np.concatenate(landmarks)


class YuNetDetector(OnnxFaceDetector):
    name = "yunet"
    description = "YuNet n/s (ONNX, onnxruntime), authors' decoding: score cls x obj, full resolution"
    source_package = "project implementation of libfacedetection.train tools/compare_inference.py (YUNET)"
    weights = "<weights_dir>/detectors/yunet/yunet_{n,s}_dynamic.onnx (detectors/weights_manifest.json)"
    licence = "Apache-2.0 (ShiqiYu/libfacedetection.train; the opencv_zoo copy of the s model: MIT)"
    runtime = "onnxruntime"

    def __init__(
        self,
        device: str = "cpu",
        variant: str = "n",
        score_threshold: float = 0.02,
        nms_threshold: float = 0.45,
        top_k: int | None = 5000,
        input_size: Sequence[int] | None = None,
        upscale: float = 1.0,
        weights_dir: str | None = None,
        num_threads: int = 0,
    ) -> None:
        from detectors.checkpoints import verified_path

        if variant not in CHECKPOINTS:
            raise ValueError(
                f"yunet: variant must be one of {', '.join(CHECKPOINTS)}, got {variant!r}"
            )
        self._check_common(score_threshold, nms_threshold, top_k, input_size, upscale)
        if self.input_size is not None and any(v % 32 for v in self.input_size):
            raise ValueError(f"yunet: input_size sides must be multiples of 32, got {input_size}")
        self.device = device
        self.variant = variant
        self.session = make_session(
            verified_path(CHECKPOINTS[variant], weights_dir), device, num_threads
        )
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.providers = self.session.get_providers()

    @classmethod
    def weights_files(cls, options: Mapping[str, Any]) -> list[str]:
        variant = options.get("variant", "n")
        return [CHECKPOINTS[variant]] if variant in CHECKPOINTS else []

    @classmethod
    def unavailable_reason(cls, options: dict[str, Any]) -> str | None:
        from detectors.checkpoints import missing_reason

        variant = options.get("variant", "n")
        if variant not in CHECKPOINTS:
            return None  # the constructor reports the bad value
        return missing_reason(CHECKPOINTS[variant], options.get("weights_dir"))

    def _rows(self, image: np.ndarray) -> np.ndarray:
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        if self.input_size is None:
            canvas, det_scale = pad_bottom_right(bgr), 1.0  # the authors' 'AUTO' mode
        else:
            canvas, det_scale = letterbox(bgr, self.input_size)
        blob = canvas.transpose(2, 0, 1)[np.newaxis].astype(np.float32)
        values = self.session.run(self.output_names, {"input": blob})
        outputs = dict(zip(self.output_names, values, strict=True))
        boxes, scores, landmarks = decode(outputs, canvas.shape[0], canvas.shape[1])
        keep = scores > self.score_threshold  # strict, as in the demo
        boxes, scores, marks = boxes[keep] / det_scale, scores[keep], landmarks[keep] / det_scale
        if len(scores) == 0:
            return empty_rows()
        # the demo's NMS: OpenCV's on float (x, y, w, h), at most top_k candidates (0: all)
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1).tolist()
        kept = cv2.dnn.NMSBoxes(
            xywh, scores.tolist(), 0.0, self.nms_threshold, 1.0, self.top_k or 0
        )
        kept = np.asarray(kept, dtype=np.int64).reshape(-1)
        rows = np.concatenate([boxes[kept], scores[kept, None], marks[kept]], axis=1)
        return rows.astype(np.float32)
