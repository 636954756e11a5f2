"""Regenerate ``reference.npz``: the authors' WeatherDiffusion code on seeded random weights.

Run outside the repository's tests, with a checkout of github:IGITUGraz/WeatherDiffusion (their
code is imported from that folder, never copied here)::

    python tests/data/weatherdiff/make_reference.py --authors-repo /tmp/WeatherDiffusion \
        --out tests/data/weatherdiff/reference.npz

Their ``DiffusionUNet`` (``models/unet.py``) gets the weights of
``detectors.random_init.seeded_state_dict(state_dict, seed=0)`` for a tiny configuration (below);
their ``generalized_steps_overlapping`` (``utils/sampling.py``) restores one seeded image.
The only shim: their sampler moves x_t to ``'cuda'``; on a machine without CUDA that move is
redirected to the CPU.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

# The tiny configuration (the test rebuilds the same network with diffll.baselines.weatherdiff).
CONFIG = {"ch": 32, "ch_mult": (1, 2), "num_res_blocks": 1, "num_train_timesteps": 100, "sampling_steps": 5}
PATCH, STRIDE, HEIGHT, WIDTH, SEED = 32, 8, 48, 40, 0


def inputs() -> tuple[np.ndarray, np.ndarray]:
    """The condition image in [0, 1] and the start noise, both 1 x 3 x HEIGHT x WIDTH."""
    rng = np.random.default_rng(20261206)
    cond = rng.random((1, 3, HEIGHT, WIDTH)).astype(np.float32)
    noise = rng.standard_normal((1, 3, HEIGHT, WIDTH)).astype(np.float32)
    return cond, noise


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--authors-repo", required=True, help="checkout of IGITUGraz/WeatherDiffusion")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.authors_repo).resolve()))
    from models.unet import DiffusionUNet  # their code
    from utils.sampling import generalized_steps_overlapping  # their code

    from detectors.random_init import seeded_state_dict

    if not torch.cuda.is_available():  # shim: their sampler hard-codes .to('cuda')
        original = torch.Tensor.to

        def to(self, *a, **k):
            a = tuple("cpu" if x == "cuda" else x for x in a)
            return original(self, *a, **k)

        torch.Tensor.to = to
    config = SimpleNamespace(
        model=SimpleNamespace(ch=CONFIG["ch"], out_ch=3, ch_mult=list(CONFIG["ch_mult"]), num_res_blocks=CONFIG["num_res_blocks"],
                              attn_resolutions=[16], dropout=0.0, in_channels=3, resamp_with_conv=True),
        data=SimpleNamespace(conditional=True, image_size=PATCH),
    )
    torch.manual_seed(0)
    model = DiffusionUNet(config)
    model.load_state_dict(seeded_state_dict(model.state_dict(), seed=SEED), strict=True)
    model.eval()
    T, S = CONFIG["num_train_timesteps"], CONFIG["sampling_steps"]
    betas = torch.from_numpy(np.linspace(1e-4, 0.02, T, dtype=np.float64)).float()
    seq = range(0, T, T // S)
    cond, noise = inputs()
    h_list = list(range(0, HEIGHT - PATCH + 1, STRIDE))
    w_list = list(range(0, WIDTH - PATCH + 1, STRIDE))
    corners = [(i, j) for i in h_list for j in w_list]
    xs, _ = generalized_steps_overlapping(torch.from_numpy(noise), torch.from_numpy(cond), seq, model, betas, eta=0.0,
                                          corners=corners, p_size=PATCH)
    final = xs[-1].numpy()
    # the inputs are not stored: inputs() regenerates them (numpy's PCG64 streams are stable)
    np.savez_compressed(args.out, x0=final, corners=np.asarray(corners, dtype=np.int64))
    print(f"wrote {args.out}: {len(corners)} patches, x0 range [{final.min():.3f}, {final.max():.3f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
