"""The ``lldata`` command line: exit codes and messages a user (or Snakemake) relies on."""

from __future__ import annotations

import json

import numpy as np

from lldata.cli import main
from lldata.imageio import read_rgb, write_png


def test_demo_then_validate(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("demo:\n  num_images: 2\n  width: 128\n  height: 96\n  face_size: [15, 30]\n")
    assert main(["demo", str(tmp_path / "d"), "--config", str(config), "--seed", "5"]) == 0
    report = tmp_path / "report.json"
    assert main(["validate", str(tmp_path / "d"), "--kind", "darkface", "--report", str(report)]) == 0
    summary = json.loads(report.read_text())
    assert summary["images"] == 2 and summary["errors"] == 0 and summary["has_references"]
    assert json.loads((tmp_path / "d" / "manifest.json").read_text())["config"]["seed"] == 5


def test_validate_fails_and_names_the_file(tmp_path, caplog):
    write_png(tmp_path / "image" / "1.png", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "label").mkdir()
    (tmp_path / "label" / "1.txt").write_text("1\n0 0 20 4\n")
    report = tmp_path / "r.json"
    assert main(["validate", str(tmp_path), "--kind", "darkface", "--report", str(report)]) == 1
    problems = [r for r in caplog.records if "1.txt:2" in r.getMessage()]  # logged: stderr in a real run
    assert problems and "outside" in problems[0].getMessage() and problems[0].levelname == "ERROR"
    assert not report.exists()
    assert main(["validate", str(tmp_path), "--kind", "darkface", "--clip-boxes"]) == 0


def test_bad_demo_config_is_a_clear_error(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("demo:\n  nmu_images: 2\n")
    assert main(["demo", str(tmp_path / "d"), "--config", str(config)]) == 2  # a misspelt option fails
    err = capsys.readouterr().err
    assert "nmu_images" in err and str(config) in err


def test_darken_folder_continues_past_a_bad_file(tmp_path, caplog):
    src = tmp_path / "in"
    write_png(src / "a.png", np.full((16, 16, 3), 200, np.uint8))
    (src / "b.png").write_bytes(b"junk")
    assert main(["darken", str(src), "-o", str(tmp_path / "out"), "--exposure", "0.1"]) == 1
    assert "b.png" in caplog.text
    assert read_rgb(tmp_path / "out" / "a.png").mean() < 100
