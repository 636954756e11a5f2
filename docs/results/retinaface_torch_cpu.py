"""CPU seconds per frame of PyTorch RetinaFace MobileNet-0.25 against the ONNX network (issue 31,
item 5), side by side in one process (calls alternate), one thread.

The PyTorch detector runs on seeded random weights (the authors' ``.pth`` is not here); their
scores spread over (0, 1), so 19,344 of the 31,984 anchors of a 1080x720 frame pass the 0.02
threshold, against 108 for the trained weights (the ONNX network's, on DARK FACE 252). The row
``torch detect (275 candidates)`` raises the score threshold to 0.998, which leaves 275 candidates,
to time the post-processing a trained network would have; ``net`` rows time the forward alone.

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE .venv/bin/python docs/results/retinaface_torch_cpu.py \\
        ../shared/data/darkface/image/252.png --repeats 7 [--precision bf16]
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from detectors import create_detector
from detectors.retinaface_torch import MEANS_BGR, RetinaFaceTorchDetector
from lldata.imageio import read_rgb


def cpu_seconds(call: Callable[[], object]) -> float:
    start = time.process_time()
    call()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("image")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--precision", default="fp32", help="fp32 | bf16 (trees that have the option)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    image = read_rgb(args.image)
    extra = {}
    if "precision" in inspect.signature(RetinaFaceTorchDetector.__init__).parameters:
        extra["precision"] = args.precision
    onnx = create_detector("retinaface", device="cpu", num_threads=1)
    mnet = create_detector("retinaface_mnet", device="cpu", random_weights_seed=0, **extra)
    few = create_detector("retinaface_mnet", device="cpu", random_weights_seed=0, score_threshold=0.998, **extra)
    from retinaface.preprocess import preprocess

    onnx_input = preprocess(image)
    bgr = image[:, :, ::-1].astype(np.float32) - np.array(MEANS_BGR, np.float32)
    x = torch.from_numpy(np.ascontiguousarray(bgr.transpose(2, 0, 1)))[None]
    first = next(mnet.net.parameters())  # the detector's own layout: older trees run NCHW
    x = x.to(first.dtype)
    if first.is_contiguous(memory_format=torch.channels_last) and not first.is_contiguous():
        x = x.contiguous(memory_format=torch.channels_last)
    calls = {
        "onnx detect": lambda: onnx.detect(image),
        "torch detect": lambda: mnet.detect(image),
        "torch detect (275 candidates)": lambda: few.detect(image),
        "onnx net": lambda: onnx.session.run(None, {"input": onnx_input}),
        "torch net": lambda: mnet.net(x),
    }
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    with torch.no_grad():
        for call in calls.values():  # warm-up
            call()
        for _ in range(args.repeats):
            for name, call in calls.items():
                seconds[name].append(cpu_seconds(call))
    med = {name: statistics.median(v) for name, v in seconds.items()}
    print(f"precision {extra.get('precision', 'fp32 (no option)')}; medians of {args.repeats}; "
          f"torch detections {len(mnet.detect(image).scores)}, onnx detections {len(onnx.detect(image).scores)}")
    for name, value in med.items():
        ref = med["onnx net"] if "net" in name else med["onnx detect"]
        print(f"{name:31s} {value:.4f} CPU-s  ratio to ONNX {value / ref:.2f}")


if __name__ == "__main__":
    main()
