"""The detector plug-in contract: metadata as class attributes, options from the signature only.

A detector whose metadata and constructor could disagree is refused when it is registered, so a
workflow never passes an option the constructor does not take, or leaves out a weights folder.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import detectors
from detectors.base import Detections, Detector, DetectorInfo, check_detector_class
from detectors.registry import (
    check_detector_options,
    create_detector,
    detector_class,
    detector_info,
    list_detectors,
)


class Plain(Detector):
    """A numpy-only detector: one fixed box."""

    name = "contract_plain"
    description = "test"
    source_package = "tests"
    weights = "none"
    licence = "MIT"

    def __init__(self, device: str = "cpu", size: int = 8, boxes: tuple[int, ...] = (1, 2)) -> None:
        self.device = device
        self.size = size
        self.boxes = boxes

    def _detect(self, image: np.ndarray) -> Detections:
        return Detections(np.array([[0, 0, self.size, self.size]]), np.array([0.5]))


def _variant(**attrs: object) -> type[Detector]:
    return type("Variant", (Plain,), dict(attrs))


def test_info_comes_from_attributes_and_signature():
    info = Plain.describe()
    assert isinstance(info, DetectorInfo)
    assert info.name == "contract_plain" and info.runtime == "numpy"
    assert not info.needs_weights_dir and not info.needs_gpu
    # tuples become lists: the constructor gets the same kind of value as from a config
    assert dict(info.default_options) == {"size": 8, "boxes": [1, 2]}
    detectors.register_detector(Plain)
    try:
        assert detector_info("contract_plain") == info
        assert check_detector_options("contract_plain", {"size": 3}) == {"size": 3, "boxes": [1, 2]}
        det = create_detector("contract_plain", device="auto", size=4)
        # a numpy detector never sees a GPU, whatever the machine has
        assert det.device == "cpu" and det.info == info
        with pytest.raises(RuntimeError, match="sees no usable CUDA GPU"):
            create_detector("contract_plain", device="cuda")
    finally:
        detectors.unregister_detector("contract_plain")


def _old_style_info(options: dict) -> DetectorInfo:
    return DetectorInfo(
        name="contract_plain", description="", source_package="", weights="", licence="",
        default_options=options,
    )


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        # the old contract: options declared in a mapping besides the signature
        ({"info": _old_style_info({"size": 8, "bogus": 1})}, "defines `info`"),
        ({"default_options": classmethod(lambda cls: {"size": 8, "bogus": 1})}, "defines `default_options`"),
        ({"name": ""}, "set the class attribute `name`"),
        ({"runtime": "tensorflow"}, "runtime must be one of"),
        ({"__init__": lambda self, device="cpu", **options: None}, r"takes \*options"),
        ({"__init__": lambda self, device="cpu", *sizes: None}, r"takes \*sizes"),
        ({"__init__": lambda self, size=8: None}, "must take `device`"),
        ({"__init__": lambda self, device="cpu", threshold=None, size=8, *, scale: None}, "'scale' of __init__ has no default"),
        ({"weights": "<weights_dir>/x.pth"}, "names <weights_dir> but __init__ takes no weights_dir"),
        (
            {"__init__": lambda self, device="cpu", weights_dir=None: None, "weights": "x.pth"},
            "takes weights_dir but `weights` names no <weights_dir>",
        ),
    ],
)
def test_metadata_that_can_disagree_with_the_signature_fails_registration(attrs, message):
    cls = _variant(**attrs)
    with pytest.raises(TypeError, match=message):
        detectors.register_detector(cls)
    assert "contract_plain" not in list_detectors()


def test_a_weights_folder_detector_says_so():
    cls = _variant(
        __init__=lambda self, device="cpu", weights_dir=None: None,
        weights="<weights_dir>/detectors/x.onnx",
        runtime="onnxruntime",
    )
    check_detector_class("x", cls)
    info = cls.describe()
    assert info.needs_weights_dir and info.runtime == "onnxruntime"
    assert info.as_dict()["default_options"] == {"weights_dir": None}


@pytest.mark.parametrize("name", list_detectors())
def test_every_builtin_keeps_the_contract(name):
    cls = detector_class(name)  # imports the module (torch / onnxruntime), loads no model
    check_detector_class(name, cls)
    info = detector_info(name)
    assert info.name == name
    params = inspect.signature(cls.__init__).parameters
    assert list(info.default_options) == [p for p in params if p not in ("self", "device")]
    # what the workflow reads (workflow/rules/common.smk): torch detectors get a GPU slot
    assert info.runtime in ("torch", "onnxruntime")
    assert info.needs_weights_dir == ("<weights_dir>" in info.weights)


@pytest.mark.parametrize("name", list_detectors())
def test_weights_files_are_manifest_keys_and_exist_for_every_detector_that_needs_weights(name):
    from detectors.checkpoints import manifest

    cls = detector_class(name)
    files = cls.weights_files(cls.default_options())
    assert set(files) <= set(manifest()), files
    # a detector whose weights live under weights_dir names at least one file the workflow hashes
    assert bool(files) == detector_info(name).needs_weights_dir


def test_yunet_reads_the_file_of_its_variant():
    from detectors.checkpoints import detector_files

    cls = detector_class("yunet")
    n = detector_files(cls, {**cls.default_options(), "weights_dir": "/w"})
    s = detector_files(cls, {**cls.default_options(), "variant": "s", "weights_dir": "/w"})
    assert [p.as_posix() for p in n] == ["/w/detectors/yunet/yunet_n_dynamic.onnx"]
    assert [p.as_posix() for p in s] == ["/w/detectors/yunet/yunet_s_dynamic.onnx"]
