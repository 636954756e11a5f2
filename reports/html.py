"""A tiny HTML writer: one standalone page (images inlined as base64 PNG), no template engine.

Sections are (title, html) pairs so each report part is a plain function returning HTML."""

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
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def table(frame: pd.DataFrame, float_format: str = "{:.3f}") -> str:
    """An HTML table: numbers right-aligned with fixed decimals, text left-aligned."""
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
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'



def page(title: str, sections: list[tuple[str, str]]) -> str:
    body = "\n".join(f"<h2>{escape(name)}</h2>\n{content}" for name, content in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>\n{body}\n</body></html>\n"
    )
