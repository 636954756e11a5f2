"""The one detector interface: an RGB uint8 image in, score-sorted pixel boxes out.

Every detector (built-in or a user's own) returns :class:`Detections`, so the runner, the
evaluation and the reports never need to know which model produced a box.

The plug-in contract is the enhancers' (``enhancers/base.py``): metadata are class attributes,
options are the constructor's parameters with their defaults (written once, in the signature),
and :meth:`Detector.describe` turns both into the :class:`DetectorInfo` that ``detectors list``
shows and the workflow reads (``runtime`` decides its GPU slot, ``needs_weights_dir`` whether it
passes the weights folder) without importing any model code.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Literal

import numpy as np

Runtime = Literal["torch", "onnxruntime", "numpy"]
RUNTIMES: tuple[str, ...] = ("torch", "onnxruntime", "numpy")
WEIGHTS_DIR_MARK = "<weights_dir>"


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


def check_thresholds(name: str, score_threshold: float, nms_threshold: float) -> None:
    """The score threshold in [0, 1) and the NMS IoU in (0, 1], or a ValueError naming the detector."""
    if not 0.0 <= float(score_threshold) < 1.0:
        raise ValueError(f"{name}: score_threshold must be in [0, 1), got {score_threshold}")
    if not 0.0 < float(nms_threshold) <= 1.0:
        raise ValueError(f"{name}: nms_threshold must be in (0, 1], got {nms_threshold}")


def check_image(image: Any) -> np.ndarray:
    """Reject anything but an ``H x W x 3`` uint8 array early, with a message saying what came."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected an H x W x 3 uint8 numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 uint8 RGB array, got {image.dtype} {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"empty image {image.shape}")
    return image


@dataclass(frozen=True)
class DetectorInfo:
    """What a user needs to know before running a detector (shown by ``detectors list``).

    Built by :meth:`Detector.describe`, never written by hand: ``default_options`` come from the
    constructor's signature, ``needs_weights_dir`` from whether it takes ``weights_dir``.
    """

    name: str
    description: str
    source_package: str
    weights: str
    licence: str
    needs_gpu: bool = False
    runtime: Runtime = "numpy"
    needs_weights_dir: bool = False
    default_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "default_options", MappingProxyType(dict(self.default_options)))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "source_package": self.source_package,
            "weights": self.weights,
            "licence": self.licence,
            "needs_gpu": self.needs_gpu,
            "runtime": self.runtime,
            "needs_weights_dir": self.needs_weights_dir,
            "default_options": dict(self.default_options),
        }


def _as_config_value(value: Any) -> Any:
    """A default as a config would give it (JSON has lists, not tuples), so that the constructor
    receives the same kind of value whether an option is set or left at its default."""
    return [_as_config_value(v) for v in value] if isinstance(value, tuple) else value


