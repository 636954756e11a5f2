"""The one detector interface: an RGB uint8 image in, score-sorted pixel boxes out.

Every detector (built-in or a user's own) returns :class:`Detections`, so the runner, the
evaluation and the reports never need to know which model produced a box.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Boxes (float32, N x 4, ``x1 y1 x2 y2`` pixels) and scores (float32, N), best first."""

    boxes: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        if boxes.shape[0] != scores.shape[0]:
            raise ValueError(f"{boxes.shape[0]} boxes but {scores.shape[0]} scores")
        if not (np.isfinite(boxes).all() and np.isfinite(scores).all()):
            raise ValueError("boxes and scores must be finite")
        # Stable sort: equal scores keep the detector's order, so output files are reproducible.
        order = np.argsort(-scores, kind="stable")
        object.__setattr__(self, "boxes", np.ascontiguousarray(boxes[order]))
        object.__setattr__(self, "scores", np.ascontiguousarray(scores[order]))

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    def clip(self, height: int, width: int) -> Detections:
        """Clip boxes to the image (pixel centres 0..W-1, 0..H-1); ground truth lies inside too."""
        boxes = self.boxes.copy()
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width - 1)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height - 1)
        return Detections(boxes, self.scores)

    def above(self, min_score: float) -> Detections:
        keep = self.scores >= min_score
        return Detections(self.boxes[keep], self.scores[keep])


def check_image(image: Any) -> np.ndarray:
    """Reject anything but an ``H x W x 3`` uint8 array early, with a message saying what came."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected an H x W x 3 uint8 numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 uint8 RGB array, got {image.dtype} {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"empty image {image.shape}")
    return image


class Detector(abc.ABC):
    """Base class: subclasses load their model in ``__init__`` and implement :meth:`_detect`.

    Subclasses declare ``info`` (a :class:`detectors.registry.DetectorInfo`); its
    ``default_options`` are the keyword arguments ``__init__`` accepts besides ``device``.
    """

    info: ClassVar[Any]
    device: str

    @classmethod
    def cuda_available(cls) -> bool:
        """Whether this detector's runtime can use a GPU here (torch by default)."""
        import torch

        return bool(torch.cuda.is_available())

    def detect(self, image: np.ndarray) -> Detections:
        image = check_image(image)
        dets = self._detect(image)
        return dets.clip(image.shape[0], image.shape[1])

    @abc.abstractmethod
    def _detect(self, image: np.ndarray) -> Detections:
        """Run the model on a validated RGB uint8 image."""

    def __repr__(self) -> str:
        name = getattr(getattr(self, "info", None), "name", type(self).__name__)
        return f"<{type(self).__name__} {name} on {getattr(self, 'device', '?')}>"
