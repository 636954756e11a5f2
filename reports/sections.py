"""The report as a list of sections, each giving its HTML, its Markdown, its tables and its figures.

Why: the HTML page and the Markdown page used to be built side by side, line by line, and a
section could appear in one and not the other. Here a section is one value, made by one function
(``reports/detection.py``, ``quality.py``, ``speed.py``, ...), and :func:`write_report` renders
every section into both pages, writes its tables as CSV and its figures as PNG. Adding a section is
one function that returns a :class:`Section` and one line in :func:`reports.build.build_report`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lowlight_common.atomic import atomic_write
from reports.html import escape, page


@dataclass(frozen=True)
class Section:
    """One part of the report.

    ``title`` is its heading (``<h2>`` / ``##``; ``<h3>`` / ``###`` for a part joined by
    :func:`combine`, where an empty title means no heading). ``html`` and ``markdown`` are the
    body without the heading. ``tables`` are written as ``<name>.csv`` beside the pages (empty
    ones are not written), ``figures`` as ``figures/<name>`` (the bodies refer to them by that path).
    """

    title: str
    html: str
    markdown: list[str]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, bytes] = field(default_factory=dict)


def _merged(what: str, dicts: Iterable[dict]) -> dict:
    """One dict from several; a name given twice is a programming error, not a silent overwrite."""
    out: dict = {}
    for d in dicts:
        for name, value in d.items():
            if name in out:
                raise ValueError(f"report: two sections write the {what} {name!r}")
            out[name] = value
    return out


def combine(title: str, parts: Sequence[Section], html_intro: str = "", md_intro: Sequence[str] = ()) -> Section:
    """A section made of an introduction and parts, each part under its own ``<h3>`` / ``###``."""
    html = html_intro + "".join((f"<h3>{escape(p.title)}</h3>" if p.title else "") + p.html for p in parts)
    markdown = list(md_intro)
    for p in parts:
        markdown += ([f"### {p.title}", ""] if p.title else []) + p.markdown
    return Section(title, html, markdown, _merged("table", (p.tables for p in parts)), _merged("figure", (p.figures for p in parts)))


def markdown_anchor(heading: str) -> str:
    """The anchor GitHub and most Markdown renderers give a heading."""
    kept = "".join(c for c in heading.strip().lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def render_markdown(title: str, sections: Sequence[Section]) -> str:
    """The Markdown page: the title, a numbered table of contents, then each section."""
    lines = [f"# {title}", "", "## Contents", ""]
    lines += [f"{i}. [{s.title}](#{markdown_anchor(s.title)})" for i, s in enumerate(sections, start=1)]
    lines.append("")
    for s in sections:
        lines += [f"## {s.title}", "", *s.markdown]
    return "\n".join(lines)


def render_html(title: str, sections: Sequence[Section]) -> str:
    """The standalone HTML page (reports/html.py): contents, then each section."""
    return page(title, [(s.title, s.html) for s in sections])


def write_report(out_dir: Path, title: str, sections: Sequence[Section]) -> tuple[Path, Path]:
    """Figures, non-empty tables, ``index.html`` and ``report.md`` in ``out_dir``; each file written atomically."""
    figures = _merged("figure", (s.figures for s in sections))
    tables = _merged("table", (s.tables for s in sections))
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    for name, png in figures.items():
        with atomic_write(out_dir / "figures" / name, "wb") as handle:
            handle.write(png)
    for name, frame in tables.items():
        if not frame.empty:
            with atomic_write(out_dir / f"{name}.csv", "w", encoding="utf-8") as handle:
                frame.to_csv(handle, index=False, float_format="%.6g")
    html_path, md_path = out_dir / "index.html", out_dir / "report.md"
    with atomic_write(html_path, "w", encoding="utf-8") as handle:
        handle.write(render_html(title, sections))
    with atomic_write(md_path, "w", encoding="utf-8") as handle:
        handle.write(render_markdown(title, sections))
    return html_path, md_path
