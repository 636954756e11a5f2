"""Untrusted inputs to DiffLL's tools: a pickle that would run code, and pair lists whose scene
names would write outside the output folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from diffll.checkpoint import CheckpointError, convert_official, load_checkpoint
from diffll.config import DiffLLConfig
from diffll.model import DiffLL
from lldata.imageio import write_png


class _RunsCode:
    """Unpickling this calls os.mkdir(marker): the shape of any code-running pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_convert_official_refuses_a_pickle_that_would_run_code(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    torch.manual_seed(0)
    state = DiffLL(DiffLLConfig.small()).state_dict()
    torch.save({"state_dict": state, "config": _RunsCode(marker)}, tmp_path / "evil.pth.tar")
    with pytest.raises(CheckpointError, match=r"evil\.pth\.tar.*(not allowed|refus)") as info:
        convert_official(tmp_path / "evil.pth.tar", tmp_path / "out")
    assert "mkdir" in str(info.value)  # names what it refused
    assert not marker.exists(), "unpickling ran code"
    assert not (tmp_path / "out").exists()


def test_convert_official_loads_the_authors_layout_without_unrestricted_unpickling(tmp_path: Path) -> None:
    """The authors' file pickles argparse.Namespace configs and a torch.device; those load with
    weights_only=True and the Namespace allow-list, with no 'pickles can run code' warning."""
    import argparse
    import warnings

    torch.manual_seed(1)
    model = DiffLL(DiffLLConfig.small())
    config = argparse.Namespace(
        data=argparse.Namespace(train_dataset="LOLv1"),
        model=argparse.Namespace(in_channels=3, out_ch=3, ch=32, ch_mult=[1, 2, 2, 2], num_res_blocks=1,
                                 dropout=0.0, ema_rate=0.999, ema=True, resamp_with_conv=True),
        diffusion=argparse.Namespace(beta_schedule="linear", beta_start=0.0001, beta_end=0.02,
                                     num_diffusion_timesteps=200),
        device=torch.device("cpu"),
    )
    torch.save({"step": 5, "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()},
                "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999)}]},
                "params": argparse.Namespace(sampling_timesteps=10), "config": config}, tmp_path / "model.pth.tar")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = convert_official(tmp_path / "model.pth.tar", tmp_path / "converted")
    loaded, _, record = load_checkpoint(out)
    assert record["metadata"]["step"] == 5 and record["metadata"]["training_data"] == "LOLv1"
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


# ---- pairs-to-dataset: scene names are file names ------------------------------------------------


def _pair_list(tmp_path: Path, scene: str, low: str = "1.png") -> Path:
    frames = tmp_path / "frames"
    for name, value in (("1", 20), ("3", 150)):
        write_png(frames / f"{name}.png", np.full((8, 12, 3), value, np.uint8))
    record = {"format": "diffll-pairs", "version": 1, "root": "frames",
              "pairs": [{"scene": scene, "low": low, "target": "3.png", "split": "val"}]}
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(record))
    return path


@pytest.mark.parametrize("scene", ["../../x", "a/b", "ABSOLUTE", "..", "", "s 1", "s\n1"])
def test_pairs_to_dataset_rejects_scene_names_that_are_not_plain_names(tmp_path: Path, scene: str) -> None:
    from diffll.train_cli import pairs_to_dataset

    if scene == "ABSOLUTE":  # an absolute name would replace the output folder altogether
        scene = str(tmp_path / "abs")
    work = tmp_path / "w"
    out = work / "deep" / "out"
    with pytest.raises(ValueError, match=r"pairs\.json.*scene") as info:
        pairs_to_dataset(_pair_list(work, scene), out, "val")
    assert repr(scene) in str(info.value)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png") if "frames" not in p.parts)
    assert written == [], written


def test_pairs_to_dataset_cli_reports_the_bad_scene(tmp_path: Path, capsys) -> None:
    from diffll.cli import main

    code = main(["pairs-to-dataset", str(_pair_list(tmp_path, "../../x")), str(tmp_path / "a" / "out")])
    assert code != 0 and "../../x" in capsys.readouterr().err
    assert not list(tmp_path.rglob("x_1.png"))
