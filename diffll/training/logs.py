"""The run's CSV logs (train_log.csv, val_log.csv): append per row, cut back on resume so a
resumed run's log reads as if it had never stopped."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lowlight_common.atomic import atomic_write

__all__ = ["TRAIN_FIELDS", "VAL_FIELDS", "CsvLog"]


class CsvLog:
    """Append-only CSV with a fixed header; :meth:`truncate_after` drops rows past a resumed step."""

    def __init__(self, path: Path, fields: list[str]) -> None:
        self.path = path
        self.fields = fields

    def truncate_after(self, step: int) -> None:
        if not self.path.is_file():
            return
        with self.path.open(newline="", encoding="utf-8") as handle:
            rows = [r for r in csv.DictReader(handle) if r.get("step", "").isdigit() and int(r["step"]) <= step]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        with atomic_write(self.path, "w", encoding="utf-8", newline="") as handle:
            handle.write(buf.getvalue())

    def append(self, row: Mapping[str, Any]) -> None:
        new = not self.path.is_file()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


TRAIN_FIELDS = ["step", "epoch", "lr", "loss", "noise", "l1", "ssim", "band", "tv", "sec_per_step", "elapsed_min"]
VAL_FIELDS = ["step", "epoch", "psnr", "ssim", "images", "best", "sec"]
