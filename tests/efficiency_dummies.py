"""Calibration methods with a known cost, to check the benchmark harness in tests.

The harness creates them as ``"tests.efficiency_dummies:Sleep"`` (any ``module:Class`` that
follows the enhancement-method interface can be benchmarked that way); tests map a label to one
with ``method_options={"dummy_sleep": {"method": "tests.efficiency_dummies:Sleep"}}``.

``sleep``: waits ``seconds`` per call (time known, memory ~0).
``alloc``: allocates and touches ``megabytes`` of memory per call (memory known, time small).
They follow the enhancement-method interface: ``enhance(image) -> image``.
``SleepDetector`` is the detector counterpart (``detect(image)``, label option ``"kind": "detector"``).
"""

from __future__ import annotations

import time

import numpy as np


class Sleep:
    def __init__(self, seconds: float = 0.05, **_: object) -> None:
        self.seconds = float(seconds)

    def enhance(self, image: np.ndarray) -> np.ndarray:
        time.sleep(self.seconds)
        return image


class Alloc:
    def __init__(self, megabytes: float = 200.0, device: str = "cpu", **_: object) -> None:
        self.nbytes = int(megabytes * 1024 * 1024)
        self.device = device

    def enhance(self, image: np.ndarray) -> np.ndarray:
        if self.device.startswith("cuda"):
            import torch

            block = torch.ones(self.nbytes, dtype=torch.uint8, device=self.device)
            del block
            return image
        block = np.ones(self.nbytes, dtype=np.uint8)  # np.ones touches every page
        block[:: 4096] = 2
        del block
        return image


class Offset:
    """Adds ``offset`` to the [0, 1] image (unclipped): a PSNR of exactly 20 dB against
    ``offset=0`` for ``offset=0.1``, to check the output comparison."""

    def __init__(self, offset: float = 0.0, **_: object) -> None:
        self.offset = float(offset)

    def enhance(self, image: np.ndarray) -> np.ndarray:
        return image.astype(np.float64) / 255.0 + self.offset


class OutOfMemory:
    """Always fails like an allocation that does not fit (to test that OOM is a result)."""

    def __init__(self, **_: object) -> None:
        pass

    def enhance(self, image: np.ndarray) -> np.ndarray:
        raise MemoryError("simulated out-of-memory")


class SleepDetector:
    """A detector that waits ``seconds`` per image and finds nothing (time known)."""

    def __init__(self, seconds: float = 0.05, **_: object) -> None:
        self.seconds = float(seconds)

    def detect(self, image: np.ndarray) -> np.ndarray:
        time.sleep(self.seconds)
        return np.zeros((0, 5), np.float32)


DUMMIES = {"dummy_sleep": Sleep, "dummy_alloc": Alloc, "dummy_oom": OutOfMemory}


SLEEP, ALLOC, OOM = (f"{__name__}:{cls.__name__}" for cls in (Sleep, Alloc, OutOfMemory))  # as the harness names them
SLEEP_DETECTOR = f"{__name__}:{SleepDetector.__name__}"
OFFSET = f"{__name__}:{Offset.__name__}"


def dummy_options(**options: dict) -> dict[str, dict]:
    """``method_options`` that map each dummy label to its class, merged with ``options``:
    ``dummy_options(dummy_sleep={"seconds": 0.2})``."""
    return {label: {"method": f"{__name__}:{cls.__name__}", **options.get(label, {})} for label, cls in DUMMIES.items()}
