"""The common interface: input kinds, sizes, options, metadata, and the DiffLL adapter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED_DIR

import enhancers
from enhancers.base import MethodInfo

WEIGHTS = SHARED_DIR / "weights"
CLASSICAL = ["raw", "he", "clahe", "gamma", "gamma_auto", "lime", "msrcr"]
LEARNED = [
    "zero_dce",
    "zero_dce_pp",
    "sci_easy",
    "sci_medium",
    "sci_difficult",
    "ruas_lol",
    "ruas_upe",
    "ruas_dark",
    "uretinex",
]

# Parameter counts of the networks as run, from ../shared/reference/competitors/README.md.
README_PARAMETERS = {
    "zero_dce": 79_416,
    "zero_dce_pp": 10_561,
    "ruas_lol": 1_161 + 2_277,  # enhance_net + denoise_net (lol saves the denoised image)
    "ruas_dark": 1_161,
    "ruas_upe": 1_161,
    "uretinex": 20_548 + 188_099 + 77_761 + 53_697,
}


def make(name: str, **options) -> enhancers.Method:
    if name in LEARNED and not WEIGHTS.is_dir():
        pytest.skip(f"needs {WEIGHTS} (the project's ../shared folder is absent here)")
    return enhancers.create_method(name, device="cpu", weights_dir=WEIGHTS, **options)


def dark_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 10 + 25 * (np.sin(xx / 5.0) * np.cos(yy / 7.0) + 1)
    img = base[..., None] * np.array([1.0, 0.8, 0.6]) + rng.normal(0, 2, (h, w, 3))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def diffll_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised small DiffLL saved in the project's checkpoint format."""
    diffll = pytest.importorskip("diffll")
    from diffll.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = diffll.DiffLL(diffll.DiffLLConfig.small()).eval()
    return save_checkpoint(tmp_path_factory.mktemp("diffll_ckpt"), model)


def test_list_methods_and_metadata() -> None:
    names = enhancers.list_methods()
    assert names[: len(CLASSICAL)] == CLASSICAL
    assert set(LEARNED) <= set(names) and names[-1] == "diffll"
    for name in names:
        info = enhancers.method_info(name)
        assert isinstance(info, MethodInfo) and info.name == name
        assert info.family in ("classical", "learned", "identity", "diffusion")
        assert info.description
    assert enhancers.method_info("raw").family == "identity"
    assert enhancers.method_info("diffll").family == "diffusion"
    for name, count in README_PARAMETERS.items():
        assert enhancers.method_info(name).parameters == count, name


@pytest.mark.parametrize("name", CLASSICAL + LEARNED)
def test_odd_size_in_same_size_out(name: str) -> None:
    img = dark_image(37, 53)
    out = make(name).enhance(img)
    assert out.shape == (37, 53, 3) and out.dtype == np.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_zero_dce_pp_scale_12_keeps_odd_and_tiny_sizes() -> None:
    m = make("zero_dce_pp", scale_factor=12)
    for h, w in [(37, 53), (5, 7), (1, 1), (12, 24)]:
        assert m.enhance(dark_image(h, w)).shape == (h, w, 3)


