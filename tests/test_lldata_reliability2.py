"""Round-2 audit of the dataset checks (issue 32): label numbers read as ASCII decimals, line
numbers that survive earlier malformed lines, a byte-order mark, exact counts, a non-label file
summarised, and names that would fail later (not UTF-8, too long for temporary names)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from detectors.formats import FormatError, read_label_file
from lldata.cli import main
from lldata.datasets import validate_dataset
from lldata.imageio import write_png
from lldata.labels import parse_label_file
from lowlight_common.atomic import atomic_write


def _darkface(root, label_text: str | bytes, stem: str = "1", size=(40, 30)):
    write_png(root / "image" / f"{stem}.png", np.full((size[1], size[0], 3), 60, np.uint8))
    (root / "label").mkdir(exist_ok=True)
    label = root / "label" / f"{stem}.txt"
    if isinstance(label_text, bytes):
        label.write_bytes(label_text)
    else:
        label.write_text(label_text)
    return label


def _codes(dataset):
    return [(i.code, i.line) for i in dataset.issues]


def test_zero_area_box_is_reported_at_its_own_line_after_a_malformed_line(tmp_path):
    _darkface(tmp_path, "2\nnot a box\n5 5 5 9\n")
    codes = _codes(validate_dataset(tmp_path, "darkface"))
    assert ("label-line-malformed", 2) in codes
    assert ("box-zero-area", 3) in codes


@pytest.mark.parametrize("token", ["1_0", "\u0661\u0660", "1e1", "inf", "nan", "0x10"])
def test_label_numbers_are_ascii_decimals(tmp_path, token):
    label = _darkface(tmp_path, f"1\n{token} 2 20 22\n")
    _, issues = parse_label_file(label)
    assert [(i.code, i.line) for i in issues] == [("label-line-malformed", 2)]


@pytest.mark.parametrize("count", ["1_0", "\u0661", "1.0", "1e0"])
def test_label_count_is_ascii_digits(tmp_path, count):
    label = _darkface(tmp_path, f"{count}\n1 2 20 22\n")
    _, issues = parse_label_file(label)
    assert [(i.code, i.line) for i in issues] == [("label-count-malformed", 1)]


def test_decimal_coordinates_still_parse(tmp_path):
    label = _darkface(tmp_path, "1\n1.5 2 20.25 22.\n")
    boxes, issues = parse_label_file(label)
    assert issues == [] and boxes.tolist() == [[1.5, 2.0, 20.25, 22.0]]


def test_utf8_byte_order_mark_is_tolerated(tmp_path):
    _darkface(tmp_path, b"\xef\xbb\xbf1\r\n1 2 20 22\r\n")
    dataset = validate_dataset(tmp_path, "darkface")
    assert dataset.issues == [] and dataset.items[0].boxes.tolist() == [[1, 2, 20, 22]]


def test_huge_count_is_printed_exactly(tmp_path):
    count = "12345678901234567891"
    label = _darkface(tmp_path, f"{count}\n1 2 20 22\n")
    _, issues = parse_label_file(label)
    assert [i.code for i in issues] == ["label-count-mismatch"]
    assert f"says {count} face(s)" in issues[0].message


def test_a_file_that_is_not_a_label_is_summarised_not_quoted_line_by_line(tmp_path):
    lines = [f"service{i}    {i}/tcp    # a long comment line that is not a box at all" for i in range(200)]
    label = _darkface(tmp_path, "\n".join(["# header"] + lines) + "\n")
    _, issues = parse_label_file(label)
    assert len(issues) <= 8
    assert sum(len(str(i)) for i in issues) < 2000
    assert any("195 more malformed" in i.message for i in issues)


def test_evaluation_reader_names_the_line_of_a_reversed_box_after_a_blank_line(tmp_path):
    label = _darkface(tmp_path, "2\n\n1 2 20 22\n\n9 9 3 30\n")
    with pytest.raises(FormatError, match=r"1\.txt:5: box has x2 < x1"):
        read_label_file(label)


# ---- names that would fail later: not UTF-8, too long for the temporary names ------------------


def _bad_name_dataset(root, name: bytes):
    _darkface(root, "1\n1 2 20 22\n", stem="1")
    image_dir = os.fsencode(root / "image")
    write_png(root / "2.png", np.full((30, 40, 3), 60, np.uint8))
    os.rename(os.fsencode(root / "2.png"), os.path.join(image_dir, name + b".png"))
    with open(os.path.join(os.fsencode(root / "label"), name + b".txt"), "w") as handle:
        handle.write("1\n1 2 20 22\n")


@pytest.mark.parametrize("name", [b"caf\xe9", b"x" * 240])
def test_names_that_would_fail_later_are_validation_errors(tmp_path, caplog, name):
    _bad_name_dataset(tmp_path, name)
    dataset = validate_dataset(tmp_path, "darkface")
    assert [i.code for i in dataset.issues] == ["bad-file-name"]
    assert [item.stem for item in dataset.items] == ["1"]
    assert main(["validate", str(tmp_path), "--kind", "darkface", "--report", str(tmp_path / "d.json")]) == 1
    assert "bad-file-name" in caplog.text and not (tmp_path / "d.json").exists()


def test_atomic_write_to_a_long_name_uses_a_short_temporary_name(tmp_path):
    target = tmp_path / ("y" * 250 + ".txt")
    with atomic_write(target) as handle:
        handle.write("x")
    assert target.read_text() == "x" and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_shard_refuses_a_summary_with_a_non_utf8_stem_naming_it_and_writes_nothing(tmp_path, capsys):
    summary = tmp_path / "dataset.json"
    summary.write_text(json.dumps({"items": [{"stem": "1"}, {"stem": "2"}, {"stem": "caf\udce9"}]}))
    assert main(["shard", str(summary), "--shards", "2", "-o", str(tmp_path / "shards")]) == 2
    err = capsys.readouterr().err
    assert "dataset.json" in err and "caf\\udce9" in err
    assert not (tmp_path / "shards").exists() or not list((tmp_path / "shards").iterdir())


def test_shard_removes_outputs_of_images_no_longer_in_the_dataset(tmp_path):
    results = tmp_path / "res"
    for path in ("raw/images/1.png", "raw/images/2.png", "raw/retinaface/predictions/1.txt",
                 "raw/retinaface/predictions/2.txt", "raw/retinaface/eval/ap.json", "raw/shards/0.enhance.json"):
        (results / path).parent.mkdir(parents=True, exist_ok=True)
        (results / path).write_text("x")
    summary = tmp_path / "dataset.json"
    summary.write_text(json.dumps({"items": [{"stem": "1", "image": "data/1.png"}]}))
    assert main(["shard", str(summary), "--shards", "1", "-o", str(results / "shards"), "--remove-stale", str(results)]) == 0
    left = sorted(str(p.relative_to(results)) for p in results.rglob("*") if p.is_file())
    assert left == ["raw/images/1.png", "raw/retinaface/eval/ap.json", "raw/retinaface/predictions/1.txt",
                    "raw/shards/0.enhance.json", "shards/0.images", "shards/0.stems"]
