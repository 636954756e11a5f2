"""Haar transform: exact inverse, and agreement with an independent per-block reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffll.wavelet import dwt, dwt_multilevel, idwt, idwt_multilevel

# The spec's bands for one 2x2 block [a, b, c, d] = [(even,even), (odd,even), (even,odd),
# (odd,odd)] (row, col), as rows of a matrix: LL, HL, LH, HH.
HAAR = 0.5 * np.array(
    [[1, 1, 1, 1], [-1, -1, 1, 1], [-1, 1, -1, 1], [1, -1, -1, 1]], dtype=np.float64
)


def reference_dwt(x: np.ndarray) -> np.ndarray:
    """Block-by-block loop straight from the definition (float64), bands stacked on axis 0."""
    b, c, h, w = x.shape
    out = np.zeros((4, b, c, h // 2, w // 2))
    for i in range(h // 2):
        for j in range(w // 2):
            block = np.stack(
                [
                    x[..., 2 * i, 2 * j],
                    x[..., 2 * i + 1, 2 * j],
                    x[..., 2 * i, 2 * j + 1],
                    x[..., 2 * i + 1, 2 * j + 1],
                ],
                axis=-1,
            )  # b, c, 4
            out[:, :, :, i, j] = np.moveaxis(block @ HAAR.T, -1, 0)
    return out.reshape(4 * b, c, h // 2, w // 2)


def test_haar_matrix_is_orthonormal() -> None:
    np.testing.assert_allclose(HAAR @ HAAR.T, np.eye(4), atol=1e-15)


def test_one_level_matches_independent_reference() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(2, 3, 6, 10))
    ours = dwt(torch.from_numpy(x).float()).numpy()
    np.testing.assert_allclose(ours, reference_dwt(x), atol=1e-6)


def test_band_layout_and_signs_on_a_single_block() -> None:
    # a=1 (even,even), b=2 (odd,even), c=3 (even,odd), d=4 (odd,odd)
    x = torch.tensor([[[[1.0, 3.0], [2.0, 4.0]]]])
    bands = dwt(x).flatten().tolist()
    assert bands == [5.0, 2.0, 1.0, 0.0]  # LL=(1+2+3+4)/2, HL=(-1-2+3+4)/2, LH, HH


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_perfect_reconstruction(levels: int) -> None:
    gen = torch.Generator().manual_seed(levels)
    x = torch.randn(3, 4, 16, 24, generator=gen)
    ll, highs = dwt_multilevel(x, levels)
    assert ll.shape == (3, 4, 16 // 2**levels, 24 // 2**levels)
    assert [h.shape[0] for h in highs] == [9] * levels
    assert (idwt_multilevel(ll, highs) - x).abs().max() < 1e-6
    assert (idwt(dwt(x)) - x).abs().max() < 1e-6


def test_energy_preserved_and_ranges_as_spec() -> None:
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    bands = dwt(x)
    assert torch.allclose(bands.pow(2).sum(), x.pow(2).sum(), rtol=1e-5)
    ll2, _ = dwt_multilevel(torch.ones(1, 3, 8, 8), 2)
    assert torch.allclose(ll2, torch.full_like(ll2, 4.0))  # [-1,1] input -> LL2 in [-4,4]


def test_computed_in_float32_and_differentiable() -> None:
    x = torch.randn(1, 3, 8, 8, dtype=torch.bfloat16)
    assert dwt(x).dtype == torch.float32
    assert idwt(dwt(x)).dtype == torch.float32
    y = torch.randn(1, 3, 8, 8, requires_grad=True)
    idwt(dwt(y) * 2).sum().backward()
    assert torch.allclose(y.grad, torch.full_like(y, 2.0))


def test_channels_last_input() -> None:
    x = torch.randn(2, 3, 8, 12).contiguous(memory_format=torch.channels_last)
    assert torch.equal(dwt(x), dwt(x.contiguous()))
    assert (idwt(dwt(x)) - x).abs().max() < 1e-6


def test_bad_shapes_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="even"):
        dwt(torch.zeros(1, 3, 5, 4))
    with pytest.raises(ValueError, match="4B"):
        idwt(torch.zeros(3, 3, 4, 4))
    with pytest.raises(ValueError, match="divisible by 4"):
        dwt_multilevel(torch.zeros(1, 3, 6, 8), 2)
