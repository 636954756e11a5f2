"""Report section: per detector, the AP of the raw input next to each enhancement, with the
paired bootstrap gain, and a plain verdict on whether this set can tell the difference.

Why a section of its own: the question of the study is "does enhancement help *this* detector?",
and the answer differs between detectors (a detector trained to find small faces gains less from
brightening). The paired gain (``compare_with_raw`` -> ``vs_raw.json``) resamples the same images
for both inputs; when its 95% CI includes zero, the set's faces are too few to call the gain
real, and the table says so instead of leaving a bare number. Detectors the workflow skipped
(released checkpoint absent) are listed with the reason, so an absent column is never silent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.html import escape, table
from reports.sections import Section

TITLE = "Gain over the raw input, per detector"


def verdict(low: float, high: float, faces: int) -> str:
    """Whether the paired 95% CI of AP(method) - AP(raw) excludes zero, in words."""
    if low > 0:
        return "gain: CI above 0"
    if high < 0:
        return "loss: CI below 0"
    return f"CI includes 0: {faces} faces too few to tell"


def gain_table(ap: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset x detector x enhancement: AP raw, AP method, gain [CI], verdict."""
    needed = {
        "dataset",
        "detector",
        "method",
        "AP",
        "faces",
        "gain_vs_raw",
        "gain_low",
        "gain_high",
    }
    if ap.empty or not needed <= set(ap.columns):
        return pd.DataFrame()
    raw = ap[ap["method"] == "raw"].set_index(["dataset", "detector"])["AP"]
    rows = []
    for r in ap[(ap["method"] != "raw") & ap["gain_vs_raw"].notna()].itertuples():
        raw_ap = raw.get((r.dataset, r.detector), np.nan)
        faces = int(r.faces) if not pd.isna(r.faces) else 0
        rows.append(
            {
                "dataset": r.dataset,
                "detector": r.detector,
                "method": r.method,
                "AP raw": raw_ap,
                "AP enhanced": r.AP,
                "gain": r.gain_vs_raw,
                "gain_low": r.gain_low,
                "gain_high": r.gain_high,
                "P(gain <= 0)": getattr(r, "p_gain_le_0", np.nan),
                "faces": faces,
                "verdict": verdict(r.gain_low, r.gain_high, faces),
            }
        )
    return pd.DataFrame(rows)


def _shown(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "method": frame["method"],
            "AP raw": frame["AP raw"].map(lambda v: f"{v:.3f}"),
            "AP enhanced": frame["AP enhanced"].map(lambda v: f"{v:.3f}"),
            "gain [95% CI]": [
                f"{g:+.3f} [{lo:+.3f}, {hi:+.3f}]"
                for g, lo, hi in zip(
                    frame["gain"], frame["gain_low"], frame["gain_high"], strict=True
                )
            ],
            "P(gain <= 0)": frame["P(gain <= 0)"].map(lambda v: "" if pd.isna(v) else f"{v:.3f}"),
            "verdict": frame["verdict"],
        }
    )


def gain_section(ap: pd.DataFrame, skipped: dict[str, str]) -> Section | None:
    """The section (table ``gain_per_detector``), or None when there is neither a gain nor a skipped detector to show."""
    gains = gain_table(ap)
    html, md = "", []
    if not gains.empty:
        html += (
            '<p class="note">Per detector: AP of the unenhanced input and of each enhancement on the '
            "same images; gain = AP(enhanced) - AP(raw) with its paired 95% bootstrap CI. "
            "&quot;CI includes 0&quot; means the set has too few faces to call the difference real.</p>"
        )
        for (dataset, det), frame in gains.groupby(["dataset", "detector"], sort=False):
            shown = _shown(frame)
            faces = int(frame["faces"].iloc[0])
            unclear = int(frame["verdict"].str.startswith("CI includes 0").sum())
            title = f"{dataset}: {det} ({faces} faces; {unclear} of {len(frame)} gains with a CI including 0)"
            html += f"<h3>{escape(title)}</h3>" + table(shown)
            md += [f"### {title}", "", shown.to_markdown(index=False), ""]
    if skipped:
        items = "".join(f"<li>{escape(k)}: {escape(v)}</li>" for k, v in sorted(skipped.items()))
        html += f"<p class='note'>Skipped detectors:</p><ul class='note'>{items}</ul>"
        md += [f"- skipped detector {k}: {v}" for k, v in sorted(skipped.items())] + [""]
    return Section(TITLE, html, md, tables={"gain_per_detector": gains}) if html else None
