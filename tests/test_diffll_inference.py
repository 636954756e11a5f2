"""Image-level inference: padding, noise, determinism, precision and tiling."""

from __future__ import annotations

import math
import os

import pytest
import torch
import torch.nn.functional as F

from diffll.config import DiffLLConfig
from diffll.inference import Enhancer, FrameTooLargeError, cpu_supports_bf16
from diffll.padding import pad_to_multiple
from diffll.tiling import (
    blend_window,
    estimate_peak_bytes,
    estimate_strips_peak_bytes,
    hfrm_in_strips,
    tile_positions,
)
from tests.diffll_models import perturbed_small_model as small_model


def smooth_image(height: int, width: int, seed: int = 0, scale: float = 0.3) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, max(2, height // 16), max(2, width // 16), generator=gen)
    return F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False) * scale


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


@pytest.fixture(scope="module")
def enhancer() -> Enhancer:
    return Enhancer(small_model(), device="cpu")


# ---- padding -----------------------------------------------------------------------------


def test_padding_reflects_and_falls_back_to_replicate() -> None:
    x = torch.rand(1, 3, 45, 70)
    padded = pad_to_multiple(x, 32)
    assert padded.shape == (1, 3, 64, 96)
    assert torch.equal(padded, F.pad(x, (0, 26, 0, 19), mode="reflect"))
    tiny = torch.rand(1, 3, 1, 1)
    assert torch.equal(pad_to_multiple(tiny, 32), tiny.expand(1, 3, 32, 32))
    strip = torch.rand(1, 3, 40, 5)  # width too small to reflect, height fine
    out = pad_to_multiple(strip, 32)
    assert out.shape == (1, 3, 64, 32)
    assert torch.equal(out[..., :40, 5:], strip[..., 4:5].expand(1, 3, 40, 27))
    assert pad_to_multiple(torch.rand(1, 3, 64, 32), 32).shape == (1, 3, 64, 32)


# ---- enhance -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (2, 3, 33, 45), (1, 3, 31, 64), (1, 3, 64, 32)])
def test_output_shape_and_range(enhancer: Enhancer, shape: tuple[int, ...]) -> None:
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    y = enhancer.enhance(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert float(y.min()) >= 0 and float(y.max()) <= 1


def test_crop_back_equals_network_on_padded_input(enhancer: Enhancer) -> None:
    x = torch.rand(1, 3, 45, 70, generator=torch.Generator().manual_seed(2))
    noise = torch.randn(enhancer.noise_shape(1, 45, 70))
    assert noise.shape == (1, 3, 16, 24)
    y = enhancer.enhance(x, noise=noise)
    with torch.no_grad():
        ref = enhancer.model.forward_inference(pad_to_multiple(x, 32) * 2 - 1, noise)["output"]
    assert torch.equal(y, ref[..., :45, :70])


def test_determinism_and_seed_sensitivity(enhancer: Enhancer) -> None:
    x = torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(3))
    a = enhancer.enhance(x, seeds=[7, 8])
    assert torch.equal(a, enhancer.enhance(x, seeds=[7, 8]))
    assert not torch.equal(a, enhancer.enhance(x, seeds=[7, 9]))
    # one image's noise does not depend on its batch neighbours
    n_pair = enhancer.draw_noise(2, 40, 40, seeds=[7, 8])
    assert torch.equal(n_pair[1:], enhancer.draw_noise(1, 40, 40, seeds=[8]))
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    assert torch.equal(enhancer.enhance(x, generator=g1), enhancer.enhance(x, generator=g2))


