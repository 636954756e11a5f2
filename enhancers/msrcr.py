"""MSRCR: multi-scale Retinex with colour restoration (Jobson, Rahman & Woodell, 1997).

With I_i the channel i of the image on the 8-bit scale plus one (1..256, so the logarithm is
finite):

    MSR_i   = sum_n w_n [log I_i - log(G_{sigma_n} * I_i)],  sigma = 15, 80, 250, w_n = 1/3
    C_i     = beta [log(alpha I_i) - log(sum_j I_j)],         alpha = 125, beta = 46
    MSRCR_i = G (C_i MSR_i + b),                              G = 192, b = -30

followed by the "simplest colour balance" of Limare et al. (IPOL 2011) used by Petro, Sbert &
Morel's MSRCR (IPOL 2014): per channel, the lowest ``low_clip`` and highest ``high_clip``
fractions of pixels are saturated and the rest is stretched affinely to [0, 1]. Because that
stretch is affine and the gain G > 0, Jobson's canonical G and b do not change the output; they
are kept so that the formula is the published one. Natural logarithms are used: the base only
rescales MSR and C, which the balance also absorbs. Gaussian blurs are OpenCV's (reflect-101
borders, kernel +-4 sigma).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from enhancers.base import Method, resolve_device

DEFAULT_SIGMAS = (15.0, 80.0, 250.0)


def _blur(channel: np.ndarray, sigma: float) -> np.ndarray:
    size = 2 * int(np.ceil(4.0 * sigma)) + 1
    return cv2.GaussianBlur(channel, (size, size), sigma, borderType=cv2.BORDER_REFLECT_101)


def multiscale_retinex(img8: np.ndarray, sigmas: Sequence[float]) -> np.ndarray:
    """MSR of an image on the 1..256 scale (float32, H x W x 3), equal weights over scales."""
    log_i = np.log(img8)
    msr = np.zeros_like(img8)
    for sigma in sigmas:
        for c in range(3):
            msr[..., c] += log_i[..., c] - np.log(_blur(img8[..., c], sigma))
    return msr / np.float32(len(sigmas))


def simplest_colour_balance(x: np.ndarray, low_clip: float, high_clip: float) -> np.ndarray:
    """Per channel: saturate the given pixel fractions at both ends, stretch the rest to [0, 1]."""
    out = np.zeros(x.shape, dtype=np.float64)
    for c in range(x.shape[2]):
        ch = x[..., c]
        lo, hi = np.quantile(ch, [low_clip, 1.0 - high_clip])
        if hi > lo:
            out[..., c] = (np.clip(ch, lo, hi) - lo) / (hi - lo)
    return out


# A channel whose MSR spans less than this (natural-log units, i.e. 0.01 % contrast) has no
# Retinex structure left (a uniform image); stretching it would only amplify float noise.
FLAT_MSR = 1e-4


def msrcr(
    image: np.ndarray,
    sigmas: Sequence[float] = DEFAULT_SIGMAS,
    alpha: float = 125.0,
    beta: float = 46.0,
    gain: float = 192.0,
    offset: float = -30.0,
    low_clip: float = 0.01,
    high_clip: float = 0.01,
) -> np.ndarray:
    """MSRCR of an ``H x W x 3`` float [0, 1] image, returned as float32 in [0, 1].

    Channels without Retinex contrast (see ``FLAT_MSR``) are returned unchanged.
    """
    img = np.asarray(image, dtype=np.float32)
    img8 = img * np.float32(255.0) + np.float32(1.0)
    msr = multiscale_retinex(img8, sigmas)
    crf = beta * (np.log(alpha * img8) - np.log(img8.sum(axis=2, keepdims=True)))
    out = simplest_colour_balance(
        (gain * (crf * msr + offset)).astype(np.float64), low_clip, high_clip
    )
    for c in range(3):
        if float(np.ptp(msr[..., c])) < FLAT_MSR:
            out[..., c] = img[..., c]
    return out.astype(np.float32)


class MSRCR(Method):
    """Multi-scale Retinex with colour restoration (Jobson et al. 1997), defaults of the paper."""

    name = "msrcr"
    paper = (
        "Jobson, Rahman & Woodell, A multiscale retinex for bridging the gap between "
        "color images and the human observation of scenes, IEEE TIP 1997"
    )
    description = (
        "Multi-scale Retinex (sigma 15/80/250) with colour restoration "
        "(alpha 125, beta 46, G 192, b -30) and simplest colour balance (1% each end)."
    )

    def __init__(
        self,
        device: str | torch.device = "auto",
        weights_dir: str | None = None,
        *,
        sigmas: Sequence[float] = DEFAULT_SIGMAS,
        alpha: float = 125.0,
        beta: float = 46.0,
        gain: float = 192.0,
        offset: float = -30.0,
        low_clip: float = 0.01,
        high_clip: float = 0.01,
    ) -> None:
        sig = tuple(float(s) for s in (sigmas if isinstance(sigmas, Sequence) else [sigmas]))
        if not sig or min(sig) <= 0:
            raise ValueError(f"msrcr: sigmas must be positive numbers, got {sigmas}")
        if not (0 <= low_clip < 0.5 and 0 <= high_clip < 0.5):
            raise ValueError(
                f"msrcr: low_clip and high_clip must be in [0, 0.5), got {low_clip}, {high_clip}"
            )
        if alpha <= 0 or gain <= 0:
            raise ValueError(f"msrcr: alpha and gain must be > 0, got {alpha}, {gain}")
        self.opts = {
            "sigmas": sig,
            "alpha": float(alpha),
            "beta": float(beta),
            "gain": float(gain),
            "offset": float(offset),
            "low_clip": float(low_clip),
            "high_clip": float(high_clip),
        }
        super().__init__(self.describe(**self.opts), resolve_device(device))

    def _enhance_numpy(self, image: np.ndarray, name: str | None) -> np.ndarray:
        return msrcr(image, **self.opts)
