"""Shards cover every image once; manifests catch missing and changed outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lldata.cli import main
from lldata.manifest import (
    filter_by_stems,
    read_stems,
    shard_stems,
    verify_manifest,
    write_manifest,
    write_stems,
)


def test_shards_partition_the_stems():
    stems = [str(i) for i in range(11)]
    shards = shard_stems(stems, 3)
    assert sorted(sum(shards, [])) == sorted(stems) and [len(s) for s in shards] == [4, 4, 3]
    with pytest.raises(ValueError):
        shard_stems(stems, 0)


def test_filter_by_stems(tmp_path):
    paths = [Path(f"/x/{s}.png") for s in ("1", "2", "3")]
    write_stems(tmp_path / "s", ["3", "1"])
    assert [p.stem for p in filter_by_stems(paths, tmp_path / "s")] == ["3", "1"]
    write_stems(tmp_path / "s", ["4"])
    with pytest.raises(FileNotFoundError, match="4"):
        filter_by_stems(paths, tmp_path / "s")
    assert read_stems(tmp_path / "s") == ["4"]


def test_manifest_detects_missing_and_changed_files(tmp_path):
    (tmp_path / "out").mkdir()
    for name in ("a.txt", "b.txt"):
        (tmp_path / "out" / name).write_text(name)
    manifest = tmp_path / "shards" / "0.json"
    write_manifest(manifest, [tmp_path / "out" / "a.txt", tmp_path / "out" / "b.txt"], method="m")
    data = json.loads(manifest.read_text())
    assert data["count"] == 2 and data["method"] == "m" and "../out/a.txt" in data["files"]
    assert verify_manifest(manifest) == []
    (tmp_path / "out" / "a.txt").write_text("changed")
    (tmp_path / "out" / "b.txt").unlink()
    problems = verify_manifest(manifest)
    assert len(problems) == 2 and "changed" in problems[0] and "missing" in problems[1]


def test_shard_command(tmp_path):
    dataset = tmp_path / "dataset.json"
    dataset.write_text(json.dumps({"items": [{"stem": str(i), "image": f"d/{i % 2}/{i}.png"} for i in range(5)]}))
    assert main(["shard", str(dataset), "--shards", "2", "-o", str(tmp_path / "sh")]) == 0
    assert read_stems(tmp_path / "sh" / "0.stems") == ["0", "2", "4"]
    assert read_stems(tmp_path / "sh" / "1.stems") == ["1", "3"]
    # the images of the same stems, in the same order, wherever they are
    assert read_stems(tmp_path / "sh" / "0.images") == ["d/0/0.png", "d/0/2.png", "d/0/4.png"]
    assert read_stems(tmp_path / "sh" / "1.images") == ["d/1/1.png", "d/1/3.png"]
    dataset.write_text(json.dumps({"items": [{"stem": "0"}]}))  # not from `lldata validate`: no image path
    assert main(["shard", str(dataset), "--shards", "1", "-o", str(tmp_path / "none")]) == 2
    assert not (tmp_path / "none").exists()
