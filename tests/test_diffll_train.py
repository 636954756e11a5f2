"""Training: Algorithm 1 steps, exact resume, budgets, checkpoints, export and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from diffll.train_cli import main, pack_pairs
from diffll.training.config import load_train_config
from diffll.training.state import find_latest_checkpoint, load_training_checkpoint
from diffll.training.trainer import Trainer
from lldata.imageio import write_png

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "config" / "train" / "tiny-cpu.yaml"


@pytest.fixture(scope="module")
def lol(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four 64x64 pairs whose low image is a darkened, slightly noisy copy of the target."""
    root = tmp_path_factory.mktemp("lol")
    rng = np.random.default_rng(0)
    for sub in ("low", "high"):
        (root / sub).mkdir()
    yy, xx = np.mgrid[0:64, 0:64]
    for k in range(4):
        base = 0.5 + 0.4 * np.sin(xx / (4 + k) + k)[..., None] * np.cos(yy / 7)[..., None] * np.ones(3)
        hi = np.clip(np.round(base * 255), 0, 255).astype(np.uint8)
        lo = np.clip(np.round(base * 0.15 * 255 + rng.normal(0, 2, base.shape)), 0, 255).astype(np.uint8)
        write_png(root / "high" / f"{k}.png", hi)
        write_png(root / "low" / f"{k}.png", lo)
    return root


def tiny_overrides(lol: Path, *extra: str) -> list[str]:
    return [
        f"data.lol_dirs=['{lol}']",
        f"data.val_lol_dirs=['{lol}']",
        "data.patch_size=32",
        "data.val_crop=64",
        "model.sampling_steps=3",
        *extra,
    ]


def tiny_config(lol: Path, *extra: str):
    return load_train_config(TINY, tiny_overrides(lol, *extra))


def fixed_batch(trainer: Trainer) -> dict:
    from diffll.data import collate

    return collate([trainer.train_set[(0, i)] for i in range(2)])


@pytest.mark.slow
def test_one_training_step_updates_model_and_ema(lol: Path, tmp_path: Path) -> None:
    trainer = Trainer(tiny_config(lol), tmp_path, quiet=True)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    ema_before = {k: v.clone() for k, v in trainer.ema.model.state_dict().items()}
    terms = trainer.train_step(fixed_batch(trainer))
    assert set(terms) == {"loss", "noise", "l1", "ssim", "band", "tv"}
    assert all(np.isfinite(v) for v in terms.values())
    assert terms["loss"] == pytest.approx(sum(v for k, v in terms.items() if k != "loss"), rel=1e-5)
    after = trainer.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    ema = trainer.ema.model.state_dict()
    assert any(not torch.equal(ema_before[k], ema[k]) for k in ema)
    assert trainer.step == 1 and trainer.batch_in_epoch == 1


@pytest.mark.slow
def test_loss_on_a_fixed_batch_decreases(lol: Path, tmp_path: Path) -> None:
    trainer = Trainer(tiny_config(lol, "optim.lr=0.001"), tmp_path, quiet=True)
    batch = fixed_batch(trainer)
    start = trainer.evaluate_loss(batch, seed=7)
    for _ in range(6):
        trainer.train_step(batch)
    assert trainer.evaluate_loss(batch, seed=7) < 0.95 * start


@pytest.mark.slow
def test_resume_reproduces_the_next_step_exactly(lol: Path, tmp_path: Path) -> None:
    cfg = tiny_config(lol)
    straight = Trainer(cfg, tmp_path / "a", quiet=True)
    stream = iter(straight.make_loader())
    losses = [straight.train_step(next(stream))["loss"] for _ in range(3)]

    first = Trainer(cfg, tmp_path / "b", quiet=True)
    stream = iter(first.make_loader())
    for _ in range(2):
        first.train_step(next(stream))
    saved = first.save_checkpoint()
    torch.manual_seed(123)  # disturb global RNG state: resume must restore it
    np.random.seed(5)
    resumed = Trainer(cfg, tmp_path / "b", quiet=True)
    assert resumed.resume("auto")
    assert (resumed.step, resumed.epoch, resumed.batch_in_epoch) == (2, 1, 0)
    next_loss = resumed.train_step(next(iter(resumed.make_loader())))["loss"]
    assert next_loss == losses[2]
    a, b = straight.state_dict(), resumed.state_dict()
    for part in ("model", "ema"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part])
    # the checkpoint holds only weights_only-loadable data
    state = torch.load(saved, map_location="cpu", weights_only=True)
    assert state["step"] == 2 and "optimizer" in state and "scheduler" in state and "rng" in state


