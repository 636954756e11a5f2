"""The metrics this project reports, with the files each needs and where pyiqa looks for them.

pyiqa reads its parameter files from ``$TORCH_HOME/hub/pyiqa`` and torchvision backbones from
``$TORCH_HOME/hub/checkpoints``; it would download missing ones. We check the cache first and
refuse downloads, so a metric either runs from cached files or is skipped with a message saying
which file to put where.
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
class NeededFile:
    name: str
    subdir: str  # under $TORCH_HOME/hub
    url: str


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


# the project's one registry helper: an unknown name is an UnknownNameError (a KeyError)
METRICS: Registry[MetricSpec] = Registry("metric", {
    spec.name: spec
    for spec in [
        MetricSpec("psnr", "psnr", True, False, "dB, higher is better", "peak signal-to-noise ratio on RGB",
                   options={"test_y_channel": False}),
        MetricSpec("ssim", "ssim", True, False, "0..1", "structural similarity (Gaussian window, RGB)",
                   options={"test_y_channel": False}),
        MetricSpec("lpips", "lpips", True, True, "0..1, lower is better", "learned perceptual distance (AlexNet, v0.1)",
                   files=(NeededFile("LPIPS_v0.1_alex-df73285e.pth", "pyiqa", HF + "LPIPS_v0.1_alex-df73285e.pth"),
                          NeededFile("alexnet-owt-7be5be79.pth", "checkpoints", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"))),
        MetricSpec("niqe", "niqe", False, True, "lower is better", "naturalness (pristine MVG model, MATLAB parameters)",
                   files=(NeededFile("niqe_modelparameters.mat", "pyiqa", HF + "niqe_modelparameters.mat"),)),
        MetricSpec("piqe", "piqe", False, True, "0..100, lower is better", "perception-based, block-wise distortion score"),
        MetricSpec("brisque", "brisque", False, True, "lower is better", "natural scene statistics + SVR",
                   files=(NeededFile("brisque_svm_weights.pth", "pyiqa", HF + "brisque_svm_weights.pth"),)),
    ]
})


def hub_dir() -> Path:
    """The torch hub folder pyiqa uses: ``$TORCH_HOME/hub`` (default ``~/.cache/torch/hub``)."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
    return Path(torch_home) / "hub"


def missing_files(name: str) -> list[str]:
    """Human-readable lines for every file ``name`` needs that is not cached."""
    spec = METRICS[name]
    out = []
    for needed in spec.files:
        path = hub_dir() / needed.subdir / needed.name
        if not path.is_file():
            out.append(f"{path} (download {needed.url})")
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
    """Create a pyiqa metric by our name, from cached files only."""
    missing = missing_files(name)  # an unknown name raises UnknownNameError here
    if missing:
        raise MissingMetricFile(f"metric {name} needs: " + "; ".join(missing))
    import pyiqa

    _forbid_downloads()
    spec = METRICS[name]
    return pyiqa.create_metric(spec.pyiqa_name, device=device, as_loss=False, **spec.options)
