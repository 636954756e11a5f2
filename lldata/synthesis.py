"""Physically motivated low-light synthesis, for the demo dataset and training augmentation.

The model follows a camera pipeline run backwards and forwards again:

1. **Linearise** the sRGB image (IEC 61966-2-1 transfer curve), because exposure acts on
   scene radiance, not on gamma-encoded values.
2. **Scale exposure** by ``exposure`` (e.g. 0.08 = about 3.6 stops darker) and apply an optional
   per-channel **colour cast** (sodium street light, white-balance error).
3. Add **Poisson-Gaussian sensor noise**: photon shot noise with ``photons_at_white`` expected
   photo-electrons at full scale (fewer = noisier), then Gaussian read noise ``read_noise``
   (in units of full scale). This is the standard heteroscedastic model
   ``var(y) = x / photons_at_white + read_noise**2`` (Foi et al. 2008).
4. Clip, **re-encode** to sRGB, **quantise** to 8 bits and optionally pass through JPEG.

Everything random comes from one ``numpy.random.Generator``, so the same seed gives the same
bytes. Geometry is untouched, so face boxes stay valid.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from lowlight_common.records import dataclass_from_dict


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055)


@dataclass(frozen=True)
class DarkenParams:
    """Parameters of :func:`darken`; every field maps to a config key of the same name."""

    exposure: float = 0.08
    photons_at_white: float = 2000.0
    read_noise: float = 0.002
    colour_cast: tuple[float, float, float] = field(default=(1.0, 1.0, 1.0))
    jpeg_quality: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.exposure <= 1.0:
            raise ValueError(f"exposure must be in (0, 1], got {self.exposure}")
        if self.photons_at_white <= 0:
            raise ValueError(f"photons_at_white must be positive, got {self.photons_at_white}")
        if self.read_noise < 0:
            raise ValueError(f"read_noise must be >= 0, got {self.read_noise}")
        if len(self.colour_cast) != 3 or min(self.colour_cast) <= 0:
            raise ValueError(f"colour_cast must be three positive factors, got {self.colour_cast}")
        if self.jpeg_quality is not None and not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100 or null, got {self.jpeg_quality}")

    @classmethod
    def from_dict(cls, values: dict) -> DarkenParams:
        def floats(v: Any) -> tuple[float, ...]:
            return tuple(float(x) for x in v)

        return dataclass_from_dict(cls, values, "darkening parameter(s)", {"colour_cast": floats})

    def to_dict(self) -> dict:
        out = asdict(self)
        out["colour_cast"] = list(self.colour_cast)
        return out


def darken_linear(linear: np.ndarray, params: DarkenParams, rng: np.random.Generator) -> np.ndarray:
    """Steps 2-3 on a linear-light float image: exposure, cast, shot + read noise (not clipped)."""
    signal = linear * params.exposure * np.asarray(params.colour_cast, dtype=np.float64)
    signal = np.clip(signal, 0.0, None)
    electrons = rng.poisson(signal * params.photons_at_white)
    noisy = electrons / params.photons_at_white
    if params.read_noise > 0:
        noisy = noisy + rng.normal(0.0, params.read_noise, size=noisy.shape)
    return noisy


def darken(image: np.ndarray, params: DarkenParams, rng: np.random.Generator) -> np.ndarray:
    """Darken an RGB uint8 image; returns RGB uint8 of the same size."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"darken expects an H x W x 3 uint8 image, got {image.dtype} {image.shape}")
    linear = srgb_to_linear(image / 255.0)
    noisy = darken_linear(linear, params, rng)
    encoded = linear_to_srgb(noisy)
    out = np.clip(np.round(encoded * 255.0), 0, 255).astype(np.uint8)
    if params.jpeg_quality is not None:
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, format="JPEG", quality=int(params.jpeg_quality), subsampling=0)
        buf.seek(0)
        with Image.open(buf) as img:
            out = np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    return out


def linear_mean(image: np.ndarray) -> float:
    """Mean linear-light intensity of an RGB uint8 image (what exposure scales)."""
    return float(srgb_to_linear(np.asarray(image) / 255.0).mean())
