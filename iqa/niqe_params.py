"""Convert NIQE's pristine-model parameters to the file pyiqa reads.

The official MATLAB values (``mu_pris_param`` 1x36, ``cov_pris_param`` 36x36), e.g. BasicSR's
``niqe_pris_params.npz`` (shipped in the ``basicsr`` package, see :mod:`iqa.packaged`), become
``niqe_modelparameters.mat`` with the keys pyiqa loads (``mu_prisparam``, ``cov_prisparam``) in
``$TORCH_HOME/hub/pyiqa``. The values are copied as float64, unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from iqa.files import hub_dir
from lowlight_common.atomic import atomic_write


def install_niqe_params(npz_path: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Write ``niqe_modelparameters.mat`` into ``cache_dir`` (default ``$TORCH_HOME/hub/pyiqa``)."""
    npz_path = Path(npz_path)
    try:
        data = np.load(npz_path)
        mu, cov = np.asarray(data["mu_pris_param"], dtype=np.float64), np.asarray(data["cov_pris_param"], dtype=np.float64)
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{npz_path}: expected an .npz with mu_pris_param and cov_pris_param ({exc})") from None
    if mu.size != 36 or cov.shape != (36, 36):
        raise ValueError(f"{npz_path}: expected mu 1x36 and cov 36x36, got {mu.shape} and {cov.shape}")
    import scipy.io

    target = (Path(cache_dir) if cache_dir else hub_dir() / "pyiqa") / "niqe_modelparameters.mat"
    # a unique temporary file + rename: parallel jobs may make the same file at the same time
    with atomic_write(target, "wb") as handle:
        scipy.io.savemat(handle, {"mu_prisparam": mu.reshape(1, 36), "cov_prisparam": cov})
    return target
