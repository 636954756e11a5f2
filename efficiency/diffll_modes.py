"""DiffLL's inference modes as benchmark labels: precision x compilation x batch size.

``efficiency run --diffll-modes fp32 bf16 bf16-compile --batch-sizes 1 4`` times each mode as a
label of the ``diffll`` method with the options that select it, against ``diffll_fp32`` (fp32
eager, explicit attention matrices, one image per call: operation for operation the authors'
code). That label is always measured, is the ratio reference unless ``--reference`` names
another, and its outputs are the PSNR reference (:mod:`efficiency.fidelity`): each mode gets
its speed and memory beside how much it changed the picture.

Modes: ``fp32`` (the authors' path), ``bf16`` (networks in bfloat16, channels_last, fused
attention; wavelets, residuals and sampler in fp32), ``bf16-compile`` (the same under
``torch.compile``; its first call compiles, which the warm-up absorbs). A batch size ``N`` > 1
enhances N copies of the frame per call (one forward) and reports seconds per image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["MODES", "REFERENCE_LABEL", "diffll_labels"]

MODES: dict[str, dict[str, object]] = {
    "fp32": {"precision": "fp32"},
    "bf16": {"precision": "bf16"},
    "bf16-compile": {"precision": "bf16", "compile": True},
}
REFERENCE_LABEL = "diffll_fp32"


def label_of(mode: str, batch_size: int) -> str:
    """``diffll_bf16``, ``diffll_bf16_compile_b4``, ...: the CSV's method column."""
    name = "diffll_" + mode.replace("-", "_")
    return name if batch_size == 1 else f"{name}_b{batch_size}"


def diffll_labels(
    modes: Sequence[str], batch_sizes: Sequence[int] = (1,), base: Mapping[str, object] | None = None
) -> dict[str, dict[str, object]]:
    """Label -> options for every mode x batch size, the fp32 per-image reference first.

    ``base``: options every label shares (``checkpoint``, ``steps``, ``seed``, ``tile``), e.g.
    the ``diffll`` entry of ``--options-json``; a mode's own options override them.
    """
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValueError(f"unknown DiffLL mode(s) {', '.join(unknown)}; known: {', '.join(MODES)}")
    bad = [b for b in batch_sizes if isinstance(b, bool) or not isinstance(b, int) or b < 1]
    if bad:
        raise ValueError(f"batch sizes must be positive integers, not {bad}")
    shared = {k: v for k, v in dict(base or {}).items() if k not in ("precision", "compile", "batch_size", "method")}
    labels = {REFERENCE_LABEL: {"method": "diffll", **shared, **MODES["fp32"]}}
    for mode in modes:
        for batch in batch_sizes:
            label = label_of(mode, batch)
            if label not in labels:
                extra = {"batch_size": batch} if batch > 1 else {}
                labels[label] = {"method": "diffll", **shared, **MODES[mode], **extra}
    return labels
