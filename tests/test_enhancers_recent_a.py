"""PairLIE, Self-DACE stage I and ZERO-IG reproduce the authors' code (issue 26).

Reference vectors (../shared/reference/competitors/{pairlie,selfdace,zeroig}/) were made with the
authors' own code and released weights on two real 96x128 crops: the input, the unclipped float
output, intermediates and the 8-bit file the authors' script saves. Floats are held to 1e-5
(the specs' acceptance threshold; the issue asks 1e-4); the 8-bit files must be the authors'
(PairLIE, ZERO-IG truncate; Self-DACE rounds).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import shared_path

import enhancers
from enhancers.folder import enhance_folder
from enhancers.nets.pairlie import PairLIE
from enhancers.nets.selfdace import SelfDACEStage1
from enhancers.nets.zeroig import ZeroIG, check_shared_block
from enhancers.weights import WeightsError, load_checkpoint, manifest
from lldata.imageio import float_to_uint8, quantise, read_rgb, write_png
from lowlight_common.options import OptionError

ATOL = 1e-5
CASES = ("darkface252", "dicm01")


def reference(folder: str, case: str) -> dict[str, np.ndarray]:
    path = shared_path("reference", "competitors", folder, f"{case}.npz")
    with np.load(path, allow_pickle=False) as data:
        return {k[: -len(case) - 1]: data[k] for k in data.files}


def as_uint8(batch: np.ndarray) -> np.ndarray:
    """The stored ``1 x 3 x H x W`` input as the ``H x W x 3`` uint8 image it was made from."""
    img = batch[0].transpose(1, 2, 0)
    u8 = np.round(img * 255).astype(np.uint8)
    assert np.array_equal(u8.astype(np.float32) / np.float32(255), img)
    return u8


def assert_close(got: torch.Tensor | np.ndarray, want: np.ndarray, what: str) -> None:
    got_np = got.detach().cpu().numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
    assert got_np.shape == want.shape, f"{what}: shape {got_np.shape} != {want.shape}"
    err = float(np.abs(got_np - want).max())
    assert err <= ATOL, f"{what}: max abs error {err:.3g} > {ATOL}"


def _pairlie(exponent: float):
    def build(w: Path) -> PairLIE:
        net = PairLIE(exponent=exponent)
        net.load_state_dict(load_checkpoint("pairlie/PairLIE.pth", w))
        return net

    return build


def _selfdace(w: Path) -> SelfDACEStage1:
    net = SelfDACEStage1()
    net.load_state_dict(load_checkpoint("selfdace/pre_train_1.pth", w))
    return net


def _zeroig(w: Path) -> ZeroIG:
    net = ZeroIG()
    net.load_state_dict(check_shared_block(load_checkpoint("zeroig/LOL.pt", w)))
    return net


# id, reference folder, network builder, {traced key: reference array name}
NETWORKS = [
    ("pairlie", "pairlie", _pairlie(0.2), {"output": "output", "X": "X", "L": "L", "R": "R"}),
    ("pairlie_exp014", "pairlie", _pairlie(0.14), {"output": "output_exp014"}),
    (
        "selfdace_stage1",
        "selfdace",
        _selfdace,
        {"output": "output", "alpha": "alpha", "beta": "beta"},
    ),
    (
        "zero_ig_LOL",
        "zeroig",
        _zeroig,
        {"output": "output", "enhance": "enhance", "L2": "L2", "s2": "s2"},
    ),
]


@pytest.mark.shared
@pytest.mark.parametrize(
    ("label", "folder", "build", "keys"), NETWORKS, ids=[n[0] for n in NETWORKS]
)
def test_network_matches_the_authors_unclipped_outputs(label, folder, build, keys) -> None:
    net = build(shared_path("weights")).eval()
    for case in CASES:
        ref = reference(folder, case)
        with torch.no_grad():
            trace = net.trace(torch.from_numpy(ref["input"]))
        for key, ref_key in keys.items():
            assert_close(trace[key], ref[ref_key], f"{label} {key} {case}")


# method, options, reference folder, output array, how many 8-bit values may differ by one level
METHODS = [
    ("pairlie", {}, "pairlie", "output", 0),
    ("selfdace_stage1", {}, "selfdace", "output", 0),
    # zeroig.md: 1 vs 2 threads moved one pixel across a truncation boundary; identical here
    ("zero_ig", {}, "zeroig", "output", 3),
]


@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "options", "folder", "key", "slack"), METHODS, ids=[m[0] for m in METHODS]
)
def test_method_gives_the_authors_float_output_and_8_bit_file(
    name, options, folder, key, slack
) -> None:
    m = enhancers.create_method(name, device="cpu", weights_dir=shared_path("weights"), **options)
    for case in CASES:
        ref = reference(folder, case)
        out = m.enhance(as_uint8(ref["input"]))
        # enhance clips to [0, 1]; of the three only Self-DACE's unclipped output exceeds it
        want = np.clip(ref[key][0].transpose(1, 2, 0), 0, 1)
        assert_close(out, want, f"{name} {case}")
        diff = np.abs(m.to_uint8(out).astype(int) - ref["saved"].astype(int))
        assert diff.max() <= 1 and int((diff > 0).sum()) <= slack, (
            f"{name} {case}: {int((diff > 0).sum())} values differ from the authors' file (max {diff.max()})"
        )
        # the tensor path agrees with the numpy path
        batch = m.enhance(torch.from_numpy(ref["input"]))
        np.testing.assert_allclose(batch[0].numpy().transpose(1, 2, 0), out, atol=1e-6)


@pytest.mark.shared
def test_pairlie_exponent_option_gives_the_authors_lol_setting() -> None:
    m = enhancers.create_method(
        "pairlie", device="cpu", weights_dir=shared_path("weights"), exponent=0.14
    )
    assert m.info.options == {"exponent": 0.14, "quantise": "truncate"}
    for case in CASES:
        ref = reference("pairlie", case)
        assert_close(
            m.enhance(as_uint8(ref["input"])), ref["output_exp014"][0].transpose(1, 2, 0), case
        )


# Per-channel sums (float64) of H3 from the authors' model.py (commit 5af4b8a, Finetunemodel,
# CPU, 1 thread) with the two LSRW files on the reference inputs; no reference arrays exist for
# them in ../shared. Our full arrays and truncated files matched theirs exactly when generated.
LSRW_SUMS = {
    ("LSRW-Huawei", "darkface252"): (7481.891625016928, 6116.399501428008, 5518.149102143943),
    ("LSRW-Huawei", "dicm01"): (9531.039573170245, 7986.389255829155, 4339.891622367642),
    ("LSRW-Nikon", "darkface252"): (5611.283159464598, 4630.327800687868, 4475.123608961701),
    ("LSRW-Nikon", "dicm01"): (8213.423790215507, 6713.681227967405, 3193.440767161199),
}


@pytest.mark.shared
@pytest.mark.parametrize("model", ["LSRW-Huawei", "LSRW-Nikon"])
def test_zero_ig_lsrw_models_match_the_authors_code(model: str) -> None:
    m = enhancers.create_method(
        "zero_ig", device="cpu", weights_dir=shared_path("weights"), model=model
    )
    assert m.info.weights_files == (f"zeroig/{model}.pt",) and model in m.info.description
    for case in CASES:
        out = m.enhance(torch.from_numpy(reference("zeroig", case)["input"]))
        sums = out.double().sum(dim=(0, 2, 3)).tolist()
        # 12,288 pixels per channel, each within 1e-5 at most: the sum within 0.01 is far tighter
        np.testing.assert_allclose(
            sums, LSRW_SUMS[(model, case)], atol=1e-2, err_msg=f"{model} {case}"
        )


@pytest.mark.shared
def test_enhance_folder_writes_the_authors_8_bit_file(tmp_path: Path) -> None:
    """The workflow's file (``enhance`` -> :func:`enhance_folder`) is the authors' file: truncated
    for PairLIE and ZERO-IG, save_image's rounding for Self-DACE, unless ``quantise="round"``
    asks for the project's rule."""
    weights = shared_path("weights")
    cases = [
        ("pairlie", "pairlie", ("truncate", "round")),
        ("zero_ig", "zeroig", ("truncate", "round")),
        ("selfdace_stage1", "selfdace", ("save_image",)),
    ]
    for name, folder, rules in cases:
        ref = reference(folder, "darkface252")
        src = tmp_path / "in" / "crop.png"
        write_png(src, as_uint8(ref["input"]))
        for rule in rules:
            m = enhancers.create_method(name, device="cpu", weights_dir=weights, quantise=rule)
            out_dir = tmp_path / f"{name}_{rule}"
            assert enhance_folder(m, [src], out_dir, progress=False).ok
            written = read_rgb(out_dir / "crop.png")
            if rule != "round":
                np.testing.assert_array_equal(written, ref["saved"], err_msg=f"{name} {rule}")
            else:
                expected = float_to_uint8(ref["output"][0].transpose(1, 2, 0))
                np.testing.assert_array_equal(written, expected)
                assert (written != ref["saved"]).mean() > 0.25  # rounding moves many values