def test_bad_inputs_are_clear_errors(enhancer: Enhancer) -> None:
    with pytest.raises(ValueError, match="B x 3 x H x W"):
        enhancer.enhance(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        enhancer.enhance(torch.rand(1, 3, 8, 8) * 255)
    with pytest.raises(ValueError, match="float"):
        enhancer.enhance(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="noise must have shape"):
        enhancer.enhance(torch.rand(1, 3, 40, 40), noise=torch.randn(1, 3, 10, 10))
    with pytest.raises(ValueError, match="multiple of 32"):
        Enhancer(small_model(), device="cpu", tile=48)


@pytest.mark.skipif(not cpu_supports_bf16(), reason="this CPU has no oneDNN bf16 support")
def test_bf16_fast_path_close_to_fp32() -> None:
    x = smooth_image(64, 96, seed=5)
    ref = Enhancer(small_model(), device="cpu").enhance(x, seeds=[1])
    fast = Enhancer(small_model(), device="cpu", precision="bf16")
    assert fast.precision == "bf16"
    out = fast.enhance(x, seeds=[1])
    assert psnr(out, ref) > 40.0
    assert torch.equal(out, fast.enhance(x, seeds=[1]))


# ---- tiling ------------------------------------------------------------------------------


def test_tile_positions_cover_and_align() -> None:
    assert tile_positions(96, 96, 32, 32) == [0]
    assert tile_positions(160, 64, 32, 32) == [0, 32, 64, 96]
    starts = tile_positions(1088, 512, 64, 32)
    assert starts[0] == 0 and starts[-1] + 512 == 1088 and all(s % 32 == 0 for s in starts)
    assert all(b - a <= 512 - 64 for a, b in zip(starts, starts[1:], strict=False))


def test_blend_window_is_one_on_frame_borders_and_smooth_inside() -> None:
    w = blend_window(64, 128, 0, 32, 96, 192, ramp=32)  # top on the frame border
    assert torch.equal(w[:32, 32:96], torch.ones(32, 64))  # plateau reaches the top edge
    assert torch.all(w[:, -1] < 0.01) and torch.all(w[-1, :] < 0.01)  # shared sides fade out
    assert torch.all(w[:, :32] < 1) and torch.all(w > 0)
    assert torch.all(w[0, 1:32] > w[0, :31])  # monotone ramp
    full = blend_window(96, 160, 0, 0, 96, 160, ramp=32)
    assert torch.equal(full, torch.ones(96, 160))


def test_tiled_blending_is_exact_for_a_local_operator() -> None:
    """With a pixel-local 'network' tiles must reproduce the full frame (bookkeeping check)."""
    enh = Enhancer(small_model(), device="cpu", tile=64, tile_overlap=32, tile_mode="blend")

    def local_run(x_m11: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        up = noise.repeat_interleave(4, dim=-2).repeat_interleave(4, dim=-1)
        return ((x_m11 + 1) / 2) ** 0.5 * 0.9 + 0.01 * up  # uses the noise crop too

    enh._run = local_run  # type: ignore[method-assign]
    x = torch.rand(2, 3, 90, 150, generator=torch.Generator().manual_seed(6))
    tiled = enh.enhance(x, seeds=[1, 2])
    enh.tile = None
    full = enh.enhance(x, seeds=[1, 2])
    assert (tiled - full).abs().max() < 1e-6


def test_single_tile_equals_full_frame_exactly(enhancer: Enhancer) -> None:
    x = smooth_image(50, 60, seed=7)
    tiled = Enhancer(enhancer.model, device="cpu", tile=64).enhance(x, seeds=[3])
    assert torch.equal(tiled, enhancer.enhance(x, seeds=[3]))


def test_tiled_network_output_close_to_full_frame_and_deterministic(enhancer: Enhancer) -> None:
    x = smooth_image(96, 160, seed=8)
    full = enhancer.enhance(x, seeds=[4])
    tiler = Enhancer(enhancer.model, device="cpu", tile=64, tile_overlap=32, tile_mode="blend")
    tiled = tiler.enhance(x, seeds=[4])
    assert torch.equal(tiled, tiler.enhance(x, seeds=[4]))
    # GroupNorm statistics and attention are per tile, so tiles cannot be exact; they must
    # still be close, and blending must not leave seams: no jump at tile borders larger
    # than the image's ordinary neighbour differences.
    assert psnr(tiled, full) > 20.0
    col_diff = (tiled[..., 1:] - tiled[..., :-1]).abs().mean(dim=(0, 1, 2))
    assert col_diff[[31, 63, 95, 127]].max() < 3 * col_diff.median() + 0.02


def test_auto_tiling_follows_the_memory_budget() -> None:
    cfg = DiffLLConfig.small()
    need = estimate_peak_bytes(cfg, 256, 384, 1, "math", 4)
    assert estimate_peak_bytes(cfg, 512, 768, 1, "math", 4) > 4 * need * 0.99
    roomy = Enhancer(small_model(), device="cpu", tile="auto", memory_budget=10 * need)
    assert roomy.choose_tile(1, 256, 384) is None
    # blend: the largest tile whose whole-network estimate fits
    tight = Enhancer(
        small_model(), device="cpu", tile="auto", memory_budget=need // 4, tile_mode="blend"
    )
    mode, tile = tight.choose_tile(1, 256, 384)
    assert mode == "blend" and tile % 32 == 0 and tile < 384
    assert estimate_peak_bytes(cfg, min(tile, 256), min(tile, 384), 1, "math", 4) <= need // 4
    # strips: the most rows whose estimate fits; when not even one strip fits, an error that
    # names the memory needed (blended tiles change the result, so only when asked for)
    budget = estimate_strips_peak_bytes(cfg, 256, 384, 96)
    mode, rows = Enhancer(
        small_model(), device="cpu", tile="auto", memory_budget=budget
    ).choose_tile(1, 256, 384)
    assert (mode, rows) == ("strips", 96)
    need = estimate_strips_peak_bytes(cfg, 256, 384, 32)
    with pytest.raises(FrameTooLargeError, match=rf"256x384 frame .* needs about {need / 2**30:.1f} GiB"):
        Enhancer(small_model(), device="cpu", tile="auto", memory_budget=1).choose_tile(1, 256, 384)
    starved = Enhancer(
        small_model(), device="cpu", tile="auto", memory_budget=1, tile_mode="blend"
    )
    assert starved.choose_tile(1, 256, 384)[0] == "blend"
    # and the tiled run works end to end on a small frame
    y = starved.enhance(smooth_image(40, 70), seeds=[0])
    assert y.shape == (1, 3, 40, 70)


def test_hfrm_strips_equal_one_call_and_need_the_halo() -> None:
    torch.manual_seed(0)
    hfrm = small_model().high_enhance0.eval()
    bands = torch.randn(3, 3, 70, 40)
    with torch.inference_mode():
        full = hfrm(bands)
        assert (hfrm_in_strips(hfrm, bands, rows=8) - full).abs().max() < 1e-5
        assert (hfrm_in_strips(hfrm, bands, rows=1) - full).abs().max() < 1e-5
        # the halo is what makes it exact: 13 rows of context are needed, 4 are not enough
        assert (hfrm_in_strips(hfrm, bands, rows=8, halo=4) - full).abs().max() > 1e-3


def test_strips_give_the_full_frame_result(enhancer: Enhancer) -> None:
    x = smooth_image(150, 90, seed=9)
    full = enhancer.enhance(x, seeds=[5])
    strips = Enhancer(enhancer.model, device="cpu", tile=32, tile_mode="strips")
    assert strips.choose_tile(1, 160, 96) == ("strips", 32)
    out = strips.enhance(x, seeds=[5])
    assert (out - full).abs().max() < 1e-4  # fused vs explicit attention: float rounding only
    assert enhancer.model.Unet.attention_backend == "math"  # restored after the strips run


def test_full_size_attention_is_what_forces_tiling() -> None:
    cfg = DiffLLConfig()
    big = estimate_peak_bytes(cfg, 2176, 3840, 1, "math", 4)
    fused = estimate_peak_bytes(cfg, 2176, 3840, 1, "sdpa", 4)
    positions = (2176 // 16) * (3840 // 16)
    assert big - fused == 8 * positions**2


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("DIFFLL_TEST_COMPILE") != "1",
    reason="torch.compile takes minutes on a cold cache; set DIFFLL_TEST_COMPILE=1 to run",
)
def test_compiled_path_is_deterministic_from_the_first_call() -> None:
    x = smooth_image(64, 64, seed=9)
    eager = Enhancer(small_model(), device="cpu", precision="bf16").enhance(x, seeds=[0])
    compiled = Enhancer(small_model(), device="cpu", precision="bf16", compile=True)
    first = compiled.enhance(x, seeds=[0])
    assert torch.equal(first, compiled.enhance(x, seeds=[0]))
    assert psnr(first, eager) > 40.0
