"""File formats, the folder runner, the registry (with a user's dummy detector) and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import detectors
from detectors import Detections, Detector, create_detector, detect_folder
from detectors.cli import main
from detectors.evaluation import detection_counts
from detectors.formats import (
    FormatError,
    MissingPredictionError,
    load_pairs,
    read_label_file,
    read_prediction_file,
    write_prediction_file,
)
from lldata.imageio import ImageReadError, write_png


class DummyDetector(Detector):
    """Finds a 'face' at a fixed place; the score comes from the image brightness."""

    name = "dummy"
    description = "test detector"
    source_package = "tests"
    weights = "none"
    licence = "MIT"

    def __init__(self, device: str = "cpu", box=(10, 10, 29, 29), extra_fp: bool = True) -> None:
        self.device = device
        self.box = np.asarray(box, float)
        self.extra_fp = extra_fp

    def _detect(self, image: np.ndarray) -> Detections:
        s = float(image.mean()) / 255.0
        boxes = [self.box, [50, 50, 69, 69]] if self.extra_fp else [self.box]
        return Detections(np.array(boxes), np.array([0.5 + s / 2, 0.1][: len(boxes)]))


@pytest.fixture
def dummy():
    detectors.register_detector(DummyDetector)
    yield "dummy"
    detectors.unregister_detector("dummy")


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """Three 80x100 images with one labelled face each (the dummy finds it)."""
    for i in (1, 2, 10):
        write_png(tmp_path / "image" / f"{i}.png", np.full((80, 100, 3), 20 * i, np.uint8))
        (tmp_path / "label").mkdir(exist_ok=True)
        (tmp_path / "label" / f"{i}.txt").write_text("1\n10 10 29 29\n")
    return tmp_path


def test_detections_sorted_validated_clipped():
    d = Detections(np.array([[0, 0, 5, 5], [-3, 2, 500, 9]]), np.array([0.2, 0.9]))
    assert d.scores.tolist() == pytest.approx([0.9, 0.2]) and d.boxes.dtype == np.float32
    assert d.clip(10, 100).boxes[0].tolist() == [0, 2, 99, 9]
    with pytest.raises(ValueError, match="2 boxes but 1 scores"):
        Detections(np.zeros((2, 4)), np.zeros(1))
    with pytest.raises(ValueError, match="uint8"):
        DummyDetector().detect(np.zeros((4, 4, 3), np.float32))


def test_label_and_prediction_readers(tmp_path):
    lab = tmp_path / "1.txt"
    lab.write_text("2\n1 2 3 4\n5 6 7 8\n\n")
    assert read_label_file(lab).tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    lab.write_text("0\n")
    assert read_label_file(lab).shape == (0, 4)
    pred = tmp_path / "p.txt"
    write_prediction_file(pred, Detections(np.array([[1.5, 2, 3, 4]]), np.array([0.25])))
    boxes, scores = read_prediction_file(pred)
    assert boxes.tolist() == [[1.5, 2, 3, 4]] and scores.tolist() == [0.25]
    pred.write_text("")
    assert read_prediction_file(pred)[0].shape == (0, 4)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2\n1 2 3 4\n", r"1\.txt:1: count line says 2 face\(s\) but the file has 1 box line"),
        ("1\n1 2 3\n", r"1\.txt:2: expected 'x1 y1 x2 y2', got '1 2 3'"),
        ("1\n\n1 2 x 4\n", r"1\.txt:3: expected 'x1 y1 x2 y2', got '1 2 x 4'"),
        ("1\n5 2 3 4\n", r"1\.txt:2: box has x2 < x1"),
        ("two\n", r"1\.txt:1: first line must be the number of faces"),
        ("", r"1\.txt: empty label file"),
        ("1\n1 2 inf 4\n", r"1\.txt:2: expected 'x1 y1 x2 y2'"),
    ],
)
def test_malformed_label_names_file_and_line(tmp_path, text, message):
    (tmp_path / "1.txt").write_text(text)
    with pytest.raises(FormatError, match=message):
        read_label_file(tmp_path / "1.txt")


def test_malformed_prediction_names_file_and_line(tmp_path):
    (tmp_path / "7.txt").write_text("1 2 3 4 0.5\n1 2 3 4\n")
    with pytest.raises(FormatError, match=r"7\.txt:2: expected 5 numbers, got 4"):
        read_prediction_file(tmp_path / "7.txt")
    (tmp_path / "7.txt").write_text("1 2 3 4 nan\n")
    with pytest.raises(FormatError, match=r"7\.txt:1: non-finite"):
        read_prediction_file(tmp_path / "7.txt")


def test_missing_prediction_file_is_named(dataset, tmp_path):
    preds = tmp_path / "preds"
    preds.mkdir()
    (preds / "1.txt").write_text("10 10 29 29 0.9\n")
    (preds / "2.txt").write_text("")
    with pytest.raises(MissingPredictionError, match=r"preds/10\.txt"):
        load_pairs(dataset / "label", preds)
    records = load_pairs(dataset / "label", preds, allow_missing=True)
    assert [r.image_id for r in records] == ["1", "2", "10"]  # numeric order
    assert len(records[2].pred_scores) == 0


def test_registry_with_a_user_detector(dummy):
    assert "dummy" in detectors.list_detectors()
    det = create_detector("dummy", device="cpu", extra_fp=False)
    assert len(det.detect(np.zeros((40, 40, 3), np.uint8))) == 1
    with pytest.raises(ValueError, match="unknown option.*bogus; valid: box, extra_fp"):
        create_detector("dummy", device="cpu", bogus=1)
    with pytest.raises(KeyError, match="unknown detector 'nope'; known: .*dummy"):
        create_detector("nope")
    with pytest.raises(ValueError, match="already registered"):
        detectors.register_detector(DummyDetector)
    with pytest.raises(ValueError, match="device must be one of"):
        create_detector("dummy", device="tpu")
    assert detectors.detector_info("mtcnn").as_dict()["default_options"]["min_face_size"] <= 12
    assert detectors.detector_info("retinaface").default_options["score_threshold"] <= 0.05


def test_detect_folder_writes_official_files(dummy, dataset, tmp_path):
    out = tmp_path / "preds"
    written = detect_folder(
        create_detector("dummy", device="cpu"), dataset / "image", out, progress=False
    )
    assert [p.name for p in written] == ["1.txt", "2.txt", "10.txt"]
    lines = (out / "10.txt").read_text().splitlines()
    assert len(lines) == 2 and len(lines[0].split()) == 5
    assert not list(out.glob(".*"))  # no temporary files left behind
    # the dummy's score grows with brightness: image 10 (value 200) scores 0.5 + 0.39
    assert detection_counts(out, min_score=0.6) == {"1": 0, "2": 0, "10": 1}
    assert detection_counts(out, min_score=0.05) == {"1": 2, "2": 2, "10": 2}


def test_unreadable_image_is_named(dummy, dataset, tmp_path):
    (dataset / "image" / "3.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(ImageReadError, match=r"image/3\.png"):
        detect_folder(
            create_detector("dummy", device="cpu"),
            dataset / "image",
            tmp_path / "p",
            progress=False,
        )


def cli(command: str, **paths: Path) -> int:
    """Run the CLI in-process; ``{name}`` placeholders are filled with paths."""
    return main([arg.format(**paths) for arg in command.split()])


def test_cli_detect_evaluate_compare(dummy, dataset, tmp_path, capsys):
    p = {
        "img": dataset / "image",
        "gt": dataset / "label",
        "a": tmp_path / "a",
        "b": tmp_path / "b",
    }
    p |= {"out": tmp_path / "eval", "c": tmp_path / "c.json"}
    assert cli("detect --detector dummy --device cpu --quiet -o {a} {img}", **p) == 0
    opt = "--option extra_fp=false --device cpu --quiet"
    assert cli(f"detect --detector dummy {opt} -o {{b}} {{img}}", **p) == 0
    assert cli("evaluate --gt {gt} --pred {a} --out {out} --bootstrap 50", **p) == 0
    assert "AP = 1.0000" in capsys.readouterr().out
    ap = json.loads((p["out"] / "ap.json").read_text())
    assert ap["ap"] == 1.0 and ap["n_gt"] == 3 and ap["bootstrap"]["n_boot"] == 50
    assert len((p["out"] / "pr_curve.csv").read_text().splitlines()) == 1001
    header = (p["out"] / "per_image.csv").read_text().splitlines()[0]
    assert header.startswith("image_id,n_gt,n_pred")
    assert "bucket" in (p["out"] / "size_recall.csv").read_text()
    assert cli("evaluate --gt {gt} --pred {a} --mode coco --bootstrap 0", **p) == 0
    assert "COCO-style AP@0.5 = 1.0000" in capsys.readouterr().out
    assert cli("compare --gt {gt} --pred {a} --pred {b} --bootstrap 40 --out {c}", **p) == 0
    assert json.loads(p["c"].read_text())["diff"] == 0.0
    assert "B - A = +0.0000" in capsys.readouterr().out
    assert main(["list", "--json"]) == 0
    names = {d["name"] for d in json.loads(capsys.readouterr().out)}
    assert names >= {"mtcnn", "retinaface", "dummy"}


def test_cli_errors_are_reported(dummy, dataset, tmp_path, capsys):
    p = {
        "gt": dataset / "label",
        "img": dataset / "image",
        "e": tmp_path / "e",
        "x": tmp_path / "x",
    }
    p["e"].mkdir()
    assert cli("evaluate --gt {gt} --pred {e}", **p) == 2  # bad input: exit 2 (lowlight_common.cli)
    assert "no prediction file" in capsys.readouterr().err
    assert cli("detect --detector dummy --option bogus=1 -o {x} {img}", **p) == 2
    assert "unknown option" in capsys.readouterr().err
