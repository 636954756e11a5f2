"""Recall per face-size bucket: where in the size range a detector (or an enhancer) helps.

A face counts as found at threshold t when the prediction that found it under the official
greedy matching has normalised score >= t, so bucket recalls add up to the overall recall.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from detectors.evaluation.darkface import CurveTables

SIZE_MEASURES = ("height", "sqrt_area")


def face_sizes(boxes: np.ndarray, by: str = "height") -> np.ndarray:
    """Face size in pixels with inclusive corners: height ``y2 - y1 + 1`` or ``sqrt(w * h)``."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    w = boxes[:, 2] - boxes[:, 0] + 1.0
    h = boxes[:, 3] - boxes[:, 1] + 1.0
    if by == "height":
        return h
    if by == "sqrt_area":
        return np.sqrt(w * h)
    raise ValueError(f"size measure must be one of {', '.join(SIZE_MEASURES)}, got {by!r}")


def bucket_labels(edges: Sequence[float]) -> list[str]:
    """``[<16, 16-32, >=32]`` style labels for ``edges=(16, 32)``."""
    edges = [f"{e:g}" for e in edges]
    if not edges:
        return ["all"]
    return (
        [f"<{edges[0]}"]
        + [f"{a}-{b}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
        + [f">={edges[-1]}"]
    )


def recall_by_size(
    tables: CurveTables,
    operating_points: Mapping[str, float],
    *,
    edges: Sequence[float] = (16.0, 32.0),
    by: str = "height",
) -> list[dict[str, Any]]:
    """One row per (operating point, bucket): threshold, faces, found, recall.

    Buckets are left-closed: with edges (16, 32), a 16-px face is in "16-32" and a 32-px one
    in ">=32".
    """
    sizes = face_sizes(tables.gt_boxes, by)
    bucket = np.searchsorted(np.asarray(edges, dtype=np.float64), sizes, side="right")
    labels = bucket_labels(edges)
    rows = []
    for point, threshold in operating_points.items():
        found = tables.gt_hit_score >= threshold
        for b, label in enumerate(labels):
            in_b = bucket == b
            n = int(in_b.sum())
            k = int(found[in_b].sum())
            rows.append(
                {
                    "operating_point": point,
                    "threshold": float(threshold),
                    "size_by": by,
                    "bucket": label,
                    "n_faces": n,
                    "n_found": k,
                    "recall": k / n if n else float("nan"),
                }
            )
    return rows
