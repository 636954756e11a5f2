"""The diffusion baselines and DiffLL's wavelet depths as benchmark labels (timing only).

``efficiency run --diffusion-baselines diffll_k2 diffll_k2_bf16 diffll_k1 diffll_k3 pixel_ddim
weatherdiff`` times each name as a ``module:Class`` label of :mod:`efficiency.diffusion_timing`
(seeded random weights, the authors' full-size networks), so that DiffLL's headline -- the
diffusion on the 1/4^K Haar band against diffusion on the pixels -- is measured by the one
harness. A name ends in ``_bf16`` for the bf16 path (DiffLL's fast path: weights in bf16,
fused attention), else it is fp32 (the authors' operation order).

These labels never reach the enhancer registry, so no workflow job can enhance with them;
in the CSV their ``weights`` column says "random ... timing only".
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["BASELINES", "DEFAULT_REFERENCE", "diffusion_labels", "is_timing_only"]

_TIMING = "efficiency.diffusion_timing"
BASELINES: dict[str, dict[str, object]] = {
    "pixel_ddim": {"method": f"{_TIMING}:PixelDDIMTiming"},
    "weatherdiff": {"method": f"{_TIMING}:WeatherDiffTiming"},
    "diffll_k1": {"method": f"{_TIMING}:DiffLLTiming", "levels": 1},
    "diffll_k2": {"method": f"{_TIMING}:DiffLLTiming", "levels": 2},
    "diffll_k3": {"method": f"{_TIMING}:DiffLLTiming", "levels": 3},
}
PRECISION_SUFFIXES = {"_bf16": "bf16", "_fp32": "fp32"}
DEFAULT_REFERENCE = "diffll_k2_bf16"  # the ratio denominator when it is among the labels
TIMING_ONLY_WEIGHTS = "random (seed 0), timing only"


def _parse(name: str) -> tuple[str, str]:
    for suffix, precision in PRECISION_SUFFIXES.items():
        if name.endswith(suffix) and name[: -len(suffix)] in BASELINES:
            return name[: -len(suffix)], precision
    if name in BASELINES:
        return name, "fp32"
    known = ", ".join(f"{b}[_bf16]" for b in BASELINES)
    raise ValueError(f"unknown diffusion baseline {name!r}; known: {known}")


def diffusion_labels(names: Sequence[str]) -> dict[str, dict[str, object]]:
    """Label -> options (``method`` is the ``module:Class``) for every name, in order."""
    labels: dict[str, dict[str, object]] = {}
    for name in names:
        base, precision = _parse(name)
        labels[name] = {**BASELINES[base], "precision": precision}
    return labels


def is_timing_only(options: dict) -> bool:
    """Whether a label's options build one of the timing-only classes."""
    return str(options.get("method", "")).startswith(f"{_TIMING}:")
