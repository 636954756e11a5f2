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
rescales MSR and C, which the balance also absorbs.

The surround G_sigma * I is a Gaussian of radius R = ceil(4 sigma) (2R + 1 taps, normalised to
sum 1, as OpenCV's ``getGaussianKernel``) applied separably with reflect-101 borders (OpenCV's
``BORDER_REFLECT_101``, NumPy's ``"reflect"``: ``dcb|abcd|cba``, the edge pixel not repeated),
reflected again as often as needed when R exceeds the image (sigma = 250 at 720 rows). That
extension makes each row and column periodic with period 2(n - 1), so the blur is a circular
convolution with the kernel folded onto that period. ``surround="fft"`` (default) computes it
exactly that way for kernels longer than ``DIRECT_MAX_TAPS``: per axis, a window of the
reflected signal convolved with the folded kernel by a real FFT of a fast length (SciPy's
pocketfft, float32). The result is the same function as OpenCV's spatial convolution up to
float32 rounding (~1e-4 on the 1..256 scale; the 8-bit output differs by at most one grey
level, tests/test_enhancers_lime_msrcr_speed.py); the whole method takes about a fifth of its
former time at 1280x720 (docs/results/README.md), where the 2,001-tap kernel of sigma = 250
dominated. ``surround="direct"`` blurs every scale with ``cv2.GaussianBlur``, one channel at a
time, as this module did first (bit for bit); kernels of at most ``DIRECT_MAX_TAPS`` taps always
take that path, where it is at least as fast as the transform.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import scipy.fft

from enhancers.base import Method, resolve_host_device, with_defaults

if TYPE_CHECKING:
    import torch  # annotations only: numpy methods run without torch

DEFAULT_SIGMAS = (15.0, 80.0, 250.0)


SURROUNDS = ("fft", "direct")  # see the module docstring
DIRECT_MAX_TAPS = 81  # up to sigma = 10: OpenCV's spatial convolution is as fast as the transform


def gaussian_taps(sigma: float) -> np.ndarray:
    """The 2R + 1 taps of the surround, R = ceil(4 sigma), normalised to sum 1."""
    radius = int(np.ceil(4.0 * sigma))
    j = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-(j * j) / (2.0 * sigma * sigma))
    return taps / taps.sum()


def blur_direct(image: np.ndarray, sigma: float) -> np.ndarray:
    """OpenCV's separable spatial convolution with reflect-101 borders (the reference), one
    channel at a time as this module always did (OpenCV's multi-channel path rounds a few
    values differently, by ~1e-7)."""
    size = 2 * int(np.ceil(4.0 * sigma)) + 1
    if image.ndim == 2:
        return cv2.GaussianBlur(image, (size, size), sigma, borderType=cv2.BORDER_REFLECT_101)
    return np.stack([blur_direct(image[..., c], sigma) for c in range(image.shape[2])], axis=-1)


def _reflect101(index: np.ndarray, n: int) -> np.ndarray:
    """Positions in ``range(n)`` of indices of the reflect-101 extension (period 2(n - 1))."""
    if n == 1:
        return np.zeros_like(index)
    period = 2 * (n - 1)
    index = np.mod(index, period)
    return np.where(index >= n, period - index, index)


def _along(axis: int, ndim: int, part: slice) -> tuple[slice, ...]:
    index = [slice(None)] * ndim
    index[axis] = part
    return tuple(index)


def _blur_axis_fft(x: np.ndarray, sigma: float, axis: int) -> np.ndarray:
    """The surround along one axis as a circular convolution computed with a real FFT."""
    n = x.shape[axis]
    if n == 1:  # every extended sample is the one pixel, and the taps sum to 1
        return x.copy()
    taps = gaussian_taps(sigma)
    radius = taps.size // 2
    period = 2 * (n - 1)
    width = min(taps.size, period)  # support of the kernel folded onto one period
    left = (width - 1) // 2  # the folded kernel's offsets run from -left to right
    right = width - 1 - left
    kernel = np.zeros(width)
    np.add.at(kernel, np.mod(np.arange(-radius, radius + 1) + left, period), taps)
    # window[t] = extended signal at t - right, for t < n + width - 1; zeros up to a fast length
    length = scipy.fft.next_fast_len(n + width - 1, real=True)
    shape = list(x.shape)
    shape[axis] = length
    window = np.zeros(shape, dtype=x.dtype)
    window[_along(axis, x.ndim, slice(right, right + n))] = x
    window[_along(axis, x.ndim, slice(0, right))] = x.take(_reflect101(np.arange(-right, 0), n), axis)
    window[_along(axis, x.ndim, slice(right + n, right + n + left))] = x.take(
        _reflect101(np.arange(n, n + left), n), axis
    )
    spectrum = scipy.fft.rfft(window, axis=axis, overwrite_x=True)
    spectrum *= scipy.fft.rfft(kernel, length).astype(spectrum.dtype).reshape(
        [-1 if i == axis % x.ndim else 1 for i in range(x.ndim)]
    )
    full = scipy.fft.irfft(spectrum, length, axis=axis, overwrite_x=True)
    return full[_along(axis, x.ndim, slice(width - 1, width - 1 + n))]


