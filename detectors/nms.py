"""Greedy non-maximum suppression with torchvision's rule, in numpy.

The ONNX RetinaFace uses it (its package's post-processing ran ``torchvision.ops.nms``); the
PyTorch detectors keep torchvision's C++ loop (torch is loaded there anyway), and the YuNet,
SCRFD and CenterFace decoders keep their reference codes' own rules
(:func:`detectors.onnx_faces.greedy_nms`).
"""

from __future__ import annotations

import numpy as np


def torchvision_nms(
    boxes: np.ndarray, scores: np.ndarray, iou: float, keep_top_k: int | None = None
) -> np.ndarray:
    """Indices kept by greedy NMS (score order), at most ``keep_top_k`` (None: no limit):
    torchvision's ``ops.nms`` rule in numpy, so that an ONNX detector's job does not import torch
    (its import was most of a one-image job's CPU time). It stops at ``keep_top_k`` kept boxes.

    torchvision's rule, kept to the bit: float32 boxes and scores, a stable descending sort of
    the scores, areas ``(x2 - x1) * (y2 - y1)`` without +1, IoU computed in float32 and compared
    in float64 with ``iou`` (C++ promotes the float to the double threshold), a box suppressed
    only when its IoU is strictly greater (NaN, two empty boxes, suppresses nothing).
    ``tests/test_startup_imports.py`` checks it against ``torchvision.ops.nms``.
    """
    if len(scores) == 0:
        return np.zeros((0,), dtype=np.int64)
    b = np.asarray(boxes, dtype=np.float32)
    order = np.argsort(-np.asarray(scores, dtype=np.float32), kind="stable")
    x1, y1, x2, y2 = (b[:, k] for k in range(4))
    areas = (x2 - x1) * (y2 - y1)
    keep: list[int] = []
    limit = len(order) if keep_top_k is None else int(keep_top_k)
    while order.size and len(keep) < limit:
        i, rest = order[0], order[1:]
        keep.append(int(i))
        w = np.maximum(np.float32(0), np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(np.float32(0), np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        with np.errstate(invalid="ignore", divide="ignore"):
            overlap = inter / (areas[i] + areas[rest] - inter)
        order = rest[~(overlap.astype(np.float64) > float(iou))]
    return np.asarray(keep, dtype=np.int64)
