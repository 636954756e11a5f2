"""The per-detector gain section: raw AP beside each enhancement, the paired gain, a verdict."""

from __future__ import annotations

import pandas as pd

from reports.detector_gains import gain_section, verdict


def test_verdicts():
    assert verdict(0.01, 0.2, 27) == "gain: CI above 0"
    assert verdict(-0.2, -0.01, 27) == "loss: CI below 0"
    assert verdict(-0.05, 0.1, 27) == "CI includes 0: 27 faces too few to tell"


def test_section_rows_and_skipped():
    ap = pd.DataFrame(
        [
            {"dataset": "d", "detector": "rf", "method": "raw", "AP": 0.30, "faces": 27},
            {
                "dataset": "d",
                "detector": "rf",
                "method": "he",
                "AP": 0.35,
                "faces": 27,
                "gain_vs_raw": 0.05,
                "gain_low": -0.02,
                "gain_high": 0.11,
                "p_gain_le_0": 0.2,
            },
            {
                "dataset": "d",
                "detector": "rf",
                "method": "lime",
                "AP": 0.40,
                "faces": 27,
                "gain_vs_raw": 0.10,
                "gain_low": 0.03,
                "gain_high": 0.18,
                "p_gain_le_0": 0.0,
            },
        ]
    )
    made = gain_section(ap, {"dsfd": "checkpoint dsfd/x.pth not found at /w: download it from URL"})
    assert made is not None and made.title == "Gain over the raw input, per detector"
    html, md, frame = made.html, made.markdown, made.tables["gain_per_detector"]
    assert list(frame["method"]) == ["he", "lime"]
    assert list(frame["AP raw"]) == [0.30, 0.30]
    assert list(frame["verdict"]) == ["CI includes 0: 27 faces too few to tell", "gain: CI above 0"]
    assert "d: rf (27 faces; 1 of 2 gains with a CI including 0)" in html
    assert "+0.050 [-0.020, +0.110]" in "\n".join(md)
    assert "skipped detector dsfd: checkpoint dsfd/x.pth not found" in "\n".join(md)
    assert gain_section(pd.DataFrame(), {}) is None
