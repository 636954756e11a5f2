"""Result files of one evaluation run, each written atomically.

* ``pr_curve.csv``: threshold, precision, recall (the 1,000 official points);
* ``ap.json``: AP and summary numbers (plus the bootstrap CI when computed);
* ``per_image.csv``: n_gt, n_pred and counts at the working threshold, per image;
* ``size_recall.csv``: recall per face-size bucket at each operating point.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lowlight_common import atomic

_NOT_IN_JSON = ("pr_curve", "per_image", "tables", "size_recall")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None  # JSON has no NaN; null reads as "undefined"
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def summary(result: Mapping[str, Any]) -> dict[str, Any]:
    """The scalar part of an evaluation result, JSON-ready."""
    return _jsonable({k: v for k, v in result.items() if k not in _NOT_IN_JSON})


def write_json(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    atomic.write_json(path, _jsonable(data), indent=2)


def write_csv(
    path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]], columns: Sequence[str]
) -> None:
    atomic.write_csv(path, rows, columns, format_value=_fmt)


def _fmt(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return repr(float(value)) if math.isfinite(value) else "nan"
    return value


def write_pr_curve(path: str | os.PathLike[str], result: Mapping[str, Any]) -> None:
    curve = result["pr_curve"]
    rows = [
        {"threshold": t, "precision": p, "recall": r}
        for t, p, r in zip(curve["threshold"], curve["precision"], curve["recall"], strict=True)
    ]
    write_csv(path, rows, ["threshold", "precision", "recall"])


def write_per_image(path: str | os.PathLike[str], result: Mapping[str, Any]) -> None:
    columns = [
        "image_id",
        "n_gt",
        "n_pred",
        "n_pred_at_threshold",
        "n_found_at_threshold",
        "evaluated",
    ]
    write_csv(path, result["per_image"], columns)


def write_size_recall(path: str | os.PathLike[str], result: Mapping[str, Any]) -> None:
    columns = ["operating_point", "threshold", "size_by", "bucket", "n_faces", "n_found", "recall"]
    write_csv(path, result["size_recall"], columns)


def write_darkface_outputs(
    out_dir: str | os.PathLike[str],
    result: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """All files of a ``darkface``-mode run; ``extra`` (e.g. the bootstrap CI) goes into ap.json."""
    out_dir = Path(out_dir)
    paths = {
        "pr_curve": out_dir / "pr_curve.csv",
        "ap": out_dir / "ap.json",
        "per_image": out_dir / "per_image.csv",
        "size_recall": out_dir / "size_recall.csv",
    }
    write_pr_curve(paths["pr_curve"], result)
    write_per_image(paths["per_image"], result)
    write_size_recall(paths["size_recall"], result)
    write_json(paths["ap"], summary(result) | dict(extra or {}))
    return paths
