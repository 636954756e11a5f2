"""The built-in demo dataset: synthetic night scenes with exact face boxes, made at run time.

Nothing is downloaded and nothing from ``../shared`` is used: the ingredients ship inside
scikit-image (colour photographs and textures as backgrounds, and 100 face crops of its LFW
subset). For each image we

1. crop and resize a background to ``width x height``;
2. paste ``faces_per_image`` LFW faces, tinted to skin tones, at random non-overlapping places
   and sizes (``face_size`` px, square), with a feathered elliptical edge so that no hard
   rectangle gives the face away;
3. record the face box (the pasted square minus ``box_margin`` of its side on each edge: LFW
   crops include some hair and background around the face) in inclusive pixel coordinates;
4. darken the composite with :func:`lldata.synthesis.darken`.

The result is written in DARK FACE layout (``image/``, ``label/``) plus ``reference/`` (the
normal-light composites) and ``manifest.json`` (parameters and SHA-256 of every file). All
randomness derives from ``seed`` and the image index, so the same settings give the same bytes.

Rebuilding into an existing folder gives exactly the new set: files an earlier (larger) build
wrote and this one does not are removed. Only files the demo wrote are ever removed; they are
listed in ``.lldata-demo.json`` (written before any data file) and in ``manifest.json``. A
folder holding anything else is refused with the list of those files, and nothing is changed.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from lldata.datasets import write_darkface_item
from lldata.synthesis import DarkenParams, darken
from lowlight_common.atomic import atomic_write
from lowlight_common.files import sha256_file
from lowlight_common.records import dataclass_from_dict

GENERATOR_VERSION = 1

# Backgrounds from skimage.data with no human face in them (astronaut is left out for that reason).
BACKGROUNDS = (
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "retina",
    "immunohistochemistry",
    "colorwheel",
    "cat",
    "brick",
    "grass",
    "gravel",
)

# Multipliers applied to the grey LFW crops: a spread of skin tones (R >= G >= B).
SKIN_TONES = np.array(
    [
        [1.00, 0.86, 0.74],
        [1.00, 0.80, 0.64],
        [0.92, 0.72, 0.56],
        [0.78, 0.58, 0.44],
        [0.60, 0.44, 0.33],
        [1.00, 0.90, 0.82],
    ]
)


@dataclass(frozen=True)
class DemoConfig:
    seed: int = 2023
    num_images: int = 12
    width: int = 640
    height: int = 480
    faces_per_image: tuple[int, int] = (2, 5)
    face_size: tuple[int, int] = (15, 60)
    box_margin: float = 0.08
    darken: DarkenParams = field(default_factory=lambda: DarkenParams(exposure=0.03, photons_at_white=1500.0, read_noise=0.003, colour_cast=(1.0, 0.93, 0.8)))

    def __post_init__(self) -> None:
        if self.num_images < 1:
            raise ValueError("demo.num_images must be at least 1")
        if self.width < 64 or self.height < 64:
            raise ValueError("demo width and height must be at least 64")
        lo, hi = self.face_size
        if not 8 <= lo <= hi <= min(self.width, self.height) // 2:
            raise ValueError(f"demo.face_size must satisfy 8 <= min <= max <= {min(self.width, self.height) // 2}")
        if not 0 <= self.faces_per_image[0] <= self.faces_per_image[1]:
            raise ValueError("demo.faces_per_image must be [min, max] with 0 <= min <= max")

    @classmethod
    def from_dict(cls, values: dict) -> DemoConfig:
        def ints(v: Any) -> tuple[int, ...]:
            return tuple(int(x) for x in v)

        convert = {"darken": DarkenParams.from_dict, "faces_per_image": ints, "face_size": ints}
        return dataclass_from_dict(cls, values, "demo option(s)", convert)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["darken"] = self.darken.to_dict()
        out["faces_per_image"] = list(self.faces_per_image)
        out["face_size"] = list(self.face_size)
        return out


def _background(name: str, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    from skimage import data

    image = np.asarray(getattr(data, name)())
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = image[..., :3].astype(np.uint8)
    h, w = image.shape[:2]
    # Random crop with the target aspect ratio covering 60-100% of the shorter fitting side.
    aspect = width / height
    crop_w_max = min(w, int(h * aspect))
    crop_w = int(crop_w_max * rng.uniform(0.6, 1.0))
    crop_h = max(1, int(round(crop_w / aspect)))
    x0 = int(rng.integers(0, w - crop_w + 1))
    y0 = int(rng.integers(0, h - crop_h + 1))
    crop = image[y0 : y0 + crop_h, x0 : x0 + crop_w]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((width, height), Image.Resampling.LANCZOS))


def _face_patch(face: np.ndarray, size: int, tone: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Resize a 25x25 grey face to ``size`` and tint it; return (rgb float 0..255, alpha 0..1)."""
    grey = Image.fromarray(np.round(face * 255).astype(np.uint8)).resize((size, size), Image.Resampling.BICUBIC)
    grey = np.asarray(grey, dtype=np.float64)
    rgb = np.clip(grey[..., None] * tone[None, None, :] * 1.05, 0, 255)
    yy, xx = np.mgrid[0:size, 0:size]
    c = (size - 1) / 2.0
    r = np.sqrt(((xx - c) / (0.5 * size)) ** 2 + ((yy - c) / (0.56 * size)) ** 2)
    alpha = np.clip((1.0 - r) / 0.12, 0.0, 1.0)  # feathered ellipse, opaque in the middle
    return rgb, alpha


