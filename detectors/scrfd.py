"""SCRFD-0.5GF with keypoints (Guo et al., ICLR 2022; InsightFace's ``SCRFD_500M_KPS``), run with
onnxruntime on the copy the YuNet authors evaluated (found under ``weights_dir``).

Decoding follows InsightFace's ``python-package/insightface/model_zoo/scrfd.py`` (pip 0.3 to
0.7.3), spelled out in ``../shared/reference/detectors/scrfd.md``: RGB, (x - 127.5) / 128; two
anchors per cell at the cell's top-left corner; boxes are distances (l, t, r, b) x stride from
it; candidates with score >= threshold, ordered by score, then greedy NMS with +1 pixel areas
(an overlap equal to the threshold is kept). At full resolution (the default) the frame is
padded with zeros at the bottom and right to multiples of 32 and run at scale exactly 1, the
authors' "original size" evaluation; ``input_size=[W, H]`` is InsightFace's letterbox (their
package's default is 640 x 640, which loses most night faces).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from detectors.onnx_faces import (
    OnnxFaceDetector,
    cell_corners,
    empty_rows,
    greedy_nms,
    letterbox_top_left,
    make_session,
    pad_bottom_right,
)

STRIDES = (8, 16, 32)
ANCHORS_PER_CELL = 2
CHECKPOINT = "detectors/scrfd/scrfd_500m_bnkps.onnx"
OUTPUT_NAMES = [f"{kind}_{s}" for kind in ("score", "bbox", "kps") for s in STRIDES]


def decode(
    outputs: dict[str, np.ndarray], height: int, width: int, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidates with score >= threshold: boxes, scores, landmarks (float32), stride by stride,
    anchors in cell order (two per cell, consecutive)."""
    boxes, scores, landmarks = [], [], []
    for stride in STRIDES:
        score = outputs[f"score_{stride}"].reshape(-1)
        dist = outputs[f"bbox_{stride}"].reshape(-1, 4) * stride
        kps = outputs[f"kps_{stride}"].reshape(-1, 10) * stride
        centres = np.repeat(cell_corners(height, width, stride), ANCHORS_PER_CELL, axis=0)
        if len(centres) != len(score):
            raise RuntimeError(
                f"scrfd: {len(score)} outputs at stride {stride}, {len(centres)} anchors"
            )
        pos = np.flatnonzero(score >= threshold)
        c, d, k = centres[pos], dist[pos], kps[pos]
        boxes.append(np.concatenate([c - d[:, :2], c + d[:, 2:]], axis=1))
        landmarks.append(np.concatenate([c + k[:, 2 * j : 2 * j + 2] for j in range(5)], axis=1))
        scores.append(score[pos])
    return np.concatenate(boxes), np.concatenate(scores), np.concatenate(landmarks)


class SCRFDDetector(OnnxFaceDetector):
    name = "scrfd"
    description = "SCRFD-0.5GF-KPS (ONNX, onnxruntime), InsightFace decoding, full resolution padded to /32"
    source_package = "project implementation of InsightFace python-package/insightface/model_zoo/scrfd.py"
    weights = f"<weights_dir>/{CHECKPOINT} (detectors/weights_manifest.json)"
    licence = "InsightFace pretrained models: non-commercial research purposes only (code MIT)"
    runtime = "onnxruntime"

    def __init__(
        self,
        device: str = "cpu",
        score_threshold: float = 0.02,
        nms_threshold: float = 0.4,
        top_k: int | None = None,
        input_size: Sequence[int] | None = None,
        upscale: float = 1.0,
        weights_dir: str | None = None,
        num_threads: int = 0,
    ) -> None:
        from detectors.checkpoints import verified_path

        self._check_common(score_threshold, nms_threshold, top_k, input_size, upscale)
        if self.input_size is not None and any(v % 32 for v in self.input_size):
            raise ValueError(f"scrfd: input_size sides must be multiples of 32, got {input_size}")
        self.device = device
        self.session = make_session(verified_path(CHECKPOINT, weights_dir), device, num_threads)
        self.input_name = self.session.get_inputs()[0].name
        self.providers = self.session.get_providers()

    @classmethod
    def unavailable_reason(cls, options: dict[str, Any]) -> str | None:
        from detectors.checkpoints import missing_reason

        return missing_reason(CHECKPOINT, options.get("weights_dir"))

    def _rows(self, image: np.ndarray) -> np.ndarray:
        if self.input_size is None:
            canvas, det_scale = pad_bottom_right(image), 1.0
        else:
            canvas, det_scale = letterbox_top_left(image, self.input_size)
        blob = ((canvas.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[np.newaxis]
        values = self.session.run(OUTPUT_NAMES, {self.input_name: np.ascontiguousarray(blob)})
        outputs = dict(zip(OUTPUT_NAMES, values, strict=True))
        boxes, scores, landmarks = decode(
            outputs, canvas.shape[0], canvas.shape[1], self.score_threshold
        )
        if len(scores) == 0:
            return empty_rows()
        order = scores.argsort()[::-1]  # InsightFace's (unstable) order; ties as there
        rows = np.concatenate([boxes / det_scale, scores[:, None], landmarks / det_scale], axis=1)
        rows = rows.astype(np.float32, copy=False)[order][: self.top_k]
        kept = greedy_nms(
            rows[:, :4],
            rows[:, 4].argsort()[::-1],
            self.nms_threshold,
            plus_one=True,
            suppress_equal=False,
        )
        return rows[kept]
