"""Read, validate and write the kinds of dataset the pipeline consumes (records in
:mod:`lldata.kinds`; the built-in ones below).

- ``darkface``: ``image/`` + ``label/N.txt`` (DARK FACE layout), optionally ``reference/`` with
  normal-light versions of the same stems (the built-in demo has them; DARK FACE itself does not).
- ``paired``: ``low/`` + ``high/`` with matching stems (as LOL ships).
- ``unpaired``: a folder of images (e.g. DICM, LIME).

:func:`validate_dataset` walks everything and returns every problem at once; :func:`load_dataset`
validates and raises :class:`DatasetError` listing them if any is an error, so nothing downstream
ever sees a half-valid dataset.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lldata.imageio import ImageReadError, is_image_file, read_rgb, write_png
from lldata.issues import DatasetError, Issue
from lldata.kinds import get_kind, list_kinds
from lldata.labels import check_boxes, parse_label_file, write_label

KINDS = tuple(list_kinds())  # the built-in kinds; lldata.kinds.get_kind also takes "module:NAME"


@dataclass(frozen=True)
class Item:
    """One image of a dataset. ``boxes`` are inclusive x1 y1 x2 y2 pixels (kinds with boxes only)."""

    stem: str
    image: Path
    label: Path | None = None
    reference: Path | None = None
    boxes: np.ndarray | None = field(default=None, compare=False)
    width: int = 0
    height: int = 0


@dataclass
class Dataset:
    root: Path
    kind: str
    items: list[Item]
    issues: list[Issue]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    @property
    def has_references(self) -> bool:
        return bool(self.items) and all(item.reference is not None for item in self.items)

    @property
    def num_faces(self) -> int:
        return int(sum(0 if item.boxes is None else len(item.boxes) for item in self.items))


def _natural_key(stem: str) -> tuple:
    """Sort "2" before "10" (DARK FACE names are numbers)."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in _split_digits(stem))


def _split_digits(text: str) -> list[str]:
    parts, current = [], ""
    for ch in text:
        if current and ch.isdigit() != current[-1].isdigit():
            parts.append(current)
            current = ""
        current += ch
    if current:
        parts.append(current)
    return parts


def broken_link_problem(path: Path) -> str | None:
    """Why a symbolic link cannot be followed (a loop, or a missing target); None otherwise."""
    if not path.is_symlink():
        return None
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"symbolic link loops (it points to {os.readlink(path)}, and following it never reaches a file)"
        return f"symbolic link points to {os.readlink(path)}, which cannot be read ({exc.strerror})"
    return None


# Outputs are named "<stem>.<ext>" and written through a temporary ".<name>.XXXXXXXX.tmp" beside
# them; 200 bytes leaves room for both under the usual 255-byte limit of a file name.
MAX_STEM_BYTES = 200


def name_problem(path: Path) -> str | None:
    """Why a file name cannot be carried through the pipeline, or None.

    Names that are not valid UTF-8 (Python holds their bad bytes as surrogates) cannot be
    written to the JSON, stems and manifest files or passed to Snakemake; a stem too long for
    the temporary names of atomic writes fails at the first output instead of here.
    """
    try:
        size = len(path.stem.encode("utf-8"))
    except UnicodeEncodeError:
        return "file name is not valid UTF-8; rename the file"
    if size > MAX_STEM_BYTES:
        return f"file name stem is {size} bytes long; at most {MAX_STEM_BYTES} (outputs and their temporary files are named after it)"
    return None