@pytest.mark.parametrize("name", ["raw", "gamma", "clahe", "zero_dce", "ruas_lol"])
def test_uint8_float_and_tensor_inputs_agree(name: str) -> None:
    m = make(name)
    a, b = dark_image(20, 30, 1), dark_image(20, 30, 2)
    from_u8 = m.enhance(a)
    from_float = m.enhance(a.astype(np.float64) / 255.0)
    np.testing.assert_allclose(from_u8, from_float, atol=1e-6)
    batch = torch.from_numpy(np.stack([a, b]).transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
    out = m.enhance(batch)
    assert isinstance(out, torch.Tensor) and out.shape == batch.shape and out.dtype == batch.dtype
    np.testing.assert_allclose(out[0].numpy().transpose(1, 2, 0), from_u8, atol=1e-5)
    np.testing.assert_allclose(out[1].numpy().transpose(1, 2, 0), m.enhance(b), atol=1e-5)


def test_raw_returns_the_input() -> None:
    img = dark_image(9, 11)
    np.testing.assert_array_equal(make("raw").enhance(img), img.astype(np.float32) / 255)


def test_bad_inputs_raise_clear_errors() -> None:
    m = make("gamma")
    with pytest.raises(ValueError, match="H x W x 3"):
        m.enhance(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        m.enhance(np.full((4, 4, 3), 200.0))
    with pytest.raises(ValueError, match="NaN"):
        m.enhance(np.full((4, 4, 3), np.nan))
    with pytest.raises(TypeError, match="dtype"):
        m.enhance(np.zeros((4, 4, 3), np.int32))
    with pytest.raises(ValueError, match="B x 3 x H x W"):
        m.enhance(torch.zeros(3, 4, 4))
    with pytest.raises(TypeError, match="float"):
        m.enhance(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))


def test_unknown_method_and_option_errors() -> None:
    with pytest.raises(ValueError, match="unknown method 'nope'.*zero_dce"):
        enhancers.create_method("nope")
    with pytest.raises(ValueError, match="unknown option.*clip.*clip_limit"):
        enhancers.create_method("clahe", clip=3)
    with pytest.raises(ValueError, match="variant"):
        enhancers.create_method("ruas_lol", variant="other")
    assert enhancers.method_options("clahe") == {"clip_limit": 2.0, "tile": 8}
    assert "variant" not in enhancers.method_options("sci_easy")


def test_ruas_denoise_option_follows_the_authors_by_default() -> None:
    assert make("ruas_lol").info.options["denoise"] is True
    assert make("ruas_dark").info.options["denoise"] is False
    img = dark_image(16, 16)
    assert not np.allclose(
        make("ruas_dark", denoise=True).enhance(img), make("ruas_dark").enhance(img)
    )


def test_devices() -> None:
    # a numpy method runs on the CPU: "auto" means "cpu" for it (decided without torch)
    assert str(make("gamma").device) == "cpu"
    assert str(enhancers.create_method("gamma", device="auto").device) == "cpu"
    # a network's device: "auto" picks CUDA when present (resolve_device, which learned methods use)
    from enhancers.base import resolve_device

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            enhancers.create_method("gamma", device="cuda")


def test_exact_fp32_disables_tf32_and_restores_the_flags() -> None:
    from enhancers.base import exact_fp32

    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    if not hasattr(cudnn, "conv"):
        pytest.skip("this torch has no per-backend fp32_precision settings")
    state = lambda: (  # noqa: E731
        cudnn.conv.fp32_precision,
        cudnn.rnn.fp32_precision,
        matmul.fp32_precision,
        cudnn.deterministic,
        cudnn.benchmark,
    )
    before = state()
    with exact_fp32(torch.device("cuda")):  # only flags: works without a GPU
        assert state()[:4] == ("ieee", "ieee", "ieee", True)
    assert state() == before
    with exact_fp32(torch.device("cpu")):
        assert state() == before


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["lime", "zero_dce", "uretinex"])
def test_cuda_matches_cpu(name: str) -> None:
    img = dark_image(37, 53)
    cpu = make(name).enhance(img)
    gpu = enhancers.create_method(name, device="cuda", weights_dir=WEIGHTS)
    np.testing.assert_allclose(gpu.enhance(img), cpu, atol=1e-4)


# ---- DiffLL adapter -----------------------------------------------------------------------


def test_diffll_with_a_missing_checkpoint_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """(No checkpoint at all means the shipped model: tests/test_diffll_shipped.py.)"""
    monkeypatch.setenv("DIFFLL_CHECKPOINT", "/env_not_here/model")
    with pytest.raises(FileNotFoundError, match="env_not_here"):
        enhancers.create_method("diffll")
    monkeypatch.delenv("DIFFLL_CHECKPOINT")
    with pytest.raises(FileNotFoundError, match="not_here"):
        enhancers.create_method("diffll", checkpoint="/not_here/model")


def test_diffll_adapter_sizes_seeds_and_cli_equivalence(
    diffll_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import diffll
    from diffll.cli import image_seed

    monkeypatch.setenv("DIFFLL_CHECKPOINT", str(diffll_checkpoint))
    m = enhancers.create_method("diffll", device="cpu", steps=2, seed=5)
    assert m.info.family == "diffusion" and m.info.parameters and m.info.deterministic
    img = dark_image(37, 53)
    a = m.enhance(img, name="a.png")
    assert a.shape == (37, 53, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a, m.enhance(img, name="a.png"))  # same name, same bytes
    assert not np.array_equal(a, m.enhance(img, name="b.png"))  # per-image seeds differ
    # identical to the diffll package called with the diffll CLI's per-image seed
    ref = diffll.load(diffll_checkpoint, device="cpu", steps=2)
    x = torch.from_numpy(img.transpose(2, 0, 1)[None].astype(np.float32) / 255)
    want = ref.enhance(x, seeds=[image_seed(5, "a.png")])[0].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(a, np.clip(want, 0, 1), atol=1e-6)
    # an explicit generator overrides the name-derived seed
    g1 = m.enhance(img, generator=torch.Generator().manual_seed(1))
    g2 = m.enhance(img, generator=torch.Generator().manual_seed(1))
    np.testing.assert_array_equal(g1, g2)
