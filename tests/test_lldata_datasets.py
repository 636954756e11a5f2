"""Each validation problem, triggered by a small crafted file, is reported once with its file."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path

from lldata.datasets import load_dataset, validate_dataset, write_darkface_item, write_paired_item
from lldata.imageio import write_png
from lldata.issues import DatasetError


def _img(w=40, h=30, value=60):
    return np.full((h, w, 3), value, dtype=np.uint8)


def _darkface(tmp_path, labels: dict[str, str], images=("1",), size=(40, 30)):
    for stem in images:
        write_png(tmp_path / "image" / f"{stem}.png", _img(*size))
    (tmp_path / "label").mkdir(exist_ok=True)
    for stem, text in labels.items():
        (tmp_path / "label" / f"{stem}.txt").write_text(text)
    return tmp_path


def _codes(dataset):
    return [(i.code, i.path.name, i.line) for i in dataset.issues]


def test_valid_dataset_loads_with_boxes(tmp_path):
    _darkface(tmp_path, {"1": "2\n1 2 10 12\n20 5 30 25\n"})
    ds = load_dataset(tmp_path, "darkface")
    assert len(ds) == 1 and ds.num_faces == 2
    assert ds.items[0].boxes.tolist() == [[1, 2, 10, 12], [20, 5, 30, 25]]
    assert (ds.items[0].width, ds.items[0].height) == (40, 30)


def test_missing_label(tmp_path):
    _darkface(tmp_path, {}, images=("1",))
    assert _codes(validate_dataset(tmp_path, "darkface")) == [("missing-label", "1.png", None)]


def test_extra_label(tmp_path):
    _darkface(tmp_path, {"1": "0\n", "7": "0\n"})
    assert _codes(validate_dataset(tmp_path, "darkface")) == [("extra-label", "7.txt", None)]


def test_count_mismatch_names_the_count_line(tmp_path):
    _darkface(tmp_path, {"1": "3\n1 1 5 5\n"})
    assert _codes(validate_dataset(tmp_path, "darkface")) == [("label-count-mismatch", "1.txt", 1)]


def test_malformed_lines(tmp_path):
    _darkface(tmp_path, {"1": "2\n1 1 5\n1 1 5 x\n"})
    codes = _codes(validate_dataset(tmp_path, "darkface"))
    assert codes == [("label-line-malformed", "1.txt", 2), ("label-line-malformed", "1.txt", 3)]


def test_malformed_count_line(tmp_path):
    _darkface(tmp_path, {"1": "two\n1 1 5 5\n"})
    assert _codes(validate_dataset(tmp_path, "darkface")) == [("label-count-malformed", "1.txt", 1)]


def test_box_outside_is_an_error_unless_clipping_is_asked(tmp_path):
    _darkface(tmp_path, {"1": "1\n30 20 45 29\n"})  # image is 40 x 30: x2 = 45 > 39
    ds = validate_dataset(tmp_path, "darkface")
    assert _codes(ds) == [("box-outside", "1.txt", 2)]
    with pytest.raises(DatasetError, match="1.txt:2"):
        load_dataset(tmp_path, "darkface")
    clipped = load_dataset(tmp_path, "darkface", clip_boxes=True)
    assert clipped.items[0].boxes.tolist() == [[30, 20, 39, 29]]
    assert [i.severity for i in clipped.issues] == ["warning"]


def test_zero_area_box(tmp_path):
    _darkface(tmp_path, {"1": "2\n5 5 5 9\n8 9 3 2\n"})
    codes = _codes(validate_dataset(tmp_path, "darkface"))
    assert codes == [("box-zero-area", "1.txt", 2), ("box-zero-area", "1.txt", 3)]


def test_unreadable_and_truncated_images(tmp_path):
    _darkface(tmp_path, {"1": "0\n", "2": "0\n"}, images=("1",))
    (tmp_path / "image" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    codes = _codes(validate_dataset(tmp_path, "darkface"))
    assert codes == [("image-unreadable", "2.png", None)]


def test_duplicate_stems(tmp_path):
    _darkface(tmp_path, {"1": "0\n"})
    write_png(tmp_path / "image" / "1.jpg.png", _img())  # different stem: fine
    (tmp_path / "image" / "1.jpg").write_bytes((tmp_path / "image" / "1.png").read_bytes())
    codes = _codes(validate_dataset(tmp_path, "darkface"))
    assert ("duplicate-stem", "1.png", None) in codes or ("duplicate-stem", "1.jpg", None) in codes
    assert ("missing-label", "1.jpg.png", None) in codes


def test_missing_folders_and_bad_kind(tmp_path):
    assert _codes(validate_dataset(tmp_path, "darkface"))[0][0] == "missing-folder"
    assert _codes(validate_dataset(tmp_path / "nope", "unpaired")) == [("missing-folder", "nope", None)]
    with pytest.raises(ValueError, match="unknown dataset kind"):
        validate_dataset(tmp_path, "coco")


def test_all_problems_reported_together(tmp_path):
    _darkface(tmp_path, {"1": "5\n1 1 5 5\n", "2": "1\n0 0 0 0\n"}, images=("1", "2", "3"))
    with pytest.raises(DatasetError) as err:
        load_dataset(tmp_path, "darkface")
    codes = {i.code for i in err.value.issues}
    assert codes == {"label-count-mismatch", "box-zero-area", "missing-label"}


def test_reference_folder_is_checked(tmp_path):
    write_darkface_item(tmp_path, "1", _img(), np.array([[1, 1, 9, 9]]), reference=_img(value=200))
    write_darkface_item(tmp_path, "2", _img(), np.array([[1, 1, 9, 9]]))
    write_png(tmp_path / "reference" / "3.png", _img())
    ds = validate_dataset(tmp_path, "darkface")
    assert ("missing-reference", "2.png", None) in _codes(ds)
    write_png(tmp_path / "reference" / "2.png", _img(w=41))
    assert ("size-mismatch", "2.png", None) in _codes(validate_dataset(tmp_path, "darkface"))


def test_paired_dataset(tmp_path):
    write_paired_item(tmp_path, "a", _img(value=10), _img(value=200))
    write_paired_item(tmp_path, "b", _img(value=10), _img(value=200))
    ds = load_dataset(tmp_path, "paired")
    assert [i.stem for i in ds] == ["a", "b"] and ds.has_references
    write_png(tmp_path / "low" / "c.png", _img())
    write_png(tmp_path / "high" / "d.png", _img())
    write_png(tmp_path / "high" / "b.png", _img(w=12))
    codes = _codes(validate_dataset(tmp_path, "paired"))
    assert ("missing-high", "c.png", None) in codes
    assert ("missing-low", "d.png", None) in codes
    assert ("size-mismatch", "b.png", None) in codes


def test_unpaired_natural_order(tmp_path):
    for stem in ("10", "2", "1"):
        write_png(tmp_path / f"{stem}.png", _img())
    (tmp_path / "notes.txt").write_text("ignored")
    assert [i.stem for i in load_dataset(tmp_path, "unpaired")] == ["1", "2", "10"]


def test_empty_folder(tmp_path):
    assert _codes(validate_dataset(tmp_path, "unpaired")) == [("empty-dataset", tmp_path.name, None)]


@pytest.mark.shared
def test_real_darkface_sample_loads():
    ds = load_dataset(shared_path("data", "darkface"), "darkface")
    assert len(ds) == 5 and ds.num_faces > 0
    assert all((item.width, item.height) == (1080, 720) for item in ds)


@pytest.mark.shared
def test_faces_normal_loads_as_images_and_imports_as_darkface(tmp_path):
    from lldata.imglab import import_imglab

    folder = shared_path("data", "faces-normal")
    assert len(load_dataset(folder, "unpaired")) == 9
    assert import_imglab([folder / "training.xml", folder / "testing.xml"], tmp_path) == 9
    ds = load_dataset(tmp_path, "darkface", clip_boxes=True)
    assert len(ds) == 9 and ds.num_faces >= 9
