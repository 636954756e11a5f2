"""pycocotools agreement, and the image bootstrap (CI and paired difference)."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.evaluation import DarkFaceEvaluator, bootstrap_ap, coco_ap, paired_bootstrap


def coco_compatible_set(seed: int = 0, n_images: int = 220) -> list:
    """Random images where the COCO and DARK FACE protocols must agree: every image has faces,
    faces are far apart (no box can reach IoU 0.5 with two of them) and all scores fall in
    different official threshold bins (k / 999 for distinct k, at most 1,000 boxes)."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n_images):
        cells = rng.choice(16, size=rng.integers(1, 4), replace=False)  # 4 x 4 grid of 200 px cells
        gt, preds = [], []
        for c in cells:
            x, y = 200 * (c % 4) + rng.uniform(0, 100), 200 * (c // 4) + rng.uniform(0, 100)
            w, h = rng.uniform(8, 60, 2)
            g = np.round([x, y, x + w, y + h])
            gt.append(g)
            for _ in range(rng.choice(3, p=[0.25, 0.55, 0.2])):  # misses, hits, duplicates
                preds.append(g + rng.normal(0, 0.12 * (g[2] - g[0] + 1), 4))
        if rng.uniform() < 0.6:
            p = rng.uniform(820, 950, 2)  # outside the grid: a false positive
            preds.append(np.r_[p, p + rng.uniform(8, 40, 2)])
        boxes = np.array(preds).reshape(-1, 4)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        images.append([str(len(images)), np.array(gt), boxes, None])
    n_pred = sum(len(im[2]) for im in images)
    assert n_pred <= 1000
    ks = rng.permutation(1000)[:n_pred]
    ks[np.argmin(ks)], ks[np.argmax(ks)] = 0, 999  # fix the normalisation range to [0, 999]
    start = 0
    for im in images:
        im[3] = ks[start : start + len(im[2])] / 999.0
        start += len(im[2])
    return [tuple(im) for im in images]


def darkface(images) -> DarkFaceEvaluator:
    ev = DarkFaceEvaluator()
    for rec in images:
        ev.process(*rec)
    return ev


@pytest.fixture(scope="module")
def synthetic():
    return coco_compatible_set()


def test_agrees_with_pycocotools(synthetic):
    ours = darkface(synthetic).evaluate()["ap"]
    coco = coco_ap(synthetic)
    assert 0.3 < ours < 0.95  # a non-trivial curve
    assert coco["ap"] == pytest.approx(ours, abs=1e-3)
    # the standard 101-point value is close but is a different number
    assert coco["ap_coco101"] == pytest.approx(ours, abs=0.02)


def test_coco_falls_back_to_second_best_box_unlike_official_tool():
    g = np.array([[0, 0, 9, 9], [0, 5, 9, 14]], float)
    pred = np.array([[0, 0, 9, 9], [0, 2, 9, 11]], float)
    images = [("a", g, pred, np.array([1.0, 0.0]))]
    assert darkface(images).evaluate()["ap"] == pytest.approx(0.5)
    assert coco_ap(images)["ap"] == pytest.approx(1.0, abs=1e-4)


def test_coco_without_detections_is_zero():
    assert coco_ap([("a", np.array([[0, 0, 9, 9.0]]), np.zeros((0, 4)), np.zeros(0))])["ap"] == 0.0


def test_bootstrap_ci_contains_point_and_is_deterministic(synthetic):
    tables = darkface(synthetic).tables()
    ci = bootstrap_ap(tables, n_boot=300, seed=3)
    assert ci.low <= ci.ap <= ci.high and ci.low < ci.high
    assert ci == bootstrap_ap(tables, n_boot=300, seed=3)
    assert bootstrap_ap(tables, n_boot=300, seed=4) != ci


def test_reweighted_ap_equals_evaluating_the_duplicated_set(synthetic):
    images = synthetic[:40]
    tables = darkface(images).tables()
    weights = np.random.default_rng(1).integers(
        1, 4, size=len(images)
    )  # every image kept: same min/max
    duplicated = [
        (f"{img[0]}_{k}", *img[1:])
        for img, w in zip(images, weights, strict=True)
        for k in range(w)
    ]
    assert tables.ap(weights[None, :].astype(float))[0] == pytest.approx(
        darkface(duplicated).evaluate()["ap"]
    )


def test_paired_bootstrap_against_itself_is_zero(synthetic):
    tables = darkface(synthetic).tables()
    res = paired_bootstrap(tables, tables, n_boot=200, seed=0)
    assert (res.diff, res.low, res.high, res.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_paired_bootstrap_detects_a_better_method(synthetic):
    worse = [(i, g, p, s) for i, g, p, s in synthetic]
    better = [
        (i, g, np.vstack([p, g]), np.r_[s * 0.5, np.full(len(g), 1.0)]) for i, g, p, s in synthetic
    ]
    a, b = darkface(worse).tables(), darkface(better[::-1]).tables()  # order must not matter
    res = paired_bootstrap(a, b, n_boot=200, seed=0)
    assert res.diff > 0 and res.low > 0 and res.p_value == 0.0
    with pytest.raises(ValueError, match="same images"):
        paired_bootstrap(a, darkface(worse[:-1]).tables(), n_boot=40)
