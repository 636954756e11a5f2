"""Orthonormal 2-D Haar transform in DiffLL's layout: the four bands stacked on the batch axis.

The authors' code (and so their checkpoint) fixes both the band order ``[LL; HL; LH; HH]`` and
the sign convention below; any other Haar convention would feed the trained HFRMs bands they
never saw. For each 2x2 block with a = (even row, even col), b = (odd row, even col),
c = (even row, odd col), d = (odd row, odd col)::

    LL = ( a + b + c + d) / 2      HL = (-a - b + c + d) / 2
    LH = (-a + b - c + d) / 2      HH = ( a - b - c + d) / 2

The transform is always computed in float32, also under autocast or for bf16 input: LL2 is the
diffused variable and its four-fold sums are where low precision would hurt first.
"""

from __future__ import annotations

import torch

__all__ = ["dwt", "dwt_multilevel", "idwt", "idwt_multilevel"]


def dwt(x: torch.Tensor) -> torch.Tensor:
    """One Haar level: ``B x C x H x W`` -> ``4B x C x H/2 x W/2`` as ``[LL; HL; LH; HH]``."""
    if x.dim() != 4:
        raise ValueError(f"dwt expects a B x C x H x W tensor, got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        raise ValueError(f"dwt needs even height and width, got {h}x{w}")
    x = x.float()
    # Same operation order as the authors' dwt_init (halve first, then sum), so that results
    # agree with their code to the last bit where the arithmetic allows.
    x01 = x[:, :, 0::2, :] / 2
    x02 = x[:, :, 1::2, :] / 2
    a = x01[:, :, :, 0::2]
    b = x02[:, :, :, 0::2]
    c = x01[:, :, :, 1::2]
    d = x02[:, :, :, 1::2]
    ll = a + b + c + d
    hl = -a - b + c + d
    lh = -a + b - c + d
    hh = a - b - c + d
    return torch.cat((ll, hl, lh, hh), dim=0)


def idwt(y: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`dwt`: ``4B x C x h x w`` -> ``B x C x 2h x 2w`` (exact reconstruction)."""
    if y.dim() != 4 or y.shape[0] % 4:
        raise ValueError(
            f"idwt expects a 4B x C x h x w tensor (bands on the batch axis), got {tuple(y.shape)}"
        )
    y = y.float()
    n = y.shape[0] // 4
    ll, hl, lh, hh = (y[i * n : (i + 1) * n] / 2 for i in range(4))
    even_even = ll - hl - lh + hh
    odd_even = ll - hl + lh - hh
    even_odd = ll + hl - lh - hh
    odd_odd = ll + hl + lh + hh
    # Interleave without in-place writes so that autograd and channels_last inputs just work.
    even_rows = torch.stack((even_even, even_odd), dim=-1)  # B C h w 2 (column parity)
    odd_rows = torch.stack((odd_even, odd_odd), dim=-1)
    out = torch.stack((even_rows, odd_rows), dim=3)  # B C h 2 w 2
    b, ch, h, w = ll.shape
    return out.reshape(b, ch, 2 * h, 2 * w)


def dwt_multilevel(x: torch.Tensor, levels: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``levels`` Haar levels on the LL band. Returns ``(LL_K, [high_1, ..., high_K])``.

    ``high_k`` holds level k's ``[HL; LH; HH]`` stacked on the batch axis (``3B`` images),
    the layout the HFRMs take.
    """
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    factor = 2**levels
    if x.shape[-2] % factor or x.shape[-1] % factor:
        raise ValueError(
            f"{levels} Haar levels need sides divisible by {factor}, got "
            f"{x.shape[-2]}x{x.shape[-1]}"
        )
    n = x.shape[0]
    highs: list[torch.Tensor] = []
    ll = x
    for _ in range(levels):
        bands = dwt(ll)
        ll, high = bands[:n], bands[n:]
        highs.append(high)
    return ll, highs


def idwt_multilevel(ll: torch.Tensor, highs: list[torch.Tensor]) -> torch.Tensor:
    """Inverse of :func:`dwt_multilevel` (``highs`` ordered finest level first)."""
    for high in reversed(highs):
        if high.shape[0] != 3 * ll.shape[0]:
            raise ValueError(
                f"high bands must hold 3x the LL batch, got {high.shape[0]} vs {ll.shape[0]}"
            )
        ll = idwt(torch.cat((ll.float(), high.float()), dim=0))
    return ll
