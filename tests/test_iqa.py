"""IQA through pyiqa: cached files only, skipped-with-reason when absent, values that make sense."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path
from skimage import data

from iqa.niqe_params import install_niqe_params
from iqa.registry import METRICS, MissingMetricFile, create_metric, missing_files
from iqa.score import score_images
from lldata.imageio import write_png


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub"


def _pair(tmp_path, noise=8.0):
    ref = data.coffee()[:128, :160]
    rng = np.random.default_rng(0)
    noisy = np.clip(ref + rng.normal(0, noise, ref.shape), 0, 255).astype(np.uint8)
    write_png(tmp_path / "ref.png", ref)
    write_png(tmp_path / "out.png", noisy)
    return ref, noisy


def test_psnr_matches_direct_computation(tmp_path, empty_cache):
    ref, noisy = _pair(tmp_path)
    table, skipped = score_images([("a", tmp_path / "out.png", tmp_path / "ref.png")], ["psnr", "ssim"])
    mse = np.mean((ref.astype(np.float64) - noisy.astype(np.float64)) ** 2)
    assert table.loc[0, "psnr"] == pytest.approx(10 * np.log10(255.0**2 / mse), abs=0.01)
    assert 0 < table.loc[0, "ssim"] < 1 and not skipped


def test_metrics_without_files_are_skipped_with_the_file_named(tmp_path, empty_cache):
    _pair(tmp_path)
    assert missing_files("niqe") and "niqe_modelparameters.mat" in missing_files("niqe")[0]
    with pytest.raises(MissingMetricFile, match="niqe_modelparameters.mat"):
        create_metric("niqe")
    table, skipped = score_images([("a", tmp_path / "out.png", None)], ["psnr", "piqe", "niqe", "brisque"])
    assert set(skipped) == {"psnr", "niqe", "brisque"}
    assert "references" in skipped["psnr"] and "brisque_svm_weights.pth" in skipped["brisque"]
    assert list(table.columns) == ["image", "piqe"] and np.isfinite(table.loc[0, "piqe"])


def test_unknown_metric():
    with pytest.raises(KeyError, match="known"):
        create_metric("vmaf")


@pytest.mark.shared
def test_niqe_from_the_shared_pristine_parameters(tmp_path, empty_cache):
    target = install_niqe_params(shared_path("iqa", "niqe_pris_params.npz"))
    assert target == empty_cache / "pyiqa" / "niqe_modelparameters.mat"
    clean = data.coffee()
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 25, clean.shape), 0, 255).astype(np.uint8)
    write_png(tmp_path / "clean.png", clean)
    write_png(tmp_path / "noisy.png", noisy)
    table, skipped = score_images([("c", tmp_path / "clean.png", None), ("n", tmp_path / "noisy.png", None)], ["niqe"])
    assert not skipped
    assert 1 < table.loc[0, "niqe"] < table.loc[1, "niqe"]  # noise makes an image less natural


def test_registry_metadata():
    assert METRICS["niqe"].lower_better and not METRICS["psnr"].lower_better
    assert METRICS["lpips"].full_reference and not METRICS["piqe"].full_reference
