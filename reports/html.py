"""A tiny HTML writer: one standalone page (images inlined as base64 PNG), no template engine.

The page takes (title, html) pairs; reports/sections.py makes them from its Section values."""

from __future__ import annotations

import base64
import html
import io

import numpy as np
import pandas as pd
from PIL import Image

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;
padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.25rem;border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem}
th{background:#f3f3f3}.num{text-align:right;font-variant-numeric:tabular-nums}.txt{text-align:left}
figure{display:inline-block;margin:.3rem;vertical-align:top}figcaption{font-size:.8rem;color:#555;max-width:320px}
img{max-width:100%;height:auto}.note{color:#555;font-size:.9rem}code{background:#f5f5f5;padding:0 .2rem}
.scroll{overflow-x:auto}
"""


def escape(text: object) -> str:
    return html.escape(str(text))


def png_data_uri(image: np.ndarray, max_side: int | None = None) -> str:
    img = Image.fromarray(np.asarray(image, dtype=np.uint8))
    if max_side is not None and max(img.size) > max_side:
        scale = max_side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=6)
    return png_bytes_uri(buf.getvalue())


def png_bytes_uri(png: bytes) -> str:
    """A PNG file's bytes as a data URI, so the page needs no files beside it."""
    return "data:image/png;base64," + base64.b64encode(png).decode()


# Sorting for tables marked sortable: a click on a heading sorts by that column (numbers as
# numbers), a second click reverses. Plain script, no library: the page stays standalone.
SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function(th){th.style.cursor='pointer';
th.addEventListener('click',function(){var table=th.closest('table'),body=table.tBodies[0],
i=Array.prototype.indexOf.call(th.parentNode.children,th),asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
var rows=Array.prototype.slice.call(body.rows);rows.sort(function(a,b){var x=a.cells[i].textContent,
y=b.cells[i].textContent,nx=parseFloat(x),ny=parseFloat(y),c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y,undefined,{numeric:true});
return asc?c:-c;});rows.forEach(function(r){body.appendChild(r);});});});
"""


def table(frame: pd.DataFrame, float_format: str = "{:.3f}", sortable: bool = False) -> str:
    """An HTML table: numbers right-aligned with fixed decimals, text left-aligned; ``sortable``:
    a click on a column heading sorts the rows (:data:`SCRIPT`)."""
    numeric = [frame[c].dtype.kind in "fiu" for c in frame.columns]
    head = "".join(f'<th class="{"num" if n else "txt"}">{escape(c)}</th>' for c, n in zip(frame.columns, numeric, strict=True))
    rows = []
    for values in frame.itertuples(index=False):
        cells = []
        for value, is_num in zip(values, numeric, strict=True):
            if value is None or (isinstance(value, float) and pd.isna(value)):
                text = ""
            elif isinstance(value, float):
                text = float_format.format(value)
            else:
                text = str(value)
            cells.append(f'<td class="{"num" if is_num else "txt"}">{escape(text)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cls = ' class="sortable"' if sortable else ""
    return f'<div class="scroll"><table{cls}><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'



def anchor(name: str, index: int) -> str:
    """A stable id for section ``index`` named ``name``."""
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    return f"s{index}-{'-'.join(filter(None, slug.split('-')))}"


def page(title: str, sections: list[tuple[str, str]]) -> str:
    """The standalone page: a table of contents, then each section under its heading."""
    ids = [anchor(name, i) for i, (name, _) in enumerate(sections, start=1)]
    toc = "".join(f'<li><a href="#{i}">{escape(name)}</a></li>' for i, (name, _) in zip(ids, sections, strict=True))
    body = f'<nav aria-label="Contents"><h2>Contents</h2><ol>{toc}</ol></nav>\n' + "\n".join(
        f'<h2 id="{i}">{escape(name)}</h2>\n{content}' for i, (name, content) in zip(ids, sections, strict=True))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>\n{body}\n<script>{SCRIPT}</script></body></html>\n"
    )
