"""The DARK FACE AP on hand-computed cases, and against a line-by-line port of the official tool."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.evaluation import DarkFaceEvaluator, greedy_match, iou_inclusive, voc_ap
from detectors.evaluation.darkface import normalise_scores, thresholds

G1, G2, G3 = [0, 0, 9, 9], [100, 100, 109, 109], [200, 200, 209, 209]
FAR = [500, 500, 519, 519]


def evaluate(images: list[tuple[list, list, list]], **kw) -> dict:
    ev = DarkFaceEvaluator(**kw)
    for i, (gt, boxes, scores) in enumerate(images):
        ev.process(
            str(i),
            np.array(gt, float).reshape(-1, 4),
            np.array(boxes, float).reshape(-1, 4),
            scores,
        )
    return ev.evaluate()


# --- IoU convention ---------------------------------------------------------------------------


def test_iou_uses_inclusive_pixels():
    iou = iou_inclusive(
        np.array([G1]), np.array([[5, 0, 14, 9], [9, 0, 18, 9], [10, 0, 19, 9], G1])
    )
    # half overlap: 5 x 10 px of 100 + 100 - 50; touching: one shared column; disjoint; identical
    np.testing.assert_allclose(iou[:, 0], [50 / 150, 10 / 190, 0.0, 1.0])


def test_iou_exactly_half_is_a_hit_only_with_inclusive_pixels():
    # [0,0,9,4] covers 50 of G1's 100 pixels -> IoU 0.5 exactly (continuous boxes would say 0.44)
    pred_recall, first_hit = greedy_match(np.array([G1]), np.array([[0, 0, 9, 4]]), 0.5)
    assert pred_recall.tolist() == [1] and first_hit.tolist() == [0]
    pred_recall, _ = greedy_match(np.array([G1]), np.array([[0, 0, 9, 3]]), 0.5)
    assert pred_recall.tolist() == [0]


def test_best_box_taken_means_no_fallback():
    # p2 overlaps g1 (IoU 0.667, best) and g2 (0.538); g1 already found -> nothing new.
    g = np.array([G1, [0, 5, 9, 14]])
    pred_recall, first_hit = greedy_match(g, np.array([G1, [0, 2, 9, 11]]), 0.5)
    assert pred_recall.tolist() == [1, 1]
    assert first_hit.tolist() == [0, -1]
    res = evaluate([(g.tolist(), [G1, [0, 2, 9, 11]], [1.0, 0.0])])
    assert res["ap"] == pytest.approx(0.5)


# --- hand-computed AP -------------------------------------------------------------------------


def test_duplicates_and_misses():
    # p1 finds g1, p2 duplicates g1, p3 is a false positive, p4 finds g2, g3 is missed.
    # Curve: (R 1/3, P 1), (1/3, 1/2), (1/3, 1/3), (2/3, 1/2) -> AP = 1/3 * 1 + 1/3 * 1/2
    res = evaluate([([G1, G2, G3], [G1, [0, 0, 9, 8], FAR, G2], [0.9, 0.8, 0.7, 0.6])])
    assert res["ap"] == pytest.approx(0.5)
    assert res["n_gt"] == 3 and res["n_pred"] == 4


def test_images_without_predictions_count_their_faces():
    base = ([G1, G2, G3], [G1, [0, 0, 9, 8], FAR, G2], [0.9, 0.8, 0.7, 0.6])
    res = evaluate([base, ([G1, G2], [], [])])
    # same curve, five faces: AP = 1/5 * 1 + 1/5 * 1/2
    assert res["ap"] == pytest.approx(0.3)
    assert res["n_images_evaluated"] == 1


def test_images_without_ground_truth_are_skipped():
    base = ([G1, G2, G3], [G1, [0, 0, 9, 8], FAR, G2], [0.9, 0.8, 0.7, 0.6])
    # A confident false positive in an image without faces: not counted (it only moves the max).
    res = evaluate([base, ([G1, G2], [], []), ([], [FAR], [0.95])])
    assert res["ap"] == pytest.approx(0.3)
    assert res["score_max"] == pytest.approx(0.95)
    assert res["per_image"][2]["evaluated"] is False


def test_no_predictions_at_all():
    res = evaluate([([G1], [], []), ([G2], [], [])])
    assert res["ap"] == 0.0
    assert np.isnan(res["pr_curve"]["precision"]).all()
    assert (res["pr_curve"]["recall"] == 0).all()


def test_tied_scores_enter_together_and_order_does_not_matter():
    # a: FP 1.0; b: TP(g1) 0.5; c: FP 0.5; d: TP(g2) 0.0.
    # t > .5: P 0 R 0; .5 >= t > 0: P 1/3 R 1/2; t = 0: P 1/2 R 1 -> AP = .5 * .5 + .5 * .5
    boxes = [FAR, G1, [300, 300, 309, 309], G2]
    res = evaluate([([G1, G2], boxes, [1.0, 0.5, 0.5, 0.0])])
    assert res["ap"] == pytest.approx(0.5)
    swapped = evaluate([([G1, G2], [FAR, [300, 300, 309, 309], G1, G2], [1.0, 0.5, 0.5, 0.0])])
    assert swapped["ap"] == res["ap"]


def test_all_scores_equal_uses_the_shift_rule():
    assert normalise_scores(np.array([0.7, 0.7]), 0.7, 0.7).tolist() == [1.0, 1.0]
    # every prediction is above every threshold: one point P 1/2, R 1/2 -> AP 1/4
    res = evaluate([([G1, G2], [G1, FAR], [0.7, 0.7])])
    assert res["ap"] == pytest.approx(0.25)
    single = evaluate([([G1], [G1], [0.3])])
    assert single["ap"] == pytest.approx(1.0)


def test_min_max_normalisation_is_global():
    # Image 0's only prediction has the lowest score of the set -> normalised 0, found only at t=0.
    res = evaluate([([G1], [G1], [0.2]), ([G2], [G2, FAR], [0.9, 0.5])])
    thr = res["pr_curve"]["threshold"]
    rec = res["pr_curve"]["recall"]
    assert rec[thr > 0].max() == pytest.approx(0.5) and rec[-1] == pytest.approx(1.0)


def test_thresholds_and_voc_ap():
    t = thresholds(1000)
    assert len(t) == 1000 and t[0] == pytest.approx(0.999) and t[-1] == 0.0
    # NaN precision (no proposals) is ignored like Octave's max; recall steps .5 then .5
    assert voc_ap(np.array([0.0, 0.5, 1.0]), np.array([np.nan, 1.0, 0.5])) == pytest.approx(0.75)
    assert voc_ap(np.array([[0.5], [0.0]]), np.array([[1.0], [np.nan]])).tolist() == [0.5, 0.0]


def test_working_threshold_counts_and_size_recall():
    small, big = [0, 0, 9, 9], [100, 100, 139, 139]  # heights 10 and 40 px
    res = evaluate([([small, big], [big, small], [0.9, 0.1])], working_threshold=0.5)
    assert res["working_threshold"]["found"] == 1 and res["working_threshold"]["proposals"] == 1
    row = res["per_image"][0]
    assert (
        row["n_gt"],
        row["n_pred"],
        row["n_pred_at_threshold"],
        row["n_found_at_threshold"],
    ) == (2, 2, 1, 1)
    sizes = {(r["operating_point"], r["bucket"]): r["recall"] for r in res["size_recall"]}
    assert sizes[("working", "<16")] == 0.0 and sizes[("working", ">=32")] == 1.0
    assert sizes[("all", "<16")] == 1.0
    assert np.isnan(sizes[("working", "16-32")])


def test_bad_evaluator_input_names_the_image():
    ev = DarkFaceEvaluator()
    with pytest.raises(ValueError, match="image x: predicted boxes row 0"):
        ev.process("x", np.array([G1]), np.array([[5, 5, 1, 1]]), [0.5])
    with pytest.raises(ValueError, match="image y: 1 predicted boxes but 2 scores"):
        ev.process("y", np.array([G1]), np.array([G1]), [0.5, 0.4])
    ev.process("z", np.array([G1]), np.array([G1]), [0.5])
    with pytest.raises(ValueError, match="processed twice"):
        ev.process("z", np.array([G1]), np.array([G1]), [0.5])
    ev.reset()
    with pytest.raises(ValueError, match="no images"):
        ev.evaluate()


# --- against a direct port of the official Octave code ---------------------------------------


def _official_port(images: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> float:
    """Loop-for-loop transcription of the WIDER/DARK FACE eval tool (norm_score,
    image_evaluation, image_pr_info, dataset_pr_info, VOCap)."""
    scores = np.concatenate([s for _, _, s in images if len(s)])
    lo, hi = scores.min(), scores.max()
    pr = np.zeros((1000, 2))
    count_face = 0
    for gt, boxes, s in images:
        count_face += len(gt)
        if len(gt) == 0 or len(boxes) == 0:
            continue
        order = np.argsort(-s, kind="stable")
        boxes, s = boxes[order], s[order]
        s = (s - lo) / (hi - lo) if hi != lo else s - (lo - 1)
        found = np.zeros(len(gt))
        pred_recall = np.zeros(len(boxes))
        for h in range(len(boxes)):
            ov = []
            for g in gt:
                w = min(g[2], boxes[h, 2]) - max(g[0], boxes[h, 0]) + 1
                hh = min(g[3], boxes[h, 3]) - max(g[1], boxes[h, 1]) + 1
                a = (g[2] - g[0] + 1) * (g[3] - g[1] + 1)
                b = (boxes[h, 2] - boxes[h, 0] + 1) * (boxes[h, 3] - boxes[h, 1] + 1)
                ov.append(0.0 if w <= 0 or hh <= 0 else w * hh / (a + b - w * hh))
            idx = int(np.argmax(ov))
            if ov[idx] >= 0.5 and found[idx] == 0:
                found[idx] = 1
            pred_recall[h] = found.sum()
        for t in range(1, 1001):
            r_index = np.flatnonzero(s >= 1 - t / 1000)
            if len(r_index):
                pr[t - 1, 0] += r_index[-1] + 1
                pr[t - 1, 1] += pred_recall[r_index[-1]]
    with np.errstate(invalid="ignore"):
        prec, rec = pr[:, 1] / pr[:, 0], pr[:, 1] / count_face
    mrec, mpre = np.r_[0, rec, 1], np.r_[0, prec, 0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = (
            mpre[i + 1]
            if np.isnan(mpre[i])
            else (mpre[i] if np.isnan(mpre[i + 1]) else max(mpre[i], mpre[i + 1]))
        )
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


def random_scene(rng: np.random.Generator, n_images: int, overlap: bool) -> list:
    images = []
    for _ in range(n_images):
        n_gt = rng.integers(0, 6)
        xy = rng.uniform(0, 200 if overlap else 900, size=(n_gt, 2))
        wh = rng.uniform(4, 60, size=(n_gt, 2))
        gt = np.round(np.column_stack([xy, xy + wh]))
        preds = []
        for g in gt:
            for _ in range(rng.integers(0, 3)):
                preds.append(g + rng.normal(0, 0.15 * (g[2] - g[0] + 1), 4))
        for _ in range(rng.integers(0, 4)):
            p = rng.uniform(0, 900, 2)
            preds.append(np.r_[p, p + rng.uniform(4, 60, 2)])
        boxes = np.array(preds).reshape(-1, 4)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
        scores = np.round(rng.uniform(0, 1, len(boxes)), 2)  # 2 decimals: many ties
        images.append((gt.reshape(-1, 4), boxes, scores))
    return images


@pytest.mark.parametrize("overlap", [False, True])
def test_matches_port_of_official_tool(overlap):
    images = random_scene(np.random.default_rng(7 + overlap), 60, overlap)
    ev = DarkFaceEvaluator()
    for i, (gt, boxes, scores) in enumerate(images):
        ev.process(str(i), gt, boxes, scores)
    assert ev.evaluate()["ap"] == pytest.approx(_official_port(images), abs=1e-12)
