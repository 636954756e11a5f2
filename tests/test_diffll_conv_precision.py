"""The convolution-precision probe behind the int8 finding in docs/performance.md times every format."""

from __future__ import annotations


def test_conv_precision_times_every_format() -> None:
    from diffll.conv_precision import measure

    medians = measure(32, 24, 32, repeats=1, threads=1)
    assert {"fp32", "bf16"} <= set(medians)
    assert any(k.startswith("int8-") for k in medians)  # x86 builds ship fbgemm/onednn
    assert all(v > 0 for v in medians.values())
