"""Real (under-exposed, well-exposed) training pairs from SICE-style exposure sequences.

SICE Part 1 (as shipped with Zero-DCE) is a folder of numbered frames; consecutive numbers are
one tripod scene shot at several exposures, but the scene boundaries are not listed, some
sequences are not monotone in exposure, a frame of another scene is sometimes interleaved, and
some frames are blown out or nearly black. This module recovers the scenes and picks pairs:

1. **Thumbnails.** Luminance, box-downsampled to ``thumb_size`` square.
2. **Links.** Two frames of one scene differ by a monotone tone curve, so the *gradients of log
   luminance* keep their structure while the exposure changes. The link score of two frames is
   the correlation of those gradients over the pixels that are informative in both (neither
   clipped nor black). Frames at most ``link_window`` apart whose score reaches
   ``link_threshold`` are joined; scenes are the connected components. Looking a few frames
   ahead lets an interleaved frame of another scene sit out without cutting the scene in two.
3. **Target per scene.** The frame whose mean luminance is closest to ``target_mean`` among
   those with few clipped pixels (SICE's fused ground truth is not in this release).
4. **Inputs.** Frames clearly darker than the target (``max_input_ratio``), not nearly black,
   not clipped, and pixel-aligned with the target (link score and no better small shift; some
   sequences drift by a few pixels).
5. **Split by scene group.** Scenes whose targets show the same view (the release repeats some
   views far apart in the numbering) form one group; a seeded permutation of the groups puts
   ``val_fraction`` of them in the validation split, so no view is in both splits.

The pair list is JSON, written atomically; paths are relative to ``root``, which is itself
relative to the JSON file when not absolute (see :func:`resolve_pair_paths`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from lldata.imageio import is_image_file, read_rgb
from lowlight_common.atomic import atomic_write
from lowlight_common.records import dataclass_from_dict

__all__ = [
    "FORMAT",
    "FrameInfo",
    "PairingParams",
    "alignment",
    "build_pair_list",
    "find_scenes",
    "frame_info",
    "group_scenes",
    "link_score",
    "list_frames",
    "read_pair_list",
    "resolve_pair_paths",
    "select_pairs",
    "split_groups",
    "write_pair_list",
]

FORMAT = "diffll-pairs"
VERSION = 1
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class PairingParams:
    """Every threshold of the pairing, recorded in the pair list for provenance."""

    thumb_size: int = 128
    log_eps: float = 0.02  # log(y + eps): keeps the gradients of dark noise small
    informative_low: float = 0.01  # thumbnail pixels below/above are "no information"
    informative_high: float = 0.95
    min_overlap: float = 0.05  # fraction of informative pixels needed to score a link
    link_window: int = 3
    link_threshold: float = 0.3
    target_mean: float = 0.45
    target_mean_min: float = 0.25
    target_mean_max: float = 0.7
    max_target_clip: float = 0.1
    clip_weight: float = 1.0  # target score = |mean - target_mean| + clip_weight * clip
    max_input_ratio: float = 0.5  # input mean <= ratio * target mean
    max_input_mean: float = 0.3
    min_input_mean: float = 0.015  # below this, or with p99 below min_input_p99: nearly black
    min_input_p99: float = 0.1
    max_input_clip: float = 0.05
    pair_min_link: float = 0.3
    shift_search: int = 2  # thumbnail pixels searched on each side for a better alignment
    shift_tolerance: float = 0.02  # a shift must beat the zero-shift score by this much
    group_threshold: float = 0.5
    val_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.thumb_size < 16:
            raise ValueError(f"thumb_size must be >= 16, got {self.thumb_size}")
        if self.link_window < 1:
            raise ValueError(f"link_window must be >= 1, got {self.link_window}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if not 0 < self.target_mean_min <= self.target_mean <= self.target_mean_max < 1:
            raise ValueError("need 0 < target_mean_min <= target_mean <= target_mean_max < 1")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PairingParams:
        return dataclass_from_dict(cls, data, "pairing parameter(s)")


@dataclass
class FrameInfo:
    """Exposure statistics and the thumbnail of one frame."""

    name: str
    shape: tuple[int, int]
    mean: float  # mean luminance in [0, 1]
    p99: float  # 99th percentile of luminance
    clip: float  # fraction of pixels with a channel >= 250
    black: float  # fraction of pixels with luminance < 8/255
    thumb: np.ndarray  # thumb_size x thumb_size float32 luminance

    def stats(self) -> dict[str, float]:
        return {
            "mean": round(self.mean, 5),
            "p99": round(self.p99, 5),
            "clip": round(self.clip, 5),
            "black": round(self.black, 5),
        }


def _natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_frames(folder: str | os.PathLike[str]) -> list[str]:
    """Image file names of ``folder`` in numeric order (``2.jpg`` before ``10.jpg``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a directory (expected a folder of numbered frames)")
    names = [p.name for p in folder.iterdir() if p.is_file() and is_image_file(p)]
    if not names:
        raise ValueError(f"{folder}: no image files found")
    return sorted(names, key=_natural_key)


def luminance(image: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of an RGB uint8 image, float32 in [0, 1]."""
    return (image.astype(np.float32) @ LUMA) / 255.0


def thumbnail(lum: np.ndarray, size: int) -> np.ndarray:
    """Box-filtered square thumbnail of a luminance image."""
    img = Image.fromarray(np.ascontiguousarray(lum, dtype=np.float32))  # mode "F"
    return np.asarray(img.resize((size, size), Image.Resampling.BOX), dtype=np.float32)


def frame_info(name: str, image: np.ndarray, params: PairingParams) -> FrameInfo:
    lum = luminance(image)
    return FrameInfo(
        name=name,
        shape=(int(image.shape[0]), int(image.shape[1])),
        mean=float(lum.mean()),
        p99=float(np.percentile(lum, 99)),
        clip=float((image.max(axis=2) >= 250).mean()),
        black=float((lum < 8 / 255).mean()),
        thumb=thumbnail(lum, params.thumb_size),
    )


def _gradients(thumb: np.ndarray, params: PairingParams) -> tuple[np.ndarray, ...]:
    """Log-luminance gradients and the masks of where they carry information."""
    log = np.log(thumb + params.log_eps)
    ok = (thumb > params.informative_low) & (thumb < params.informative_high)
    gx = log[:-1, 1:] - log[:-1, :-1]
    gy = log[1:, :-1] - log[:-1, :-1]
    okx = ok[:-1, 1:] & ok[:-1, :-1]
    oky = ok[1:, :-1] & ok[:-1, :-1]
    return gx, gy, okx, oky


def _masked_corr(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...], min_overlap: float) -> float:
    gx_a, gy_a, okx_a, oky_a = a
    gx_b, gy_b, okx_b, oky_b = b
    mx = okx_a & okx_b
    my = oky_a & oky_b
    if mx.sum() + my.sum() < min_overlap * 2 * mx.size:
        return float("nan")
    u = np.concatenate([gx_a[mx], gy_a[my]]).astype(np.float64)
    v = np.concatenate([gx_b[mx], gy_b[my]]).astype(np.float64)
    u -= u.mean()
    v -= v.mean()
    denom = float(np.sqrt((u @ u) * (v @ v)))
    return float(u @ v / denom) if denom > 0 else float("nan")


def link_score(a: FrameInfo, b: FrameInfo, params: PairingParams) -> float:
    """Correlation of log-luminance gradients over pixels informative in both (NaN: no evidence)."""
    if a.shape != b.shape:
        return float("nan")
    return _masked_corr(_gradients(a.thumb, params), _gradients(b.thumb, params), params.min_overlap)


def alignment(a: FrameInfo, b: FrameInfo, params: PairingParams) -> tuple[float, tuple[int, int]]:
    """(zero-shift link score, best shift of ``b`` in thumbnail pixels) over a small search.

    Both scores use the same central crop, so a shift wins only by matching better.
    """
    if a.shape != b.shape:
        return float("nan"), (0, 0)
    r = params.shift_search
    ga = [g[r:-r, r:-r] if r else g for g in _gradients(a.thumb, params)]
    gb_full = _gradients(b.thumb, params)
    n = gb_full[0].shape[0]

    def crop(g: np.ndarray, dy: int, dx: int) -> np.ndarray:
        return g[r + dy : n - r + dy, r + dx : n - r + dx]

    zero = _masked_corr(ga, tuple(crop(g, 0, 0) for g in gb_full), params.min_overlap)
    best, best_shift = zero, (0, 0)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dy == 0 and dx == 0:
                continue
            s = _masked_corr(ga, tuple(crop(g, dy, dx) for g in gb_full), params.min_overlap)
            if np.isfinite(s) and (not np.isfinite(best) or s > best + params.shift_tolerance):
                best, best_shift = s, (dy, dx)
    return zero, best_shift


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def find_scenes(frames: Sequence[FrameInfo], params: PairingParams) -> list[list[int]]:
    """Scenes as sorted lists of frame indices, ordered by their first frame."""
    grads = [_gradients(f.thumb, params) for f in frames]
    uf = _UnionFind(len(frames))
    for i in range(len(frames)):
        for j in range(i + 1, min(i + params.link_window + 1, len(frames))):
            if frames[i].shape != frames[j].shape:
                continue
            if _masked_corr(grads[i], grads[j], params.min_overlap) >= params.link_threshold:
                uf.union(i, j)
    comps: dict[int, list[int]] = {}
    for i in range(len(frames)):
        comps.setdefault(uf.find(i), []).append(i)
    return sorted(comps.values(), key=lambda c: c[0])


def _target_score(f: FrameInfo, params: PairingParams) -> float | None:
    if f.clip > params.max_target_clip:
        return None
    if not params.target_mean_min <= f.mean <= params.target_mean_max:
        return None
    return abs(f.mean - params.target_mean) + params.clip_weight * f.clip


def _input_problem(f: FrameInfo, target: FrameInfo, params: PairingParams) -> str | None:
    """Why ``f`` is not a usable input for ``target`` (None when it is)."""
    if f.mean < params.min_input_mean or f.p99 < params.min_input_p99:
        return "nearly black"
    if f.mean > params.max_input_mean or f.mean > params.max_input_ratio * target.mean:
        return "not clearly darker than the target"
    if f.clip > params.max_input_clip:
        return "clipped"
    return None


def select_pairs(
    frames: Sequence[FrameInfo], scene: Sequence[int], params: PairingParams
) -> tuple[int | None, list[dict[str, Any]], dict[int, str]]:
    """Target index, pair records and per-frame roles of one scene."""
    roles: dict[int, str] = {}
    scored = [(s, i) for i in scene if (s := _target_score(frames[i], params)) is not None]
    if not scored:
        for i in scene:
            roles[i] = "unused: scene has no well-exposed frame"
        return None, [], roles
    target = min(scored)[1]
    roles[target] = "target"
    pairs = []
    for i in scene:
        if i == target:
            continue
        problem = _input_problem(frames[i], frames[target], params)
        if problem is None:
            corr, shift = alignment(frames[i], frames[target], params)
            if not (np.isfinite(corr) and corr >= params.pair_min_link):
                problem = f"not matched to the target (link {corr:.3f})"
            elif shift != (0, 0):
                problem = f"misaligned with the target (shift {shift} thumbnail px)"
        if problem is not None:
            roles[i] = f"unused: {problem}"
            continue
        roles[i] = "input"
        pairs.append(
            {
                "low": frames[i].name,
                "target": frames[target].name,
                "low_mean": round(frames[i].mean, 5),
                "target_mean": round(frames[target].mean, 5),
                "ratio": round(frames[i].mean / frames[target].mean, 5),
                "link": round(corr, 5),
            }
        )
    return target, pairs, roles


def _descriptor(f: FrameInfo, params: PairingParams) -> np.ndarray:
    gx, gy, _, _ = _gradients(f.thumb, params)
    v = np.concatenate([gx.ravel(), gy.ravel()]).astype(np.float64)
    v -= v.mean()
    norm = np.linalg.norm(v)
    return v / norm if norm > 0 else v


def group_scenes(
    frames: Sequence[FrameInfo], targets: Sequence[int | None], params: PairingParams
) -> list[int]:
    """Group id per scene: scenes whose targets show the same view share a group."""
    n = len(targets)
    uf = _UnionFind(n)
    have = [k for k, t in enumerate(targets) if t is not None]
    if have:
        desc = np.stack([_descriptor(frames[targets[k]], params) for k in have])  # type: ignore[index]
        sim = desc @ desc.T
        for a in range(len(have)):
            for b in range(a + 1, len(have)):
                ta, tb = frames[targets[have[a]]], frames[targets[have[b]]]  # type: ignore[index]
                if ta.shape == tb.shape and sim[a, b] >= params.group_threshold:
                    uf.union(have[a], have[b])
    roots: dict[int, int] = {}
    return [roots.setdefault(uf.find(k), len(roots)) for k in range(n)]


def split_groups(groups: Iterable[int], val_fraction: float, seed: int) -> dict[int, str]:
    """Seeded train/val assignment of group ids (at least one val group when asked and possible)."""
    ids = sorted(set(groups))
    n_val = int(round(val_fraction * len(ids)))
    if val_fraction > 0 and len(ids) > 1:
        n_val = min(max(n_val, 1), len(ids) - 1)
    order = np.random.default_rng(seed).permutation(len(ids))
    val = {ids[k] for k in order[:n_val]}
    return {g: ("val" if g in val else "train") for g in ids}


def build_pair_list(
    folder: str | os.PathLike[str],
    params: PairingParams | None = None,
    names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Read every frame of ``folder`` (or just ``names``) and return the pair list record."""
    params = params or PairingParams()
    folder = Path(folder)
    names = list(names) if names is not None else list_frames(folder)
    frames = [frame_info(n, read_rgb(folder / n), params) for n in names]
    scenes = find_scenes(frames, params)
    targets: list[int | None] = []
    scene_pairs: list[list[dict[str, Any]]] = []
    roles: dict[int, str] = {}
    for scene in scenes:
        target, pairs, scene_roles = select_pairs(frames, scene, params)
        targets.append(target)
        scene_pairs.append(pairs)
        roles.update(scene_roles)
    groups = group_scenes(frames, targets, params)
    # Only groups that contribute pairs take part in the split, so val gets real pairs.
    useful = sorted({groups[k] for k, p in enumerate(scene_pairs) if p})
    split_of = split_groups(useful, params.val_fraction, params.seed)

    scene_records, pair_records, scene_of = [], [], {}
    for k, scene in enumerate(scenes):
        sid = f"s{k + 1:04d}"
        split = split_of.get(groups[k], "none")
        for i in scene:
            scene_of[i] = sid
        scene_records.append(
            {
                "id": sid,
                "frames": [frames[i].name for i in scene],
                "target": frames[targets[k]].name if targets[k] is not None else None,
                "group": groups[k],
                "split": split,
                "pairs": len(scene_pairs[k]),
            }
        )
        for p in scene_pairs[k]:
            pair_records.append({"scene": sid, "group": groups[k], "split": split, **p})
    frame_records = [
        {"name": f.name, "scene": scene_of[i], "role": roles[i], **f.stats()}
        for i, f in enumerate(frames)
    ]
    counts = {
        "frames": len(frames),
        "scenes": len(scenes),
        "scenes_with_pairs": sum(1 for p in scene_pairs if p),
        "groups_with_pairs": len(useful),
        "pairs": len(pair_records),
        "train_pairs": sum(1 for p in pair_records if p["split"] == "train"),
        "val_pairs": sum(1 for p in pair_records if p["split"] == "val"),
    }
    return {
        "format": FORMAT,
        "version": VERSION,
        "root": str(folder.resolve()),
        "params": params.to_dict(),
        "counts": counts,
        "scenes": scene_records,
        "pairs": pair_records,
        "frames": frame_records,
    }


def write_pair_list(record: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write atomically; an absolute ``root`` is stored relative to the list's folder, so the
    list keeps working when the checkout and the data folder move together."""
    path = Path(path)
    root = record.get("root")
    if root is not None and Path(root).is_absolute():
        with contextlib.suppress(ValueError):  # e.g. another drive: keep it absolute
            record = {**record, "root": os.path.relpath(root, path.parent.resolve())}
    with atomic_write(path, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1)
        handle.write("\n")


def read_pair_list(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load and check a pair list; errors name the file and the problem."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: pair list not found (make one with `diffll pairs`)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} file (missing 'format': '{FORMAT}')")
    if record.get("version") != VERSION:
        raise ValueError(f"{path}: unsupported pair list version {record.get('version')!r}")
    pairs = record.get("pairs")
    if not isinstance(pairs, list):
        raise ValueError(f"{path}: 'pairs' must be a list")
    for k, p in enumerate(pairs):
        missing = [key for key in ("low", "target", "split", "scene") if key not in p]
        if missing:
            raise ValueError(f"{path}: pair {k} lacks {missing}")
    return record


_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def dataset_stem(pair: dict[str, Any], list_path: str | os.PathLike[str], index: int) -> str:
    """File stem ``<scene>_<low frame>`` of a pair in a dataset written from the list.

    The scene id becomes part of a file name, so it must be a plain name (letters, digits,
    ``.``, ``_``, ``-``; no separators, no leading dot): ``../../x`` or an absolute path would
    otherwise write outside the output folder."""
    scene = pair["scene"]
    if not isinstance(scene, str) or not _PLAIN_NAME.fullmatch(scene):
        raise ValueError(
            f"{list_path}: pair {index} has scene {scene!r}, which is not a plain name (letters, "
            "digits, '.', '_', '-', not starting with '.'); scene ids become file names"
        )
    return f"{scene}_{Path(pair['low']).stem}"


def resolve_pair_paths(
    record: dict[str, Any], list_path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None
) -> Path:
    """Folder the pair file names are relative to: ``root`` if given, else the record's root
    (itself relative to the list file's folder when not absolute)."""
    if root is not None:
        return Path(root)
    base = Path(record.get("root", "."))
    return base if base.is_absolute() else (Path(list_path).resolve().parent / base).resolve()
