"""Bootstrap over images: a confidence interval for one AP, and a paired test for two methods.

Images are the sampling unit (faces in one image are not independent). A resample is a vector
of image multiplicities; the AP of a resample is computed from the per-image count tables with
one matrix product, so 1,000 resamples of 6,000 images take seconds, not a re-evaluation each.
The score normalisation is the one of the full set (a fixed monotone map), not redone per
resample.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from detectors.evaluation.darkface import CurveTables


def resample_weights(n_images: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot x n_images`` multiplicities of images drawn with replacement."""
    idx = rng.integers(0, n_images, size=(n_boot, n_images))
    flat = idx + (np.arange(n_boot)[:, None] * n_images)
    return np.bincount(flat.ravel(), minlength=n_boot * n_images).reshape(n_boot, n_images)


def _ap_samples(
    tables: list[CurveTables], n_boot: int, seed: int, chunk: int = 250
) -> list[np.ndarray]:
    """AP of each table under the SAME resamples (so differences are paired)."""
    n_images = len(tables[0].image_ids)
    rng = np.random.default_rng(seed)
    out: list[list[np.ndarray]] = [[] for _ in tables]
    done = 0
    while done < n_boot:
        size = min(chunk, n_boot - done)
        weights = resample_weights(n_images, size, rng).astype(np.float64)
        for k, tab in enumerate(tables):
            out[k].append(np.asarray(tab.ap(weights)))
        done += size
    return [np.concatenate(o) if o else np.zeros(0) for o in out]


@dataclass(frozen=True)
class BootstrapCI:
    ap: float
    low: float
    high: float
    level: float
    n_boot: int
    seed: int
    std: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PairedBootstrap:
    """``diff = AP(b) - AP(a)``; ``p_value`` is the fraction of resamples with diff <= 0
    (one-sided: small means b is reliably better than a)."""

    ap_a: float
    ap_b: float
    diff: float
    low: float
    high: float
    level: float
    p_value: float
    n_boot: int
    seed: int
    n_images: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# Cost grows linearly (each resample is one pass over the count tables); 100,000 resamples put
# the Monte-Carlo error of a 95% bound far below any difference worth reporting.
MAX_RESAMPLES = 100_000


def min_resamples(level: float) -> int:
    """Fewest resamples whose percentile interval at ``level`` has at least one resample in each
    tail (40 for 95%): with fewer, the "interval" is the range of a handful of draws."""
    return math.ceil(round(2.0 / (1.0 - level), 9))


def check_bootstrap(n_boot: int, level: float) -> None:
    """Refuse a resample count or confidence level that gives no meaningful interval."""
    if not 0.0 < level < 1.0:  # also refuses NaN
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    low = min_resamples(level)
    if not low <= n_boot <= MAX_RESAMPLES:
        raise ValueError(
            f"bootstrap resamples must be between {low} (for a {level:.1%} interval) and "
            f"{MAX_RESAMPLES}, got {n_boot}"
        )




def bootstrap_ap(
    tables: CurveTables, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> BootstrapCI:
    """Percentile confidence interval of the AP over images."""
    check_bootstrap(n_boot, level)
    (samples,) = _ap_samples([tables], n_boot, seed)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(samples, [alpha, 1.0 - alpha])
    return BootstrapCI(
        ap=float(tables.ap()),
        low=float(low),
        high=float(high),
        level=level,
        n_boot=n_boot,
        seed=seed,
        std=float(samples.std(ddof=1)) if n_boot > 1 else 0.0,
    )


def align_tables(a: CurveTables, b: CurveTables) -> CurveTables:
    """``b`` re-ordered to ``a``'s images; a different image set is an error."""
    if set(a.image_ids) != set(b.image_ids):
        only_a = sorted(set(a.image_ids) - set(b.image_ids))[:5]
        only_b = sorted(set(b.image_ids) - set(a.image_ids))[:5]
        raise ValueError(
            f"paired comparison needs the same images; only in A: {only_a}, only in B: {only_b}"
        )
    if a.image_ids == b.image_ids:
        return b
    pos = {img: i for i, img in enumerate(b.image_ids)}
    order = np.array([pos[i] for i in a.image_ids])
    return CurveTables(
        image_ids=list(a.image_ids),
        thresholds=b.thresholds,
        proposals=b.proposals[order],
        found=b.found[order],
        n_gt=b.n_gt[order],
        n_pred=b.n_pred[order],
        evaluated=b.evaluated[order],
        gt_image=np.argsort(order)[b.gt_image] if len(b.gt_image) else b.gt_image,
        gt_boxes=b.gt_boxes,
        gt_hit_score=b.gt_hit_score,
        pred_norm_scores=[b.pred_norm_scores[j] for j in order],
        pred_recall=[b.pred_recall[j] for j in order],
        score_min=b.score_min,
        score_max=b.score_max,
    )


def paired_bootstrap(
    a: CurveTables, b: CurveTables, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> PairedBootstrap:
    """Bootstrap of ``AP(b) - AP(a)`` with the same resampled images for both methods."""
    check_bootstrap(n_boot, level)
    b = align_tables(a, b)
    if not np.array_equal(a.n_gt, b.n_gt):
        raise ValueError(
            "paired comparison needs the same ground truth: face counts per image differ"
        )
    samples_a, samples_b = _ap_samples([a, b], n_boot, seed)
    diffs = samples_b - samples_a
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(diffs, [alpha, 1.0 - alpha])
    ap_a, ap_b = float(a.ap()), float(b.ap())
    return PairedBootstrap(
        ap_a=ap_a,
        ap_b=ap_b,
        diff=ap_b - ap_a,
        low=float(low),
        high=float(high),
        level=level,
        p_value=float(np.mean(diffs <= 0)),
        n_boot=n_boot,
        seed=seed,
        n_images=len(a.image_ids),
    )
