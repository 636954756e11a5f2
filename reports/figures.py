"""Matplotlib figures of the report, returned as PNG bytes (Agg backend, fixed DPI: the same
data give the same picture)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

plt.rcParams.update({"svg.hashsalt": "lowlight", "font.size": 10})


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def pr_curves(curves: dict[str, pd.DataFrame], title: str, aps: dict[str, float]) -> bytes:
    """One PR curve per method (recall on x)."""
    fig, ax = plt.subplots(figsize=(7.6, 4.6))
    cmap = plt.get_cmap("tab20")
    for i, (method, curve) in enumerate(curves.items()):
        style = "-" if method != "raw" else "--"
        ax.plot(curve["recall"], curve["precision"], style, color="black" if method == "raw" else cmap(i % 20),
                lw=1.6, label=f"{method} (AP {aps.get(method, float('nan')):.3f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return _png(fig)


def scaling_plot(frame: pd.DataFrame, title: str) -> bytes:
    """Time and memory against megapixels on log-log axes, one line per method."""
    ok = frame[frame["status"] == "ok"]
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4))
    cmap = plt.get_cmap("tab20")
    for i, (method, group) in enumerate(ok.groupby("method", sort=False)):
        group = group.sort_values("megapixels")
        memory = group["peak_mem_mb"] - group["baseline_mem_mb"].fillna(0.0)
        ax_t.plot(group["megapixels"], group["median_s"], "o-", color=cmap(i % 20), label=method)
        ax_m.plot(group["megapixels"], np.clip(memory, 1e-1, None), "o-", color=cmap(i % 20), label=method)
    for ax, label in ((ax_t, "seconds per image (median)"), (ax_m, "peak memory above baseline (MB)")):
        ax.set(xscale="log", yscale="log", xlabel="megapixels", ylabel=label)
        ax.grid(alpha=0.3, which="both")
    ax_m.legend(fontsize=8, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(title)
    return _png(fig)
