"""Which device to run on, and a one-line description of it for results and logs."""

from __future__ import annotations

import os
import platform
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["cpu_model", "describe_device", "gpu_driver_present", "resolve_device"]

# What a GPU driver shows on Linux: NVIDIA's kernel module (native and in containers), its
# control device, Jetson's GPU, ROCm's compute device, WSL2's GPU paravirtualisation.
GPU_DRIVER_MARKERS = ("/proc/driver/nvidia/gpus", "/dev/nvidiactl", "/dev/nvhost-ctrl-gpu", "/dev/kfd", "/dev/dxg")


def gpu_driver_present() -> bool:
    """Whether this machine shows any GPU driver. Without one ``torch.cuda.is_available()`` is
    False, and a CPU-only command (``reports build``) knows it without importing torch (over a
    second of CPU time); with one, only torch can tell whether it can use the GPU."""
    return any(os.path.exists(marker) for marker in GPU_DRIVER_MARKERS)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU; asking for CUDA without one is an error
    rather than a silent CPU run (timings would be misattributed)."""
    import torch

    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)  # a malformed name: torch's RuntimeError, naming it
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available on this machine")
    return resolved


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_device(device: str | torch.device = "auto") -> str:
    """``NVIDIA H100 80GB HBM3 (CUDA 13.0)`` or ``CPU AMD EPYC ... (2 logical cores)``."""
    import torch

    resolved = resolve_device(device)
    if resolved.type == "cuda":
        return f"{torch.cuda.get_device_name(resolved)} (CUDA {torch.version.cuda})"
    return f"CPU {cpu_model()} ({os.cpu_count()} logical cores)"
