"""Where the report finds a run's results: the results layout (lowlight_common.layout, shared with
the workflow's rules) as Paths, and the two readers every section uses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lowlight_common.layout import ResultsLayout


@dataclass
class Layout:
    """The results layout (lowlight_common.layout, shared with the workflow's rules) as Paths."""

    results: Path

    @property
    def _paths(self) -> ResultsLayout:
        return ResultsLayout(str(self.results))

    def dataset(self, d: str) -> Path:
        return Path(self._paths.dataset_json(d))

    def eval_dir(self, d: str, m: str, det: str) -> Path:
        return Path(self._paths.eval_dir(d, m, det))

    def predictions(self, d: str, m: str, det: str) -> Path:
        return Path(self._paths.predictions(d, m, det))

    def images(self, d: str, m: str) -> Path:
        return Path(self._paths.images(d, m))


def read_json(path: Path) -> dict | None:
    """The JSON file's content, or None when the pipeline did not write it (the section says so)."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def has_boxes(path: Path, summary: dict) -> bool:
    """Whether a dataset has face boxes (its kind's record, written by ``lldata validate``):
    detection results are reported for those only. A summary without the field was written
    before the field existed; it is refused rather than guessed from the kind's name."""
    if not isinstance(summary.get("has_boxes"), bool):
        raise ValueError(f"{path}: no 'has_boxes' (written by an older lldata validate); delete it to have the dataset revalidated")
    return summary["has_boxes"]
