"""The fused kernels of DiffLL's CPU bf16 path (diffll/fused.py): each equals the operations it
replaces, keeps an image's bytes independent of its batch, and the fp32 path never uses them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from diffll.config import DiffLLConfig
from diffll.fused import (
    SMALL_NORM_POSITIONS,
    chunked_attention,
    group_norm_swish,
    subpixel_weights,
    upsample_conv,
)
from diffll.hfrm import HFRM
from diffll.inference import Enhancer, cpu_supports_bf16
from diffll.model import DiffLL
from diffll.unet import AttnBlock, GroupNorm, ResnetBlock, UNet, Upsample, swish

CL = torch.channels_last
needs_bf16 = pytest.mark.skipif(not cpu_supports_bf16(), reason="no oneDNN bf16 on this CPU")


def perturbed(module: torch.nn.Module, seed: int = 0, scale: float = 0.05) -> torch.nn.Module:
    """Every parameter moved off its initial value (zero-initialised layers would hide bugs)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn_like(p))
    return module.eval()


@pytest.mark.parametrize("size", [(13, 19), (40, 44)])  # below / above SMALL_NORM_POSITIONS
@pytest.mark.parametrize("layout", ["channels_last", "contiguous"])
def test_group_norm_swish_equals_norm_then_swish(size: tuple[int, int], layout: str) -> None:
    assert 13 * 19 < SMALL_NORM_POSITIONS < 40 * 44  # both branches of the layout rule
    norm = perturbed(GroupNorm(32, 64, eps=1e-6))
    x = torch.randn(1, 64, *size)
    if layout == "channels_last":
        x = x.contiguous(memory_format=CL)
    with torch.inference_mode():
        out = group_norm_swish(norm, x)
        ref = swish(norm(x))
        assert torch.allclose(out, ref, atol=2e-6, rtol=1e-5)
        assert torch.allclose(group_norm_swish(norm, x, swish=False), norm(x), atol=2e-6, rtol=1e-5)
    assert out.is_contiguous(memory_format=CL if layout == "channels_last" else torch.contiguous_format)


@needs_bf16
@pytest.mark.parametrize("size", [(13, 19), (40, 44)])
def test_group_norm_swish_bytes_do_not_depend_on_the_batch(size: tuple[int, int]) -> None:
    norm = perturbed(GroupNorm(32, 64, eps=1e-6)).to(torch.bfloat16)
    x = torch.randn(3, 64, *size).to(torch.bfloat16).contiguous(memory_format=CL)
    with torch.inference_mode():
        batched = group_norm_swish(norm, x)
        for i in range(3):
            assert torch.equal(batched[i : i + 1], group_norm_swish(norm, x[i : i + 1]))


def math_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return AttnBlock._attend_math(q, k, v)


@pytest.mark.parametrize("chunk", [16, 512])  # 63 positions: blocks of 16 leave a remainder
def test_chunked_attention_equals_the_authors_attention(chunk: int) -> None:
    torch.manual_seed(1)
    q, k, v = (torch.randn(1, 32, 7, 9).contiguous(memory_format=CL) for _ in range(3))
    out = chunked_attention(q, k, v, chunk=chunk)
    assert torch.allclose(out, math_attention(q, k, v), atol=1e-5, rtol=1e-5)
    assert out.is_contiguous(memory_format=CL)
    contiguous = chunked_attention(q.contiguous(), k.contiguous(), v.contiguous(), chunk=chunk)
    assert torch.allclose(contiguous, out, atol=1e-6)
    with pytest.raises(ValueError, match="one image at a time"):
        chunked_attention(q.expand(2, -1, -1, -1), k, v)


@pytest.mark.parametrize("bias", [True, False])
def test_subpixel_upsample_equals_nearest_upsampling_then_conv(bias: bool) -> None:
    conv = perturbed(torch.nn.Conv2d(8, 12, 3, padding=1, bias=bias))
    x = torch.randn(2, 8, 5, 7)
    weight, b = subpixel_weights(conv)
    assert weight.shape == (48, 8, 2, 2) and (b is None) == (not bias)
    with torch.inference_mode():
        out = upsample_conv(x, weight, b)
        ref = conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
    assert out.shape == ref.shape == (2, 12, 10, 14)
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-5)
    assert out.is_contiguous(memory_format=CL)
    with pytest.raises(ValueError, match="3x3"):
        subpixel_weights(torch.nn.Conv2d(8, 8, 1))


def test_upsample_set_fused_keeps_the_state_dict_and_follows_dtype_casts() -> None:
    up = perturbed(Upsample(8))
    keys = set(up.state_dict())
    up.set_fused(True)
    assert set(up.state_dict()) == keys  # derived weights are not saved with the model
    up.to(torch.float64)
    assert up.subpixel_weight.dtype == torch.float64
    up.set_fused(False)
    assert not hasattr(up, "subpixel_weight")