class Detector(abc.ABC):
    """Base class: subclasses load their model in ``__init__`` and implement :meth:`_detect`.

    A subclass sets the metadata below as class attributes and takes ``device`` plus its options
    as parameters of ``__init__``, each with a default (the option's default). ``runtime`` says
    what it computes with: ``"torch"`` (may use a CUDA GPU; the workflow gives its jobs a GPU
    slot), ``"onnxruntime"`` (CUDA through onnxruntime's provider when installed, no GPU slot) or
    ``"numpy"`` (CPU only). ``weights`` names checkpoint files as ``<weights_dir>/<file>``
    exactly when the constructor takes ``weights_dir`` (:func:`check_detector_class`).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    source_package: ClassVar[str] = ""
    weights: ClassVar[str] = ""
    licence: ClassVar[str] = ""
    needs_gpu: ClassVar[bool] = False
    runtime: ClassVar[Runtime] = "numpy"

    device: str

    # --- metadata -----------------------------------------------------------------------------
    @classmethod
    def default_options(cls) -> dict[str, Any]:
        """The constructor's parameters besides ``device``, with their defaults."""
        params = inspect.signature(cls.__init__).parameters.values()
        return {
            p.name: _as_config_value(p.default)
            for p in params
            if p.name not in ("self", "device") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }

    @classmethod
    def describe(cls) -> DetectorInfo:
        """The class's metadata and default options (nothing is loaded)."""
        options = cls.default_options()
        return DetectorInfo(
            name=cls.name,
            description=cls.description,
            source_package=cls.source_package,
            weights=cls.weights,
            licence=cls.licence,
            needs_gpu=cls.needs_gpu,
            runtime=cls.runtime,
            needs_weights_dir="weights_dir" in options,
            default_options=options,
        )

    @property
    def info(self) -> DetectorInfo:
        return type(self).describe()

    @classmethod
    def weights_files(cls, options: Mapping[str, Any]) -> list[str]:
        """Manifest keys of the checkpoint files this detector reads with ``options`` (defaults
        filled): the workflow makes them inputs of its jobs, with their sha256 in the params, so
        a file replaced at the same path reruns them. Default: the keys ``weights`` names;
        detectors whose file depends on an option (YuNet's variant) override it."""
        from detectors.checkpoints import manifest

        return [key for key in sorted(manifest()) if key in cls.weights]

    @classmethod
    def unavailable_reason(cls, options: Mapping[str, Any]) -> str | None:
        """Why this detector cannot run with ``options`` (all of them, defaults filled) here,
        e.g. its released checkpoint is absent, with the download address; None when it can.
        Cheap (nothing is loaded): the workflow skips such a detector instead of failing."""
        return None

    @classmethod
    def cuda_available(cls) -> bool:
        """Whether this detector's runtime can use a GPU here."""
        if cls.runtime == "torch":
            import torch

            return bool(torch.cuda.is_available())
        if cls.runtime == "onnxruntime":
            import onnxruntime as ort

            return "CUDAExecutionProvider" in ort.get_available_providers()
        return False

    # --- detection ----------------------------------------------------------------------------
    def detect(self, image: np.ndarray) -> Detections:
        image = check_image(image)
        dets = self._detect(image)
        return dets.clip(image.shape[0], image.shape[1])

    @abc.abstractmethod
    def _detect(self, image: np.ndarray) -> Detections:
        """Run the model on a validated RGB uint8 image."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name or type(self).__name__} on {getattr(self, 'device', '?')}>"


def check_detector_class(label: str, cls: Any) -> None:
    """Refuse a class whose metadata and signature could disagree (``TypeError`` naming it).

    Checked when a detector is registered or first loaded: a :class:`Detector` subclass with a
    ``name`` and a known ``runtime``; ``__init__`` takes ``device`` and options only as named
    parameters with defaults (no ``*args``/``**kwargs``: an option the signature does not name
    could not be checked at ``snakemake -n``); options are not declared anywhere else (no
    ``info`` or ``default_options`` mapping of the old contract); ``weights`` names
    ``<weights_dir>`` exactly when the constructor takes ``weights_dir``.
    """
    if not (isinstance(cls, type) and issubclass(cls, Detector)):
        raise TypeError(f"detector {label!r}: {cls!r} is not a Detector subclass")
    where = f"detector {label!r} ({cls.__qualname__})"
    for attr in ("info", "default_options", "describe"):
        if any(attr in vars(k) for k in cls.__mro__ if k is not Detector):
            raise TypeError(
                f"{where}: defines `{attr}`; metadata are class attributes (name, description, "
                "...) and options the parameters of __init__, written once"
            )
    if not isinstance(cls.name, str) or not cls.name:
        raise TypeError(f"{where}: set the class attribute `name`")
    if cls.runtime not in RUNTIMES:
        raise TypeError(f"{where}: runtime must be one of {', '.join(RUNTIMES)}, got {cls.runtime!r}")
    params = inspect.signature(cls.__init__).parameters
    if "device" not in params:
        raise TypeError(f"{where}: __init__ must take `device`")
    for p in params.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"{where}: __init__ takes *{p.name}; name every option as a parameter")
        if p.name != "self" and p.default is inspect.Parameter.empty:
            raise TypeError(f"{where}: option {p.name!r} of __init__ has no default")
    takes_dir = "weights_dir" in params
    names_dir = WEIGHTS_DIR_MARK in cls.weights
    if takes_dir != names_dir:
        raise TypeError(
            f"{where}: `weights` names {WEIGHTS_DIR_MARK} but __init__ takes no weights_dir"
            if names_dir
            else f"{where}: __init__ takes weights_dir but `weights` names no {WEIGHTS_DIR_MARK}/<file>"
        )
