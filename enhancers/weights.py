"""Locating, verifying and loading the authors' released weight files.

Weights are never downloaded at run time. Each file is looked up under a weights folder
(option ``weights_dir``, else env ``LOWLIGHT_WEIGHTS``, else ``~/.cache/lowlight-faces/weights``)
at the relative path used as its key in ``weights_manifest.json``, and its sha256 must match the
manifest: a re-trained or truncated file would otherwise silently change every result. The
manifest is read, and the folder chosen, by :mod:`lowlight_common.weights`, as for detectors.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lowlight_common.files import sha256_file
from lowlight_common.torch_files import INTEGER_TENSORS, check_tensors, load_error_reason
from lowlight_common.weights import (
    ENV_VAR,
    WeightsEntry,
    WeightsError,
    hash_released_file,
    read_manifest,
    weights_dir,
)

if TYPE_CHECKING:  # torch is imported where weights are loaded: classical jobs never need it
    import torch

__all__ = [
    "ENV_VAR",
    "WeightsEntry",
    "WeightsError",
    "file_digests",
    "flush_subnormals",
    "load_checkpoint",
    "manifest",
    "method_weight_files",
    "sub_state_dict",
    "verified_path",
    "weights_dir",
]


def manifest() -> dict[str, WeightsEntry]:
    """All known weight files, keyed by their path relative to the weights folder (every one
    with the released sha256)."""
    return read_manifest("enhancers", require_sha256=True)


def method_weight_files(files: Iterable[str], folder: str | os.PathLike[str] | None = None) -> list[Path]:
    """The files behind a method's ``weights_files`` (:class:`enhancers.base.MethodInfo`): a key
    of the weights manifest is a file in the weights folder; anything else is a path as given
    (DiffLL's checkpoint), a checkpoint folder standing for the files in it.

    The workflow makes these files inputs of the jobs that read them and puts their sha256 in
    the job's params, and the resume journal's fingerprint includes them, so that replacing a
    file at the same path reruns what was computed with the old one."""
    known = manifest()
    base = weights_dir(folder)
    out: list[Path] = []
    for key in files:
        path = base / key if key in known else Path(key).expanduser()
        out.extend(sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path])
    return out


def file_digests(paths: Iterable[Path]) -> dict[str, str]:
    """``{path: sha256}`` (``"absent"`` for a file that is not there), for params and journals."""
    return {str(p): sha256_file(p) if p.is_file() else "absent" for p in paths}


def _how_to_get(entry: WeightsEntry, where: Path) -> str:
    return (
        f"download it from {entry.url} (repository {entry.repository}, path {entry.path} at "
        f"commit {entry.commit}) and save it as {where}, or point option weights_dir / "
        f"--weights-dir / ${ENV_VAR} to a folder holding {entry.key}; "
        f"expected sha256 {entry.sha256}"
    )


def verified_path(key: str, folder: str | os.PathLike[str] | None = None) -> Path:
    """Path of weights file ``key`` after checking that it exists and has the released hash."""
    try:
        entry = manifest()[key]
    except KeyError:
        raise WeightsError(f"{key}: not a weights file this package knows about") from None
    path, actual = hash_released_file(entry, folder, "weights file", _how_to_get)
    if actual != entry.sha256:
        raise WeightsError(
            f"weights file {path} has sha256 {actual}, which is not the released {key}: "
            f"{_how_to_get(entry, path)}"
        )
    return path


def load_checkpoint(key: str, folder: str | os.PathLike[str] | None = None) -> Any:
    """Verify and ``torch.load`` a weights file on CPU with ``weights_only=True``.

    URetinex-Net's files also pickle an ``argparse.Namespace`` (its training options); that
    one class is allow-listed instead of falling back to unrestricted unpickling.
    """
    import torch

    path = verified_path(key, folder)
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for bad pickles
        raise WeightsError(f"weights file {path} could not be loaded: {load_error_reason(exc)}") from None
    try:  # NaN, integer or bool weights give black or garbage images with exit code 0
        check_tensors(path, loaded, integer_ok=INTEGER_TENSORS)
    except ValueError as exc:
        raise WeightsError(str(exc)) from None
    return flush_subnormals(loaded)


def flush_subnormals(obj: Any) -> Any:
    """Set subnormal floats in (nested dicts/lists of) tensors to zero, in place.

    Some released weights hold many: Zero-DCE 19,266 of its 79,416 values, Zero-DCE++ 685 of
    10,561. They change no output (each is under 1.2e-38; the 8-bit result of a 200x150 image
    was identical) but on Intel CPUs every multiply with one takes a slow microcode path: that
    Zero-DCE image took 29.3 s with them and 0.86 s without, one thread, interleaved, on this
    project's Xeon VM (2 vCPUs). Zeroing them at load time gives the fast path without changing
    the process-wide floating-point mode.
    """
    import torch

    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point():
            tiny = torch.finfo(obj.dtype).tiny
            obj.masked_fill_((obj != 0) & (obj.abs() < tiny), 0.0)
        return obj
    if isinstance(obj, dict):
        for value in obj.values():
            flush_subnormals(value)
    elif isinstance(obj, list | tuple):
        for value in obj:
            flush_subnormals(value)
    return obj


def sub_state_dict(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Entries of ``state`` under ``prefix`` with the prefix removed."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
