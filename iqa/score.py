"""Score enhanced images: one row per image, one column per metric that could run."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from iqa.registry import METRICS, MissingMetricFile, check_metric_names, create_metric
from lldata.imageio import read_rgb

log = logging.getLogger(__name__)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div(255.0)[None]


TOO_SMALL = ("error", "nan")


def score_images(
    images: list[tuple[str, Path, Path | None]], metrics: list[str], device: str = "cpu", too_small: str = "error"
) -> tuple[pd.DataFrame, dict[str, str]]:
    """``images`` = (stem, enhanced path, reference path or None).

    Returns (per-image table, {metric: reason} for metrics that were skipped). Full-reference
    metrics are skipped when any image lacks a reference. An image smaller than a metric's
    ``min_side`` is a ``ValueError`` naming it, or with ``too_small="nan"`` a NaN in its row:
    a dataset may validate with images of any size, and one of them must not cost the whole
    table. Such NaNs (and any non-finite score) are explained, per metric, in
    ``table.attrs["notes"]``.
    """
    if too_small not in TOO_SMALL:
        raise ValueError(f"too_small must be one of {', '.join(TOO_SMALL)}, got {too_small!r}")
    skipped: dict[str, str] = {}
    created = {}
    has_refs = all(ref is not None for _, _, ref in images)
    check_metric_names(metrics)  # an unknown name, or a "module:NAME" plug-in that is not a MetricSpec
    for name in metrics:
        if METRICS[name].full_reference and not has_refs:
            skipped[name] = "full-reference metric and the dataset has no references"
            continue
        try:
            created[name] = create_metric(name, device=device)
        except MissingMetricFile as exc:
            skipped[name] = str(exc)
            log.warning("skipping %s: %s", name, exc)
    rows = []
    small: dict[str, list[str]] = {}
    not_finite: dict[str, list[str]] = {}
    with torch.inference_mode():
        for stem, enhanced, reference in images:
            x = to_tensor(read_rgb(enhanced)).to(device)
            row = {"image": stem}
            ref = to_tensor(read_rgb(reference)).to(device) if reference is not None and any(METRICS[n].full_reference for n in created) else None
            for name, metric in created.items():
                if min(x.shape[-2:]) < METRICS[name].min_side:
                    if too_small == "nan":
                        small.setdefault(name, []).append(stem)
                        row[name] = float("nan")
                        continue
                    raise ValueError(f"{enhanced}: {name} needs images of at least {METRICS[name].min_side} x "
                                     f"{METRICS[name].min_side} pixels, this one is {x.shape[-1]} x {x.shape[-2]}")
                try:
                    value = metric(x, ref) if METRICS[name].full_reference else metric(x)
                except Exception as exc:  # name the image: pyiqa's own errors do not
                    raise RuntimeError(f"{enhanced}: metric {name} failed ({type(exc).__name__}: {exc})") from exc
                row[name] = float(value.flatten()[0])
                if not np.isfinite(row[name]):
                    not_finite.setdefault(name, []).append(stem)
            rows.append(row)
    table = pd.DataFrame(rows, columns=["image", *created])
    table.attrs["notes"] = _notes(small, not_finite, len(rows))
    return table, skipped


def _notes(small: dict[str, list[str]], not_finite: dict[str, list[str]], total: int) -> dict[str, str]:
    """One sentence per metric with images that have no value, naming a few of them."""
    notes = {}
    for name in sorted(set(small) | set(not_finite)):
        parts = []
        for stems, why in ((small.get(name, []), f"smaller than {METRICS[name].min_side} x {METRICS[name].min_side} px"),
                           (not_finite.get(name, []), "scored as non-finite by the metric")):
            if stems:
                shown = ", ".join(stems[:5]) + (" ..." if len(stems) > 5 else "")
                parts.append(f"{len(stems)} image(s) {why} ({shown})")
        missing = len(small.get(name, [])) + len(not_finite.get(name, []))
        notes[name] = "; ".join(parts) + f": no value (NaN); the mean is over the other {total - missing} of {total}"
    return notes
