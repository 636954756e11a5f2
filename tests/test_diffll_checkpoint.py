"""Project checkpoint format (safetensors + JSON record) and conversion of the authors' layout."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest
import torch

from diffll.checkpoint import (
    CheckpointError,
    convert_official,
    load_checkpoint,
    save_checkpoint,
)
from diffll.config import DiffLLConfig
from diffll.inference import Enhancer
from diffll.model import DiffLL
from tests.diffll_models import perturbed_small_model


def test_save_load_round_trip_is_bit_identical(tmp_path: Path) -> None:
    model = perturbed_small_model(0)
    meta = {"training_data": "demo pairs", "step": 123, "path": tmp_path}
    save_checkpoint(tmp_path / "ckpt", model, model.config, meta)
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]
    record = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert record["config"] == model.config.to_dict()
    assert record["metadata"]["step"] == 123 and record["dtype"] == "float32"
    assert record["num_parameters"] == sum(p.numel() for p in model.parameters())

    loaded, config, rec = load_checkpoint(tmp_path / "ckpt")
    assert config == model.config and rec["metadata"]["training_data"] == "demo pairs"
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key

    x = torch.rand(1, 3, 20, 28, generator=torch.Generator().manual_seed(0))
    a = Enhancer(model, device="cpu").enhance(x, seeds=[5])
    b = Enhancer(loaded, device="cpu").enhance(x, seeds=[5])
    assert torch.equal(a, b)


def test_single_safetensors_file_carries_its_record(tmp_path: Path) -> None:
    model = perturbed_small_model(1)
    save_checkpoint(tmp_path / "ckpt", model)
    lone = tmp_path / "elsewhere" / "diffll_small.safetensors"
    lone.parent.mkdir()
    shutil.copy(tmp_path / "ckpt" / "model.safetensors", lone)
    loaded, config, _ = load_checkpoint(lone)
    assert config == model.config
    assert torch.equal(loaded.Unet.conv_out.weight, model.Unet.conv_out.weight)


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing")
    (tmp_path / "model.pth.tar").write_bytes(b"\x80\x04")
    with pytest.raises(CheckpointError, match="convert-official"):
        load_checkpoint(tmp_path / "model.pth.tar")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_checkpoint(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="safetensors"):
        load_checkpoint(bad)


def test_weights_that_do_not_fit_are_rejected(tmp_path: Path) -> None:
    model = perturbed_small_model(2)
    save_checkpoint(tmp_path / "ckpt", model)
    record_file = tmp_path / "ckpt" / "config.json"
    record = json.loads(record_file.read_text())
    record["config"]["ch"] = 64  # the record now promises a different network
    # The embedded record wins over config.json, so corrupt both by re-saving the tensors.
    from safetensors.torch import load_file, save_file

    tensors = load_file(tmp_path / "ckpt" / "model.safetensors")
    save_file(tensors, tmp_path / "ckpt" / "model.safetensors", metadata=None)
    record_file.write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="wrong shape|missing"):
        load_checkpoint(tmp_path / "ckpt")


def _authors_checkpoint(path: Path, model: DiffLL, ema: DiffLL) -> None:
    """Write a file in the layout of the authors' model.pth.tar (a pickle)."""
    config = argparse.Namespace(
        data=argparse.Namespace(train_dataset="LOLv1", conditional=True, patch_size=256),
        model=argparse.Namespace(
            in_channels=3,
            out_ch=3,
            ch=32,
            ch_mult=[1, 2, 2, 2],
            num_res_blocks=1,
            dropout=0.0,
            ema_rate=0.999,
            ema=True,
            resamp_with_conv=True,
        ),
        diffusion=argparse.Namespace(
            beta_schedule="linear", beta_start=0.0001, beta_end=0.02, num_diffusion_timesteps=200
        ),
        device=torch.device("cuda"),
    )
    params = argparse.Namespace(sampling_timesteps=10, seed=230, resume="")
    torch.save(
        {
            "step": 30000,
            "epoch": 500,
            "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()},
            "optimizer": {"state": {}, "param_groups": []},
            "scheduler": {"last_epoch": 500},
            "ema_helper": {k: v.clone() for k, v in ema.state_dict().items()},
            "params": params,
            "config": config,
        },
        path,
    )


def test_convert_official_prefers_ema_weights(tmp_path: Path) -> None:
    online, ema = perturbed_small_model(3), perturbed_small_model(4)
    src = tmp_path / "model.pth.tar"
    _authors_checkpoint(src, online, ema)
    out = convert_official(src, tmp_path / "converted")  # restricted unpickler: no warning
    model, config, record = load_checkpoint(out)
    assert config == DiffLLConfig.small()
    meta = record["metadata"]
    assert meta["weights"] == "ema_helper" and meta["step"] == 30000 and meta["epoch"] == 500
    assert meta["training_data"] == "LOLv1"
    assert meta["authors_config"]["device"] == "cuda"
    for key, value in ema.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key

    out2 = convert_official(src, tmp_path / "online", prefer_ema=False)
    model2, _, record2 = load_checkpoint(out2)
    assert record2["metadata"]["weights"] == "state_dict"
    assert torch.equal(model2.Unet.conv_in.weight, online.Unet.conv_in.weight)


def test_convert_official_rejects_mismatched_weights(tmp_path: Path) -> None:
    model = perturbed_small_model(5)
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    state.pop("module.Unet.conv_out.bias")
    torch.save({"state_dict": state}, tmp_path / "broken.pth.tar")
    with pytest.raises(CheckpointError, match="missing"):
        convert_official(tmp_path / "broken.pth.tar", tmp_path / "out")
    with pytest.raises(CheckpointError, match="not found"):
        convert_official(tmp_path / "nope.pth.tar", tmp_path / "out")