def surround_planes(planes: np.ndarray, sigma: float, surround: str) -> np.ndarray:
    """G_sigma * each plane of a C x H x W float32 array (see the module docstring)."""
    if surround not in SURROUNDS:
        raise ValueError(f"msrcr: surround must be one of {SURROUNDS}, got {surround!r}")
    if surround == "direct" or 2 * int(np.ceil(4.0 * sigma)) + 1 <= DIRECT_MAX_TAPS:
        return np.stack([blur_direct(plane, sigma) for plane in planes])
    # one plane at a time (a third of the working set: measured faster than all three at once);
    # along rows, then along columns
    out = [_blur_axis_fft(_blur_axis_fft(plane, sigma, 1), sigma, 0) for plane in planes]
    return np.stack(out).astype(planes.dtype, copy=False)


def gaussian_surround(image: np.ndarray, sigma: float, surround: str) -> np.ndarray:
    """G_sigma * image for an H x W (x C) float32 image."""
    planes = np.ascontiguousarray(np.moveaxis(image.reshape(*image.shape[:2], -1), -1, 0))
    return np.moveaxis(surround_planes(planes, sigma, surround), 0, -1).reshape(image.shape)


def multiscale_retinex(img8: np.ndarray, sigmas: Sequence[float], surround: str) -> np.ndarray:
    """MSR of an image on the 1..256 scale (float32, H x W x 3), equal weights over scales.
    Computed plane by plane (C x H x W, contiguous for OpenCV and the FFTs)."""
    planes = np.ascontiguousarray(np.moveaxis(img8, -1, 0))
    log_i = np.log(planes)
    msr = np.zeros_like(planes)
    for sigma in sigmas:
        term = np.log(surround_planes(planes, sigma, surround))
        np.subtract(log_i, term, out=term)
        msr += term
    return np.moveaxis(msr / np.float32(len(sigmas)), 0, -1)


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


def msrcr(image: np.ndarray, **options: Any) -> np.ndarray:
    """MSRCR of an ``H x W x 3`` float [0, 1] image, returned as float32 in [0, 1].

    ``options`` are :class:`MSRCR`'s keyword options (sigmas, alpha, beta, gain, offset,
    low_clip, high_clip, surround); the others take the defaults of its constructor, the one
    place they are written. Channels without Retinex contrast (see ``FLAT_MSR``) are returned
    unchanged.
    """
    opts = with_defaults(MSRCR, options)
    sigmas, alpha, beta, gain = opts["sigmas"], opts["alpha"], opts["beta"], opts["gain"]
    offset, low_clip, high_clip, surround = opts["offset"], opts["low_clip"], opts["high_clip"], opts["surround"]
    img = np.asarray(image, dtype=np.float32)
    img8 = img * np.float32(255.0) + np.float32(1.0)
    msr = multiscale_retinex(img8, sigmas, surround)
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
        surround: str = "fft",
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
        if surround not in SURROUNDS:
            raise ValueError(f"msrcr: surround must be one of {SURROUNDS}, got {surround!r}")
        self.opts = {
            "sigmas": sig,
            "alpha": float(alpha),
            "beta": float(beta),
            "gain": float(gain),
            "offset": float(offset),
            "low_clip": float(low_clip),
            "high_clip": float(high_clip),
            "surround": str(surround),
        }
        super().__init__(self.describe(**self.opts), resolve_host_device(device))

    def _enhance_numpy(self, image: np.ndarray, name: str | None) -> np.ndarray:
        return msrcr(image, **self.opts)
