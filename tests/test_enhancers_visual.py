"""Comparison images to look at: the darkened astronaut through each method.

The strips are written to the test's tmp dir and, when ``$LOWLIGHT_VISUAL_DIR`` is set, there
too. The assertions are deliberately weak (every panel brighter than the input); the point is
that a person looks at the images.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import shared_path
from test_enhancers_classical import dark_photo

import enhancers
from lldata.imageio import float_to_uint8, read_rgb, write_png


def _label(panel: np.ndarray, text: str) -> np.ndarray:
    """Write ``text`` into the panel's top-left corner (OpenCV's Hershey font)."""
    import cv2

    img = np.ascontiguousarray(float_to_uint8(panel))
    cv2.putText(img, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1, cv2.LINE_AA)
    return img


def comparison_strip(image: np.ndarray, methods: list[str], **create_kwargs) -> np.ndarray:
    panels = [_label(image, "input")]
    for name in methods:
        out = enhancers.create_method(name, device="cpu", **create_kwargs).enhance(image)
        panels.append(_label(out, name))
    return np.concatenate(panels, axis=1)


def save_visual(strip: np.ndarray, tmp_path: Path, filename: str) -> Path:
    path = tmp_path / filename
    write_png(path, strip)
    extra = os.environ.get("LOWLIGHT_VISUAL_DIR")
    if extra:
        write_png(Path(extra) / filename, strip)
    return path


def test_visual_comparison_classical(tmp_path: Path) -> None:
    """Writes input | he | clahe | gamma_auto | lime | msrcr for a darkened astronaut; set
    LOWLIGHT_VISUAL_DIR to keep it. The assertions only check that every panel got brighter."""
    img = dark_photo(256)
    methods = ["he", "clahe", "gamma_auto", "lime", "msrcr"]
    strip = comparison_strip(img, methods)
    path = save_visual(strip, tmp_path, "enhancers_classical.png")
    back = read_rgb(path)
    assert back.shape == (256, 256 * (len(methods) + 1), 3)
    means = [float(back[:, i * 256 : (i + 1) * 256].mean()) for i in range(len(methods) + 1)]
    assert all(m > 1.5 * means[0] for m in means[1:]), means


@pytest.mark.slow
def test_visual_comparison_learned(tmp_path: Path) -> None:
    """input | zero_dce | zero_dce_pp | sci_medium | sci_difficult | ruas_lol | ruas_dark | uretinex."""
    weights = shared_path("weights")
    img = dark_photo(256)
    methods = [
        "zero_dce",
        "zero_dce_pp",
        "sci_medium",
        "sci_difficult",
        "ruas_lol",
        "ruas_dark",
        "uretinex",
    ]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        strip = comparison_strip(img, methods, weights_dir=weights)
    finally:
        torch.set_num_threads(threads)
    back = read_rgb(save_visual(strip, tmp_path, "enhancers_learned.png"))
    means = [float(back[:, i * 256 : (i + 1) * 256].mean()) for i in range(len(methods) + 1)]
    assert all(m > 1.5 * means[0] for m in means[1:]), means
