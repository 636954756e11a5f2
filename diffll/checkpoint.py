"""DiffLL checkpoints: a pickle-free project format, and conversion of the authors' release.

Project format (a directory)::

    CKPT/model.safetensors   the state dict under the authors' key names (``Unet.*``,
                             ``high_enhance{k}.*``); the record below is also embedded in the
                             safetensors header metadata (key ``diffll_record``)
    CKPT/config.json         the record: format + version, network/schedule config, dtype,
                             parameter count, and free-form metadata (training data, step, ...)

:func:`load_checkpoint` accepts the directory, its ``model.safetensors``, or a lone
``.safetensors`` file that carries the embedded record, so a single file can be shipped.
Loading never unpickles anything; only :func:`convert_official` does, once, on the authors'
``model.pth.tar``, and then with torch's restricted (``weights_only``) unpickler.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_save

from diffll.config import DiffLLConfig
from diffll.model import DiffLL
from lowlight_common.atomic import atomic_write
from lowlight_common.files import sha256_file
from lowlight_common.torch_files import check_tensors, load_error_reason

__all__ = [
    "CheckpointError",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "convert_official",
    "load_checkpoint",
    "load_state_dict_strict",
    "save_checkpoint",
]

FORMAT_NAME = "diffll-checkpoint"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
RECORD_FILE = "config.json"
RECORD_KEY = "diffll_record"
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class CheckpointError(ValueError):
    """A checkpoint that is missing, malformed or does not fit the network."""


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("lowlight-faces")
    except Exception:  # not installed (e.g. run from a source tree)
        return "unknown"


def _jsonable(value: Any) -> Any:
    """Make metadata JSON-safe: paths and devices become strings, tensors plain numbers."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def save_checkpoint(
    directory: str | os.PathLike[str],
    model: DiffLL,
    config: DiffLLConfig | None = None,
    metadata: Mapping[str, Any] | None = None,
    dtype: str = "float32",
) -> Path:
    """Write ``model.safetensors`` + ``config.json`` atomically; returns the directory."""
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
    config = config if config is not None else model.config
    directory = Path(directory)
    state = {
        k: v.detach().to("cpu", _DTYPES[dtype]).contiguous() for k, v in model.state_dict().items()
    }
    record = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "package_version": _package_version(),
        "dtype": dtype,
        "num_parameters": int(sum(v.numel() for v in state.values())),
        "config": config.to_dict(),
        "metadata": _jsonable(dict(metadata or {})),
    }
    record_json = json.dumps(record, indent=1, sort_keys=True)
    blob = safetensors_save(state, metadata={RECORD_KEY: record_json})
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_write(directory / WEIGHTS_FILE, "wb") as handle:
        handle.write(blob)
    with atomic_write(directory / RECORD_FILE, "w", encoding="utf-8") as handle:
        handle.write(record_json + "\n")
    return directory


def _locate(path: Path) -> tuple[Path, Path | None]:
    """(weights file, record file or None) for a directory or a .safetensors path."""
    if not path.exists():
        raise CheckpointError(
            f"{path}: checkpoint not found (expected a directory with {WEIGHTS_FILE} and "
            f"{RECORD_FILE}, or a .safetensors file; convert the authors' model.pth.tar with "
            "`diffll convert-official`)"
        )
    if path.is_dir():
        weights = path / WEIGHTS_FILE
        if not weights.is_file():
            raise CheckpointError(f"{path}: directory has no {WEIGHTS_FILE}")
        record = path / RECORD_FILE
        return weights, record if record.is_file() else None
    if path.suffix in (".tar", ".pth", ".pt", ".ckpt"):
        raise CheckpointError(
            f"{path}: a pickle checkpoint; convert it first with "
            f"`diffll convert-official {path} OUT_DIR` (loading pickles can run code)"
        )
    if path.suffix != ".safetensors":
        raise CheckpointError(f"{path}: not a .safetensors file or checkpoint directory")
    record = path.parent / RECORD_FILE
    return path, record if record.is_file() else None


