"""PSNR of two images as arrays, the one formula the fidelity checks share (benchmark modes
against their reference output, tiled against full-frame DiffLL). Quality tables of the study
go through :mod:`iqa` (pyiqa) instead."""

from __future__ import annotations

import math

import numpy as np


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    """PSNR in dB of two images with values up to ``peak`` (1 for float [0, 1], 255 for uint8);
    ``inf`` when identical. Shapes must agree."""
    if a.shape != b.shape:
        raise ValueError(f"cannot compare images of shapes {a.shape} and {b.shape}")
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(peak**2 / mse)
