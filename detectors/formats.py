"""DARK FACE text formats: ground truth ``label/N.txt`` and per-image prediction files.

* labels: first line the number of faces N, then N lines ``x1 y1 x2 y2`` (inclusive pixels);
* predictions: one line per box ``x1 y1 x2 y2 score``, no count line (an empty file = no boxes).

Labels are parsed by :mod:`lldata.labels` (one parser for the validator and the evaluator);
every error names the file and, where there is one, the line, because a 6,000-file folder is
otherwise hopeless to debug.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detectors.base import Detections
from lldata.labels import box_line_numbers, parse_label_file
from lowlight_common.atomic import atomic_write


class FormatError(ValueError):
    """A label or prediction file that does not follow the DARK FACE format."""


class MissingPredictionError(FileNotFoundError):
    """A labelled image has no prediction file."""


def _numbers(path: Path, lineno: int, line: str, expected: int) -> list[float]:
    fields = line.split()
    if len(fields) != expected:
        raise FormatError(
            f"{path}:{lineno}: expected {expected} numbers, got {len(fields)}: {line.strip()!r}"
        )
    try:
        values = [float(f) for f in fields]
    except ValueError:
        raise FormatError(f"{path}:{lineno}: not a number in {line.strip()!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise FormatError(f"{path}:{lineno}: non-finite number in {line.strip()!r}")
    if values[2] < values[0] or values[3] < values[1]:
        raise FormatError(f"{path}:{lineno}: box has x2 < x1 or y2 < y1: {line.strip()!r}")
    return values


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise FormatError(f"{path}: not a UTF-8 text file") from None
    return text.splitlines()


def read_label_file(path: str | os.PathLike[str]) -> np.ndarray:
    """Ground-truth boxes of one image as float64 ``N x 4`` (``x1 y1 x2 y2``, inclusive pixels).

    Parsing is :func:`lldata.labels.parse_label_file` (the dataset validator's parser); here the
    first problem is an error, because an evaluation must not run on a label it cannot trust.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    boxes, issues = parse_label_file(path)
    errors = [issue for issue in issues if issue.severity == "error"]
    if errors:
        first = errors[0]
        where = f"{path}:{first.line}" if first.line is not None else str(path)
        raise FormatError(f"{where}: {first.message}")
    for lineno, box in zip(box_line_numbers(path), boxes, strict=True):
        if box[2] < box[0] or box[3] < box[1]:
            raise FormatError(f"{path}:{lineno}: box has x2 < x1 or y2 < y1: {box.tolist()}")
    return boxes


def read_prediction_file(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Predicted boxes (float64 ``N x 4``) and scores (float64 ``N``) of one image, file order."""
    path = Path(path)
    rows = [
        _numbers(path, i, ln, 5) for i, ln in enumerate(_read_lines(path), start=1) if ln.strip()
    ]
    arr = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
    return arr[:, :4].copy(), arr[:, 4].copy()


def format_predictions(dets: Detections) -> str:
    """Text of a prediction file; scores keep 8 decimals so that near-1 MTCNN scores stay apart."""
    return "".join(
        f"{b[0]:.2f} {b[1]:.2f} {b[2]:.2f} {b[3]:.2f} {s:.8f}\n"
        for b, s in zip(dets.boxes.tolist(), dets.scores.tolist(), strict=True)
    )


def write_prediction_file(path: str | os.PathLike[str], dets: Detections) -> None:
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(format_predictions(dets))


def image_sort_key(stem: str) -> tuple[int, int | str]:
    """Numeric stems in numeric order (2 before 10), then the others alphabetically."""
    return (0, int(stem)) if re.fullmatch(r"\d+", stem) else (1, stem)


@dataclass(frozen=True)
class ImageRecord:
    image_id: str
    gt_boxes: np.ndarray
    pred_boxes: np.ndarray
    pred_scores: np.ndarray


def _txt_stems(directory: Path, what: str) -> dict[str, Path]:
    if not directory.is_dir():
        raise FileNotFoundError(f"{what} folder {directory} does not exist")
    return {p.stem: p for p in directory.iterdir() if p.suffix == ".txt" and p.is_file()}


def load_label_dir(label_dir: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """``{image_id: gt_boxes}`` for every ``*.txt`` in a DARK FACE ``label/`` folder."""
    stems = _txt_stems(Path(label_dir), "label")
    if not stems:
        raise FileNotFoundError(f"label folder {label_dir} has no .txt files")
    return {s: read_label_file(stems[s]) for s in sorted(stems, key=image_sort_key)}


def load_prediction_dir(
    pred_dir: str | os.PathLike[str],
    image_ids: list[str] | None = None,
    *,
    allow_missing: bool = False,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Predictions per image id. With ``image_ids``, a missing file is an error naming it (or,
    with ``allow_missing``, no boxes); prediction files for other images are ignored."""
    pred_dir = Path(pred_dir)
    stems = _txt_stems(pred_dir, "prediction")
    wanted = sorted(stems, key=image_sort_key) if image_ids is None else list(image_ids)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    missing = [i for i in wanted if i not in stems]
    if missing and not allow_missing:
        shown = ", ".join(str(pred_dir / f"{m}.txt") for m in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise MissingPredictionError(
            f"no prediction file for {len(missing)} labelled image(s): {shown}{more} "
            "(pass --allow-missing to count them as images without detections)"
        )
    for image_id in wanted:
        if image_id in stems:
            out[image_id] = read_prediction_file(stems[image_id])
        else:
            out[image_id] = (np.zeros((0, 4)), np.zeros((0,)))
    return out


def load_dataset_boxes(summary_path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """``{image_id: gt_boxes}`` from ``lldata validate --report`` (the workflow's dataset.json).

    These are the boxes validation accepted, after ``--clip-boxes`` clipped any reaching outside
    the image, so the evaluation scores exactly the ground truth the rest of the run used (the
    label files still hold the unclipped boxes)."""
    path = Path(summary_path)
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: dataset summary not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{path}: not a JSON dataset summary ({exc})") from None
    items = summary.get("items") if isinstance(summary, dict) else None
    if not isinstance(items, list) or not items:
        raise FormatError(f"{path}: no 'items' (expected the output of `lldata validate --report`)")
    boxes: dict[str, np.ndarray] = {}
    for k, item in enumerate(items):
        if not isinstance(item, dict) or "stem" not in item or "boxes" not in item:
            raise FormatError(
                f"{path}: item {k} has no 'stem'/'boxes' (face boxes exist only in darkface dataset summaries)"
            )
        boxes[str(item["stem"])] = np.asarray(item["boxes"], dtype=np.float64).reshape(-1, 4)
    return {s: boxes[s] for s in sorted(boxes, key=image_sort_key)}


def load_pairs(
    label_dir: str | os.PathLike[str] | None,
    pred_dir: str | os.PathLike[str],
    *,
    allow_missing: bool = False,
    dataset: str | os.PathLike[str] | None = None,
) -> list[ImageRecord]:
    """Ground truth (a ``label/`` folder, or with ``dataset`` a validated summary, see
    :func:`load_dataset_boxes`) and predictions, matched by file stem, in image order."""
    if (label_dir is None) == (dataset is None):
        raise ValueError("give either a label folder or a dataset summary as ground truth")
    gts = load_dataset_boxes(dataset) if dataset is not None else load_label_dir(label_dir)
    preds = load_prediction_dir(pred_dir, list(gts), allow_missing=allow_missing)
    return [ImageRecord(i, gts[i], *preds[i]) for i in gts]
