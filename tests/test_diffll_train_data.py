"""Training data (pair lists, LOL folders, synthetic pairs, seeded order) and the losses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from diffll import data as D
from diffll import losses as L
from lldata.imageio import write_png


def make_lol(root: Path, stems: list[str], high_stems: list[str] | None = None, size: int = 80) -> Path:
    rng = np.random.default_rng(0)
    (root / "low").mkdir(parents=True)
    (root / "high").mkdir(parents=True)
    for s in stems:
        hi = rng.integers(0, 256, (size, size + 16, 3), dtype=np.uint8)
        write_png(root / "low" / f"{s}.png", (hi // 5).astype(np.uint8))
        if high_stems is None:
            write_png(root / "high" / f"{s}.png", hi)
    for s in high_stems or []:
        write_png(root / "high" / f"{s}.png", rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    return root


def test_lol_reader_pairs_matching_stems(tmp_path: Path) -> None:
    items = D.items_from_lol(make_lol(tmp_path / "lol", ["2", "10", "1"]))
    assert [i.low.stem for i in items] == ["1", "10", "2"]
    assert all(i.low.stem == i.target.stem for i in items)


def test_lol_reader_names_mismatched_files(tmp_path: Path) -> None:
    root = make_lol(tmp_path / "lol", ["1", "2", "3"], high_stems=["1", "2", "4"])
    with pytest.raises(ValueError) as info:
        D.items_from_lol(root)
    message = str(info.value)
    assert "3.png" in message and "4.png" in message and "do not match" in message


def test_lol_reader_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "lol" / "low").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no normal-light folder"):
        D.items_from_lol(tmp_path / "lol")


def test_crops_are_aligned_and_depend_only_on_seed_epoch_index(tmp_path: Path) -> None:
    items = D.items_from_lol(make_lol(tmp_path / "lol", ["a", "b"]))
    ds = D.PairedImageDataset(items, patch_size=32, seed=5)
    x = ds[(3, 1)]
    assert x["low"].shape == (3, 32, 32) and x["gt"].shape == (3, 32, 32)
    # low was made as high // 5: the same window must satisfy that relation everywhere
    assert torch.equal(x["low"], torch.floor(x["gt"] * 255 / 5) / 255)
    assert torch.equal(ds[(3, 1)]["low"], x["low"])
    assert not torch.equal(ds[(4, 1)]["low"], x["low"])
    assert not torch.equal(D.PairedImageDataset(items, 32, seed=6)[(3, 1)]["low"], x["low"])
    full = D.PairedImageDataset(items, patch_size=None, eval_crop=None)[0]
    assert full["low"].shape == (3, 64, 96)  # 80 x 96 cut to multiples of 32


def test_small_images_are_padded_to_the_patch(tmp_path: Path) -> None:
    items = D.items_from_lol(make_lol(tmp_path / "lol", ["a"], size=20))
    x = D.PairedImageDataset(items, patch_size=64, seed=0)[(0, 0)]
    assert x["low"].shape == (3, 64, 64)


def test_epoch_sampler_is_seeded_and_resumable() -> None:
    s = D.EpochBatchSampler(10, 3, seed=1)
    assert s.batches_per_epoch == 3
    stream = iter(s)
    first = [next(stream) for _ in range(7)]
    assert {e for b in first[:3] for e, _ in b} == {0} and first[3][0][0] == 1
    assert len({i for b in first[:3] for _, i in b}) == 9  # a permutation, no repeats
    resumed = iter(D.EpochBatchSampler(10, 3, seed=1, start_epoch=1, start_batch=1))
    assert next(resumed) == first[4]
    assert [next(iter(D.EpochBatchSampler(10, 3, seed=2)))] != first[:1]
    tiny = iter(D.EpochBatchSampler(2, 4, seed=0))
    assert len(next(tiny)) == 4  # smaller than a batch: repeated within the epoch


def test_pair_list_items_and_mixed_dataset(tmp_path: Path) -> None:
    from diffll.pairs import write_pair_list

    make_lol(tmp_path / "frames", ["1", "2", "3"])
    record = {
        "format": "diffll-pairs",
        "version": 1,
        "root": "frames",
        "pairs": [
            {"scene": "s1", "low": "low/1.png", "target": "high/1.png", "split": "train"},
            {"scene": "s2", "low": "low/2.png", "target": "high/2.png", "split": "train"},
            {"scene": "s3", "low": "low/3.png", "target": "high/3.png", "split": "val"},
        ],
    }
    write_pair_list(record, tmp_path / "pairs.json")
    train = D.items_from_pair_list(tmp_path / "pairs.json", "train")
    assert [i.name for i in train] == ["s1/1", "s2/2"] and train[0].low.is_file()
    assert len(D.items_from_pair_list(tmp_path / "pairs.json", "val")) == 1
    targets = D.target_images_of_pair_list(tmp_path / "pairs.json")
    real = D.PairedImageDataset(train, 32, seed=0)
    synthetic = D.SyntheticPairDataset(targets, 32, seed=0)
    mixed = D.MixedPairDataset(real, synthetic, 0.5, seed=0)
    flags = [mixed[(0, k % 2)]["synthetic"] for k in range(2)] + [mixed[(e, 0)]["synthetic"] for e in range(1, 30)]
    assert 0 < sum(flags) < len(flags)
    a, b = synthetic[(2, 1)], synthetic[(2, 1)]
    assert torch.equal(a["low"], b["low"]) and a["low"].mean() < a["gt"].mean()
    with pytest.raises(ValueError, match="no synthetic source"):
        D.MixedPairDataset(real, None, 0.5)


def test_collate_rejects_mixed_sizes() -> None:
    a = {"low": torch.zeros(3, 32, 32), "gt": torch.zeros(3, 32, 32), "name": "a", "synthetic": False}
    b = {"low": torch.zeros(3, 64, 32), "gt": torch.zeros(3, 64, 32), "name": "b", "synthetic": False}
    with pytest.raises(ValueError, match="a, b"):
        D.collate([a, b])


# ---- losses ------------------------------------------------------------------------------------


def test_ssim_matches_scikit_image() -> None:
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(0)
    x = rng.random((40, 48, 3))
    y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1)
    ref = structural_similarity(
        x, y, channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0
    )
    to_t = lambda a: torch.from_numpy(a.transpose(2, 0, 1)[None]).float()  # noqa: E731
    got = float(L.ssim(to_t(x), to_t(y), data_range=1.0))
    assert got == pytest.approx(ref, abs=2e-4)
    assert float(L.ssim(to_t(x), to_t(x))) == pytest.approx(1.0, abs=1e-6)


def test_total_variation_follows_the_spec() -> None:
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    # vertical differences are all 5, horizontal all 1
    assert float(L.total_variation(x)) == pytest.approx(2 * (25 + 1) / 2)
    assert float(L.total_variation(x, "authors_code")) == pytest.approx(2 * (25 + 1) / 2 * 2 * 3)
    with pytest.raises(ValueError):
        L.total_variation(x, "other")


def test_diffll_loss_terms_and_weights() -> None:
    torch.manual_seed(0)
    b = 2
    out = {
        "noise_output": torch.randn(b, 3, 8, 8),
        "pred_x": torch.rand(b, 3, 32, 32),
        "pred_LL": torch.randn(b, 3, 16, 16),
        "input_high0": torch.randn(3 * b, 3, 16, 16),
        "input_high1": torch.randn(3 * b, 3, 8, 8),
        "gt_high1": torch.randn(3 * b, 3, 16, 16),
        "gt_high2": torch.randn(3 * b, 3, 8, 8),
        "gt_LL1": torch.randn(b, 3, 16, 16),
    }
    gt, e = torch.rand(b, 3, 32, 32), torch.randn(b, 3, 8, 8)
    total, terms = L.DiffLLLoss()(out, gt, e)
    mse = torch.nn.functional.mse_loss
    expected = {
        "noise": mse(out["noise_output"], e),
        "l1": (out["pred_x"] - gt).abs().mean(),
        "ssim": 1 - L.ssim(out["pred_x"], gt),
        "band": 0.1 * (mse(out["input_high0"], out["gt_high1"]) + mse(out["input_high1"], out["gt_high2"])
                       + mse(out["pred_LL"], out["gt_LL1"])),
        "tv": 0.01 * sum(L.total_variation(out[k]) for k in ("input_high0", "input_high1", "pred_LL")),
    }
    for k, v in expected.items():
        assert float(terms[k]) == pytest.approx(float(v), rel=1e-6), k
    assert float(total) == pytest.approx(float(sum(expected.values())), rel=1e-6)
    with pytest.raises(KeyError, match="gt_LL1"):
        L.DiffLLLoss()({k: v for k, v in out.items() if k != "gt_LL1"}, gt, e)
