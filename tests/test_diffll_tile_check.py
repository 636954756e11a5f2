"""Helpers of the tiled-vs-full-frame check (python -m diffll.tile_check)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from diffll.tile_check import main, seam_ratio, tile_borders
from lowlight_common.metrics import psnr


def test_psnr_of_uint8_images() -> None:
    a = np.zeros((4, 4, 3), np.uint8)
    assert psnr(a, a, peak=255.0) == math.inf
    assert psnr(a, a + 1, peak=255.0) == pytest.approx(20 * math.log10(255.0))


def test_tile_borders_are_tile_starts_and_ends() -> None:
    # 96 px, tiles of 64 on a 32 grid with >= 32 overlap: tiles at 0 and 32
    assert tile_borders(96, 64, 32, 32) == [32, 64]
    assert tile_borders(64, 64, 32, 32) == []  # one tile, no seam


def test_seam_ratio_finds_a_seam() -> None:
    diff = np.ones((64, 64))
    assert seam_ratio(diff, [32], []) == pytest.approx(1.0)
    diff[31:33, :] = 10.0
    assert seam_ratio(diff, [32], [], band=2) > 4
    assert math.isnan(seam_ratio(diff, [], []))


@pytest.mark.slow
def test_tile_check_cli_on_a_small_model(tmp_path: Path) -> None:
    import torch
    from PIL import Image

    from diffll.checkpoint import save_checkpoint
    from diffll.config import DiffLLConfig
    from diffll.model import DiffLL

    torch.manual_seed(0)
    ckpt = tmp_path / "ckpt"
    save_checkpoint(ckpt, DiffLL(DiffLLConfig.small()))
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 60, (96, 128, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    out = tmp_path / "tiles.csv"
    assert main([str(tmp_path / "a.png"), "--checkpoint", str(ckpt), "--tiles", "64",
                 "--overlap", "32", "--out", str(out)]) == 0  # fmt: skip
    rows = {r["mode"]: r for r in csv.DictReader(out.open())}
    assert set(rows) == {"strips", "blend"}
    # a corrupt file is named and skipped; the good image is still measured and written
    (tmp_path / "bad.png").write_bytes(b"not a png")
    assert main([str(tmp_path / "bad.png"), str(tmp_path / "a.png"), "--checkpoint", str(ckpt),
                 "--tiles", "64", "--overlap", "32", "--out", str(out)]) == 1  # fmt: skip
    rows = {r["mode"]: r for r in csv.DictReader(out.open())}
    assert set(rows) == {"strips", "blend"} and rows["blend"]["tile"] == "64"
    assert 10 < float(rows["blend"]["psnr_db"]) < math.inf  # tiles normalise on their own
    assert float(rows["strips"]["psnr_db"]) > 50  # strips reproduce the full frame
