"""Dataset kinds are records (lldata/kinds.py): validation, the workflow's folder checks and
inputs, and whether detection is run all read the record, and a kind of one's own is named
``module:NAME`` wherever a kind is accepted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lldata.datasets import input_files, validate_dataset, write_darkface_item
from lldata.imageio import write_png
from lldata.kinds import DatasetKind, get_kind, list_kinds, register_kind, unregister_kind
from reports.inputs import has_boxes

# A boxed kind of one's own, in a module of the working directory.
PLUGIN = '''
from lldata.kinds import DatasetKind

FACES = DatasetKind("faces", "lldata.datasets:scan_darkface", folders=("image", "label"),
                    input_folders=("image", "label"), label_folder="label", has_boxes=True)
NOT_A_KIND = 3


def scan_two_folders(root, clip_boxes, issues):
    from lldata.datasets import scan_unpaired

    return scan_unpaired(root / "day1", clip_boxes, issues) + scan_unpaired(root / "day2", clip_boxes, issues)


SPREAD = DatasetKind("spread", scan_two_folders, folders=("day1", "day2"), input_folders=("day1", "day2"))
'''


def _boxed_dataset(root: Path) -> None:
    image = np.full((24, 32, 3), 40, np.uint8)
    write_darkface_item(root, "1", image, np.array([[2, 3, 12, 14]]))
    write_darkface_item(root, "2", image, np.array([[5, 5, 9, 9]]))


def test_builtin_records_say_what_the_names_used_to():
    assert list_kinds() == ["darkface", "paired", "unpaired"]
    assert [get_kind(k).has_boxes for k in list_kinds()] == [True, False, False]
    assert get_kind("darkface").folders == ("image", "label") and get_kind("paired").input_folders == ("low", "high")
    with pytest.raises(ValueError, match="unknown dataset kind 'faces'; known: darkface, paired, unpaired"):
        get_kind("faces")


def test_registered_kind_validates_and_lists_its_inputs(tmp_path):
    _boxed_dataset(tmp_path)
    register_kind(DatasetKind("test_boxes", "lldata.datasets:scan_darkface", folders=("image", "label"),
                              input_folders=("image", "label"), label_folder="label", has_boxes=True))
    try:
        ds = validate_dataset(tmp_path, "test_boxes")
        assert [i.stem for i in ds] == ["1", "2"] and ds.num_faces == 2 and not ds.issues
        assert [p.relative_to(tmp_path).as_posix() for p in input_files(tmp_path, "test_boxes")] == [
            "image/1.png", "image/2.png", "label/1.txt", "label/2.txt"]
        with pytest.raises(ValueError, match="already registered"):
            register_kind(get_kind("test_boxes"))
    finally:
        unregister_kind("test_boxes")


def test_plugin_kind_from_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "my_kinds_a.py").write_text(PLUGIN)
    monkeypatch.chdir(tmp_path)
    assert get_kind("my_kinds_a:FACES").has_boxes
    with pytest.raises(ValueError, match="my_kinds_a:NOT_A_KIND.*not an lldata.kinds.DatasetKind"):
        get_kind("my_kinds_a:NOT_A_KIND")
    with pytest.raises(ValueError, match="cannot import module 'no_such_kinds'"):
        get_kind("no_such_kinds:X")


def test_validate_cli_writes_has_boxes_for_a_plugin_kind(tmp_path):
    data = tmp_path / "data"
    _boxed_dataset(data)
    (tmp_path / "my_kinds_b.py").write_text(PLUGIN)
    lldata = [sys.executable, "-m", "lldata.cli"]
    proc = subprocess.run([*lldata, "validate", "data", "--kind", "my_kinds_b:FACES", "--report", "faces.json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "faces.json").read_text())
    assert summary["kind"] == "my_kinds_b:FACES" and summary["has_boxes"] is True and summary["faces"] == 2
    assert has_boxes(tmp_path / "faces.json", summary)  # the report runs detection tables for it
    bad = subprocess.run([*lldata, "validate", "data", "--kind", "my_kinds_b:NOPE"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "has no attribute 'NOPE'" in bad.stderr


def test_report_refuses_a_summary_withouthas_boxes(tmp_path):
    assert has_boxes(tmp_path / "d.json", {"kind": "paired", "has_boxes": False}) is False
    with pytest.raises(ValueError, match="d.json: no 'has_boxes'"):
        has_boxes(tmp_path / "d.json", {"kind": "darkface"})


def test_shards_list_image_paths_so_a_kind_may_spread_its_images(tmp_path):
    (tmp_path / "my_kinds_c.py").write_text(PLUGIN)
    image = np.full((8, 8, 3), 50, np.uint8)
    write_png(tmp_path / "data" / "day1" / "a.png", image)
    write_png(tmp_path / "data" / "day2" / "b.png", image)
    bin_dir = Path(sys.executable).parent

    def run(*cmd: str) -> None:
        proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr

    run(str(bin_dir / "lldata"), "validate", "data", "--kind", "my_kinds_c:SPREAD", "--report", "d.json")
    run(str(bin_dir / "lldata"), "shard", "d.json", "--shards", "1", "-o", "shards")
    assert (tmp_path / "shards" / "0.images").read_text().splitlines() == ["data/day1/a.png", "data/day2/b.png"]
    assert (tmp_path / "shards" / "0.stems").read_text().splitlines() == ["a", "b"]
    run(str(bin_dir / "enhance"), "--method", "raw", "--images-from", "shards/0.images", "-o", "out", "--no-progress")
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == ["a.png", "b.png"]
