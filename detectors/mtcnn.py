"""MTCNN (Zhang et al. 2016) through facenet-pytorch 2.5.3; its P/R/O-net weights ship inside the
package (``facenet_pytorch/data/{pnet,rnet,onet}.pt``), so nothing is downloaded.

Defaults differ from facenet-pytorch's on purpose:

* ``min_face_size=10`` (package default 20): DARK FACE has many faces under 20 px; the image
  pyramid then starts at 1.2x, which costs time but is needed to see them at all.
* ``thresholds=[0.6, 0.6, 0.05]`` (package default ``[0.6, 0.7, 0.7]``): the last (O-net)
  threshold is where the final list is cut, so a low value lets the evaluation trace the
  low-precision end of the PR curve (like RetinaFace's 0.02); the R-net threshold is lowered a
  little to pass more candidates on. P-net stays at 0.6: lowering the first two thresholds
  multiplies the candidates (and the run time) on 1080x720 images, and on the 5-image DARK FACE
  sample ``[0.5, 0.5, 0.05]`` gave a lower AP than this default (see the package README).
* ``keep_all=True``: every face is returned (``False`` keeps only the highest-scoring one, the
  facenet-pytorch behaviour meant for face cropping, useless for detection AP).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detectors.base import Detections, Detector


class MTCNNDetector(Detector):
    name = "mtcnn"
    description = "MTCNN cascade (P-, R-, O-net), facenet-pytorch implementation"
    source_package = "facenet-pytorch==2.5.3"
    weights = "shipped in facenet-pytorch (facenet_pytorch/data/pnet.pt, rnet.pt, onet.pt)"
    licence = "MIT (facenet-pytorch; weights converted from the original MTCNN release)"
    runtime = "torch"

    def __init__(
        self,
        device: str = "cpu",
        min_face_size: float = 10,
        thresholds: Sequence[float] = (0.6, 0.6, 0.05),
        factor: float = 0.709,
        keep_all: bool = True,
    ) -> None:
        import torch
        from facenet_pytorch import MTCNN

        thresholds = [float(t) for t in thresholds]
        if len(thresholds) != 3 or not all(0.0 <= t < 1.0 for t in thresholds):
            raise ValueError(f"mtcnn: thresholds must be 3 numbers in [0, 1), got {thresholds}")
        if not 0.0 < float(factor) < 1.0:
            raise ValueError(f"mtcnn: factor must be in (0, 1), got {factor}")
        if float(min_face_size) < 1:
            raise ValueError(f"mtcnn: min_face_size must be >= 1 px, got {min_face_size}")
        self.device = device
        self.keep_all = bool(keep_all)
        self.model = MTCNN(
            min_face_size=float(min_face_size),
            thresholds=thresholds,
            factor=float(factor),
            keep_all=True,
            select_largest=False,
            post_process=False,
            device=torch.device(device),
        )
        self.model.eval()

    def _detect(self, image: np.ndarray) -> Detections:
        boxes, probs = self.model.detect(image)
        if boxes is None or len(boxes) == 0:
            return Detections.empty()
        dets = Detections(np.asarray(boxes, dtype=np.float32), np.asarray(probs, dtype=np.float32))
        if not self.keep_all:
            dets = Detections(dets.boxes[:1], dets.scores[:1])
        return dets
