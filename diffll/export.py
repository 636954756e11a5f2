"""Export the EMA weights of a training checkpoint to the project's inference format.

The result is a :mod:`diffll.checkpoint` directory (``model.safetensors`` + ``config.json``,
half precision by default) whose metadata is a model card: what data and pairs it was trained
on, how many steps, for how long, on which hardware, and the validation metrics. A short
human-readable ``MODEL_CARD.md`` is written beside it from the same record.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from diffll.checkpoint import load_state_dict_strict, save_checkpoint
from diffll.config import DiffLLConfig
from diffll.model import DiffLL
from diffll.training.state import load_training_checkpoint
from lowlight_common.atomic import atomic_write
from lowlight_common.files import sha256_file

__all__ = ["export_training_checkpoint", "model_card"]


def model_card(state: dict[str, Any], source: Path, weights: str) -> dict[str, Any]:
    """The metadata record stored with the exported weights."""
    config = state.get("config", {})
    return {
        "source": "trained with `diffll train` (this repository)",
        "training_checkpoint": source.name,
        "training_checkpoint_sha256": sha256_file(source),
        "weights": weights,
        "ema_decay": config.get("optim", {}).get("ema_decay"),
        "ema_warmup": config.get("optim", {}).get("ema_warmup"),
        "step": state.get("step"),
        "epoch": state.get("epoch"),
        "train_minutes": round(float(state.get("train_seconds", 0.0)) / 60.0, 2),
        "hardware": state.get("hardware"),
        "torch_version": state.get("torch_version"),
        "data": state.get("data", {}),
        "validation": {"best": state.get("best", {}), "at_this_step": state.get("last_val", {})},
        "training_config": {k: config.get(k) for k in ("data", "optim", "run")},
    }


def _card_markdown(record: dict[str, Any], out_dir: Path, dtype: str) -> str:
    data = record.get("data", {})
    val = record.get("validation", {})
    best, here = val.get("best") or {}, val.get("at_this_step") or {}

    def metric(entry: dict[str, Any]) -> str:
        if entry.get("psnr") is None:
            return "not measured"
        return f"PSNR {entry['psnr']:.3f} dB, SSIM {entry['ssim']:.4f} (step {entry.get('step')})"

    lines = [
        f"# DiffLL model card: {out_dir.name}",
        "",
        f"- weights: {record['weights']} of `{record['training_checkpoint']}` "
        f"(sha256 {record['training_checkpoint_sha256'][:16]}...), stored as {dtype}",
        f"- training: {record['step']} steps, epoch {record['epoch']}, "
        f"{record['train_minutes']} min on {record['hardware']} (torch {record['torch_version']})",
        f"- data: pair list `{data.get('pair_list')}` "
        f"({data.get('real_train_pairs')} real train pairs; {data.get('val_pairs_used')} validation pairs used), "
        f"LOL folders {data.get('lol_dirs') or 'none'}, synthetic fraction {data.get('synthetic_fraction')}",
        f"- validation (EMA weights, fixed start noise): best {metric(best)}; "
        f"at export {metric(here)}",
        "",
        "Full record: `config.json` (key `metadata`).",
        "",
    ]
    return "\n".join(lines)


def export_training_checkpoint(
    checkpoint: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    dtype: str = "float16",
    weights: str = "ema",
) -> Path:
    """Write the ``weights`` ("ema" or "model") of a training checkpoint as an inference
    checkpoint directory; returns the directory."""
    if weights not in ("ema", "model"):
        raise ValueError(f"weights must be 'ema' or 'model', got {weights!r}")
    source = Path(checkpoint)
    state = load_training_checkpoint(source)
    try:
        config = DiffLLConfig.from_dict(state["config"]["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{source}: no usable network config in the checkpoint ({exc})") from None
    model = DiffLL(config)
    load_state_dict_strict(model, state[weights], f"{source} [{weights}]")
    record = model_card(state, source, weights)
    out = save_checkpoint(out_dir, model, config, record, dtype=dtype)
    with atomic_write(out / "MODEL_CARD.md", "w", encoding="utf-8") as handle:
        handle.write(_card_markdown(record, out, dtype))
    return out
