"""The official DARK FACE average precision, in numpy, with a detectron2-style evaluator.

Protocol (see ``darkface-protocol.md``): scores min-max normalised over all predictions of the
set; greedy per-image matching at inclusive-pixel IoU 0.5; 1,000 thresholds t = 1 - i/1000;
proposals and found faces summed over images (micro average); images without ground truth or
without predictions skipped, their faces still counted; VOC all-point AP.

Besides the AP we keep per-image ``(proposals, found)`` tables over the thresholds, so that the
bootstrap can re-weight images without re-matching anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from detectors.evaluation.matching import greedy_match, score_order


def thresholds(num: int = 1000) -> np.ndarray:
    """``1 - i/num`` for ``i = 1..num`` (computed as the Octave tool does, in float64)."""
    return 1.0 - np.arange(1, num + 1, dtype=np.float64) / num


def normalise_scores(scores: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Min-max normalisation over the whole set; if all scores are equal, ``s - (min - 1)``."""
    scores = np.asarray(scores, dtype=np.float64)
    if hi > lo:
        if np.isfinite(hi - lo):
            return (scores - lo) / (hi - lo)
        # A range wider than float64 (scores near +-1e308): halving is exact, so this is the
        # same map computed without the overflow that would turn every score into 0 or NaN.
        return (scores / 2 - lo / 2) / (hi / 2 - lo / 2)
    return scores - (lo - 1.0)


