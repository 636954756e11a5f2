"""FLOPs and a memory estimate per label and resolution, computed in the parent process.

A label's class may answer both without building its network: ``count_flops(options, height,
width)`` and ``estimate_bytes(options, height, width)`` (the timing-only diffusion classes of
:mod:`efficiency.diffusion_timing` do; see :mod:`diffll.baselines.costs` for what is counted). The
project's ``diffll`` method (a checkpoint) is counted from its config. Other methods have no
count (empty cells). The parent needs both for cells it never runs: the FLOPs sit beside every
time in the CSV, and project the time of cells that were not run (:mod:`efficiency.projection`).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from lowlight_common.registry import is_plugin_spec, load_plugin

__all__ = ["label_bytes", "label_flops"]


def _plugin_class(options: dict[str, Any], label: str) -> type | None:
    name = str(options.get("method", label))
    if not is_plugin_spec(name):
        return None
    try:
        return load_plugin(name)
    except ValueError:
        return None


def _class_options(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k not in ("method", "kind", "threads", "batch_size")}


@functools.lru_cache(maxsize=16)
def _checkpoint_config(checkpoint: str | None):
    from diffll.config import DiffLLConfig
    from diffll.shipped import resolve_checkpoint

    path = resolve_checkpoint(checkpoint).path
    record = path / "config.json" if path.is_dir() else Path(str(path).removesuffix(".safetensors") + ".json")
    try:
        return DiffLLConfig.from_dict(json.loads(record.read_text())["config"])
    except (OSError, KeyError, ValueError, TypeError):
        return None


def label_flops(label: str, options: dict[str, Any], width: int, height: int) -> float:
    """FLOPs of one ``width x height`` image for this label; NaN where none can be counted."""
    cls = _plugin_class(options, label)
    if cls is not None and hasattr(cls, "count_flops"):
        return float(cls.count_flops(_class_options(options), height, width))
    if str(options.get("method", label)) == "diffll" and options.get("kind", "enhancer") == "enhancer":
        from diffll.baselines.costs import diffll_flops

        checkpoint = options.get("checkpoint")
        config = _checkpoint_config(str(checkpoint) if checkpoint else None)
        if config is not None:
            steps = options.get("steps")
            return float(diffll_flops(config, height, width, int(steps) if steps else None))
    return float("nan")


def label_bytes(label: str, options: dict[str, Any], width: int, height: int) -> float:
    """Estimated peak bytes of one image for this label; NaN where the class gives none."""
    cls = _plugin_class(options, label)
    if cls is not None and hasattr(cls, "estimate_bytes"):
        return float(cls.estimate_bytes(_class_options(options), height, width))
    return float("nan")
