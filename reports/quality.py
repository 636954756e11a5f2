"""The image-quality tables as the low-light enhancement papers print them.

One table per kind of dataset, every method a column, one row per (dataset, metric), the best
value of each row in bold:

* datasets with normal-light references (paired sets such as the SICE pairs, the demo set):
  the full-reference metrics PSNR, SSIM, LPIPS;
* datasets without (the unpaired DICM and LIME sets, DARK FACE): the no-reference metrics NIQE,
  BRISQUE, PIQE.

Whether lower or higher is better (the arrow, and which value is bold) comes from the metric's
entry in :mod:`iqa.registry`, never from this module, and so do which table a metric belongs
to (``full_reference``) and its printed decimals: a metric registered there appears here, and so
does a ``module:NAME`` plug-in metric the summaries hold (after the registered ones, in the
config's order; called by that key, as ``iqa score`` wrote it). ``raw``, the unenhanced input, is shown
for reference and not ranked. Values are the means that ``iqa score`` wrote (summary.json);
every mean of every dataset also stays in the long table (``iqa.csv``) and under "All means".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from iqa.registry import METRICS, metrics_of_kind, plugin_metrics
from lowlight_common.layout import ResultsLayout
from reports.html import escape, table
from reports.sections import Section

UNRANKED = ("raw",)


@dataclass
class QualityTable:
    key: str  # CSV name
    title: str
    values: pd.DataFrame  # columns: dataset, metric, then one float column per method
    best: list[set[str]] = field(default_factory=list)  # per row: the methods in bold


def read_summaries(results: Path, datasets: list[str], methods: list[str]) -> dict[tuple[str, str], dict]:
    out = {}
    for d in datasets:
        for m in methods:
            path = Path(ResultsLayout(str(results)).iqa_summary(d, m))
            if path.is_file():
                out[(d, m)] = json.loads(path.read_text(encoding="utf-8"))
    return out


def long_table(summaries: dict[tuple[str, str], dict]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Every mean: one row per (dataset, method); and the skipped metrics with their reasons."""
    rows, skipped = [], {}
    for (d, m), summary in summaries.items():
        rows.append({"dataset": d, "method": m, **summary["mean"]})
        skipped.update({f"{d}: {k}": v for k, v in summary.get("skipped", {}).items()})
    return pd.DataFrame(rows), skipped


def image_notes(results: Path, datasets: list[str], methods: list[str]) -> dict[str, str]:
    """``dataset: metric`` -> why some images have no value (``iqa score`` notes: too small for
    the metric), once per dataset and metric (the images are the same for every method)."""
    notes: dict[str, str] = {}
    for (d, _), summary in read_summaries(results, datasets, methods).items():
        for metric, note in summary.get("notes", {}).items():
            notes.setdefault(f"{d}: {metric}", note)
    return notes


def label(metric: str) -> str:
    """``PSNR ↑`` for a registered metric; a plug-in keeps its key (``my_plugins:SHARP ↑``)."""
    name = metric.upper() if metric in METRICS else metric
    return f"{name} {'↓' if METRICS[metric].lower_better else '↑'}"


def _decimals(metric: str) -> int:
    return METRICS[metric].decimals


def best_methods(metric: str, values: dict[str, float]) -> set[str]:
    """The ranked methods whose value, as printed, is the best of the row (ties: all of them)."""
    ranked = {m: round(v, _decimals(metric)) for m, v in values.items() if m not in UNRANKED and np.isfinite(v)}
    if not ranked:
        return set()
    top = min(ranked.values()) if METRICS[metric].lower_better else max(ranked.values())
    return {m for m, v in ranked.items() if v == top}


def quality_table(key: str, title: str, summaries: dict[tuple[str, str], dict], datasets: list[str], methods: list[str],
                  metrics: tuple[str, ...]) -> QualityTable:
    rows, best = [], []
    for d in datasets:
        for metric in metrics:
            values = {m: float(summaries[(d, m)]["mean"][metric]) for m in methods
                      if (d, m) in summaries and metric in summaries[(d, m)]["mean"]}
            if not values:  # skipped or not configured: said below the table
                continue
            rows.append({"dataset": d, "metric": metric, **{m: values.get(m, np.nan) for m in methods}})
            best.append(best_methods(metric, values))
    return QualityTable(key, title, pd.DataFrame(rows, columns=["dataset", "metric", *methods]), best)


def table_metrics(summaries: dict[tuple[str, str], dict], full_reference: bool, configured: Sequence[str] = ()) -> tuple[str, ...]:
    """A table's rows: the registered metrics of its kind in registration order, then the
    ``module:NAME`` plug-ins the summaries hold (in ``configured`` order, the config's
    ``iqa.metrics``; any other after them, sorted), so a plug-in computed is a plug-in shown."""
    found = {name for summary in summaries.values() for name in summary["mean"]}
    plugins = [name for name in configured if name in found] + sorted(found - set(configured))
    return metrics_of_kind(full_reference) + plugin_metrics(plugins, full_reference)


