"""The built-in demo dataset: reproducible bytes, valid DARK FACE layout, real faces, darker images."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lldata.datasets import load_dataset
from lldata.demo import DemoConfig, build_demo, make_demo_image
from lldata.imageio import read_rgb
from lldata.synthesis import linear_mean

SMALL = DemoConfig(num_images=3, width=160, height=120, face_size=(15, 40))


def test_same_seed_same_bytes(tmp_path):
    a = build_demo(tmp_path / "a", SMALL)
    b = build_demo(tmp_path / "b", SMALL)
    ma = json.loads((a / "manifest.json").read_text())
    mb = json.loads((b / "manifest.json").read_text())
    assert ma["sha256"] == mb["sha256"] and len(ma["sha256"]) == 9
    for rel in ma["sha256"]:
        assert (a / rel).read_bytes() == (b / rel).read_bytes()


def test_other_seed_other_images():
    a, _, _ = make_demo_image(0, SMALL)
    b, _, _ = make_demo_image(0, DemoConfig(**{**SMALL.__dict__, "seed": SMALL.seed + 1}))
    assert not np.array_equal(a, b)


def test_image_does_not_depend_on_how_many_are_made():
    first_of_three = make_demo_image(1, SMALL)[0]
    first_of_ten = make_demo_image(1, DemoConfig(**{**SMALL.__dict__, "num_images": 10}))[0]
    assert np.array_equal(first_of_three, first_of_ten)


def test_demo_is_a_valid_darkface_dataset_with_references(tmp_path):
    config = DemoConfig(num_images=4)
    root = build_demo(tmp_path, config)
    ds = load_dataset(root, "darkface")
    assert len(ds) == 4 and ds.has_references and ds.num_faces >= 4 * config.faces_per_image[0]
    for item in ds:
        assert (item.width, item.height) == (640, 480)
        sides = item.boxes[:, 2] - item.boxes[:, 0] + 1
        assert sides.min() >= 15 * (1 - 2 * config.box_margin) - 1 and sides.max() <= 60
        dark, ref = read_rgb(item.image), read_rgb(item.reference)
        # Noise clipped at black lifts near-black scenes a little, so only "much darker" here;
        # test_lldata_synthesis checks the exact factor on a normal photograph.
        assert linear_mean(dark) < 0.2 * linear_mean(ref)


def test_boxes_mark_the_pasted_faces():
    """Rendering the same layout without faces changes pixels only inside the face squares."""
    with_faces = DemoConfig(num_images=1, faces_per_image=(3, 3))
    without = DemoConfig(num_images=1, faces_per_image=(0, 0))
    _, ref, boxes = make_demo_image(0, with_faces)
    _, bare, no_boxes = make_demo_image(0, without)
    assert len(boxes) == 3 and len(no_boxes) == 0
    changed = np.abs(ref.astype(int) - bare.astype(int)).sum(axis=2) > 0
    inside = np.zeros_like(changed)
    for x1, y1, x2, y2 in boxes:
        m = int(np.ceil((x2 - x1 + 1) * 0.1)) + 1
        inside[y1 - m : y2 + m + 1, x1 - m : x2 + m + 1] = True
        cy, cx = (y1 + y2) // 2, (x1 + x2) // 2
        assert changed[cy - 2 : cy + 3, cx - 2 : cx + 3].any()
    assert not (changed & ~inside).any()


def test_bad_demo_config():
    with pytest.raises(ValueError, match="face_size"):
        DemoConfig(face_size=(2, 10))
    with pytest.raises(ValueError, match="unknown demo option"):
        DemoConfig.from_dict({"faces": 3})
