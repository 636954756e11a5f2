"""Checkpoints and records that used to load and give black or garbage images with exit code 0,
or allocate gigabytes before a check (issue 32, items 3 and 6): NaN, integer or bool tensors,
betas outside (0, 1), oversized or mistyped records, a record that is not an object. Each is
refused at load time, naming the file; a non-finite output fails its image by name."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save as safetensors_save

from diffll.checkpoint import RECORD_KEY, CheckpointError, load_checkpoint, save_checkpoint
from diffll.cli import main
from diffll.config import DiffLLConfig
from diffll.schedule import NoiseSchedule
from lldata.imageio import float_to_uint8, quantise, write_png
from tests.diffll_models import initial_small_model


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> tuple[dict[str, torch.Tensor], dict]:
    folder = tmp_path_factory.mktemp("good")
    save_checkpoint(folder, initial_small_model(0))
    record = json.loads((folder / "config.json").read_text())
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors")), record


def _write(path: Path, state: dict[str, torch.Tensor], record_text: str) -> Path:
    """A lone .safetensors file with its record embedded (what load_checkpoint reads first)."""
    path.write_bytes(safetensors_save({k: v.contiguous() for k, v in state.items()}, metadata={RECORD_KEY: record_text}))
    return path


def _record(good, **config_changes) -> str:
    record = json.loads(json.dumps(good[1]))
    record["config"].update(config_changes)
    return json.dumps(record)


def _first_float_key(state) -> str:
    return next(k for k, v in state.items() if v.ndim >= 2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.clone().fill_(float("nan")), "non-finite"),
        (lambda t: torch.where(torch.arange(t.numel()).reshape(t.shape) == 0, float("inf"), t), "non-finite"),
        (lambda t: t.to(torch.int8), "not floating point"),
        (lambda t: t > 0, "not floating point"),
    ],
)
def test_weights_that_are_not_finite_floats_are_refused_naming_file_and_tensor(tmp_path, good, change, message):
    state = dict(good[0])
    key = _first_float_key(state)
    state[key] = change(state[key])
    path = _write(tmp_path / "bad.safetensors", state, json.dumps(good[1]))
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert "bad.safetensors" in str(info.value) and key in str(info.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"beta_start": math.nan}, "beta_start"),
        ({"beta_end": 3}, "beta_end"),
        ({"beta_start": -0.1}, "beta_start"),
        ({"num_train_timesteps": 1e9}, "num_train_timesteps"),
        ({"num_train_timesteps": 1_000_000_000}, "num_train_timesteps"),
        ({"ch": 4096}, "ch=4096"),
        ({"ch_mult": [1, 2, 2, 2, 2, 2, 2, 2, 2, 2]}, "ch_mult"),
        ({"ch": True}, "ch=True"),
        ({"sampling_steps": "10"}, "sampling_steps"),
        ({"hfrm_heads": 0}, "hfrm_heads"),
        ({"ch": 64}, "do not fit"),  # a valid record for another network than the file holds
    ],
)
def test_hostile_records_are_refused_before_allocating(tmp_path, good, changes, message):
    path = _write(tmp_path / "rec.safetensors", good[0], _record(good, **changes))
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert time.perf_counter() - start < 5.0
    assert "rec.safetensors" in str(info.value)


@pytest.mark.parametrize("text", ["[1, 2]", '"a string"', '{"format": "diffll-checkpoint", "config": []}', "[" * 100000])
def test_a_record_that_is_not_an_object_is_a_checkpoint_error(tmp_path, good, text):
    path = _write(tmp_path / "list.safetensors", good[0], text)
    with pytest.raises(CheckpointError, match="list.safetensors"):
        load_checkpoint(path)


def test_schedule_with_betas_outside_0_1_is_refused():
    with pytest.raises(ValueError, match="outside"):
        NoiseSchedule(10, 0.5, 3.0, "linear")
    with pytest.raises(ValueError, match="outside"):
        NoiseSchedule(10, float("nan"), 0.02, "sigmoid")


def test_config_fields_are_typed_and_bounded():
    with pytest.raises(ValueError, match="num_train_timesteps"):
        DiffLLConfig.from_dict({"num_train_timesteps": 10**9})
    with pytest.raises(ValueError, match="beta_start"):
        DiffLLConfig(beta_start=1)  # betas are probabilities: 1 removes the whole signal
    assert isinstance(DiffLLConfig(beta_end=0.02).beta_end, float)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_float_to_uint8_refuses_non_finite_values(value):
    image = np.full((2, 2, 3), 0.5)
    image[1, 1, 2] = value
    with pytest.raises(ValueError, match="non-finite"):
        float_to_uint8(image)
    for rule in ("save_image", "truncate"):
        with pytest.raises(ValueError, match="non-finite"):
            quantise(image, rule)


def test_diffll_enhance_exits_2_naming_a_nan_checkpoint(tmp_path, good, capsys):
    state = dict(good[0])
    key = _first_float_key(state)
    state[key] = state[key].clone().fill_(float("nan"))
    checkpoint = _write(tmp_path / "nan.safetensors", state, json.dumps(good[1]))
    write_png(tmp_path / "in" / "a.png", np.full((32, 32, 3), 40, np.uint8))
    code = main(["enhance", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--checkpoint", str(checkpoint)])
    assert code == 2
    assert "nan.safetensors" in capsys.readouterr().err
    assert not list((tmp_path / "out").glob("*.png"))