def quality_tables(results: Path, datasets: list[str], methods: list[str], has_references: dict[str, bool],
                   configured: Sequence[str] = ()) -> tuple[list[QualityTable], pd.DataFrame, dict[str, str]]:
    """The two tables, the long table, and the skipped metrics worth a line (a full-reference
    metric on a dataset without references is skipped by design and not listed)."""
    summaries = read_summaries(results, datasets, methods)
    paired = [d for d in datasets if has_references.get(d)]
    unpaired = [d for d in datasets if d in has_references and not has_references[d]]
    tables = [
        quality_table("quality_with_references", "Datasets with references (full-reference metrics)",
                      summaries, paired, methods, table_metrics(summaries, True, configured)),
        quality_table("quality_without_references", "Datasets without references (no-reference metrics)",
                      summaries, unpaired, methods, table_metrics(summaries, False, configured)),
    ]
    long, skipped = long_table(summaries)
    skipped = {key: reason for key, reason in skipped.items()
               if not (has_references.get(key.split(": ")[0]) is False and METRICS[key.split(": ")[1]].full_reference)}
    return [t for t in tables if not t.values.empty], long, skipped


def _cell(metric: str, value: float) -> str:
    return "" if not np.isfinite(value) else f"{value:.{_decimals(metric)}f}"


def to_html(qt: QualityTable) -> str:
    methods = list(qt.values.columns[2:])
    head = "".join(['<th class="txt">dataset</th><th class="txt">metric</th>']
                   + [f'<th class="num">{escape(m)}</th>' for m in methods])
    rows = []
    for row, best in zip(qt.values.itertuples(index=False), qt.best, strict=True):
        d, metric, *values = row
        cells = [f'<td class="txt">{escape(d)}</td><td class="txt">{escape(label(metric))}</td>']
        for m, v in zip(methods, values, strict=True):
            text = escape(_cell(metric, v))
            cells.append(f'<td class="num">{f"<b>{text}</b>" if m in best else text}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<h3>{escape(qt.title)}</h3><div class=\"scroll\"><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def to_markdown(qt: QualityTable) -> list[str]:
    methods = list(qt.values.columns[2:])
    shown = []
    for row, best in zip(qt.values.itertuples(index=False), qt.best, strict=True):
        d, metric, *values = row
        cells = {m: (f"**{_cell(metric, v)}**" if m in best else _cell(metric, v)) for m, v in zip(methods, values, strict=True)}
        shown.append({"dataset": d, "metric": label(metric), **cells})
    frame = pd.DataFrame(shown, columns=["dataset", "metric", *methods])
    # disable_numparse: tabulate would reformat "7.290" as 7.29
    return [f"### {qt.title}", "", frame.to_markdown(index=False, colalign=["left", "left", *["right"] * len(methods)],
                                                     disable_numparse=True), ""]


TITLE = "Image quality"
NOTE = ("Means over the images of each dataset. &uarr; higher is better, &darr; lower is better (each metric's "
        "definition in iqa.registry); bold: the best method of the row. raw, the unenhanced input, is shown for "
        "reference and not ranked. Full-reference metrics compare with the normal-light reference; datasets without "
        "one get the no-reference metrics.")


def section(results: Path, datasets: list[str], methods: list[str], summaries: dict[str, dict | None],
            metrics: Sequence[str] = ()) -> Section:
    """The report's "Image quality" section: the papers' tables, methods as columns (CSV tables
    ``iqa`` and one per paper table). ``metrics``: the config's ``iqa.metrics`` (the order of
    plug-in rows)."""
    has_references = {d: bool(s["has_references"]) for d, s in summaries.items() if s}
    paper, long, skipped = quality_tables(results, datasets, methods, has_references, metrics)
    csvs = {"iqa": long, **{qt.key: qt.values for qt in paper}}
    if long.empty:
        return Section(TITLE, '<p class="note">No image-quality results in this run.</p>', ["No image-quality results in this run.", ""], csvs)
    html = f'<p class="note">{NOTE}</p>' + "".join(to_html(qt) for qt in paper)
    md = [NOTE.replace("&uarr;", "↑").replace("&darr;", "↓"), ""]
    for qt in paper:
        md += to_markdown(qt)
    if skipped:
        html += "<p class='note'>Skipped metrics:</p><ul class='note'>" + "".join(
            f"<li>{escape(k)}: {escape(v)}</li>" for k, v in sorted(skipped.items())) + "</ul>"
        md += [f"- skipped {k}: {v}" for k, v in sorted(skipped.items())] + [""]
    notes = image_notes(results, datasets, methods)
    if notes:
        html += "<p class='note'>Images without a value:</p><ul class='note'>" + "".join(
            f"<li>{escape(k)}: {escape(v)}</li>" for k, v in sorted(notes.items())) + "</ul>"
        md += [f"- no value {k}: {v}" for k, v in sorted(notes.items())] + [""]
    html += f"<details><summary>All means (every dataset, method and metric)</summary>{table(long)}</details>"
    return Section(TITLE, html, md, csvs)
