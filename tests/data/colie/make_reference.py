"""Regenerate ``reference.npz`` by running the authors' CoLIE code (not part of this repository).

    git clone https://github.com/ctom2/colie /tmp/colie-ref/authors
    git -C /tmp/colie-ref/authors checkout a80f73c23498c286f40d040b00829cbee616fd54
    python tests/data/colie/make_reference.py /tmp/colie-ref/authors ../shared -o tests/data/colie/reference.npz

Their ``colie.py`` runs unchanged (through ``runpy``, with its own argument parser) on each crop,
saved as a PNG in a temporary input folder. Only three things are done around it: ``.cuda()``
becomes a no-op (CPU, one thread, deterministic algorithms), ``torch.manual_seed(seed)`` is
called just before the script (its first use of random numbers is the ``INF`` constructor), and
their ``hsv2rgb_torch`` is wrapped to record the RGB image before the final division by its
maximum, which gives the float output (their script only writes the 8-bit file).
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

# name: (image under ../shared, top, left, height, width, seed, down_size, epochs, window)
CASES = {
    "darkface252": ("data/darkface/image/252.png", 190, 560, 36, 48, 0, 32, 10, 1),
    "dicm01": ("data/unpaired/DICM/01.jpg", 330, 180, 24, 32, 7, 24, 8, 3),
}
LOSS_WEIGHTS = ["--alpha", "1", "--beta", "20", "--gamma", "8", "--delta", "5", "--L", "0.5"]


def run_case(authors: Path, crop: np.ndarray, seed: int, down: int, epochs: int, window: int):
    import color  # the authors' module, importable from sys.path

    recorded = {}
    original = color.hsv2rgb_torch

    def hsv2rgb(hsv: torch.Tensor) -> torch.Tensor:
        recorded["rgb"] = original(hsv).detach().clone()
        return recorded["rgb"].clone()

    color.hsv2rgb_torch = hsv2rgb
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp, "in"), Path(tmp, "out")
        inp.mkdir()
        Image.fromarray(crop).save(inp / "crop.png")
        sys.argv = ["colie.py", "--input_folder", str(inp), "--output_folder", str(out),
                    "--down_size", str(down), "--epochs", str(epochs), "--window", str(window),
                    *LOSS_WEIGHTS]  # fmt: skip
        torch.manual_seed(seed)
        cwd = os.getcwd()
        os.chdir(authors)
        try:
            runpy.run_path("colie.py", run_name="__main__")
        finally:
            os.chdir(cwd)
            color.hsv2rgb_torch = original
        saved = np.asarray(Image.open(out / "crop.png"))
    rgb = recorded["rgb"]
    return (rgb / torch.max(rgb))[0].permute(1, 2, 0).numpy(), saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("authors", type=Path, help="checkout of github.com/ctom2/colie")
    parser.add_argument("shared", type=Path, help="the project's ../shared folder")
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.nn.Module.cuda = lambda self, *a, **k: self
    sys.path.insert(0, str(args.authors.resolve()))
    arrays = {}
    for name, (rel, top, left, h, w, seed, down, epochs, window) in CASES.items():
        image = np.asarray(Image.open(args.shared / rel).convert("RGB"))
        crop = np.ascontiguousarray(image[top : top + h, left : left + w])
        output, saved = run_case(args.authors.resolve(), crop, seed, down, epochs, window)
        arrays[f"output_{name}"] = output.astype(np.float32)
        arrays[f"saved_{name}"] = saved
        arrays[f"settings_{name}"] = np.array([top, left, h, w, seed, down, epochs, window])
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out}: {sorted(arrays)}")


if __name__ == "__main__":
    main()
