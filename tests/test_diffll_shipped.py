"""The shipped model is the default checkpoint everywhere, checked before use, and named."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import diffll
from diffll.cli import main as diffll_main
from diffll.shipped import (
    CHECKPOINT_ENV,
    SHIPPED_MODEL_DIR,
    SHIPPED_MODEL_SHA256,
    ShippedModelError,
    resolve_checkpoint,
)
from enhancers.cli import main as enhance_main
from lldata.imageio import read_rgb, write_png
from lowlight_common.files import sha256_file


@pytest.fixture(autouse=True)
def _no_env_checkpoint(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(CHECKPOINT_ENV, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "in" / "night.png"
    write_png(path, rng.integers(0, 40, (48, 64, 3), dtype=np.uint8))
    return path


def test_the_committed_model_matches_its_pinned_checksum() -> None:
    assert sha256_file(SHIPPED_MODEL_DIR / "model.safetensors") == SHIPPED_MODEL_SHA256


def test_resolution_order_option_then_environment_then_shipped(tmp_path: Path) -> None:
    assert resolve_checkpoint(tmp_path / "x").source == "option"
    env = resolve_checkpoint(None, environ={CHECKPOINT_ENV: str(tmp_path / "y")})
    assert (env.source, env.path) == ("environment", tmp_path / "y")
    shipped = resolve_checkpoint(None, environ={})
    assert (shipped.source, shipped.path) == ("shipped", SHIPPED_MODEL_DIR)
    assert "shipped model" in shipped.describe()


def test_a_missing_or_altered_shipped_model_is_an_error_naming_it(tmp_path: Path) -> None:
    copy = tmp_path / "diffll-sice"
    shutil.copytree(SHIPPED_MODEL_DIR, copy)
    assert resolve_checkpoint(None, environ={}, model_dir=copy).path == copy
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ShippedModelError, match=r"model\.safetensors is corrupt or altered"):
        resolve_checkpoint(None, environ={}, model_dir=copy)
    weights.unlink()
    with pytest.raises(ShippedModelError, match=r"model\.safetensors is missing"):
        resolve_checkpoint(None, environ={}, model_dir=copy)


def test_python_api_loads_the_shipped_model_without_a_path() -> None:
    enhancer = diffll.load(device="cpu")
    assert enhancer.checkpoint.source == "shipped"
    assert enhancer.record  # the shipped checkpoint's record (data, training)


def test_enhance_method_diffll_works_with_no_options(
    photo: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO):
        code = enhance_main(["--method", "diffll", "--device", "cpu", "--no-progress",
                             "-o", str(out), str(photo)])
    assert code == 0
    assert read_rgb(out / "night.png").shape == (48, 64, 3)
    assert f"using checkpoint {SHIPPED_MODEL_DIR}" in caplog.text


def test_diffll_enhance_works_with_no_checkpoint_and_matches_enhance(
    photo: Path, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert diffll_main(["enhance", str(photo), "-o", str(a), "--device", "cpu"]) == 0
    assert enhance_main(["--method", "diffll", "--device", "cpu", "--no-progress",
                         "-o", str(b), str(photo)]) == 0
    assert (a / "night.png").read_bytes() == (b / "night.png").read_bytes()


def test_list_names_and_tsv_are_machine_readable(capsys: pytest.CaptureFixture[str]) -> None:
    assert enhance_main(["--list", "--names"]) == 0
    names = capsys.readouterr().out.split()
    assert names[0] == "raw" and "diffll" in names and all(" " not in n for n in names)
    assert enhance_main(["--list", "--format", "tsv"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [r[0] for r in rows] == names
    assert all(len(r) == 7 for r in rows)
    assert not any(r[0] == "name" for r in rows)  # no header
    with pytest.raises(SystemExit):
        enhance_main(["--names"])
