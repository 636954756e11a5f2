"""A cache folder that cannot be written (issue 32, item 11): ``iqa fetch`` and ``iqa score``
exit 2 naming the folder instead of a traceback, and ``iqa list`` does not call a metric ready
when its files would have to be written there."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from iqa.cli import main
from lldata.imageio import write_png


@pytest.fixture
def unwritable(tmp_path, monkeypatch):
    """TORCH_HOME in a folder this process cannot write: a mode-0555 folder, or for root (whom
    modes do not stop) a place under /sys, which refuses even root."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    torch_home = folder / "torch"
    if os.access(folder, os.W_OK):
        torch_home = Path("/sys/lowlight-iqa-test/torch")
        try:
            torch_home.mkdir(parents=True)
        except OSError:
            pass
        else:  # pragma: no cover - a /sys that takes folders
            torch_home.rmdir()
            pytest.skip("no folder here refuses writes to this process")
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    yield torch_home / "hub"
    folder.chmod(0o755)


def test_fetch_names_the_folder_and_exits_2(unwritable, capsys):
    assert main(["fetch", "niqe", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(unwritable) in err and "cannot be written" in err and "Traceback" not in err


def test_score_names_the_folder_and_exits_2(unwritable, tmp_path, capsys):
    write_png(tmp_path / "img" / "a.png", np.full((120, 120, 3), 80, np.uint8))
    (tmp_path / "dataset.json").write_text(json.dumps({"items": [{"stem": "a"}]}))
    code = main(["score", "--dataset", str(tmp_path / "dataset.json"), "--enhanced", str(tmp_path / "img"),
                 "--metrics", "niqe", "-o", str(tmp_path / "out.csv")])
    assert code == 2
    err = capsys.readouterr().err
    assert str(unwritable) in err and "cannot be written" in err
    assert not (tmp_path / "out.csv").exists()


def test_list_does_not_say_ready_when_files_cannot_be_made(unwritable, capsys):
    assert main(["list"]) == 0
    niqe = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("niqe"))
    assert "ready" not in niqe.replace("not ready", "") and "cannot be written" in niqe
