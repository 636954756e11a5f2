"""Protocol-exact DARK FACE evaluation, a pycocotools cross-check, bootstrap uncertainty and
recall by face size."""

from __future__ import annotations

import os
from typing import Any

from detectors.evaluation.bootstrap import (
    BootstrapCI,
    PairedBootstrap,
    bootstrap_ap,
    paired_bootstrap,
)
from detectors.evaluation.coco import coco_ap
from detectors.evaluation.counts import detection_counts
from detectors.evaluation.darkface import (
    CurveTables,
    DarkFaceEvaluator,
    normalise_scores,
    thresholds,
    voc_ap,
)
from detectors.evaluation.matching import greedy_match, iou_inclusive
from detectors.evaluation.sizes import face_sizes, recall_by_size
from detectors.formats import load_pairs


def evaluate_dirs(
    label_dir: str | os.PathLike[str],
    pred_dir: str | os.PathLike[str],
    *,
    allow_missing: bool = False,
    **evaluator_options: Any,
) -> dict[str, Any]:
    """Official AP of a prediction folder against a DARK FACE ``label/`` folder."""
    evaluator = DarkFaceEvaluator(**evaluator_options)
    for rec in load_pairs(label_dir, pred_dir, allow_missing=allow_missing):
        evaluator.process(rec.image_id, rec.gt_boxes, rec.pred_boxes, rec.pred_scores)
    return evaluator.evaluate()


__all__ = [
    "BootstrapCI",
    "CurveTables",
    "DarkFaceEvaluator",
    "PairedBootstrap",
    "bootstrap_ap",
    "coco_ap",
    "detection_counts",
    "evaluate_dirs",
    "face_sizes",
    "greedy_match",
    "iou_inclusive",
    "normalise_scores",
    "paired_bootstrap",
    "recall_by_size",
    "thresholds",
    "voc_ap",
]
