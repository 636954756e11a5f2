"""Cross-check of the DARK FACE AP with pycocotools (one class, IoU 0.5, no area ranges).

Boxes are converted to COCO ``[x, y, w, h]`` with ``w = x2 - x1 + 1`` so that pycocotools'
continuous IoU equals the inclusive-pixel IoU of the official tool.

Known, documented differences from the official protocol (so the two agree only on sets
where these do not arise):

* COCO lets a prediction whose best box is already taken match the next best one;
* COCO counts false positives in images without ground truth (the official tool skips them);
* COCO ranks individual detections, the official tool 1,000 score thresholds (ties per bin);
* pycocotools' standard AP samples precision at 101 recall points; ``ap`` below uses a fine
  grid of ``fine_points`` recall points, which approaches the VOC all-point integral, and
  ``ap_coco101`` is the standard value.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable
from typing import Any

import numpy as np


def _to_xywh(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.column_stack(
        [boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1]
    )


def coco_ap(
    records: Iterable[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
    *,
    iou_threshold: float = 0.5,
    max_dets: int = 100_000,
    fine_points: int = 100_001,
) -> dict[str, Any]:
    """AP with pycocotools from ``(image_id, gt_boxes, pred_boxes, pred_scores)`` records."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, annotations, detections = [], [], []
    n_gt = 0
    for num, (image_id, gt, pred, scores) in enumerate(records, start=1):
        images.append({"id": num, "file_name": str(image_id)})
        for box in _to_xywh(gt).tolist():
            n_gt += 1
            annotations.append(
                {
                    "id": n_gt,
                    "image_id": num,
                    "category_id": 1,
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": 0,
                }
            )
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        for box, score in zip(_to_xywh(pred).tolist(), scores.tolist(), strict=True):
            detections.append({"image_id": num, "category_id": 1, "bbox": box, "score": score})
    result: dict[str, Any] = {
        "mode": "coco",
        "iou_threshold": iou_threshold,
        "n_images": len(images),
        "n_gt": n_gt,
        "n_pred": len(detections),
        "max_dets": max_dets,
        "fine_points": fine_points,
    }
    if not detections or n_gt == 0:
        return result | {"ap": 0.0, "ap_coco101": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        gt = COCO()
        gt.dataset = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": 1, "name": "face"}],
        }
        gt.createIndex()
        dt = gt.loadRes(detections)
        ev = COCOeval(gt, dt, iouType="bbox")
        ev.params.iouThrs = np.array([iou_threshold])
        ev.params.areaRng = [[0.0, 1e12]]
        ev.params.areaRngLbl = ["all"]
        ev.params.maxDets = [max_dets]
        ev.params.useCats = 1
        ev.evaluate()
        aps = {}
        for key, rec_thrs in (
            ("ap", np.linspace(0.0, 1.0, fine_points)),
            ("ap_coco101", np.linspace(0.0, 1.0, 101)),
        ):
            ev.params.recThrs = rec_thrs
            ev.accumulate()
            prec = ev.eval["precision"][0, :, 0, 0, 0]
            aps[key] = float(np.mean(prec[prec > -1])) if np.any(prec > -1) else 0.0
    return result | aps
