"""Detections per image above a raw score, for qualitative panels (no ground truth needed).

The evaluation's per-image counts use normalised scores, which depend on the whole set; a panel
that shows "boxes with score >= 0.5" on raw and enhanced images wants the detector's own score.
"""

from __future__ import annotations

import os

from detectors.formats import load_prediction_dir


def detection_counts(pred_dir: str | os.PathLike[str], min_score: float = 0.5) -> dict[str, int]:
    """``{image_id: number of predictions with raw score >= min_score}`` for a prediction folder."""
    preds = load_prediction_dir(pred_dir)
    return {image_id: int((scores >= min_score).sum()) for image_id, (_, scores) in preds.items()}
