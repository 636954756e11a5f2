"""Batched DiffLL inference: an image's bytes do not depend on its batch, and the entry points
(``diffll enhance``, ``enhance --method diffll``) batch and resume without changing results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.profiler import profile

import diffll.inference as inference
from diffll.checkpoint import save_checkpoint
from diffll.cli import main as diffll_main
from diffll.config import DiffLLConfig
from diffll.inference import Enhancer, cpu_supports_bf16
from diffll.model import DiffLL
from diffll.unet import AttnBlock, GroupNorm
from enhancers.cli import main as enhance_main
from lldata.imageio import write_png


@pytest.fixture
def two_threads():
    """Two threads, as on a 2-core machine: the batch dependence of PyTorch's CPU kernels comes
    from how they split work between threads, and with one thread it does not show."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def tiny_config() -> DiffLLConfig:
    """Two UNet levels: its smallest convolution input passes PyTorch's native/oneDNN switch
    (``_NATIVE_CONV_MAX_VALUES``) already at 224 x 256, so the batched path is the one tested."""
    return DiffLLConfig(ch=32, ch_mult=(1, 2), num_res_blocks=1, attn_level=1, hfrm_width=16)


def tiny_model(seed: int = 0) -> DiffLL:
    torch.manual_seed(seed)
    model = DiffLL(tiny_config())
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def images(n: int, height: int, width: int, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [0.3 * torch.rand(3, height, width, generator=gen) for _ in range(n)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.usefixtures("two_threads")
def test_group_norm_of_a_channels_last_batch_is_per_image_exact(dtype: torch.dtype) -> None:
    """The stock CPU kernel splits a channels_last batch differently from one image
    (measured: 1.4e-5 in fp32, 1.6e-2 in bf16 at this size with two threads)."""
    torch.manual_seed(0)
    norm = GroupNorm(32, 32, eps=1e-6).to(dtype)
    x = torch.randn(4, 32, 144, 152).to(dtype).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        assert torch.equal(norm(x), torch.cat([norm(x[i : i + 1]) for i in range(4)]))


@pytest.mark.parametrize("backend", ["math", "sdpa"])
@pytest.mark.usefixtures("two_threads")
def test_attention_of_a_batch_is_per_image_exact(backend: str) -> None:
    """A batched matrix product over 1,368 positions picks other kernels than one image's."""
    torch.manual_seed(0)
    block = AttnBlock(64).eval()
    block.backend = backend
    x = torch.randn(4, 64, 36, 38)
    with torch.inference_mode():
        assert torch.equal(block(x), torch.cat([block(x[i : i + 1]) for i in range(4)]))


@pytest.mark.usefixtures("two_threads")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_batch_of_four_equals_four_single_images_bit_for_bit(precision: str) -> None:
    if precision == "bf16" and not cpu_supports_bf16():
        pytest.skip("this CPU has no fast bf16 kernels (oneDNN)")
    enhancer = Enhancer(tiny_model(), device="cpu", precision=precision, steps=2, tile=None)
    xs = images(4, 224, 256)
    assert not enhancer._batch_changes_kernels(224, 256)  # the real batched forward
    seeds = [3, 1, 4, 1]
    batched = enhancer.enhance_images(xs, seeds)
    for x, seed, out in zip(xs, seeds, batched, strict=True):
        alone = enhancer.enhance(x[None], seeds=[seed])[0]
        assert torch.equal(out, alone)


def test_images_of_one_padded_size_share_a_batch_and_keep_their_own_result() -> None:
    enhancer = Enhancer(tiny_model(), device="cpu", steps=2, tile=None)
    xs = [images(1, 200, 230, seed=1)[0], images(1, 210, 240, seed=2)[0]]  # both pad to 224x256
    assert enhancer.batch_key(200, 230) == enhancer.batch_key(210, 240) == (224, 256)
    outs = enhancer.enhance_images(xs, [7, 8])
    for x, seed, out in zip(xs, [7, 8], outs, strict=True):
        assert out.shape == x.shape
        assert torch.equal(out, enhancer.enhance(x[None], seeds=[seed])[0])
    with pytest.raises(ValueError, match="share a padded size"):
        enhancer.enhance_images([xs[0], images(1, 64, 64)[0]], [0, 0])


def test_small_frames_run_image_by_image_where_a_batch_would_switch_kernels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Below PyTorch's native/oneDNN switch a float32 batch rounds differently from a single
    image; the enhancer then runs the images one by one, and the bytes stay equal."""
    enhancer = Enhancer(tiny_model(), device="cpu", steps=2, tile=None)
    xs = images(3, 64, 96)
    assert enhancer._batch_changes_kernels(64, 96)
    alone = [enhancer.enhance(x[None], seeds=[s])[0] for x, s in zip(xs, [0, 1, 2], strict=True)]
    outs = enhancer.enhance_images(xs, [0, 1, 2])
    assert all(torch.equal(a, b) for a, b in zip(outs, alone, strict=True))
    # without the guard the batch does round differently: the guard is what keeps the bytes
    monkeypatch.setattr(inference, "_NATIVE_CONV_MAX_VALUES", -1)
    unguarded = enhancer.enhance_images(xs, [0, 1, 2])
    assert not all(torch.equal(a, b) for a, b in zip(unguarded, alone, strict=True))


def test_auto_batch_is_one_on_cpu_and_explicit_sizes_are_checked() -> None:
    enhancer = Enhancer(tiny_model(), device="cpu", tile=None)
    assert enhancer.max_batch(720, 1080) == 1
    assert enhancer.max_batch(720, 1080, 4) == 4
    with pytest.raises(ValueError, match="batch size"):
        enhancer.max_batch(720, 1080, 0)


def test_fused_attention_runs_the_flash_kernel_not_the_math_fallback() -> None:
    """Transposed q/k/v made scaled_dot_product_attention fall back to the unfused kernel on CPU,
    which materialises the score matrix (the 35 GB allocation at 6000 x 4000)."""
    unet = tiny_model().Unet
    unet.set_attention_backend("sdpa")
    x = torch.randn(1, 6, 64, 64)
    with torch.inference_mode(), profile() as prof:
        unet(x, torch.tensor([10.0]))
    names = {e.name for e in prof.events()}
    assert "aten::_scaled_dot_product_flash_attention_for_cpu" in names
    assert "aten::_scaled_dot_product_attention_math" not in names


# ---- command lines ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", tiny_model())


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("photos")
    for i in range(5):
        write_png(folder / f"f{i}.png", rng.integers(0, 50, (224, 240, 3), dtype=np.uint8))
    write_png(folder / "odd.png", rng.integers(0, 50, (40, 70, 3), dtype=np.uint8))
    return folder


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def test_diffll_enhance_batch_size_does_not_change_the_bytes(
    checkpoint: Path, photos: Path, tmp_path: Path
) -> None:
    outs = {}
    for batch in ("1", "4"):
        out = tmp_path / f"b{batch}"
        code = diffll_main(
            ["enhance", str(photos), "-o", str(out), "--checkpoint", str(checkpoint),
             "--steps", "2", "--device", "cpu", "--batch-size", batch]
        )
        assert code == 0
        outs[batch] = _bytes(out)
    assert len(outs["1"]) == 6
    assert outs["1"] == outs["4"]


def test_enhance_method_diffll_batches_and_matches_diffll_enhance(
    checkpoint: Path, photos: Path, tmp_path: Path
) -> None:
    ref = tmp_path / "ref"
    assert diffll_main(
        ["enhance", str(photos), "-o", str(ref), "--checkpoint", str(checkpoint),
         "--steps", "2", "--device", "cpu"]
    ) == 0
    out = tmp_path / "out"
    code = enhance_main(
        ["--method", "diffll", "--option", f"checkpoint={checkpoint}", "--option", "steps=2",
         "--device", "cpu", "--batch-size", "3", "--no-progress", "-o", str(out), str(photos)]
    )
    assert code == 0
    assert _bytes(out) == _bytes(ref)


def test_enhance_rejects_a_bad_batch_size(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        enhance_main(["--method", "raw", "--batch-size", "0", "-o", "x", "y"])
    assert exc.value.code == 2
    assert "positive integer or 'auto'" in capsys.readouterr().err


def test_manifest_journal_resumes_an_interrupted_shard(tmp_path: Path, photos: Path) -> None:
    """Finished images of a failed run are kept when they still verify; anything that changed
    (the output, the input, the options) is redone; the journal goes once the shard is done."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("f0.png", "f1.png", "f2.png"):
        (inputs / name).write_bytes((photos / name).read_bytes())
    (inputs / "f2.png").write_bytes(b"not a png")  # the run "dies" at f2
    out, manifest = tmp_path / "out", tmp_path / "shard.enhance.json"
    args = ["--method", "gamma", "--no-progress", "--manifest", str(manifest), "-o", str(out),
            str(inputs)]
    assert enhance_main(args) == 1
    journal = Path(f"{manifest}.journal")
    assert not manifest.exists() and journal.is_file()
    assert len(journal.read_text().splitlines()) == 2
    kept = (out / "f0.png").stat().st_mtime_ns
    (out / "f1.png").write_bytes(b"tampered")  # an output that no longer verifies
    (inputs / "f2.png").write_bytes((photos / "f2.png").read_bytes())
    assert enhance_main(args) == 0
    assert (out / "f0.png").stat().st_mtime_ns == kept  # skipped, not rewritten
    assert (out / "f1.png").read_bytes() != b"tampered"
    assert manifest.is_file() and not journal.exists()
    assert len(json.loads(manifest.read_text())["files"]) == 3
    fresh = tmp_path / "fresh"
    assert enhance_main(["--method", "gamma", "--no-progress", "-o", str(fresh), str(inputs)]) == 0
    assert _bytes(fresh) == _bytes(out)


def test_journal_entries_of_other_options_are_not_trusted(tmp_path: Path, photos: Path) -> None:
    from enhancers.folder import Journal, enhance_folder, method_fingerprint
    from enhancers.registry import create_method

    out = tmp_path / "out"
    first = create_method("gamma", device="cpu", gamma=0.5)
    journal = Journal(tmp_path / "j", method_fingerprint(first))
    enhance_folder(first, [photos / "f0.png"], out, progress=False, journal=journal)
    other = create_method("gamma", device="cpu", gamma=0.6)
    again = Journal(tmp_path / "j", method_fingerprint(other))
    result = enhance_folder(other, [photos / "f0.png"], out, progress=False, journal=again)
    assert result.resumed == [] and len(result.written) == 1


def test_a_frame_too_large_for_memory_is_reported_and_the_run_goes_on(
    checkpoint: Path, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With a 1-byte budget no frame fits even in strips: each is named with the memory it
    needs, the command exits 1, and nothing crashes."""
    monkeypatch.setattr(inference, "_memory_budget", lambda device: 1)
    code = diffll_main(["enhance", str(photos / "f0.png"), str(photos / "f1.png"), "-o",
                        str(tmp_path / "o"), "--checkpoint", str(checkpoint), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1
    assert "f0.png: enhancement failed" in err and "f1.png: enhancement failed" in err
    assert "needs about" in err and "memory budget" in err