def _place(sizes: list[int], width: int, height: int, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """Non-overlapping square placements (x, y, size), with a gap, by rejection sampling."""
    placed: list[tuple[int, int, int]] = []
    for size in sorted(sizes, reverse=True):
        for _ in range(200):
            x = int(rng.integers(4, width - size - 4))
            y = int(rng.integers(4, height - size - 4))
            gap = 6
            if all(x + size + gap <= px or px + ps + gap <= x or y + size + gap <= py or py + ps + gap <= y for px, py, ps in placed):
                placed.append((x, y, size))
                break
    return placed


def make_demo_image(index: int, config: DemoConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Build image ``index``: returns (dark uint8, reference uint8, boxes int N x 4)."""
    from skimage import data

    faces = data.lfw_subset()[:100]  # the first 100 entries of the subset are faces
    layout_rng = np.random.default_rng([config.seed, index, 0])
    noise_rng = np.random.default_rng([config.seed, index, 1])
    name = BACKGROUNDS[index % len(BACKGROUNDS)]
    canvas = _background(name, config.width, config.height, layout_rng).astype(np.float64)
    count = int(layout_rng.integers(config.faces_per_image[0], config.faces_per_image[1] + 1))
    # Log-uniform sizes: small faces are common at night, as in DARK FACE.
    lo, hi = config.face_size
    sizes = [int(round(np.exp(layout_rng.uniform(np.log(lo), np.log(hi))))) for _ in range(count)]
    boxes = []
    for x, y, size in _place(sizes, config.width, config.height, layout_rng):
        face = faces[int(layout_rng.integers(0, len(faces)))]
        tone = SKIN_TONES[int(layout_rng.integers(0, len(SKIN_TONES)))]
        rgb, alpha = _face_patch(face, size, tone)
        region = canvas[y : y + size, x : x + size]
        canvas[y : y + size, x : x + size] = alpha[..., None] * rgb + (1 - alpha[..., None]) * region
        m = int(round(config.box_margin * size))
        boxes.append([x + m, y + m, x + size - 1 - m, y + size - 1 - m])
    reference = np.clip(np.round(canvas), 0, 255).astype(np.uint8)
    dark = darken(reference, config.darken, noise_rng)
    return dark, reference, np.asarray(boxes, dtype=np.int64).reshape(-1, 4)


MANIFEST = "manifest.json"
OWNED_LIST = ".lldata-demo.json"
_SUBFOLDERS = (("image", ".png"), ("label", ".txt"), ("reference", ".png"))


class DemoFolderError(ValueError):
    """The output folder holds files the demo did not write; nothing was changed."""


def demo_files(num_images: int) -> list[str]:
    """Relative paths of the data files a build of ``num_images`` images writes."""
    return [f"{sub}/{index + 1}{suffix}" for index in range(num_images) for sub, suffix in _SUBFOLDERS]


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _owned_files(out: Path) -> set[str]:
    """Files an earlier build wrote here: the ownership list (kept across builds, written before
    any data file, so an interrupted build is covered) and the manifest of a finished build."""
    owned: set[str] = set()
    listed = _read_json(out / OWNED_LIST)
    if listed.get("generator") == "lldata.demo":
        owned.update(str(f) for f in listed.get("files", []))
    manifest = _read_json(out / MANIFEST)
    if manifest.get("generator") == "lldata.demo":
        owned.update(str(f) for f in manifest.get("sha256", {}))
    return owned


def _is_write_leftover(rel: str) -> bool:
    """A temporary file of an interrupted atomic write (``.<name>.<random>.tmp`` beside it)."""
    parent, _, name = rel.rpartition("/")
    return parent in ("", "image", "label", "reference") and name.startswith(".") and name.endswith(".tmp")


def _prepare_folder(out: Path, planned: list[str]) -> set[str]:
    """Check that ``out`` holds only demo files; return those to remove after the build."""
    if out.exists() and not out.is_dir():
        raise DemoFolderError(f"{out}: exists and is not a folder")
    if not out.exists():
        return set()
    owned = _owned_files(out)
    present = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() or p.is_symlink()}
    foreign = sorted(
        rel for rel in present if rel not in owned and rel not in (MANIFEST, OWNED_LIST) and not _is_write_leftover(rel)
    )
    if foreign:
        shown = ", ".join(foreign[:10]) + (f" and {len(foreign) - 10} more" if len(foreign) > 10 else "")
        raise DemoFolderError(
            f"{out}: holds {len(foreign)} file(s) the demo did not write ({shown}); the demo replaces "
            "the whole folder, so build it into an empty or new folder (nothing was changed)"
        )
    return (owned & present) - set(planned) | {rel for rel in present if _is_write_leftover(rel)}


def _write_owned_list(out: Path, files: set[str] | list[str]) -> None:
    with atomic_write(out / OWNED_LIST, "w", encoding="utf-8") as handle:
        json.dump({"generator": "lldata.demo", "files": sorted(files)}, handle, indent=1)
        handle.write("\n")


def build_demo(out_dir: str | os.PathLike[str], config: DemoConfig | None = None) -> Path:
    """Write the demo dataset to ``out_dir`` (DARK FACE layout + reference/ + manifest.json).

    An existing folder must hold only files of earlier demo builds (else :class:`DemoFolderError`
    and nothing changes); those this build does not write again are removed."""
    config = config or DemoConfig()
    out = Path(out_dir)
    planned = demo_files(config.num_images)
    stale = _prepare_folder(out, planned)
    out.mkdir(parents=True, exist_ok=True)
    # Own every file before writing it, then drop the old manifest: an interrupted build never
    # leaves an unlisted file, nor a manifest that describes other files than the folder holds.
    _write_owned_list(out, _owned_files(out) | set(planned))
    (out / MANIFEST).unlink(missing_ok=True)
    files = {}
    total_faces = 0
    for index in range(config.num_images):
        stem = str(index + 1)
        dark, reference, boxes = make_demo_image(index, config)
        write_darkface_item(out, stem, dark, boxes, reference)
        total_faces += len(boxes)
        for sub, suffix in _SUBFOLDERS:
            path = out / sub / f"{stem}{suffix}"
            files[f"{sub}/{stem}{suffix}"] = sha256_file(path)
    for rel in sorted(stale):
        (out / rel).unlink(missing_ok=True)
    _write_owned_list(out, planned)
    manifest = {
        "generator": "lldata.demo",
        "generator_version": GENERATOR_VERSION,
        "config": config.to_dict(),
        "num_images": config.num_images,
        "num_faces": total_faces,
        "sha256": files,
    }
    # The manifest is written last: its presence means the dataset is complete.
    with atomic_write(out / MANIFEST, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
        handle.write("\n")
    return out