def _images_by_stem(folder: Path, issues: list[Issue], broken: set[str] | None = None) -> dict[str, Path]:
    """Image files of a folder keyed by stem; two files with one stem is an error. Image names
    that are links which cannot be followed are errors too (their stems go into ``broken``, so
    that their labels are not also reported as labels without an image)."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not is_image_file(path):
            continue
        problem = broken_link_problem(path)
        if problem is not None:
            issues.append(Issue(path, "image-link-broken", problem))
            if broken is not None:
                broken.add(path.stem)
            continue
        if not path.is_file():
            continue
        problem = name_problem(path)
        if problem is not None:
            issues.append(Issue(path, "bad-file-name", problem))
            if broken is not None:
                broken.add(path.stem)
            continue
        if path.stem in found:
            issues.append(
                Issue(path, "duplicate-stem", f"same stem as {found[path.stem].name}: labels and outputs are matched by stem")
            )
            continue
        found[path.stem] = path
    return dict(sorted(found.items(), key=lambda kv: _natural_key(kv[0])))


def _check_image(path: Path, issues: list[Issue]) -> tuple[int, int] | None:
    """Decode fully (truncated files only fail at decode time); return (width, height)."""
    try:
        image = read_rgb(path)
    except ImageReadError as exc:
        issues.append(Issue(path, "image-unreadable", str(exc).removeprefix(f"{path}: ")))
        return None
    return image.shape[1], image.shape[0]


def _require_dir(root: Path, name: str, issues: list[Issue]) -> Path | None:
    folder = root / name
    if not folder.is_dir():
        issues.append(Issue(folder, "missing-folder", f"expected a folder '{name}/' in {root}"))
        return None
    return folder


def scan_darkface(root: Path, clip_boxes: bool, issues: list[Issue]) -> list[Item]:
    image_dir = _require_dir(root, "image", issues)
    label_dir = _require_dir(root, "label", issues)
    if image_dir is None or label_dir is None:
        return []
    broken: set[str] = set()
    images = _images_by_stem(image_dir, issues, broken)
    labels = {p.stem: p for p in sorted(label_dir.glob("*.txt"))}
    reference_dir = root / "reference"
    references = _images_by_stem(reference_dir, issues) if reference_dir.is_dir() else {}
    for stem in sorted(set(labels) - set(images) - broken, key=_natural_key):
        issues.append(Issue(labels[stem], "extra-label", f"label without an image '{stem}.*' in {image_dir}"))
    items = []
    for stem, image_path in images.items():
        label_path = labels.get(stem)
        if label_path is None:
            issues.append(Issue(image_path, "missing-label", f"no label file {label_dir / (stem + '.txt')}"))
            continue
        size = _check_image(image_path, issues)
        boxes, label_issues = parse_label_file(label_path)
        issues.extend(label_issues)
        if size is None:
            continue
        boxes, keep, box_issues = check_boxes(label_path, boxes, size[0], size[1], clip=clip_boxes)
        issues.extend(box_issues)
        reference = references.get(stem)
        if reference_dir.is_dir():
            if reference is None:
                issues.append(Issue(image_path, "missing-reference", f"no reference image for '{stem}' in {reference_dir}"))
            else:
                ref_size = _check_image(reference, issues)
                if ref_size is not None and ref_size != size:
                    issues.append(
                        Issue(reference, "size-mismatch", f"reference is {ref_size[0]}x{ref_size[1]}, image is {size[0]}x{size[1]}")
                    )
        items.append(Item(stem, image_path, label_path, reference, boxes[keep], size[0], size[1]))
    return items


def scan_paired(root: Path, clip_boxes: bool, issues: list[Issue]) -> list[Item]:
    low_dir = _require_dir(root, "low", issues)
    high_dir = _require_dir(root, "high", issues)
    if low_dir is None or high_dir is None:
        return []
    broken: set[str] = set()
    lows = _images_by_stem(low_dir, issues, broken)
    highs = _images_by_stem(high_dir, issues)
    for stem in sorted(set(highs) - set(lows) - broken, key=_natural_key):
        issues.append(Issue(highs[stem], "missing-low", f"no low-light image '{stem}.*' in {low_dir}"))
    items = []
    for stem, low in lows.items():
        high = highs.get(stem)
        if high is None:
            issues.append(Issue(low, "missing-high", f"no normal-light image '{stem}.*' in {high_dir}"))
            continue
        low_size = _check_image(low, issues)
        high_size = _check_image(high, issues)
        if low_size is None or high_size is None:
            continue
        if low_size != high_size:
            issues.append(
                Issue(high, "size-mismatch", f"high is {high_size[0]}x{high_size[1]}, low is {low_size[0]}x{low_size[1]}")
            )
            continue
        items.append(Item(stem, low, None, high, None, low_size[0], low_size[1]))
    return items


def scan_unpaired(root: Path, clip_boxes: bool, issues: list[Issue]) -> list[Item]:
    items = []
    for stem, path in _images_by_stem(root, issues).items():
        size = _check_image(path, issues)
        if size is not None:
            items.append(Item(stem, path, width=size[0], height=size[1]))
    return items


def validate_dataset(root: str | os.PathLike[str], kind: str, clip_boxes: bool = False) -> Dataset:
    """Scan a dataset and collect every problem. Never raises on bad content."""
    root = Path(root)
    record = get_kind(kind)  # an unknown kind is a ValueError listing the known ones
    issues: list[Issue] = []
    if not root.is_dir():
        if root.exists():
            issues.append(Issue(root, "not-a-folder", "dataset path is a file, not a folder (a dataset is a folder)"))
        elif broken_link_problem(root) is not None:
            issues.append(Issue(root, "not-a-folder", f"dataset path is a {broken_link_problem(root)}"))
        else:
            issues.append(Issue(root, "missing-folder", "dataset folder does not exist"))
        return Dataset(root, kind, [], issues)
    items = record.scan(root, clip_boxes, issues)
    if not items and not any(i.severity == "error" for i in issues):
        issues.append(Issue(root, "empty-dataset", "no images found"))
    return Dataset(root, kind, items, issues)


def input_files(root: str | os.PathLike[str], kind: str) -> list[Path]:
    """The files :func:`validate_dataset` reads, for a workflow to declare as the inputs of
    validation: an edited, added or removed image or label then reruns validation and what
    depends on it. Links that cannot be followed are left out (validation reports them)."""
    root = Path(root)
    record = get_kind(kind)
    found: list[Path] = []
    for name in record.input_folders:
        folder = root if name == "." else root / name
        if not folder.is_dir():
            continue
        if name == record.label_folder:
            candidates = sorted(folder.glob("*.txt"))
        else:
            candidates = [p for p in sorted(folder.iterdir()) if not p.name.startswith(".") and is_image_file(p)]
        found.extend(p for p in candidates if p.is_file())
    return found


def load_dataset(root: str | os.PathLike[str], kind: str, clip_boxes: bool = False) -> Dataset:
    """Validate and return the dataset; raise :class:`DatasetError` listing every error."""
    dataset = validate_dataset(root, kind, clip_boxes=clip_boxes)
    if any(issue.severity == "error" for issue in dataset.issues):
        raise DatasetError(Path(root), dataset.issues)
    return dataset


def read_summary(path: str | os.PathLike[str]) -> dict:
    """The dataset summary ``lldata validate --report`` wrote (``dataset.json``), for commands
    that read it (``lldata shard``, ``iqa score``): a missing or malformed file is a ValueError
    or FileNotFoundError naming it, not a traceback from deep inside a parser."""
    path = Path(path)
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "dataset summary not found", str(path)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a JSON dataset summary ({exc})") from None
    items = summary.get("items") if isinstance(summary, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) and "stem" in i for i in items):
        raise ValueError(f"{path}: no 'items' with a 'stem' each (expected the output of `lldata validate --report`)")
    return summary


def write_darkface_item(
    root: str | os.PathLike[str],
    stem: str,
    image: np.ndarray,
    boxes: np.ndarray,
    reference: np.ndarray | None = None,
) -> None:
    """Write one image (+ label, + optional reference) in DARK FACE layout, atomically."""
    root = Path(root)
    write_png(root / "image" / f"{stem}.png", image)
    write_label(root / "label" / f"{stem}.txt", boxes)
    if reference is not None:
        write_png(root / "reference" / f"{stem}.png", reference)


def write_paired_item(root: str | os.PathLike[str], stem: str, low: np.ndarray, high: np.ndarray) -> None:
    root = Path(root)
    write_png(root / "low" / f"{stem}.png", low)
    write_png(root / "high" / f"{stem}.png", high)
