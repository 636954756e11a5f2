"""``module:Class`` plug-ins reach the command lines: ``enhance`` and ``detectors`` import a
user's class from the working directory and check its options like a built-in's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from plugin_modules import PLUGIN_SOURCE

from enhancers.registry import check_method_options, method_info
from lldata.imageio import read_rgb, write_png

BIN = Path(sys.executable).parent


def _run(tool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / tool), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "my_plugins.py").write_text(PLUGIN_SOURCE)
    image = np.tile(np.arange(0, 96, 3, dtype=np.uint8)[None, :, None], (24, 1, 3))
    write_png(tmp_path / "in" / "a.png", image)
    return tmp_path


def test_enhance_runs_a_plugin_method_and_checks_its_options(folder):
    ok = _run("enhance", "--method", "my_plugins:Brighter", "--option", "gain=3", "in", "-o", "out", "--no-progress", cwd=folder)
    assert ok.returncode == 0, ok.stderr
    expected = np.clip(read_rgb(folder / "in" / "a.png").astype(np.int64) * 3, 0, 255)
    assert np.abs(read_rgb(folder / "out" / "a.png").astype(np.int64) - expected).max() <= 1
    typo = _run("enhance", "--method", "my_plugins:Brighter", "--option", "gian=3", "in", "-o", "out", cwd=folder)
    assert typo.returncode == 2 and "unknown option(s) gian" in typo.stderr
    wrong = _run("enhance", "--method", "my_plugins:Brighter", "--option", "gain=[1]", "in", "-o", "out", cwd=folder)
    assert wrong.returncode == 2 and "option 'gain' expects float" in wrong.stderr
    missing = _run("enhance", "--method", "not_there:Brighter", "in", "-o", "out", cwd=folder)
    assert missing.returncode == 2 and "cannot import module 'not_there'" in missing.stderr


def test_detectors_cli_runs_a_plugin_detector(folder):
    ok = _run("detectors", "detect", "--detector", "my_plugins:CentreBox", "--option", "size=4", "--device", "cpu",
              "-o", "preds", "--quiet", "in", cwd=folder)
    assert ok.returncode == 0, ok.stderr
    assert [float(v) for v in (folder / "preds" / "a.txt").read_text().split()] == pytest.approx([16, 12, 20, 16, 0.9])
    typo = _run("detectors", "detect", "--detector", "my_plugins:CentreBox", "--option", "sise=4", "-o", "p", "in", cwd=folder)
    assert typo.returncode == 2 and "unknown option(s) sise" in typo.stderr


def test_registry_rejects_a_plugin_of_the_wrong_type(folder, monkeypatch):
    monkeypatch.chdir(folder)
    assert method_info("my_plugins:Brighter", gain=1.5).name == "brighter"
    with pytest.raises(ValueError, match="is not a Method subclass"):
        check_method_options("my_plugins:CentreBox", {})
