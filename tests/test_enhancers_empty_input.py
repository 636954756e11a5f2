"""`enhance` on a folder without images is an error, not "wrote 0/0 images" and exit 0; an empty
shard (more shards than images) is still fine."""

from __future__ import annotations

import json

import numpy as np

from enhancers.cli import main
from lldata.imageio import write_png


def test_enhance_with_no_input_images_fails_naming_the_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    assert main(["--method", "raw", "-o", str(tmp_path / "out"), str(tmp_path / "empty")]) != 0
    err = capsys.readouterr().err
    assert "no image files" in err and "empty" in err


def test_an_empty_shard_still_writes_its_manifest(tmp_path):
    write_png(tmp_path / "in" / "1.png", np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "none.stems").write_text("")
    manifest = tmp_path / "m.json"
    assert main(["--method", "raw", "--only-stems", str(tmp_path / "none.stems"), "--manifest", str(manifest),
                 "--no-progress", "-o", str(tmp_path / "out"), str(tmp_path / "in")]) == 0
    assert json.loads(manifest.read_text())["count"] == 0
