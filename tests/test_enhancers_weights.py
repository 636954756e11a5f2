"""Weights manifest and the clear errors for missing or wrong weight files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path

import enhancers
from enhancers.registry import list_methods, method_class
from enhancers.weights import (
    ENV_VAR,
    WeightsError,
    load_checkpoint,
    manifest,
    verified_path,
    weights_dir,
)

# every registered method with released weights (the class attributes, nothing built); CoLIE is
# learned but optimised per image, with no weights
LEARNED = [n for n in list_methods() if method_class(n).family == "learned" and method_class(n).weights_files]


def test_every_learned_method_lists_files_known_to_the_manifest() -> None:
    known = manifest()
    for name in LEARNED:
        info = enhancers.method_info(name)
        assert info.family == "learned"
        assert info.weights_files, name
        for f in info.weights_files:
            entry = known[f]
            assert entry.url.startswith("https://github.com/") and entry.url.endswith(entry.path)
            assert len(entry.sha256) == 64 and entry.licence
        assert info.weights_licence


def test_manifest_matches_shared_sha256sums() -> None:
    sums_file = shared_path("weights", "SHA256SUMS")
    sums = {
        line.split()[1]: line.split()[0]
        for line in sums_file.read_text().splitlines()
        if line.strip()
    }
    for key, entry in manifest().items():
        assert sums[key] == entry.sha256, key
        assert (sums_file.parent / key).stat().st_size == entry.bytes, key


def test_verified_path_accepts_the_released_files() -> None:
    folder = shared_path("weights")
    for key in manifest():
        assert verified_path(key, folder) == folder / key


def test_missing_file_error_names_file_path_url_and_hash(tmp_path: Path) -> None:
    entry = manifest()["zero_dce/Epoch99.pth"]
    with pytest.raises(WeightsError) as err:
        enhancers.create_method("zero_dce", device="cpu", weights_dir=tmp_path)
    msg = str(err.value)
    assert "zero_dce/Epoch99.pth" in msg
    assert str(tmp_path / "zero_dce" / "Epoch99.pth") in msg
    assert entry.url in msg
    assert entry.sha256 in msg
    assert "not found" in msg


def test_wrong_file_error_names_actual_and_expected_hash(tmp_path: Path) -> None:
    fake = tmp_path / "sci" / "medium.pt"
    fake.parent.mkdir(parents=True)
    fake.write_bytes(b"not the released weights")
    actual = hashlib.sha256(b"not the released weights").hexdigest()
    with pytest.raises(WeightsError) as err:
        enhancers.create_method("sci_medium", device="cpu", weights_dir=tmp_path)
    msg = str(err.value)
    assert str(fake) in msg
    assert actual in msg
    assert manifest()["sci/medium.pt"].sha256 in msg
    assert manifest()["sci/medium.pt"].url in msg


def test_uretinex_reports_the_first_missing_of_its_three_files(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="uretinex/init_low.pth"):
        enhancers.create_method("uretinex", device="cpu", weights_dir=tmp_path)


def test_weights_dir_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "from_env"))
    assert weights_dir() == tmp_path / "from_env"
    assert weights_dir(tmp_path / "explicit") == tmp_path / "explicit"
    with pytest.raises(WeightsError, match="from_env"):
        load_checkpoint("ruas/lol.pt")
    monkeypatch.delenv(ENV_VAR)
    assert weights_dir() == Path("~/.cache/lowlight-faces/weights").expanduser()


def test_unknown_key_is_a_clear_error() -> None:
    with pytest.raises(WeightsError, match="not a weights file"):
        verified_path("nope/none.pt")


def test_weights_loaded_once_per_method(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = shared_path("weights")
    import enhancers.learned as learned

    calls: list[str] = []
    real = learned.load_checkpoint

    def counting(key, wdir=None):
        calls.append(key)
        return real(key, wdir)

    monkeypatch.setattr(learned, "load_checkpoint", counting)
    m = enhancers.create_method("zero_dce", device="cpu", weights_dir=folder)
    img = np.zeros((8, 9, 3), np.uint8)
    for _ in range(3):
        m.enhance(img)
    assert calls == ["zero_dce/Epoch99.pth"]


def test_subnormal_weights_are_flushed_to_zero() -> None:
    import torch

    from enhancers.weights import flush_subnormals

    tiny = torch.finfo(torch.float32).tiny
    state = {"a": torch.tensor([tiny / 4, -tiny / 8, 1.0, 0.0, tiny]), "n": [torch.tensor([1e-40])]}
    flush_subnormals(state)
    assert state["a"].tolist() == [0.0, 0.0, 1.0, 0.0, tiny]
    assert state["n"][0].item() == 0.0
