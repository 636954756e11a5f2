"""Per-image matching exactly as the official DARK FACE / WIDER FACE tool does it.

Predictions are visited in score order; each one takes the ground-truth box of highest IoU
(the first one on ties, like Octave's ``max``). If that IoU >= threshold the box is marked found;
hitting an already found box finds nothing new, and the prediction does NOT fall back to its
second-best box (this is where it differs from COCO matching).
"""

from __future__ import annotations

import numpy as np


def iou_inclusive(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """``P x G`` IoU with inclusive pixel corners: width = x2 - x1 + 1 (official ``boxoverlap``).

    Pairs whose intersection width or height is <= 0 get IoU 0.
    """
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(pred[:, None, 0], gt[None, :, 0])
    y1 = np.maximum(pred[:, None, 1], gt[None, :, 1])
    x2 = np.minimum(pred[:, None, 2], gt[None, :, 2])
    y2 = np.minimum(pred[:, None, 3], gt[None, :, 3])
    w = x2 - x1 + 1.0
    h = y2 - y1 + 1.0
    inter = w * h
    area_gt = (gt[:, 2] - gt[:, 0] + 1.0) * (gt[:, 3] - gt[:, 1] + 1.0)
    area_pred = (pred[:, 2] - pred[:, 0] + 1.0) * (pred[:, 3] - pred[:, 1] + 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / (area_pred[:, None] + area_gt[None, :] - inter)
    iou[(w <= 0) | (h <= 0)] = 0.0
    return iou


def score_order(scores: np.ndarray) -> np.ndarray:
    """Descending, stable on ties (Octave's ``sort(..., 'descend')`` keeps file order)."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")


def greedy_match(
    gt_boxes: np.ndarray, pred_boxes: np.ndarray, iou_threshold: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Match score-sorted predictions to ground truth.

    Returns ``pred_recall`` (``P``; ground-truth boxes found by the first k+1 predictions) and
    ``first_hit`` (``G``; index of the prediction that found each box, -1 if none).
    """
    n_pred, n_gt = len(pred_boxes), len(gt_boxes)
    first_hit = np.full(n_gt, -1, dtype=np.int64)
    if n_pred == 0 or n_gt == 0:
        return np.zeros(n_pred, dtype=np.int64), first_hit
    iou = iou_inclusive(gt_boxes, pred_boxes)
    best = np.argmax(iou, axis=1)
    hit = iou[np.arange(n_pred), best] >= iou_threshold
    hit_idx = np.flatnonzero(hit)
    gts, first = np.unique(best[hit_idx], return_index=True)
    first_hit[gts] = hit_idx[first]
    new_find = np.zeros(n_pred, dtype=np.int64)
    new_find[first_hit[first_hit >= 0]] = 1
    return np.cumsum(new_find), first_hit
