"""The Python API gives the workflow's bytes (issue 30, item 6): ``Method.enhance_file(path)``
seeds by the file name as the workflow's ``enhance`` jobs do; a bare ``enhance(img)`` uses the
run seed alone and gives other bytes. Same options and one thread on both sides."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from diffll.checkpoint import save_checkpoint
from enhancers import create_method
from lldata.imageio import read_rgb, write_png
from tests.diffll_models import perturbed_small_model

pytestmark = pytest.mark.slow  # a subprocess with torch (about 10 s on 2 busy cores)


def test_enhance_file_equals_the_workflow_command_bytes(tmp_path):
    checkpoint = tmp_path / "ckpt"
    save_checkpoint(checkpoint, perturbed_small_model(0))
    image = (np.random.default_rng(3).random((40, 56, 3)) * 60).astype(np.uint8)
    inputs = tmp_path / "in"
    write_png(inputs / "frame 1.png", image)
    options = {"checkpoint": str(checkpoint), "steps": 2, "seed": 5}

    # the command the workflow's enhance rule runs (workflow/rules/enhance.smk), one thread
    enhance = Path(sys.executable).parent / "enhance"
    args = [str(enhance), "--method", "diffll", "--device", "cpu", "--batch-size", "auto",
            "--manifest", str(tmp_path / "m.json"), "-o", str(tmp_path / "out"), str(inputs)]
    for key, value in options.items():
        args += ["--option", f"{key}={value}" if key != "checkpoint" else f'{key}="{value}"']
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    workflow_bytes = read_rgb(tmp_path / "out" / "frame 1.png")

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        method = create_method("diffll", device="cpu", **options)
        api = method.enhance_file(inputs / "frame 1.png")
        unnamed = method.to_uint8(method.enhance(image))
    finally:
        torch.set_num_threads(threads)
    assert api.dtype == np.uint8 and np.array_equal(api, workflow_bytes)
    assert not np.array_equal(unnamed, workflow_bytes)  # without the file name: another seed
