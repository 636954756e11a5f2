"""``diffll`` command line: enhance end to end (with a corrupt file), convert, train hook."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from diffll.checkpoint import save_checkpoint
from diffll.cli import build_parser, image_seed, main
from diffll.config import DiffLLConfig
from diffll.model import DiffLL
from lldata.imageio import read_rgb, write_png


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = DiffLL(DiffLLConfig.small())
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "small", model)


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    folder = tmp_path / "in"
    write_png(folder / "a.png", rng.integers(0, 60, (20, 30, 3), dtype=np.uint8))
    write_png(folder / "b.png", rng.integers(0, 60, (20, 30, 3), dtype=np.uint8))  # batched with a
    write_png(folder / "c.png", rng.integers(0, 60, (33, 17, 3), dtype=np.uint8))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    return folder


def test_enhance_folder_with_a_corrupt_file(
    checkpoint: Path, inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(["enhance", str(inputs), "-o", str(out), "--checkpoint", str(checkpoint)])
    err = capsys.readouterr().err
    assert code == 1
    assert "broken.png" in err and "3 image(s)" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]
    for name in ("a", "b", "c"):
        assert read_rgb(out / f"{name}.png").shape == read_rgb(inputs / f"{name}.png").shape

    # same seed and settings -> identical bytes; batching does not change the noise per image
    again = tmp_path / "again"
    main(
        ["enhance", str(inputs), "-o", str(again), "--checkpoint", str(checkpoint), "--batch", "2"]
    )
    for name in ("a", "b", "c"):
        first, second = read_rgb(out / f"{name}.png"), read_rgb(again / f"{name}.png")
        assert np.abs(first.astype(int) - second.astype(int)).max() <= 1
    rerun = tmp_path / "rerun"
    main(["enhance", str(inputs), "-o", str(rerun), "--checkpoint", str(checkpoint)])
    for name in ("a", "b", "c"):
        assert (out / f"{name}.png").read_bytes() == (rerun / f"{name}.png").read_bytes()

    other_seed = tmp_path / "seed1"
    main(["enhance", str(inputs / "a.png"), "-o", str(other_seed), "--checkpoint", str(checkpoint), "--seed", "1"])  # fmt: skip
    assert (other_seed / "a.png").read_bytes() != (out / "a.png").read_bytes()


def test_enhance_tiled_option_and_all_good_exit_zero(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    img = tmp_path / "wide.png"
    write_png(img, np.full((40, 100, 3), 30, dtype=np.uint8))
    code = main(
        ["enhance", str(img), "-o", str(tmp_path / "o"), "--checkpoint", str(checkpoint),
         "--tile", "64", "--tile-overlap", "32", "--steps", "2"]
    )  # fmt: skip
    assert code == 0
    assert read_rgb(tmp_path / "o" / "wide.png").shape == (40, 100, 3)


def test_enhance_usage_errors(
    checkpoint: Path, inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.delenv("DIFFLL_CHECKPOINT", raising=False)
    # no checkpoint named: the shipped model (tests/test_diffll_shipped.py); a bad one is named
    monkeypatch.setenv("DIFFLL_CHECKPOINT", str(tmp_path / "env-nope"))
    assert main(["enhance", str(inputs), "-o", str(tmp_path / "x")]) == 2
    assert "env-nope" in capsys.readouterr().err
    monkeypatch.delenv("DIFFLL_CHECKPOINT")
    assert main(["enhance", str(inputs), "-o", str(tmp_path / "x"), "--checkpoint", str(tmp_path / "nope")]) == 2  # fmt: skip
    assert "not found" in capsys.readouterr().err
    (inputs / "a.jpg").write_bytes((inputs / "a.png").read_bytes())  # same stem as a.png
    code = main(
        ["enhance", str(inputs / "a.png"), str(inputs / "a.jpg"), str(tmp_path / "missing.png"),
         "-o", str(tmp_path / "y"), "--checkpoint", str(checkpoint), "--steps", "1"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "already taken" in err and "no such file" in err
    assert (tmp_path / "y" / "a.png").exists()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["enhance", "x", "-o", "y", "--tile", "big"])


def test_image_seed_is_stable_and_name_dependent() -> None:
    assert image_seed(0, "a.png") == image_seed(0, "a.png")
    assert len({image_seed(0, "a.png"), image_seed(1, "a.png"), image_seed(0, "b.png")}) == 3
    assert 0 <= image_seed(123, "x") < 2**63


def test_convert_subcommand_reports_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["convert-official", str(tmp_path / "model.pth.tar"), str(tmp_path / "o")]) == 2
    assert "Google Drive" in capsys.readouterr().err


def test_train_hook_uses_train_cli_module_when_present(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = type(sys)("diffll.train_cli")

    def add_parser(subparsers: argparse._SubParsersAction) -> None:
        subparsers.add_parser("train").set_defaults(func=lambda args: 0)

    fake.add_parser = add_parser  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "diffll.train_cli", fake)
    assert build_parser().parse_args(["train"]).command == "train"


def test_no_fused_reaches_the_enhancer(checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--no-fused`` (CPU bf16: the earlier operation order) is passed on to ``diffll.load``;
    fused kernels are the default."""
    import diffll.inference

    seen: list[bool] = []
    real_load = diffll.inference.load

    def recording_load(*args, **kwargs):
        seen.append(kwargs["fused"])
        return real_load(*args, **kwargs)

    monkeypatch.setattr(diffll.inference, "load", recording_load)  # diffll.cli imports it when it runs
    img = tmp_path / "x.png"
    write_png(img, np.full((16, 16, 3), 30, dtype=np.uint8))
    for flag in ([], ["--no-fused"]):
        code = main(["enhance", str(img), "-o", str(tmp_path / "o"), "--checkpoint", str(checkpoint), "--steps", "1", *flag])
        assert code == 0
    assert seen == [True, False]
