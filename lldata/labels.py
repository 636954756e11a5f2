"""DARK FACE label files: ``label/N.txt`` = a count line, then one ``x1 y1 x2 y2`` line per face.

Coordinates are integer pixels with inclusive corners (the official tool's convention: a box
from x1 to x2 is ``x2 - x1 + 1`` pixels wide). Parsing never raises on bad content: it returns
the boxes it could read plus one :class:`Issue` per problem, so validation can list them all.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from lldata.issues import Issue
from lowlight_common.atomic import atomic_write

# ASCII decimals only: Python's int()/float() also accept "1_0" (= 10), non-ASCII digits,
# "inf"/"nan" and exponents, none of which a label writer means.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)
_COUNT = re.compile(r"[+]?[0-9]+", re.ASCII)
# A file that is not a label (e.g. a link to a system file) would otherwise quote every line.
MAX_LINE_ISSUES = 5
_QUOTE_CHARS = 60


def _parse_number(token: str) -> float | None:
    return float(token) if _DECIMAL.fullmatch(token) else None


def _quote(line: str) -> str:
    return repr(line if len(line) <= _QUOTE_CHARS else line[:_QUOTE_CHARS] + "...")


def parse_label_lines(path: str | os.PathLike[str]) -> tuple[np.ndarray, list[int], list[Issue]]:
    """Read a label file. Returns (boxes as float64 N x 4, the line number of each box, issues).

    Line numbers count every line of the file (blank and malformed ones too), so a message about
    box i names the line it came from. A leading UTF-8 byte-order mark is ignored.
    """
    path = Path(path)
    issues: list[Issue] = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        return np.zeros((0, 4)), [], [Issue(path, "label-encoding", "not a UTF-8 text file")]
    except OSError as exc:
        return np.zeros((0, 4)), [], [Issue(path, "label-unreadable", f"cannot read ({exc})")]
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1)]
    lines = [(n, line) for n, line in lines if line]
    if not lines:
        return np.zeros((0, 4)), [], [Issue(path, "label-empty", "empty label file (expected a count line)")]
    count_line_no, count_text = lines[0]
    declared: int | None = int(count_text) if _COUNT.fullmatch(count_text) else None
    if declared is None:
        issues.append(
            Issue(
                path,
                "label-count-malformed",
                f"first line must be the number of faces (ASCII digits), got {_quote(count_text)}",
                count_line_no,
            )
        )
    boxes = []
    box_lines = []
    malformed = 0
    for line_no, line in lines[1:]:
        tokens = line.split()
        values = [_parse_number(t) for t in tokens]
        if len(tokens) != 4 or any(v is None for v in values):
            malformed += 1
            if malformed <= MAX_LINE_ISSUES:
                issues.append(
                    Issue(
                        path,
                        "label-line-malformed",
                        f"expected 'x1 y1 x2 y2', got {_quote(line)} (four ASCII decimal numbers)",
                        line_no,
                    )
                )
            continue
        boxes.append(values)
        box_lines.append(line_no)
    if malformed > MAX_LINE_ISSUES:
        issues.append(
            Issue(
                path,
                "label-line-malformed",
                f"... and {malformed - MAX_LINE_ISSUES} more malformed line(s) "
                f"({malformed} of {len(lines) - 1}); is this a DARK FACE label file?",
            )
        )
    if declared is not None and declared != len(lines) - 1:
        issues.append(
            Issue(
                path,
                "label-count-mismatch",
                f"count line says {declared} face(s) but the file has {len(lines) - 1} box line(s)",
                count_line_no,
            )
        )
    arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return arr, box_lines, issues


def parse_label_file(path: str | os.PathLike[str]) -> tuple[np.ndarray, list[Issue]]:
    """Read a label file. Returns (boxes as float64 N x 4, issues)."""
    boxes, _, issues = parse_label_lines(path)
    return boxes, issues


def box_line_numbers(path: str | os.PathLike[str]) -> list[int]:
    """Line numbers of the boxes that :func:`parse_label_file` returns, in the same order."""
    return parse_label_lines(path)[1]


def check_boxes(
    path: Path, boxes: np.ndarray, width: int, height: int, clip: bool = False
) -> tuple[np.ndarray, np.ndarray, list[Issue]]:
    """Geometric checks of parsed boxes against the image size.

    Returns (boxes, keep mask, issues). Degenerate boxes (x2 <= x1 or y2 <= y1) are errors and not
    kept. Boxes reaching outside ``[0, width-1] x [0, height-1]`` are errors unless ``clip`` is
    set, in which case they are clipped and reported as warnings.
    """
    issues: list[Issue] = []
    boxes = boxes.copy()
    keep = np.ones(len(boxes), dtype=bool)
    try:
        line_nos = box_line_numbers(path)
    except (OSError, UnicodeDecodeError):
        line_nos = []
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        line = line_nos[i] if i < len(line_nos) else None
        if x2 <= x1 or y2 <= y1:
            issues.append(
                Issue(path, "box-zero-area", f"box {x1:g} {y1:g} {x2:g} {y2:g} has no area (needs x2 > x1 and y2 > y1)", line)
            )
            keep[i] = False
            continue
        outside = x1 < 0 or y1 < 0 or x2 > width - 1 or y2 > height - 1
        if outside:
            where = f"box {x1:g} {y1:g} {x2:g} {y2:g} reaches outside the {width}x{height} image"
            if clip:
                boxes[i] = [max(x1, 0), max(y1, 0), min(x2, width - 1), min(y2, height - 1)]
                cx1, cy1, cx2, cy2 = boxes[i]
                if cx2 <= cx1 or cy2 <= cy1:
                    issues.append(Issue(path, "box-outside", where + " and has no area after clipping", line))
                    keep[i] = False
                else:
                    issues.append(Issue(path, "box-clipped", where + "; clipped", line, severity="warning"))
            else:
                issues.append(Issue(path, "box-outside", where + " (pass clip_boxes / --clip-boxes to clip)", line))
                keep[i] = False
    return boxes, keep, issues


def format_label(boxes: np.ndarray) -> str:
    """Label file text for integer boxes (the official format)."""
    boxes = np.asarray(boxes).reshape(-1, 4)
    lines = [str(len(boxes))]
    for box in boxes:
        lines.append(" ".join(str(int(round(v))) for v in box))
    return "\n".join(lines) + "\n"


def write_label(path: str | os.PathLike[str], boxes: np.ndarray) -> None:
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(format_label(boxes))
