"""Identity and the global/local tone-curve baselines: raw, he, clahe, gamma, gamma_auto.

Library implementations are used wherever one exists (scikit-image for histogram equalisation,
OpenCV for CLAHE, SciPy for the root finding of ``gamma_auto``); only the glue is ours. SciPy and
scikit-image are imported by the methods that use them: ``raw``'s job then loads neither (SciPy's
optimiser alone took 0.4 s to import, more than the rest of the job).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from enhancers.base import Method, resolve_host_device

if TYPE_CHECKING:
    import torch  # annotations only: numpy methods run without torch

# Rec. 709 / sRGB luma weights, applied to the stored (gamma-encoded) values.
LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float64)


def luminance(image: np.ndarray) -> np.ndarray:
    """Per-pixel luma ``0.2126 R + 0.7152 G + 0.0722 B`` of an ``H x W x 3`` image."""
    return np.asarray(image, dtype=np.float64) @ LUMA


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


class Raw(Method):
    """The unprocessed input: the baseline every enhancer is compared with."""

    name = "raw"
    family = "identity"
    description = "No enhancement: returns the input as float [0, 1]."

    def __init__(self, device: str | torch.device = "auto", weights_dir: str | None = None) -> None:
        super().__init__(self.describe(), resolve_host_device(device))

    def _enhance_numpy(self, image: np.ndarray, name: str | None) -> np.ndarray:
        return image

    def _enhance_batch(self, batch: torch.Tensor, name: str | None) -> torch.Tensor:
        return batch


class HistogramEqualisation(Method):
    """Global histogram equalisation of V (HSV value = max(R, G, B)); hue and saturation kept.

    Equalising V rather than each RGB channel avoids colour shifts; V rather than Lab L keeps
    the operation a pure per-pixel rescaling of the RGB triplet.
    """

    name = "he"
    paper = "Gonzalez & Woods, Digital Image Processing (histogram equalisation)"
    description = "Global histogram equalisation (skimage) of the HSV value channel."

    def __init__(
        self,
        device: str | torch.device = "auto",
        weights_dir: str | None = None,
        *,
        nbins: int = 256,
    ) -> None:
        _require(int(nbins) >= 2, f"he: nbins must be >= 2, got {nbins}")
        self.nbins = int(nbins)
        super().__init__(self.describe(nbins=self.nbins), resolve_host_device(device))

    def _enhance_numpy(self, image: np.ndarray, name: str | None) -> np.ndarray:
        from skimage import color, exposure

        hsv = color.rgb2hsv(image)
        v = hsv[..., 2]
        if float(v.max()) == float(v.min()):  # flat image: nothing to equalise
            return image
        hsv[..., 2] = exposure.equalize_hist(v, nbins=self.nbins)
        return color.hsv2rgb(hsv).astype(np.float32)


class CLAHE(Method):
    """Contrast-limited adaptive histogram equalisation (OpenCV) on L of CIE Lab.

    OpenCV's CLAHE works on 8-bit data, so L (0..100) is quantised to 256 levels for the
    mapping; a and b stay float, which keeps colours exact.
    """

    name = "clahe"
    paper = "Zuiderveld, Contrast Limited Adaptive Histogram Equalization, Graphics Gems IV (1994)"
    description = (
        "CLAHE (cv2) on L of CIE Lab; clip_limit relative to the mean bin count, "
        "tile x tile grid of contextual regions."
    )

    def __init__(
        self,
        device: str | torch.device = "auto",
        weights_dir: str | None = None,
        *,
        clip_limit: float = 2.0,
        tile: int = 8,
    ) -> None:
        _require(float(clip_limit) > 0, f"clahe: clip_limit must be > 0, got {clip_limit}")
        _require(int(tile) >= 1, f"clahe: tile must be >= 1, got {tile}")
        self.clip_limit = float(clip_limit)
        self.tile = int(tile)
        info = self.describe(clip_limit=self.clip_limit, tile=self.tile)
        super().__init__(info, resolve_host_device(device))

    def _enhance_numpy(self, image: np.ndarray, name: str | None) -> np.ndarray:
        lab = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.float32), cv2.COLOR_RGB2Lab)
        l8 = np.clip(np.round(lab[..., 0] * (255.0 / 100.0)), 0, 255).astype(np.uint8)
        clahe = cv2.createCLAHE(clipLimit=self.clip_limit, tileGridSize=(self.tile, self.tile))
        lab[..., 0] = clahe.apply(l8).astype(np.float32) * (100.0 / 255.0)
        return cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)


class Gamma(Method):
    """Fixed gamma curve ``out = in ** (1 / gamma)`` on each channel (gamma > 1 brightens)."""

    name = "gamma"
    description = "Per-channel power law out = in ** (1 / gamma)."

    def __init__(
        self,
        device: str | torch.device = "auto",
        weights_dir: str | None = None,
        *,
        gamma: float = 2.2,
    ) -> None:
        _require(float(gamma) > 0, f"gamma: gamma must be > 0, got {gamma}")
        self.gamma = float(gamma)
        super().__init__(self.describe(gamma=self.gamma), resolve_host_device(device))

    def _enhance_numpy(self, image: np.ndarray, name: str | None) -> np.ndarray:
        return np.power(image, np.float32(1.0 / self.gamma))


def auto_gamma(image: np.ndarray, target: float, bounds: tuple[float, float]) -> float:
    """The gamma for which the mean luma of ``image ** (1 / gamma)`` equals ``target``.

    The mean luma is monotonic in gamma, so Brent's method on ``[lo, hi]`` finds the unique
    root; when the target cannot be reached inside the bounds (e.g. an all-black image) the
    nearer bound is returned.
    """
    from scipy.optimize import brentq

    img = np.asarray(image, dtype=np.float64)
    lo, hi = bounds

    def err(g: float) -> float:
        return float(luminance(np.power(img, 1.0 / g)).mean()) - target

    e_lo, e_hi = err(lo), err(hi)
    if e_lo >= 0:
        return lo
    if e_hi <= 0:
        return hi
    return float(brentq(err, lo, hi, xtol=1e-6, rtol=1e-9))


class GammaAuto(Method):
    """Gamma curve whose exponent is chosen per image so the mean luma hits ``target``.

    Luma is the Rec. 709 weighting of the output RGB values, so the target refers to what the
    result shows, not to a linear-light quantity.
    """

    name = "gamma_auto"
    description = (
        "out = in ** (1 / gamma) with gamma solved per image (Brent) so that the mean "
        "Rec. 709 luma of the output equals target."
    )

    def __init__(
        self,
        device: str | torch.device = "auto",
        weights_dir: str | None = None,
        *,
        target: float = 0.5,
        min_gamma: float = 0.1,
        max_gamma: float = 100.0,
    ) -> None:
        _require(0 < float(target) < 1, f"gamma_auto: target must be in (0, 1), got {target}")
        _require(
            0 < float(min_gamma) < float(max_gamma),
            f"gamma_auto: need 0 < min_gamma < max_gamma, got {min_gamma}, {max_gamma}",
        )
        self.target = float(target)
        self.bounds = (float(min_gamma), float(max_gamma))
        self.last_gamma: float | None = None
        info = self.describe(target=self.target, min_gamma=self.bounds[0], max_gamma=self.bounds[1])
        super().__init__(info, resolve_host_device(device))

    def _enhance_numpy(self, image: np.ndarray, name: str | None) -> np.ndarray:
        g = auto_gamma(image, self.target, self.bounds)
        self.last_gamma = g
        return np.power(image, np.float32(1.0 / g))


__all__ = [
    "CLAHE",
    "Gamma",
    "GammaAuto",
    "HistogramEqualisation",
    "Raw",
    "auto_gamma",
    "luminance",
]