def check_size_edges(edges: tuple[float, ...] | list[float]) -> None:
    """Face-size bucket edges: finite, positive and strictly increasing (NaN compares false
    with everything, so a sortedness test alone lets it through)."""
    values = [float(e) for e in edges]
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"size edges must be finite positive numbers, got {list(edges)}")
    if any(b <= a for a, b in zip(values[:-1], values[1:], strict=False)):
        raise ValueError(f"size edges must be strictly increasing, got {list(edges)}")


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """VOC all-point AP over the last axis (vectorised over leading axes).

    NaN precision (no proposals above a threshold: 0/0 in the official tool) is ignored by the
    monotone envelope exactly like Octave's ``max`` ignores NaN.
    """
    recall = np.asarray(recall, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    lead = recall.shape[:-1]
    mrec = np.concatenate([np.zeros(lead + (1,)), recall, np.ones(lead + (1,))], axis=-1)
    mpre = np.concatenate([np.zeros(lead + (1,)), precision, np.zeros(lead + (1,))], axis=-1)
    mpre = np.fmax.accumulate(mpre[..., ::-1], axis=-1)[..., ::-1]
    step = mrec[..., 1:] - mrec[..., :-1]
    # Terms where recall does not change are zero, as in the tool's find(mrec(2:end)~=mrec(1:end-1)).
    return np.sum(np.where(step != 0, step * mpre[..., 1:], 0.0), axis=-1)


def pr_from_sums(
    proposals: np.ndarray, found: np.ndarray, n_gt: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall from summed counts (last axis = thresholds)."""
    proposals = np.asarray(proposals, dtype=np.float64)
    found = np.asarray(found, dtype=np.float64)
    n_gt = np.asarray(n_gt, dtype=np.float64)[..., None] if np.ndim(n_gt) else float(n_gt)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = found / proposals
        recall = np.where(n_gt > 0, found / np.where(n_gt > 0, n_gt, 1.0), 0.0)
    return precision, recall


def _check_boxes(image_id: str, what: str, boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.size == 0:
        return np.zeros((0, 4))
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(
            f"image {image_id}: {what} must be N x 4 (x1 y1 x2 y2), got shape {boxes.shape}"
        )
    if not np.isfinite(boxes).all():
        raise ValueError(f"image {image_id}: {what} contain non-finite values")
    bad = np.flatnonzero((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]))
    if bad.size:
        raise ValueError(
            f"image {image_id}: {what} row {bad[0]} has x2 < x1 or y2 < y1: {boxes[bad[0]].tolist()}"
        )
    return boxes


@dataclass(frozen=True)
class CurveTables:
    """Per-image counts at every threshold: what the AP, the bootstrap and the reports need."""

    image_ids: list[str]
    thresholds: np.ndarray  # (T,)
    proposals: np.ndarray  # (I, T) predictions with s' >= t, 0 for skipped images
    found: np.ndarray  # (I, T) ground-truth faces found by them
    n_gt: np.ndarray  # (I,)
    n_pred: np.ndarray  # (I,)
    evaluated: np.ndarray  # (I,) bool: has ground truth and predictions
    gt_image: np.ndarray  # (F,) image index of every ground-truth face
    gt_boxes: np.ndarray  # (F, 4)
    gt_hit_score: np.ndarray  # (F,) normalised score of the prediction that found it, -inf if none
    pred_norm_scores: list[np.ndarray]  # per image, sorted descending
    pred_recall: list[np.ndarray]  # per image, aligned with pred_norm_scores
    score_min: float  # raw score range used for the normalisation (NaN without predictions)
    score_max: float

    def ap(self, weights: np.ndarray | None = None) -> float | np.ndarray:
        """AP of the set, or of re-weighted sets (``weights``: ``B x I`` image multiplicities)."""
        if weights is None:
            precision, recall = pr_from_sums(
                self.proposals.sum(0), self.found.sum(0), self.n_gt.sum()
            )
            return float(voc_ap(recall, precision))
        w = np.asarray(weights, dtype=np.float64)
        precision, recall = pr_from_sums(w @ self.proposals, w @ self.found, w @ self.n_gt)
        return voc_ap(recall, precision)

    def counts_at(self, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """Per image: predictions with normalised score >= ``threshold`` and faces they found
        (zero found for images without ground truth)."""
        n_above = np.array(
            [int(np.sum(s >= threshold)) for s in self.pred_norm_scores], dtype=np.int64
        )
        found = np.array(
            [
                int(r[k - 1]) if k > 0 and len(r) else 0
                for r, k in zip(self.pred_recall, n_above, strict=True)
            ],
            dtype=np.int64,
        )
        return n_above, found


class DarkFaceEvaluator:
    """``reset() / process(image_id, gt_boxes, pred_boxes, pred_scores) / evaluate() -> dict``.

    Normalisation needs all scores, so ``process`` only stores; ``evaluate`` does the work.
    """

    def __init__(
        self,
        iou_threshold: float = 0.5,
        num_thresholds: int = 1000,
        working_threshold: float = 0.5,
        size_edges: tuple[float, ...] = (16.0, 32.0),
        size_by: str = "height",
    ) -> None:
        from detectors.evaluation.sizes import SIZE_MEASURES

        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        if num_thresholds < 1:
            raise ValueError(f"num_thresholds must be >= 1, got {num_thresholds}")
        if size_by not in SIZE_MEASURES:
            raise ValueError(f"size_by must be one of {', '.join(SIZE_MEASURES)}, got {size_by!r}")
        check_size_edges(size_edges)
        if not 0.0 <= working_threshold <= 1.0:  # also refuses NaN
            raise ValueError(f"working_threshold must be in [0, 1], got {working_threshold}")
        self.iou_threshold = float(iou_threshold)
        self.num_thresholds = int(num_thresholds)
        self.working_threshold = float(working_threshold)
        self.size_edges = tuple(float(e) for e in size_edges)
        self.size_by = size_by
        self.reset()

    def reset(self) -> None:
        self._records: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def process(
        self, image_id: str, gt_boxes: np.ndarray, pred_boxes: np.ndarray, pred_scores: np.ndarray
    ) -> None:
        image_id = str(image_id)
        if image_id in self._records:
            raise ValueError(f"image {image_id} was processed twice")
        gt = _check_boxes(image_id, "ground-truth boxes", gt_boxes)
        pred = _check_boxes(image_id, "predicted boxes", pred_boxes)
        scores = np.asarray(pred_scores, dtype=np.float64).reshape(-1)
        if len(scores) != len(pred):
            raise ValueError(
                f"image {image_id}: {len(pred)} predicted boxes but {len(scores)} scores"
            )
        if not np.isfinite(scores).all():
            raise ValueError(f"image {image_id}: non-finite prediction scores")
        self._records[image_id] = (gt, pred, scores)

    def __len__(self) -> int:
        return len(self._records)

    def tables(self) -> CurveTables:
        """Match every image and tabulate counts at every threshold."""
        if not self._records:
            raise ValueError("no images were processed")
        ids = list(self._records)
        all_scores = [r[2] for r in self._records.values() if len(r[2])]
        lo = float(min(s.min() for s in all_scores)) if all_scores else 0.0
        hi = float(max(s.max() for s in all_scores)) if all_scores else 1.0
        ts = thresholds(self.num_thresholds)
        asc_ts = ts[::-1]
        n_img, n_t = len(ids), len(ts)
        proposals = np.zeros((n_img, n_t), dtype=np.int64)
        found = np.zeros((n_img, n_t), dtype=np.int64)
        n_gt = np.zeros(n_img, dtype=np.int64)
        n_pred = np.zeros(n_img, dtype=np.int64)
        evaluated = np.zeros(n_img, dtype=bool)
        gt_image, gt_list, hit_scores, norm_list, recall_list = [], [], [], [], []
        for i, image_id in enumerate(ids):
            gt, pred, scores = self._records[image_id]
            order = score_order(scores)
            pred, norm = pred[order], normalise_scores(scores[order], lo, hi)
            n_gt[i], n_pred[i] = len(gt), len(pred)
            pred_recall, first_hit = greedy_match(gt, pred, self.iou_threshold)
            hit = np.full(len(gt), -np.inf)
            hit[first_hit >= 0] = norm[first_hit[first_hit >= 0]]
            gt_image.append(np.full(len(gt), i, dtype=np.int64))
            gt_list.append(gt)
            hit_scores.append(hit)
            norm_list.append(norm)
            recall_list.append(pred_recall)
            if len(gt) == 0 or len(pred) == 0:
                continue
            evaluated[i] = True
            # Number of predictions with s' >= t, for every t (norm is sorted descending).
            n_above = len(norm) - np.searchsorted(norm[::-1], asc_ts, side="left")[::-1]
            proposals[i] = n_above
            found[i] = np.where(n_above > 0, pred_recall[np.maximum(n_above - 1, 0)], 0)
        return CurveTables(
            image_ids=ids,
            thresholds=ts,
            proposals=proposals,
            found=found,
            n_gt=n_gt,
            n_pred=n_pred,
            evaluated=evaluated,
            gt_image=np.concatenate(gt_image),
            gt_boxes=np.concatenate(gt_list).reshape(-1, 4),
            gt_hit_score=np.concatenate(hit_scores),
            pred_norm_scores=norm_list,
            pred_recall=recall_list,
            score_min=lo if all_scores else float("nan"),
            score_max=hi if all_scores else float("nan"),
        )

    def evaluate(self) -> dict[str, Any]:
        """AP, the PR curve, operating points, recall by face size and per-image counts."""
        from detectors.evaluation.sizes import recall_by_size

        tab = self.tables()
        total_gt = int(tab.n_gt.sum())
        precision, recall = pr_from_sums(tab.proposals.sum(0), tab.found.sum(0), total_gt)
        ap = float(voc_ap(recall, precision))
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(
                precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0
            )
        f1 = np.nan_to_num(f1, nan=0.0)
        best = int(np.argmax(f1))
        n_above, n_found = tab.counts_at(self.working_threshold)
        work_props = int(n_above[tab.evaluated].sum())
        work_found = int(n_found[tab.evaluated].sum())
        per_image = [
            {
                "image_id": image_id,
                "n_gt": int(tab.n_gt[i]),
                "n_pred": int(tab.n_pred[i]),
                "n_pred_at_threshold": int(n_above[i]),
                "n_found_at_threshold": int(n_found[i]),
                "evaluated": bool(tab.evaluated[i]),
            }
            for i, image_id in enumerate(tab.image_ids)
        ]
        operating = {
            "working": self.working_threshold,
            "best_f1": float(tab.thresholds[best]),
            "all": 0.0,
        }
        return {
            "mode": "darkface",
            "ap": ap,
            "n_images": len(tab.image_ids),
            "n_images_evaluated": int(tab.evaluated.sum()),
            "n_gt": total_gt,
            "n_pred": int(tab.n_pred.sum()),
            "score_min": tab.score_min,
            "score_max": tab.score_max,
            "iou_threshold": self.iou_threshold,
            "num_thresholds": self.num_thresholds,
            "working_threshold": {
                "threshold": self.working_threshold,
                "proposals": work_props,
                "found": work_found,
                "precision": work_found / work_props if work_props else float("nan"),
                "recall": work_found / total_gt if total_gt else 0.0,
            },
            "best_f1": {
                "threshold": float(tab.thresholds[best]),
                "precision": float(precision[best])
                if np.isfinite(precision[best])
                else float("nan"),
                "recall": float(recall[best]),
                "f1": float(f1[best]),
            },
            "size_recall": recall_by_size(tab, operating, edges=self.size_edges, by=self.size_by),
            "pr_curve": {"threshold": tab.thresholds, "precision": precision, "recall": recall},
            "per_image": per_image,
            "tables": tab,
        }