def _read_record(weights: Path, record_file: Path | None) -> dict[str, Any]:
    try:
        with safe_open(str(weights), framework="pt") as handle:
            embedded = (handle.metadata() or {}).get(RECORD_KEY)
    except Exception as exc:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({exc})") from None
    text = embedded
    if text is None and record_file is not None:
        text = record_file.read_text(encoding="utf-8")
    if text is None:
        raise CheckpointError(
            f"{weights}: no embedded '{RECORD_KEY}' metadata and no {RECORD_FILE} beside it"
        )
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{weights}: checkpoint record is not valid JSON ({exc})") from None
    except RecursionError:
        raise CheckpointError(f"{weights}: checkpoint record is nested too deeply") from None
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise CheckpointError(
            f"{weights}: checkpoint record must be a JSON object with a 'config' object, got "
            f"{type(record).__name__}"
        )
    if record.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{weights}: record format {record.get('format')!r} != {FORMAT_NAME}")
    version = record.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise CheckpointError(f"{weights}: record format_version {version!r} is not an integer")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{weights}: format version {record['format_version']} is newer than this code "
            f"({FORMAT_VERSION})"
        )
    return record


def load_state_dict_strict(model: DiffLL, state: Mapping[str, torch.Tensor], source: str) -> None:
    """``load_state_dict(strict=True)`` with an error that names the file and the mismatch."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = sorted(
        f"{k}: {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(state) & set(expected)
        if tuple(state[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or wrong_shape:
        parts = []
        for label, items in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", wrong_shape),
        ):
            if items:
                parts.append(f"{len(items)} {label} (e.g. {', '.join(items[:3])})")
        raise CheckpointError(f"{source}: weights do not fit the network: " + "; ".join(parts))
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)


_FLOAT_DTYPES = ("F32", "F16", "BF16", "F64")


def _check_header(
    weights: Path, expected: Mapping[str, torch.Tensor], found: Mapping[str, tuple[str, tuple[int, ...]]]
) -> None:
    """Names, shapes and float dtypes from the safetensors header against the network's."""
    shapes = {k: tuple(v.shape) for k, v in expected.items()}
    missing = sorted(set(shapes) - set(found))
    unexpected = sorted(set(found) - set(shapes))
    wrong = sorted(f"{k}: {found[k][1]} vs model {shapes[k]}" for k in set(found) & set(shapes)
                   if found[k][1] != shapes[k])
    parts = [f"{len(items)} {label} (e.g. {', '.join(items[:3])})"
             for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
             if items]
    if parts:
        raise CheckpointError(f"{weights}: weights do not fit the network the record describes: " + "; ".join(parts))
    not_float = sorted(f"{k} ({dtype})" for k, (dtype, _) in found.items() if dtype not in _FLOAT_DTYPES)
    if not_float:
        raise CheckpointError(
            f"{weights}: {len(not_float)} tensor(s) are not floating point, e.g. {', '.join(not_float[:3])}"
        )


