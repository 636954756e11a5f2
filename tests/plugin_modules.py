"""Source of the plug-ins the plug-in tests write into a temporary folder (a user's own module,
outside the packages): a method, a detector, a boxed dataset kind and an image-quality metric,
named ``module:NAME``."""

PLUGIN_SOURCE = '''
import numpy as np

from detectors.base import Detections, Detector
from enhancers.base import Method, resolve_host_device
from iqa.registry import MetricSpec
from lldata.kinds import DatasetKind


class Brighter(Method):
    """Multiply by a gain."""

    name = "brighter"
    family = "classical"
    description = "gain, then clip"

    def __init__(self, device="auto", weights_dir=None, *, gain: float = 2.0) -> None:
        super().__init__(self.describe(gain=gain), resolve_host_device(device))
        self.gain = gain

    def _enhance_numpy(self, image, name):
        return np.clip(image * self.gain, 0.0, 1.0)


class CentreBox(Detector):
    """One box in the middle of the image."""

    name = "centre_box"
    description = "a fixed box"
    source_package = "tests"
    weights = "none"
    licence = "MIT"

    def __init__(self, device: str = "cpu", size: int = 8) -> None:
        self.device = device
        self.size = size

    def _detect(self, image):
        h, w = image.shape[:2]
        x, y = w // 2, h // 2
        return Detections(np.array([[x, y, x + self.size, y + self.size]], float), np.array([0.9]))


FACES = DatasetKind("faces", "lldata.datasets:scan_darkface", folders=("image", "label"),
                    input_folders=("image", "label"), label_folder="label", has_boxes=True)


def mean_level(device="cpu"):
    """The metric, as pyiqa's: a 1 x 3 x H x W tensor in [0, 1] -> a tensor holding its score."""
    return lambda image: image.mean(dim=(1, 2, 3))


# pyiqa_name is unused: the builder computes it
BRIGHTNESS = MetricSpec("brightness", "", False, False, "0..1, higher is brighter", "mean pixel value",
                        builder="my_plugins:mean_level", decimals=4)
'''