@pytest.mark.parametrize("shared_timestep", [True, False])
@pytest.mark.parametrize("channels", [(32, 32), (32, 64)])  # with and without nin_shortcut
def test_fused_resnet_block_equals_the_authors_block(
    shared_timestep: bool, channels: tuple[int, int]
) -> None:
    block = perturbed(ResnetBlock(*channels, temb_channels=16, dropout=0.0))
    x = torch.randn(2, channels[0], 12, 10).contiguous(memory_format=CL)
    temb = torch.randn(1 if shared_timestep else 2, 16)
    with torch.inference_mode():
        ref = block(x, temb)
        block.fused = True
        out = block(x, temb)
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-4)


def small_unet_config() -> DiffLLConfig:
    return DiffLLConfig(ch=32, ch_mult=(1, 2, 2), num_res_blocks=1, attn_level=1, hfrm_width=16)


def test_fused_unet_with_chunked_attention_equals_the_authors_unet() -> None:
    unet = perturbed(UNet(small_unet_config()), scale=0.02)
    x = torch.randn(1, 6, 32, 40)
    t = torch.tensor([20.0])
    with torch.inference_mode():
        ref = unet(x, t)
        unet.set_fused(True)
        unet.set_attention_backend("chunked")
        assert unet.fused and unet.attention_backend == "chunked"
        out = unet(x.contiguous(memory_format=CL), t)
    assert torch.allclose(out, ref, atol=1e-4, rtol=1e-4)


def test_fused_hfrm_equals_the_authors_hfrm() -> None:
    hfrm = perturbed(HFRM(3, 16, 4)).to(memory_format=CL)
    x = torch.randn(6, 3, 16, 20)
    with torch.inference_mode():
        ref = hfrm(x)
        hfrm.set_fused(True)
        out = hfrm(x)
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-4)


def tiny_model() -> DiffLL:
    return perturbed(DiffLL(small_unet_config()), scale=0.02)


def test_fused_is_for_cpu_bf16_only_and_fp32_keeps_the_authors_path() -> None:
    fp32 = Enhancer(tiny_model(), device="cpu", precision="fp32", tile=None, fused=True)
    assert not fp32.fused and not fp32.model.Unet.fused
    assert fp32.model.Unet.attention_backend == "math"
    assert not any(getattr(m, "fused", False) for m in fp32.model.modules())


@needs_bf16
def test_fused_bf16_path_matches_fp32_and_the_unfused_bf16_path() -> None:
    gen = torch.Generator().manual_seed(2)
    x = F.avg_pool2d(0.4 * torch.rand(1, 3, 96, 128, generator=gen), 5, 1, 2)
    ref = Enhancer(tiny_model(), device="cpu", precision="fp32", tile=None, steps=3)
    fused = Enhancer(tiny_model(), device="cpu", precision="bf16", tile=None, steps=3)
    unfused = Enhancer(tiny_model(), device="cpu", precision="bf16", tile=None, steps=3, fused=False)
    assert fused.fused and not unfused.fused
    assert fused.model.Unet.attention_backend == "chunked"
    out = fused.enhance(x, seeds=[4])
    expected = ref.enhance(x, seeds=[4])

    def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(10 * torch.log10(1 / torch.mean((a - b) ** 2)))

    assert psnr(out, expected) > 45.0
    assert psnr(out, unfused.enhance(x, seeds=[4])) > 45.0
    assert torch.equal(out, fused.enhance(x, seeds=[4]))


def test_the_memory_estimate_counts_one_block_of_chunked_scores() -> None:
    """diffll.tiling: blocked attention stores one block of query rows' scores and softmax,
    between the fused kernel (none) and the explicit matrix (all of them, float32)."""
    from diffll.config import DiffLLConfig
    from diffll.fused import ATTENTION_CHUNK
    from diffll.tiling import attention_positions, estimate_peak_bytes

    config = DiffLLConfig()
    height, width = 4000, 6000
    positions = attention_positions(config, height, width)
    sdpa = estimate_peak_bytes(config, height, width, 1, "sdpa", 2)
    chunked = estimate_peak_bytes(config, height, width, 1, "chunked", 2)
    math = estimate_peak_bytes(config, height, width, 1, "math", 2)
    assert chunked - sdpa == 2 * 2 * ATTENTION_CHUNK * positions
    assert sdpa < chunked < math


def test_the_diffll_method_records_and_applies_its_fused_option() -> None:
    """The method option reaches the Enhancer and the options record (so results say which
    bf16 path made them); fp32 never runs the fused kernels whatever the option."""
    from diffll.inference import cpu_supports_bf16
    from enhancers.registry import create_method

    if not cpu_supports_bf16():
        pytest.skip("this CPU has no fast bf16 kernels: bf16 falls back to fp32")
    unfused = create_method("diffll", device="cpu", precision="bf16", steps=1, fused=False)
    assert unfused.info.options["fused"] is False and not unfused.model.fused
    fused = create_method("diffll", device="cpu", precision="bf16", steps=1)
    assert fused.info.options["fused"] is True and fused.model.fused
    assert not create_method("diffll", device="cpu", steps=1, fused=True).model.fused  # fp32