def load_checkpoint(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[DiffLL, DiffLLConfig, dict[str, Any]]:
    """Build the network from the record and load its weights (float32, eval mode).

    Returns ``(model, config, record)``; ``record["metadata"]`` holds what the writer stored.
    """
    weights, record_file = _locate(Path(path))
    record = _read_record(weights, record_file)
    try:
        config = DiffLLConfig.from_dict(record["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{weights}: bad network config in record ({exc})") from None
    try:
        # The network's shapes on the meta device (no memory), compared with the file's header
        # before any tensor is read or any real network allocated.
        with torch.device("meta"):
            expected = DiffLL(config).state_dict()
    except ValueError as exc:
        raise CheckpointError(f"{weights}: bad schedule in record ({exc})") from None
    with safe_open(str(weights), framework="pt", device="cpu") as handle:
        keys = list(handle.keys())  # noqa: SIM118 - safe_open handles are not iterable
        header = {key: handle.get_slice(key) for key in keys}
        _check_header(weights, expected, {k: (v.get_dtype(), tuple(v.get_shape())) for k, v in header.items()})
        state = {key: handle.get_tensor(key) for key in keys}
    try:
        check_tensors(weights, state)
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    model = DiffLL(config)
    load_state_dict_strict(model, state, str(weights))
    model.to(device).eval()
    return model, config, record


# ---- the authors' release ---------------------------------------------------------------------


def _namespace_to_dict(value: Any) -> Any:
    """argparse.Namespace trees (the authors' ``config``/``params``) to plain JSON-able data."""
    if isinstance(value, argparse.Namespace):
        return {k: _namespace_to_dict(v) for k, v in vars(value).items()}
    if isinstance(value, Mapping):
        return {str(k): _namespace_to_dict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_namespace_to_dict(v) for v in value]
    if isinstance(value, torch.device):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _strip_module(state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    return {
        (k[len("module.") :] if k.startswith("module.") else k): v
        for k, v in state.items()
        if isinstance(v, torch.Tensor)
    }


def _training_data(authors_config: Any) -> str:
    data = authors_config.get("data") if isinstance(authors_config, dict) else None
    name = data.get("train_dataset") if isinstance(data, dict) else None
    if name:
        return str(name)
    return "not recorded in the source file (the authors' published model is LOLv1-trained)"


# The authors' layout pickles its configs as argparse.Namespace trees (plus a torch.device, which
# torch's restricted unpickler allows already) next to tensors and plain data.
_ALLOWED_GLOBALS = [argparse.Namespace]


def _load_restricted_pickle(src: Path) -> Any:
    """``torch.load(weights_only=True)`` with the Namespace allow-list: a pickle that names any
    other global (a function to call, a class to build) is refused before anything runs."""
    try:
        with torch.serialization.safe_globals(_ALLOWED_GLOBALS):
            return torch.load(src, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch words it "Unsupported global: GLOBAL x.y" or "unsupported GLOBAL x.y whose ..."
        found = re.search(r"(?i)unsupported global:?\s+(?:GLOBAL\s+)?(\S+)", str(exc))
        what = f"it names {found.group(1)}" if found else f"torch's restricted unpickler says: {load_error_reason(exc)}"
        raise CheckpointError(
            f"{src}: refused to unpickle: {what}, which is not allowed (allowed are tensors, plain "
            "data, torch.device and argparse.Namespace: what the authors' checkpoint layout holds; "
            "other globals can run code while unpickling, so this file is not converted)"
        ) from None
    except Exception as exc:  # torch raises several types for files that are no checkpoint
        raise CheckpointError(f"{src}: cannot read as a PyTorch checkpoint ({load_error_reason(exc)})") from None


def convert_official(
    pth_tar: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    prefer_ema: bool = True,
) -> Path:
    """Convert the authors' ``model.pth.tar`` (a pickle) into the project format.

    Uses the EMA weights (``ema_helper``) when present, as the authors' inference does. The
    pickle is read with torch's restricted unpickler (see :func:`_load_restricted_pickle`).
    """
    src = Path(pth_tar)
    if not src.is_file():
        raise CheckpointError(
            f"{src}: not found. The authors' LOLv1 checkpoint is `model.pth.tar` from "
            "JianghaiSCU/Diffusion-Low-Light (Google Drive id 1f4zDvPsWKrID33OJdeHwc5VOBILkm0KW)"
        )
    raw = _load_restricted_pickle(src)
    if not isinstance(raw, Mapping):
        raise CheckpointError(f"{src}: expected a dict checkpoint, got {type(raw).__name__}")

    ema = raw.get("ema_helper")
    if prefer_ema and isinstance(ema, Mapping) and ema:
        state, source = _strip_module(ema), "ema_helper"
    elif isinstance(raw.get("state_dict"), Mapping):
        state, source = _strip_module(raw["state_dict"]), "state_dict"
    elif all(isinstance(v, torch.Tensor) for v in raw.values()):
        state, source = _strip_module(raw), "bare state dict"
    else:
        raise CheckpointError(f"{src}: no 'ema_helper' or 'state_dict' entry (keys {list(raw)})")

    authors_config = _namespace_to_dict(raw.get("config")) or {}
    params = _namespace_to_dict(raw.get("params")) or {}
    merged = dict(authors_config) if isinstance(authors_config, dict) else {}
    if isinstance(params, dict) and params.get("sampling_timesteps") is not None:
        merged.setdefault("sampling_timesteps", params["sampling_timesteps"])
    try:
        config = DiffLLConfig.from_authors(merged)
    except ValueError as exc:
        raise CheckpointError(
            f"{src}: its config does not describe a DiffLL network ({exc})"
        ) from None

    model = DiffLL(config)
    load_state_dict_strict(model, state, f"{src} [{source}]")
    metadata = {
        "source": "authors' release (JianghaiSCU/Diffusion-Low-Light), converted",
        "source_file": src.name,
        "source_sha256": sha256_file(src),
        "weights": source,
        "step": _jsonable(raw.get("step")),
        "epoch": _jsonable(raw.get("epoch")),
        "training_data": _training_data(authors_config),
        "authors_config": authors_config,
        "authors_params": params,
    }
    return save_checkpoint(out_dir, model, config, metadata)
