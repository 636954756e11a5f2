"""CLIP-LIT, IAT and CoLIE reproduce their authors' code (issue 26).

CLIP-LIT and IAT: reference vectors in ../shared/reference/competitors/{clip_lit,iat}/ made with
the authors' code and released weights on two real crops (spec: ``clip_lit.md``, ``iat.md``).
CoLIE has no weights: ``tests/data/colie/reference.npz`` holds the authors' float output and
8-bit file for two small crops of ../shared images with a few epochs and fixed seeds, made by
``tests/data/colie/make_reference.py`` (it runs their unchanged ``colie.py``; command line in its
docstring). Floats must agree within 1e-4 and the 8-bit files exactly, through the same
``Method.to_uint8`` the workflow writes its files with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT, shared_path
from PIL import Image

import enhancers
from enhancers.colie import CoLIE, fast_guided_filter, hsv_to_rgb, rgb_to_hsv
from enhancers.folder import enhance_folder
from enhancers.nets.clip_lit import CLIPLIT
from enhancers.nets.iat import IAT
from enhancers.weights import WeightsError, load_checkpoint, manifest
from lldata.imageio import float_to_uint8, quantise, read_rgb

ATOL = 1e-4  # the tolerance; the networks agree within 5e-7 here, CoLIE to the bit
CASES = ("darkface252", "dicm01")
COLIE_REF = REPO_ROOT / "tests" / "data" / "colie" / "reference.npz"
COLIE_SOURCES = {"darkface252": "data/darkface/image/252.png", "dicm01": "data/unpaired/DICM/01.jpg"}


def reference(method: str, case: str) -> dict[str, np.ndarray]:
    with np.load(shared_path("reference", "competitors", method, f"{case}.npz")) as data:
        return {k.removesuffix(f"_{case}"): data[k] for k in data.files}


def max_err(got: torch.Tensor | np.ndarray, want: np.ndarray) -> float:
    got = got.detach().cpu().numpy() if isinstance(got, torch.Tensor) else got
    assert got.shape == want.shape
    return float(np.abs(got - want).max())


# --- the 8-bit rules -----------------------------------------------------------------------------


def test_quantise_rules_follow_the_authors_save_routines() -> None:
    x = np.array([0.0, 0.2, 0.5, 0.999, 1.2, -0.1, 0.8254902], dtype=np.float32)
    assert np.array_equal(quantise(x, "round"), float_to_uint8(x))
    # 0.8254902 * 255 is 210.5 in float32: save_image gives 211, float64 rounding 210
    assert quantise(x, "save_image").tolist() == [0, 51, 128, 255, 255, 0, 211]
    assert quantise(x, "round").tolist()[-1] == 210
    assert quantise(x, "truncate").tolist() == [0, 51, 127, 254, 255, 0, 210]
    with pytest.raises(ValueError, match="unknown quantisation rule 'floor'"):
        quantise(x, "floor")


# --- CLIP-LIT and IAT ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weights() -> Path:
    return shared_path("weights")


def _clip_lit(w: Path) -> CLIPLIT:
    net = CLIPLIT()
    net.load_state_dict(CLIPLIT.inference_state(load_checkpoint("clip_lit/enhancement_model.pth", w)))
    return net.eval()


def _iat(w: Path) -> IAT:
    net = IAT()
    net.load_state_dict(load_checkpoint("iat/best_Epoch_lol_v1.pth", w))
    return net.eval()


NETS = {"clip_lit": (_clip_lit, ("output", "light_map")), "iat": (_iat, ("output", "mul", "add", "gamma", "color"))}


@pytest.mark.shared
@pytest.mark.parametrize("method", sorted(NETS))
def test_network_matches_the_authors_intermediates(weights, method) -> None:
    build, keys = NETS[method]
    net = build(weights)
    for case in CASES:
        ref = reference(method, case)
        with torch.no_grad():
            trace = net.trace(torch.from_numpy(ref["input"]))
        for key in keys:
            err = max_err(trace[key], ref[key])
            assert err <= ATOL, f"{method} {case} {key}: max abs error {err:.3g}"


@pytest.mark.shared
@pytest.mark.parametrize("method", sorted(NETS))
def test_method_output_and_8bit_file_equal_the_authors(weights, method, tmp_path) -> None:
    m = enhancers.create_method(method, device="cpu", weights_dir=weights)
    for case in CASES:
        ref = reference(method, case)
        crop = np.round(ref["input"][0].transpose(1, 2, 0) * 255).astype(np.uint8)
        out = m.enhance(crop)
        assert max_err(out, ref["output"][0].transpose(1, 2, 0)) <= ATOL
        assert np.array_equal(m.to_uint8(out), ref["saved"]), f"{method} {case}: 8-bit file differs"
        # the workflow's writer uses the same rule
        Image.fromarray(crop).save(tmp_path / f"{case}.png")
    enhance_folder(m, [tmp_path], tmp_path / "out", progress=False)
    for case in CASES:
        assert np.array_equal(read_rgb(tmp_path / "out" / f"{case}.png"), reference(method, case)["saved"])


@pytest.mark.shared
def test_clip_lit_save_image_rule_matters(weights) -> None:
    """On dicm01 one pixel of the authors' file differs from the project's rounding."""
    ref = reference("clip_lit", "dicm01")
    out = ref["output"][0].transpose(1, 2, 0)
    assert np.array_equal(quantise(out, "save_image"), ref["saved"])
    assert int((float_to_uint8(out) != ref["saved"]).sum()) == 1
    m = enhancers.create_method("clip_lit", device="cpu", weights_dir=weights, quantise="round")
    assert np.array_equal(m.to_uint8(out), float_to_uint8(out))


@pytest.mark.parametrize("method", ["clip_lit", "iat"])
def test_missing_weights_name_url_and_sha256(tmp_path, method) -> None:
    key = enhancers.method_info(method).weights_files[0]
    entry = manifest()[key]
    with pytest.raises(WeightsError) as err:
        enhancers.create_method(method, device="cpu", weights_dir=tmp_path)
    message = str(err.value)
    assert key in message and entry.url in message and entry.sha256 in message


def test_metadata_and_option_checks() -> None:
    clip_lit, iat = enhancers.method_info("clip_lit"), enhancers.method_info("iat")
    assert clip_lit.parameters == 278_790 and iat.parameters == 91_154
    assert "ICCV 2023" in clip_lit.paper and "backlit" in clip_lit.description
    assert "BMVC 2022" in iat.paper and "LOL-v1" in iat.description
    assert iat.weights_licence == "Apache-2.0" and "non-commercial" in clip_lit.weights_licence
    colie = enhancers.method_info("colie")
    assert "ECCV 2024" in colie.paper and colie.weights_files == () and colie.family == "learned"
    assert colie.options["epochs"] == 100 and colie.options["down_size"] == 256
    with pytest.raises(ValueError, match="quantise must be 'save_image'"):
        enhancers.create_method("iat", device="cpu", weights_dir="/nonexistent", quantise="floor")
    with pytest.raises(ValueError, match="down_size must be >= 16"):
        CoLIE(device="cpu", down_size=8)
    with pytest.raises(ValueError, match="window must be an odd number"):
        CoLIE(device="cpu", window=2)


# --- CoLIE ---------------------------------------------------------------------------------------


def _colie_case(case: str) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, int]]:
    with np.load(COLIE_REF) as data:
        ref = {k.removesuffix(f"_{case}"): data[k] for k in data.files if k.endswith(case)}
    top, left, h, w, seed, down, epochs, window = (int(v) for v in ref["settings"])
    image = read_rgb(shared_path(COLIE_SOURCES[case]))
    crop = np.ascontiguousarray(image[top : top + h, left : left + w])
    return crop, ref, {"seed": seed, "down_size": down, "epochs": epochs, "window": window}


@pytest.mark.shared
@pytest.mark.parametrize("case", CASES)
def test_colie_equals_the_authors_code(case) -> None:
    crop, ref, options = _colie_case(case)
    m = enhancers.create_method("colie", device="cpu", **options)
    out = m.enhance(crop)  # no file name: the seed option itself, as the reference run
    assert max_err(out, ref["output"]) <= ATOL
    assert np.array_equal(m.to_uint8(out), ref["saved"]), f"colie {case}: 8-bit file differs"


def test_colie_seed_comes_from_the_seed_and_the_file_name() -> None:
    rng = np.random.default_rng(0)
    image = (rng.random((20, 24, 3)) * 0.3).astype(np.float32)
    m = CoLIE(device="cpu", down_size=16, epochs=2)
    a, a_again, b = (m.enhance(image, name=n) for n in ("a.png", "a.png", "b.png"))
    assert np.array_equal(a, a_again) and not np.array_equal(a, b)
    from diffll.cli import image_seed

    explicit = m.enhance(image, generator=torch.Generator().manual_seed(image_seed(0, "a.png")))
    assert np.array_equal(explicit, a)
    assert not np.array_equal(CoLIE(device="cpu", down_size=16, epochs=2, seed=1).enhance(image, name="a.png"), a)
    assert float(a.max()) == 1.0  # divided by its maximum, as the authors
    with pytest.raises(ValueError, match="the image is black"):
        m.enhance(np.zeros((20, 24, 3), np.uint8))


def test_colie_colour_conversion_round_trips_and_filter_is_linear_fit() -> None:
    rgb = torch.rand(1, 3, 9, 11, generator=torch.Generator().manual_seed(3))
    rgb[..., 0, 0] = 0.5  # grey pixel: hue 0
    assert torch.allclose(hsv_to_rgb(rgb_to_hsv(rgb)), rgb, atol=1e-6)
    # guide == target: the fitted local linear model reproduces the guide exactly where it varies
    x = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(fast_guided_filter(x, x, x), x, atol=1e-4)
