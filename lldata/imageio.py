"""Image reading and writing with one contract: RGB uint8 in, RGB uint8 out.

Pillow decodes the file; we then normalise whatever it stores (grayscale, grayscale+alpha,
RGBA, palette, 16-bit, CMYK, EXIF-rotated) to an ``H x W x 3`` uint8 array. Truncated or
corrupt files raise :class:`ImageReadError` naming the file, instead of being half-decoded.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from lowlight_common.atomic import atomic_write

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

# Pillow would otherwise fill missing data of a truncated file with grey and carry on.
Image.LOAD_TRUNCATED_IMAGES = False


class ImageReadError(ValueError):
    """An image file that cannot be decoded completely."""


@contextlib.contextmanager
def _bomb_guard(path: Path) -> Iterator[None]:
    """Turn Pillow's decompression-bomb check (a warning above ``MAX_IMAGE_PIXELS``, an error
    above twice that) into an :class:`ImageReadError` naming the file: such a frame would take
    gigabytes to decode, and no dataset here needs one."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(
            f"{path}: refused as a possible decompression bomb: {exc} (Pillow's decompression-bomb "
            f"limit, PIL.Image.MAX_IMAGE_PIXELS = {Image.MAX_IMAGE_PIXELS} pixels)"
        ) from None


def is_image_file(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _to_uint8_rgb(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        # 16-bit PNGs store 0..65535; "I" mode from 16-bit sources likewise.
        maxval = 65535.0 if arr.max(initial=0) > 255 or img.mode.startswith("I;16") else 255.0
        arr = np.clip(np.round(arr / maxval * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        arr = np.clip(np.round(arr * 255.0 if arr.max(initial=0) <= 1.0 else arr), 0, 255)
        return np.repeat(arr.astype(np.uint8)[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Composite onto black: the pixel values a viewer would show on a dark background
        # are not meaningful here, but dropping alpha keeps colours unchanged where opaque.
        img = img.convert("RGBA").convert("RGB")
        return np.asarray(img, dtype=np.uint8).copy()
    if img.mode == "RGB" and img.getbands() == ("R", "G", "B"):
        return np.asarray(img, dtype=np.uint8).copy()
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as an ``H x W x 3`` uint8 RGB array, EXIF orientation applied."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file not found") from None
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    if not data:
        raise ImageReadError(f"{path}: empty file")
    try:
        with _bomb_guard(path), Image.open(io.BytesIO(data)) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            arr = _to_uint8_rgb(img)
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image Pillow can decode") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{path}: corrupt or truncated image ({exc})") from None
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageReadError(f"{path}: decoded to an unusable shape {arr.shape}")
    return arr


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(width, height) after EXIF orientation, without decoding all pixels."""
    path = Path(path)
    try:
        with _bomb_guard(path), Image.open(path) as img:
            w, h = img.size
            orientation = img.getexif().get(0x0112, 1)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ImageReadError(f"{path}: not a readable image ({exc})") from None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


# zlib level of the pipeline's PNGs. PNG is lossless, so the level changes file size and time,
# never a pixel. Level 1 wrote a 1080x720 DARK FACE frame in 0.05-0.07 CPU s against 0.17-0.31 s
# at Pillow's default 6, for files 1-10% larger (docs/performance.md, "Writing PNG files"): at
# 6 the write was most of the per-frame cost of the classical methods' shard jobs.
PNG_COMPRESS_LEVEL = 1


def write_png(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Write an RGB uint8 array as PNG, atomically. Same array -> same bytes."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"{path}: expected H x W x 3 uint8, got {arr.dtype} {arr.shape}")
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", optimize=False, compress_level=PNG_COMPRESS_LEVEL)
    with atomic_write(path, "wb") as handle:
        handle.write(buf.getvalue())


def _require_finite(image: np.ndarray) -> None:
    """NaN would become 0 (black) and infinity 255 silently: a broken model or schedule must fail
    its image, which the callers report by file name."""
    finite = np.isfinite(image)
    if not finite.all():
        bad = int(finite.size - np.count_nonzero(finite))
        raise ValueError(f"the enhanced image has {bad} non-finite value(s) (NaN or infinity) of {finite.size}")


def float_to_uint8(image: np.ndarray) -> np.ndarray:
    """[0,1] float (H x W x 3) to uint8 with rounding, the project's single conversion rule."""
    arr = np.asarray(image, dtype=np.float64)
    _require_finite(arr)
    return np.clip(np.round(arr * 255.0), 0, 255).astype(np.uint8)


QUANTISE_RULES = ("round", "save_image", "truncate")


def quantise(image: np.ndarray, rule: str = "round") -> np.ndarray:
    """[0,1] float to uint8 by one of the rules the authors of the competing methods save with,
    so that a method's 8-bit file can be theirs byte for byte:

    * ``round``: :func:`float_to_uint8` (float64, round half to even), the project's rule;
    * ``save_image``: ``torchvision.utils.save_image``: float32 ``x * 255 + 0.5``, clipped to
      [0, 255], truncated. It differs from ``round`` where float32 rounds ``x * 255`` to an exact
      half (CLIP-LIT's 0.8254902 * 255 = 210.5 in float32, 210.49999 in float64);
    * ``truncate``: float32 ``x * 255``, clipped, truncated (``ToPILImage``, ``.astype(np.uint8)``).
    """
    if rule == "round":
        return float_to_uint8(image)
    x = np.asarray(image, dtype=np.float32)
    _require_finite(x)
    x = x * np.float32(255.0)
    if rule == "save_image":
        x = x + np.float32(0.5)
    elif rule != "truncate":
        raise ValueError(f"unknown quantisation rule {rule!r}; one of {', '.join(QUANTISE_RULES)}")
    return np.clip(x, 0, 255).astype(np.uint8)
