"""The benchmark's one entry: settings checked, frames cached, then the grid run cell by cell
(:func:`efficiency.runner.run_grid`) or interleaved (:func:`efficiency.interleave.run_interleaved`).

Kept apart from both so that neither imports the other back: the interleaved loop is built
from the runner's cells, and the choice between the two is made here.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import pandas as pd

from efficiency.interleave import run_interleaved
from efficiency.runner import BenchmarkSettings, check_labels, run_grid

__all__ = ["run_benchmark"]


def run_benchmark(methods: list[str], settings: BenchmarkSettings, progress=print, partial_csv: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Measure every (method, resolution) cell; with ``partial_csv`` the table so far is written
    after each cell, so an interrupted benchmark keeps what it measured. ``settings.interleave``
    visits the grid interleaved, else cell by cell with later rounds revisiting the cells that
    were ``ok`` in the first."""
    check_labels(methods, settings)
    if settings.image_dir is None:  # one frame per size for the whole run, removed afterwards
        with tempfile.TemporaryDirectory(prefix="efficiency-frames-") as frames:
            return run_benchmark(methods, dataclasses.replace(settings, image_dir=frames), progress, partial_csv)
    if settings.psnr_reference and settings.output_dir is None:
        outputs = Path(settings.image_dir) / "outputs"
        outputs.mkdir(exist_ok=True)
        settings = dataclasses.replace(settings, output_dir=str(outputs))
    if settings.interleave:
        return run_interleaved(methods, settings, progress=progress, partial_csv=partial_csv)
    return run_grid(methods, settings, progress=progress, partial_csv=partial_csv)
