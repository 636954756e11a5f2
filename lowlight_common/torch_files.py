"""Reading third-party torch files safely: why a load was refused, and what the tensors hold.

``torch.load(weights_only=True)`` refuses pickles that name code, but its message goes on to
advise re-running with ``weights_only=False`` ("will likely succeed"): exactly the step that
runs the file's code. :func:`load_error_reason` keeps the reason and drops that advice.

A file that loads can still hold NaN, integer or bool tensors; a network built from it gives
black or garbage images with exit code 0. :func:`check_tensors` refuses them at load time,
naming the file and the tensor.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# Integer by design: BatchNorm's step counter.
INTEGER_TENSORS = ("num_batches_tracked",)

_GLOBAL = re.compile(r"(?i)unsupported global:?\s+(?:GLOBAL\s+)?([\w.]+)")
_ADVICE = re.compile(r"weights_only|file an issue|Check the documentation|add_safe_globals|safe_globals")


def load_error_reason(exc: BaseException) -> str:
    """One line saying why ``torch.load(weights_only=True)`` refused a file, without torch's
    advice to retry unrestricted."""
    text = str(exc)
    found = _GLOBAL.search(text)
    if found:
        return f"refused to unpickle: it names {found.group(1)}, which could run code while loading"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    kept = [line for line in lines if not _ADVICE.search(line)]
    return "; ".join(kept) if kept else "not a readable PyTorch file"


def _tensors(obj: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    import torch

    if isinstance(obj, torch.Tensor):
        yield prefix or "<tensor>", obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from _tensors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            yield from _tensors(value, f"{prefix}[{i}]")


def check_tensors(path: str | Path, obj: Any, integer_ok: Iterable[str] = ()) -> None:
    """Every tensor in ``obj`` (nested dicts/lists) is floating point and finite.

    ``integer_ok`` names tensors that are integer by design (BatchNorm's
    ``num_batches_tracked``): they are checked only for being integer. Raises ``ValueError``
    naming ``path`` and the first bad tensor.
    """
    import torch

    allowed = tuple(integer_ok)
    for name, tensor in _tensors(obj):
        if any(name == a or name.endswith("." + a) for a in allowed):
            if tensor.dtype.is_floating_point or tensor.dtype.is_complex or tensor.dtype == torch.bool:
                raise ValueError(f"{path}: tensor {name} has dtype {tensor.dtype}, expected an integer")
            continue
        if not tensor.dtype.is_floating_point:
            raise ValueError(
                f"{path}: tensor {name} has dtype {tensor.dtype}; network weights must be floating point"
            )
        if not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise ValueError(f"{path}: tensor {name} has {bad} non-finite value(s) (NaN or infinity)")
