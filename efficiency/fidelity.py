"""How far a fast mode's output is from a reference label's: PSNR per cell.

A speed-up that changes the picture is only half a result, so a benchmark run can name a
``psnr_reference`` label (``efficiency run --psnr-against LABEL``; ``--diffll-modes`` sets it to
DiffLL's fp32 per-image path). Every enhancer child then saves its output on the cell's frame
(:func:`efficiency.worker.save_output`, the first visit's output stands), and each row gets the
PSNR of that output against the reference label's output at the same resolution. Both came
from the same cached frame and, for DiffLL, the same start-noise seed, so the PSNR measures
what precision, compilation or batching changed (``inf``: identical bytes).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from lowlight_common.metrics import psnr

__all__ = ["add_psnr", "output_path"]


def output_path(directory: str | os.PathLike[str], label: str, width: int, height: int) -> Path:
    """Where the child saves ``label``'s output at this size: a readable, unique file name
    (labels are free text in a config; the hash keeps two that sanitise alike apart)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", label)[:60]
    tag = hashlib.sha1(label.encode()).hexdigest()[:8]
    return Path(directory) / f"{safe}-{tag}_{width}x{height}.npy"


@functools.lru_cache(maxsize=256)
def _psnr_of_files(path: str, reference: str) -> float:
    # files are written once (atomically) and never rewritten within a run: safe to cache
    return psnr(np.load(path), np.load(reference))


def add_psnr(frame: pd.DataFrame, reference: str | None, directory: str | os.PathLike[str] | None) -> pd.DataFrame:
    """``frame`` with ``psnr_db`` and ``psnr_reference`` filled for every ``ok`` row whose output
    and the reference's output at the same size were saved (others stay empty)."""
    if not reference or directory is None or frame.empty:
        return frame
    frame = frame.copy()
    frame["psnr_reference"] = frame["psnr_reference"].astype(object)
    for index, row in frame.iterrows():
        if row.get("status") != "ok":
            continue
        width, height = int(row["width"]), int(row["height"])
        mine = output_path(directory, str(row["method"]), width, height)
        theirs = output_path(directory, reference, width, height)
        if mine.is_file() and theirs.is_file():
            frame.at[index, "psnr_db"] = _psnr_of_files(str(mine), str(theirs))
            frame.at[index, "psnr_reference"] = reference
    return frame