def test_truncation_is_the_authors_float32_rule() -> None:
    """Same bytes as ``tensor.mul(255).byte()`` (PairLIE's ToPILImage) and
    ``np.clip(a * 255.0, 0, 255).astype('uint8')`` (ZERO-IG) on float32 values."""
    rng = np.random.default_rng(0)
    x = rng.random((64, 64, 3), dtype=np.float32)
    x[0, :3, 0] = [0.0, 1.0, np.float32(254 / 255)]
    ours = quantise(x, "truncate")
    np.testing.assert_array_equal(ours, torch.from_numpy(x).mul(255).byte().numpy())
    np.testing.assert_array_equal(ours, np.clip(x * 255.0, 0, 255.0).astype("uint8"))
    assert ours[0, :3, 0].tolist() == [0, 255, 254]
    assert (ours != float_to_uint8(x)).mean() > 0.25


@pytest.mark.parametrize(
    ("name", "options", "key"),
    [
        ("pairlie", {}, "pairlie/PairLIE.pth"),
        ("selfdace_stage1", {}, "selfdace/pre_train_1.pth"),
        ("zero_ig", {}, "zeroig/LOL.pt"),
        ("zero_ig", {"model": "LSRW-Nikon"}, "zeroig/LSRW-Nikon.pt"),
    ],
)
def test_missing_weights_error_names_file_url_and_sha256(
    tmp_path: Path, name, options, key
) -> None:
    entry = manifest()[key]
    with pytest.raises(WeightsError) as err:
        enhancers.create_method(name, device="cpu", weights_dir=tmp_path, **options)
    msg = str(err.value)
    assert key in msg and str(tmp_path / key) in msg and "not found" in msg
    assert entry.url in msg and entry.sha256 in msg


