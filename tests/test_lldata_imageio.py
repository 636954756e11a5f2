"""Every odd kind of image file loads as RGB uint8; broken files fail with the file's name."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from lldata.imageio import ImageReadError, float_to_uint8, image_size, read_rgb, write_png


def _save(tmp_path, name, img: Image.Image, **kwargs):
    path = tmp_path / name
    img.save(path, **kwargs)
    return path


def test_grayscale_becomes_three_equal_channels(tmp_path):
    grey = np.arange(35 * 17, dtype=np.uint8).reshape(17, 35)
    out = read_rgb(_save(tmp_path, "g.png", Image.fromarray(grey)))
    assert out.shape == (17, 35, 3) and out.dtype == np.uint8
    assert np.array_equal(out[..., 0], grey) and np.array_equal(out[..., 2], grey)


def test_rgba_drops_alpha_keeping_opaque_colours(tmp_path):
    rgba = np.zeros((5, 7, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    out = read_rgb(_save(tmp_path, "a.png", Image.fromarray(rgba)))
    assert out.shape == (5, 7, 3) and (out[..., 0] == 200).all() and (out[..., 1] == 0).all()


def test_palette_image(tmp_path):
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (9, 11, 3), dtype=np.uint8)).convert("P")
    out = read_rgb(_save(tmp_path, "p.png", img))
    assert np.array_equal(out, np.asarray(img.convert("RGB")))


def test_16bit_png_is_scaled_to_8bit(tmp_path):
    data = np.array([[0, 65535], [32896, 257]], dtype=np.uint16)
    out = read_rgb(_save(tmp_path, "16.png", Image.fromarray(data)))
    assert out[..., 0].tolist() == [[0, 255], [128, 1]]


def test_exif_rotation_is_applied(tmp_path):
    arr = np.zeros((4, 10, 3), dtype=np.uint8)
    arr[0, 0] = 255  # top-left marker
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 CW on display
    path = _save(tmp_path, "r.jpg", img, exif=exif, quality=100)
    out = read_rgb(path)
    assert out.shape == (10, 4, 3)
    assert image_size(path) == (4, 10)
    assert out[0, -1].mean() > 100  # marker moved to the top-right


def test_odd_sizes_round_trip(tmp_path):
    arr = np.random.default_rng(1).integers(0, 256, (1, 3, 3), dtype=np.uint8)
    write_png(tmp_path / "x.png", arr)
    assert np.array_equal(read_rgb(tmp_path / "x.png"), arr)


def test_truncated_file_is_an_error_naming_it(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageReadError, match="cut.png"):
        read_rgb(path)


@pytest.mark.parametrize("content, message", [(b"", "empty"), (b"not an image at all", "decode")])
def test_garbage_and_empty_files(tmp_path, content, message):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=message):
        read_rgb(path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="not found"):
        read_rgb(tmp_path / "nope.png")


def test_write_png_is_deterministic_and_atomic(tmp_path):
    arr = np.random.default_rng(3).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    write_png(tmp_path / "a.png", arr)
    write_png(tmp_path / "b.png", arr)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]  # no temp files left
    with pytest.raises(ValueError, match="uint8"):
        write_png(tmp_path / "c.png", arr.astype(np.float32))
    assert not (tmp_path / "c.png").exists()


def test_float_to_uint8_rounds_and_clips():
    assert float_to_uint8(np.array([-0.1, 0.5, 1.2, 0.2])).tolist() == [0, 128, 255, 51]
