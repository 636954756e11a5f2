"""Finding, verifying and loading the detectors' released checkpoints (never downloaded here).

Files are looked up exactly like the enhancement competitors' weights, by the same code
(:mod:`lowlight_common.weights`): ``<weights_dir>/<key>`` where ``weights_dir`` is the detector option, else ``$LOWLIGHT_WEIGHTS``,
else ``~/.cache/lowlight-faces/weights``; keys and download addresses are in
``detectors/weights_manifest.json``.

Some authors publish no checksum (DSFD; RetinaFace MobileNet-0.25). For those the manifest holds
``sha256: null`` and the project does not invent one: the file is loaded, its sha256 is logged,
and a user pins it with the detector option ``checkpoint_sha256`` (in a config file it then
travels with the results). A pinned or published sha256 that does not match is an error.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lowlight_common.torch_files import INTEGER_TENSORS, check_tensors, load_error_reason
from lowlight_common.weights import (
    ENV_VAR,
    WeightsEntry,
    WeightsError,
    hash_released_file,
    read_manifest,
    weights_dir,
)

if TYPE_CHECKING:
    from detectors.base import Detector

log = logging.getLogger(__name__)

__all__ = [
    "WeightsEntry",
    "WeightsError",
    "load_state_dict",
    "manifest",
    "missing_reason",
    "verified_path",
]


def manifest() -> dict[str, WeightsEntry]:
    """The detectors' released checkpoints, keyed by their path relative to the weights folder."""
    return read_manifest("detectors")


def _entry(key: str) -> WeightsEntry:
    try:
        return manifest()[key]
    except KeyError:
        raise WeightsError(f"{key}: not a detector checkpoint this package knows about") from None


def _how_to_get(entry: WeightsEntry, where: Path) -> str:
    checksum = (
        f"expected sha256 {entry.sha256}"
        if entry.sha256
        else "sha256: none published (pin your copy with option checkpoint_sha256)"
    )
    return (
        f"download it from {entry.url} (repository {entry.repository}, {entry.path}) and save it "
        f"as {where}, or point option weights_dir / ${ENV_VAR} to a folder holding {entry.key}; "
        f"{checksum}"
    )


def detector_files(detector: type[Detector], options: Mapping[str, Any]) -> list[Path]:
    """The checkpoint files ``detector`` reads with ``options`` (defaults filled), in the weights
    folder: what the workflow makes inputs of its jobs and what manifests hash."""
    folder = weights_dir(options.get("weights_dir"))
    return [folder / key for key in detector.weights_files(options)]


def missing_reason(key: str, folder: str | os.PathLike[str] | None = None) -> str | None:
    """Why checkpoint ``key`` cannot be used (file absent), or None when the file is there.

    Only existence is checked (cheap enough for workflow planning); the hash is checked when the
    detector loads it, so a wrong file fails loudly instead of being skipped.
    """
    entry = _entry(key)
    path = weights_dir(folder) / key
    if path.is_file():
        return None
    return f"checkpoint {key} not found at {path}: {_how_to_get(entry, path)}"


def verified_path(
    key: str, folder: str | os.PathLike[str] | None = None, pinned_sha256: str | None = None
) -> Path:
    """Path of checkpoint ``key`` after checking it exists and matches the known sha256."""
    entry = _entry(key)
    path, actual = hash_released_file(entry, folder, "checkpoint", _how_to_get)
    expected = entry.sha256 or pinned_sha256
    if pinned_sha256 and entry.sha256 and pinned_sha256.lower() != entry.sha256:
        raise WeightsError(
            f"option checkpoint_sha256={pinned_sha256} contradicts the published sha256 "
            f"{entry.sha256} of {key} ({entry.checksum_source})"
        )
    if expected is None:
        log.warning(
            "%s: sha256 %s; no published checksum is known for this file, so it is not verified. "
            "Pin it with the detector option checkpoint_sha256=%s",
            path,
            actual,
            actual,
        )
    elif actual != expected.lower():
        source = entry.checksum_source if entry.sha256 else "pinned with option checkpoint_sha256"
        raise WeightsError(
            f"checkpoint {path} has sha256 {actual}, expected {expected} ({source}): "
            f"{_how_to_get(entry, path)}"
        )
    return path


def load_state_dict(
    key: str, folder: str | os.PathLike[str] | None = None, pinned_sha256: str | None = None
) -> dict[str, Any]:
    """Verify and ``torch.load`` (CPU, ``weights_only=True``) a checkpoint's state dict.

    A ``{"state_dict": ...}`` wrapper and a ``module.`` prefix (checkpoints saved from
    ``nn.DataParallel``, as biubug6's loader expects) are removed.
    """
    import torch

    path = verified_path(key, folder, pinned_sha256)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for bad pickles
        raise WeightsError(f"checkpoint {path} could not be loaded: {load_error_reason(exc)}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"checkpoint {path} holds a {type(state).__name__}, not a state dict")
    try:  # NaN, integer or bool weights give no or garbage detections with exit code 0
        check_tensors(path, state, integer_ok=INTEGER_TENSORS)
    except ValueError as exc:
        raise WeightsError(str(exc)) from None
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_into(module: Any, state: dict[str, Any], source: str) -> None:
    """Load ``state`` into ``module``: every key the network needs must be there, shapes equal.

    Extra keys are reported but tolerated (the authors' loaders use ``strict=False``).
    """
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    if missing:
        raise WeightsError(
            f"{source}: {len(missing)} parameter(s) of the network are missing from the "
            f"checkpoint, e.g. {', '.join(missing[:5])}"
        )
    bad = [k for k in own if tuple(state[k].shape) != tuple(own[k].shape)]
    if bad:
        k = bad[0]
        raise WeightsError(
            f"{source}: {len(bad)} shape mismatch(es), e.g. {k}: checkpoint "
            f"{tuple(state[k].shape)} vs network {tuple(own[k].shape)}"
        )
    extra = sorted(set(state) - set(own))
    if extra:
        log.warning("%s: %d checkpoint key(s) unused, e.g. %s", source, len(extra), extra[:5])
    module.load_state_dict({k: state[k] for k in own}, strict=True)