def test_metadata_and_options() -> None:
    dace = enhancers.method_info("selfdace_stage1")
    assert "stage I only" in dace.description and dace.weights_licence == "MIT"
    full = sum(p.numel() for p in SelfDACEStage1().parameters())
    assert dace.parameters == full - (32 * 3 * 9 + 3)  # e_conv1_b never runs
    assert enhancers.method_options("pairlie") == {"exponent": 0.2, "quantise": "truncate"}
    assert enhancers.method_options("zero_ig") == {"model": "LOL", "quantise": "truncate"}
    assert enhancers.method_options("selfdace_stage1") == {"quantise": "save_image"}
    for name in ("pairlie", "selfdace_stage1", "zero_ig"):
        info = enhancers.method_info(name)
        assert info.family == "learned" and info.name == name
        assert any(venue in info.paper for venue in ("CVPR 2023", "arXiv", "CVPR 2024")), info.paper
    assert (
        "not the paper's per-image zero-shot training"
        in enhancers.method_info("zero_ig").description
    )


def test_bad_options_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match="zero_ig: model must be one of LOL, LSRW-Huawei, LSRW-Nikon"
    ):
        enhancers.create_method("zero_ig", device="cpu", weights_dir=tmp_path, model="SICE")
    with pytest.raises(ValueError, match="pairlie: exponent must be > 0"):
        enhancers.create_method("pairlie", device="cpu", weights_dir=tmp_path, exponent=0.0)
    with pytest.raises(OptionError, match="quantise"):
        enhancers.create_method("pairlie", device="cpu", weights_dir=tmp_path, quantise="floor")
    # each method offers its authors' rule and the project's, not another method's
    with pytest.raises(OptionError, match="quantise"):
        enhancers.create_method(
            "selfdace_stage1", device="cpu", weights_dir=tmp_path, quantise="truncate"
        )


@pytest.mark.shared
@pytest.mark.parametrize("name", ["pairlie", "selfdace_stage1", "zero_ig"])
def test_odd_and_tiny_sizes(name: str) -> None:
    m = enhancers.create_method(name, device="cpu", weights_dir=shared_path("weights"))
    rng = np.random.default_rng(0)
    for h, w in [(37, 53), (2, 3)]:
        out = m.enhance(rng.integers(0, 60, (h, w, 3), dtype=np.uint8))
        assert out.shape == (h, w, 3) and out.dtype == np.float32
    tiny = np.zeros((1, 5, 3), np.uint8)
    # reflection padding needs 2 pixels: a clear error (the authors' code fails as well)
    if name == "pairlie":
        with pytest.raises(
            ValueError, match=r"pairlie: needs images of at least 2x2 pixels .* got 5x1"
        ):
            m.enhance(tiny)
    else:
        assert m.enhance(tiny).shape == (1, 5, 3)


def test_zero_ig_rejects_files_whose_shared_block_copies_differ() -> None:
    state = ZeroIG().state_dict()
    check_shared_block(dict(state))  # identical copies pass
    state["enhance.blocks.2.1.running_mean"] = state["enhance.conv.1.running_mean"] + 1
    with pytest.raises(ValueError, match=r"enhance\.blocks\.2\.1\.running_mean differs"):
        check_shared_block(state)


@pytest.mark.shared
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(
    ("name", "options", "folder", "key", "slack"), METHODS, ids=[m[0] for m in METHODS]
)
def test_method_matches_the_reference_on_cuda(name, options, folder, key, slack) -> None:
    m = enhancers.create_method(name, device="cuda", weights_dir=shared_path("weights"), **options)
    for case in CASES:
        ref = reference(folder, case)
        out = m.enhance(torch.from_numpy(ref["input"]).cuda())
        assert out.device.type == "cuda"
        err = float(np.abs(out.cpu().numpy() - np.clip(ref[key], 0, 1)).max())
        assert err <= 1e-4, f"{name} cuda {case}: max abs error {err:.3g}"
