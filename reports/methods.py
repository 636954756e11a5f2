"""The report's table of enhancement methods: what each one is and on what terms its weights
may be used.

A comparison is read with its competitors' provenance: the paper (venue, year), what the released
weights were trained on, their licence, the network's size. These come from each method's class
attributes (:func:`enhancers.method_info`) for the options the config gives it, so the table
cannot drift from the code that ran; nothing is loaded or downloaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from reports.html import escape, table
from reports.sections import Section

NOTE = (
    "What each configured method is: its paper, the released weights' licence and what they "
    "were trained on (in the description), and the parameters of the network as run, for the "
    "options of this config (from the methods' own metadata, as `enhance --list` shows it)."
)


def methods_table(methods: Mapping[str, Mapping[str, Any] | None]) -> pd.DataFrame:
    """One row per configured label (``method:`` names the registry entry when it differs)."""
    from enhancers.registry import method_info

    rows = []
    for label, given in methods.items():
        options = dict(given or {})
        name = str(options.pop("method", label))
        try:
            info = method_info(name, **options)
        except Exception as exc:  # noqa: BLE001 - the report says why instead of stopping
            rows.append({"label": label, "method": name, "description": f"(no metadata: {exc})"})
            continue
        rows.append(
            {
                "label": label,
                "method": info.name,
                "family": info.family,
                "paper": info.paper or "-",
                "weights licence": info.weights_licence or "-",
                "parameters": "-" if info.parameters is None else f"{info.parameters:,}",
                "options": json.dumps(info.options, sort_keys=True, default=str),
                "description": info.description,
            }
        )
    columns = ["label", "method", "family", "paper", "weights licence", "parameters", "options", "description"]
    return pd.DataFrame(rows, columns=columns).fillna("")


def section(methods: Mapping[str, Mapping[str, Any] | None]) -> Section:
    """The "Methods" section; its table is written as ``methods.csv``."""
    frame = methods_table(methods)
    html = f'<p class="note">{escape(NOTE)}</p>' + table(frame)
    md = [NOTE, "", frame.to_markdown(index=False), ""]
    return Section("Methods", html, md, tables={"methods": frame})
