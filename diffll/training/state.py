"""Run state outside the model: devices, RNG streams, determinism and checkpoint files.

A training checkpoint holds every RNG state the run touches and is written with ``torch.save``
in a form that ``torch.load(weights_only=True)`` reads back (tensors, lists, numbers, strings),
so resuming never unpickles code. Step checkpoints are ``checkpoints/step-NNNNNNNN.pt``; the
newest ``keep_last`` are kept, ``best.pt`` beside them.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lowlight_common.atomic import atomic_write
from lowlight_common.devices import describe_device, resolve_device
from lowlight_common.torch_files import load_error_reason

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "capture_rng_state",
    "device_description",
    "find_latest_checkpoint",
    "load_training_checkpoint",
    "resolve_device",
    "restore_rng_state",
    "save_training_checkpoint",
    "seed_everything",
    "set_determinism",
]

CHECKPOINT_FORMAT = "diffll-train-state"
CHECKPOINT_VERSION = 1
_STEP_NAME = re.compile(r"step-(\d+)\.pt")


def set_determinism(deterministic: bool) -> None:
    """Deterministic kernels where PyTorch has them (warn where it has none) or cuDNN autotune."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.deterministic = False
        torch.use_deterministic_algorithms(False)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng_state(noise: torch.Generator) -> dict[str, Any]:
    """Every RNG the run touches, as tensors/lists/numbers only (weights_only-loadable)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [int(version), [int(k) for k in internal], gauss],
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "noise": noise.get_state(),
    }


def restore_rng_state(state: Mapping[str, Any], noise: torch.Generator) -> None:
    version, internal, gauss = state["python"]
    random.setstate((int(version), tuple(int(k) for k in internal), gauss))
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["name"],
            np_state["keys"].numpy().astype(np.uint32),
            int(np_state["pos"]),
            int(np_state["has_gauss"]),
            float(np_state["cached_gaussian"]),
        )
    )
    torch.set_rng_state(state["torch"])
    cuda_states = state.get("cuda") or []
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)
    noise.set_state(state["noise"])


def device_description(device: torch.device) -> str:
    """The hardware a checkpoint or summary was made on (:func:`lowlight_common.devices.describe_device`)."""
    return describe_device(device)


def _step_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    return sorted((int(m.group(1)), p) for p in folder.glob("step-*.pt") if (m := _STEP_NAME.fullmatch(p.name)))


def find_latest_checkpoint(out_dir: str | os.PathLike[str]) -> Path | None:
    """Newest ``step-*.pt`` of a run directory (by step number), or None."""
    found = _step_checkpoints(Path(out_dir) / "checkpoints")
    return found[-1][1] if found else None


def load_training_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` of a training checkpoint, with clear errors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: training checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a loadable training checkpoint ({load_error_reason(exc)})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a {CHECKPOINT_FORMAT} file (an inference checkpoint?)")
    if int(state.get("version", 0)) > CHECKPOINT_VERSION:
        raise ValueError(f"{path}: checkpoint version {state.get('version')} is newer than this code")
    return state


def save_training_checkpoint(
    out_dir: str | os.PathLike[str], state: Mapping[str, Any], step: int, best: bool, keep_last: int
) -> Path:
    """Write ``best.pt`` or ``step-NNNNNNNN.pt`` atomically; after a step save, drop all but the
    newest ``keep_last`` step checkpoints (a crash mid-write never leaves a half file)."""
    folder = Path(out_dir) / "checkpoints"
    path = folder / ("best.pt" if best else f"step-{step:08d}.pt")
    with atomic_write(path, "wb") as handle:
        torch.save(dict(state), handle)
    if not best:
        for _, old in _step_checkpoints(folder)[:-keep_last]:
            old.unlink(missing_ok=True)
    return path
