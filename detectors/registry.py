"""Detector registry, in the spirit of ``pyiqa.create_metric``: a name, options, a device.

Built-in detectors are listed in ``_BUILTIN`` as ``"module:Class"`` strings so that
``list_detectors()`` and ``--help`` do not import torch or onnxruntime.

Adding your own detector (one new file plus one line here):

1. write ``detectors/mydet.py`` with ``class MyDetector(Detector)`` that sets its metadata as
   class attributes (``name = "mydet"``, ``description``, ``source_package``, ``weights``,
   ``licence``, ``runtime``), takes ``device`` plus its options, each with its default, in
   ``__init__`` (the only place options are written), and implements
   ``_detect(image) -> Detections``;
2. add ``"mydet": "detectors.mydet:MyDetector",`` to ``_BUILTIN`` below.

Code outside the package can instead call :func:`register_detector` at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors.base import Detector, DetectorInfo, check_detector_class
from lowlight_common.options import OptionError, check_option_types, option_annotations
from lowlight_common.registry import Registry, UnknownNameError

_BUILTIN: dict[str, str] = {
    "mtcnn": "detectors.mtcnn:MTCNNDetector",
    "retinaface": "detectors.retinaface_onnx:RetinaFaceDetector",
    "dsfd": "detectors.dsfd:DSFDDetector",
    "retinaface_r50": "detectors.retinaface_torch:RetinaFaceTorchDetector",
    "retinaface_mnet": "detectors.retinaface_torch:RetinaFaceMobileNetDetector",
    "yunet": "detectors.yunet:YuNetDetector",
    "scrfd": "detectors.scrfd:SCRFDDetector",
    "centerface": "detectors.centerface:CenterFaceDetector",
}

DEVICES = ("auto", "cpu", "cuda")

__all__ = [
    "DEVICES",
    "DetectorInfo",
    "UnknownDetectorError",
    "check_detector_options",
    "create_detector",
    "detector_class",
    "detector_info",
    "list_detectors",
    "register_detector",
    "resolve_device",
    "unavailable_reason",
    "unregister_detector",
]


def _is_detector(name: str, cls: Any) -> None:
    check_detector_class(name, cls)
    if cls.name != name and name in _BUILTIN:
        raise TypeError(f"detector {name!r}: {_BUILTIN[name]} is named {cls.name!r}")


# built-ins as lazy "module:Class" entries; register_detector adds classes at run time
_DETECTORS: Registry[type[Detector]] = Registry("detector", _BUILTIN, check=_is_detector)

UnknownDetectorError = UnknownNameError  # the one registry error (a KeyError and a ValueError)


def register_detector(cls: type[Detector], *, overwrite: bool = False) -> type[Detector]:
    """Register a :class:`Detector` subclass under ``cls.name`` (usable as a decorator); a class
    whose metadata and signature could disagree is a ``TypeError`` (:func:`check_detector_class`)."""
    check_detector_class(getattr(cls, "name", "") or getattr(cls, "__name__", repr(cls)), cls)
    _DETECTORS.register(cls.name, cls, overwrite=overwrite)  # a taken name is a ValueError
    return cls


def unregister_detector(name: str) -> None:
    """Remove a detector registered at run time (a built-in it overrode comes back)."""
    if name in _BUILTIN:
        _DETECTORS.register(name, _BUILTIN[name], overwrite=True)
    else:
        _DETECTORS.unregister(name)


def detector_class(name: str) -> type[Detector]:
    """The class behind ``name`` (imported on first use); :class:`UnknownNameError` otherwise."""
    return _DETECTORS[name]


def list_detectors() -> list[str]:
    return sorted(_DETECTORS)


def detector_info(name: str) -> DetectorInfo:
    """Metadata and default options of ``name`` (its class is imported, no model is loaded)."""
    return detector_class(name).describe()


def resolve_device(device: str, cls: type[Detector] = Detector) -> str:
    """``auto`` -> ``cuda`` when the detector's runtime sees a GPU, else ``cpu``.

    Asking for ``cuda`` explicitly when there is none is an error rather than a silent CPU run,
    because timings and throughput would otherwise be misattributed.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cpu":
        return "cpu"
    has_cuda = cls.cuda_available()
    if device == "cuda" and not has_cuda:
        raise RuntimeError(
            f"device='cuda' requested but {cls.__name__} sees no usable CUDA GPU; use 'cpu' or 'auto'"
        )
    return "cuda" if has_cuda else "cpu"


def merge_options(info: DetectorInfo, options: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overridden by ``options``; an unknown option name is an error listing valid ones."""
    unknown = sorted(set(options) - set(info.default_options))
    if unknown:
        valid = ", ".join(sorted(info.default_options)) or "(none)"
        raise OptionError(
            f"detector {info.name!r}: unknown option(s) {', '.join(unknown)}; valid: {valid}"
        )
    merged = dict(info.default_options)
    merged.update(options)
    return merged


def check_detector_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Options merged over the defaults, with unknown names and wrongly typed values (against
    the constructor's annotations) as :class:`OptionError`; loads no model, so the workflow
    runs it for every configured detector before any job."""
    cls = detector_class(name)
    merged = merge_options(cls.describe(), options)
    check_option_types(f"detector {name!r}", option_annotations(cls, skip=("device",)), options)
    return merged


def unavailable_reason(name: str, **options: Any) -> str | None:
    """Why detector ``name`` cannot run with ``options`` here (e.g. its released checkpoint is
    absent, with the download address), or None. Cheap: nothing is loaded. The workflow skips a
    detector with this reason instead of failing, as it skips IQA metrics whose files are absent.
    """
    cls = detector_class(name)
    return cls.unavailable_reason(merge_options(cls.describe(), options))


def create_detector(name: str, device: str = "auto", **options: Any) -> Detector:
    """Build a detector by name; the model is loaded once here, not per image."""
    cls = detector_class(name)
    merged = check_detector_options(name, options)
    resolved = resolve_device(device, cls)
    if cls.needs_gpu and resolved != "cuda":
        raise RuntimeError(f"detector {name!r} needs a CUDA GPU; none is available")
    return cls(device=resolved, **merged)