@pytest.mark.slow
def test_fit_checkpoints_logs_budget_and_export(lol: Path, tmp_path: Path) -> None:
    from diffll.checkpoint import load_checkpoint
    from diffll.export import export_training_checkpoint

    run = tmp_path / "run"
    trainer = Trainer(tiny_config(lol, "run.keep_last=1"), run, quiet=True)
    summary = trainer.fit(max_steps=4)
    assert summary["status"] == "finished" and summary["step"] == 4
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert ckpts == ["best.pt", "step-00000004.pt"]
    assert [line.split(",")[0] for line in (run / "train_log.csv").read_text().splitlines()] == [
        "step", "1", "2", "3", "4",
    ]
    val_rows = (run / "val_log.csv").read_text().splitlines()
    assert len(val_rows) == 3 and summary["best"]["psnr"] is not None

    # resume and a time budget that is spent at once: one step, then a clean stop with a save
    again = Trainer(tiny_config(lol), run, quiet=True)
    again.resume("auto")
    stopped = again.fit(max_steps=100, max_minutes=1e-4)
    assert stopped["status"] == "stopped" and "time budget" in stopped["reason"]
    assert find_latest_checkpoint(run).name == "step-00000005.pt"
    assert json.loads((run / "summary.json").read_text())["step"] == 5

    out = export_training_checkpoint(run / "checkpoints" / "best.pt", tmp_path / "export")
    model, config, record = load_checkpoint(out)
    meta = record["metadata"]
    assert record["dtype"] == "float16" and meta["weights"] == "ema" and meta["step"] == 4
    assert meta["validation"]["best"]["psnr"] == pytest.approx(summary["best"]["psnr"])
    assert meta["data"]["real_train_pairs"] == 4 and meta["hardware"].startswith("CPU")
    assert (out / "MODEL_CARD.md").is_file()
    ema = load_training_checkpoint(run / "checkpoints" / "best.pt")["ema"]
    for k, v in model.state_dict().items():
        assert torch.allclose(v, ema[k].half().float())


