"""Face detectors behind one interface, and the protocol-exact DARK FACE evaluation.

``create_detector(name, device="auto", **options).detect(rgb_uint8) -> Detections``;
``detect_folder`` writes official prediction files; ``detectors.evaluation`` scores them.
Heavy dependencies (torch, onnxruntime, pycocotools) are imported only when used.
"""

from detectors.base import Detections, Detector, DetectorInfo
from detectors.registry import (
    create_detector,
    detector_info,
    list_detectors,
    register_detector,
    unregister_detector,
)
from detectors.runner import detect_folder

__all__ = [
    "Detections",
    "Detector",
    "DetectorInfo",
    "create_detector",
    "detect_folder",
    "detector_info",
    "list_detectors",
    "register_detector",
    "unregister_detector",
]