def test_config_errors_are_clear(lol: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown key"):
        load_train_config(TINY, ["run.max_step=3"])
    with pytest.raises(ValueError, match="multiple of 32"):
        load_train_config(TINY, ["data.patch_size=48"])
    with pytest.raises(ValueError, match="no training data"):
        Trainer(load_train_config(TINY), tmp_path, quiet=True)
    with pytest.raises(FileNotFoundError, match="training config not found"):
        load_train_config(tmp_path / "none.yaml")


@pytest.mark.slow
def test_train_cli_runs_and_resumes(lol: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["train", "--config", str(TINY), "--out", str(tmp_path / "run"), "--device", "cpu"]
    for item in tiny_overrides(lol, "run.val_every=100"):
        args += ["--set", item]
    assert main([*args, "--max-steps", "1"]) == 0
    assert main([*args, "--max-steps", "2", "--resume", "auto"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert [x["step"] for x in lines] == [1, 2]
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "exp")]) == 0
    assert (tmp_path / "exp" / "model.safetensors").is_file()
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2


def test_pack_pairs_copies_only_used_frames(tmp_path: Path) -> None:
    from PIL import Image

    from diffll.data import items_from_pair_list
    from diffll.pairs import write_pair_list

    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(0)
    for k in range(1, 5):
        Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(src / f"{k}.jpg")
    write_png(src / "5.png", rng.integers(0, 256, (40, 60, 3), dtype=np.uint8))
    record = {
        "format": "diffll-pairs",
        "version": 1,
        "root": str(src),
        "pairs": [
            {"scene": "s1", "low": "1.jpg", "target": "2.jpg", "split": "train"},
            {"scene": "s2", "low": "5.png", "target": "4.jpg", "split": "val"},
        ],
    }
    write_pair_list(record, tmp_path / "pairs.json")
    info = pack_pairs(tmp_path / "pairs.json", tmp_path / "pack", size=512)
    files = sorted(p.name for p in (tmp_path / "pack" / "images").iterdir())
    assert files == ["1.jpg", "2.jpg", "4.jpg", "5.jpg"] and info["files"] == 4
    assert (tmp_path / "pack" / "images" / "1.jpg").read_bytes() == (src / "1.jpg").read_bytes()
    items = items_from_pair_list(tmp_path / "pack" / "pairs.json", split=None)
    assert [i.low.name for i in items] == ["1.jpg", "5.jpg"] and all(i.low.is_file() for i in items)
    pack_pairs(tmp_path / "pairs.json", tmp_path / "small", size=30, quality=80)
    with Image.open(tmp_path / "small" / "images" / "1.jpg") as im:
        assert im.size == (30, 20)


@pytest.mark.slow
def test_sigterm_stops_cleanly_after_saving(lol: Path, tmp_path: Path) -> None:
    import os
    import signal

    trainer = Trainer(tiny_config(lol, "run.val_every=100", "run.ckpt_every=100"), tmp_path, quiet=True)
    original = trainer.train_step

    def step_then_signal(batch: dict) -> dict:
        out = original(batch)
        if trainer.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    trainer.train_step = step_then_signal  # type: ignore[method-assign]
    summary = trainer.fit(max_steps=50)
    assert summary["status"] == "stopped" and summary["reason"] == "stopped by SIGTERM"
    assert summary["step"] == 2 and find_latest_checkpoint(tmp_path).name == "step-00000002.pt"
    assert signal.getsignal(signal.SIGTERM) is not None  # handler restored


@pytest.mark.slow
def test_activation_checkpointing_and_bf16_autocast_paths(lol: Path, tmp_path: Path) -> None:
    plain = Trainer(tiny_config(lol), tmp_path / "a", quiet=True)
    ckpt = Trainer(tiny_config(lol, "run.activation_checkpointing=true"), tmp_path / "b", quiet=True)
    batch = fixed_batch(plain)
    assert ckpt.train_step(batch)["loss"] == pytest.approx(plain.train_step(batch)["loss"], abs=1e-6)
    for (k, a), b in zip(plain.model.state_dict().items(), ckpt.model.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), k
    # the EMA copy was taken before patching: its UNet runs its own forward
    assert ckpt.ema.model.Unet.forward.__self__ is ckpt.ema.model.Unet
    # bf16 autocast is a CUDA setting; run the same code path under CPU autocast
    ckpt.autocast_dtype = torch.bfloat16
    terms = ckpt.train_step(batch)
    assert all(np.isfinite(v) for v in terms.values())


def test_init_weights_starts_from_an_export_and_refuses_other_sizes(lol: Path, tmp_path: Path) -> None:
    from diffll.export import export_training_checkpoint

    cfg = tiny_config(lol)
    first = Trainer(cfg, tmp_path / "a", device="cpu", quiet=True)
    first.fit(max_steps=1)
    export_training_checkpoint(find_latest_checkpoint(tmp_path / "a"), tmp_path / "export")
    second = Trainer(cfg, tmp_path / "b", device="cpu", quiet=True)
    second.init_weights(tmp_path / "export")
    for (name, p), q in zip(first.ema.model.state_dict().items(), second.model.state_dict().values(), strict=True):
        assert torch.allclose(p.float(), q, atol=1e-2, rtol=1e-3), name  # the export is fp16
    other = Trainer(tiny_config(lol, "model.ch=64"), tmp_path / "c", device="cpu", quiet=True)
    with pytest.raises(ValueError, match="differs"):
        other.init_weights(tmp_path / "export")


def test_pairs_to_dataset_writes_a_paired_set(tmp_path: Path) -> None:
    from diffll.train_cli import pairs_to_dataset
    from lldata.datasets import load_dataset

    frames = tmp_path / "frames"
    for name, value in (("1", 20), ("2", 40), ("3", 150)):
        write_png(frames / f"{name}.png", np.full((8, 12, 3), value, np.uint8))
    pair_list = {"format": "diffll-pairs", "version": 1, "root": "frames", "pairs": [
        {"scene": "s1", "low": "1.png", "target": "3.png", "split": "val"},
        {"scene": "s1", "low": "2.png", "target": "3.png", "split": "val"},
        {"scene": "s2", "low": "2.png", "target": "3.png", "split": "train"}]}
    (tmp_path / "pairs.json").write_text(json.dumps(pair_list))
    assert pairs_to_dataset(tmp_path / "pairs.json", tmp_path / "val", "val") == 2
    ds = load_dataset(tmp_path / "val", "paired")
    assert [i.stem for i in ds] == ["s1_1", "s1_2"]
    with pytest.raises(ValueError, match="no pairs in split"):
        pairs_to_dataset(tmp_path / "pairs.json", tmp_path / "none", "test")
