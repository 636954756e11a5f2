"""``enhance`` command line, ``enhance_folder`` and timing methods with ``efficiency run`` (smoke size only)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path

import enhancers
from enhancers import cli
from lldata.imageio import read_rgb, write_png


def write_images(folder: Path, names: list[str]) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        write_png(folder / name, rng.integers(0, 40, (13, 17, 3), dtype=np.uint8))


def test_list_prints_every_method(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--list"]) == 0
    out = capsys.readouterr().out
    for name in enhancers.list_methods():
        assert f"\n{name} " in out
    assert "79,416" in out  # Zero-DCE's parameter count appears in the table


def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--list", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in entries] == enhancers.list_methods()
    lime = next(e for e in entries if e["name"] == "lime")
    assert lime["options"]["gamma"] == 0.8 and lime["family"] == "classical"


def test_folder_with_a_corrupt_file_writes_the_others_and_exits_nonzero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in"
    write_images(src, ["a.png", "c.png"])
    (src / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    (src / "notes.txt").write_text("ignored: not an image suffix")
    out = tmp_path / "out"
    code = cli.main(
        ["--method", "gamma", "--option", "gamma=2", "-o", str(out), "--no-progress", str(src)]
    )
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png"]
    a = read_rgb(out / "a.png").astype(np.float64) / 255
    src_a = read_rgb(src / "a.png").astype(np.float64) / 255
    np.testing.assert_allclose(a, np.sqrt(src_a), atol=0.5 / 255 + 1e-9)
    err = capsys.readouterr().err
    assert "b.png" in err and "1 input(s) failed" in err


def test_files_and_folders_mixed_and_missing_input(tmp_path: Path) -> None:
    write_images(tmp_path / "in", ["x.png"])
    write_images(tmp_path / "more", ["y.png"])
    out = tmp_path / "out"
    method = enhancers.create_method("raw")
    result = enhancers.enhance_folder(
        method,
        [tmp_path / "in", tmp_path / "more" / "y.png", tmp_path / "gone.png"],
        out,
        progress=False,
    )
    assert [p.name for p in result.written] == ["x.png", "y.png"]
    assert len(result.failed) == 1 and "gone.png" in str(result.failed[0][0])
    assert "not found" in result.failed[0][1]
    np.testing.assert_array_equal(read_rgb(out / "x.png"), read_rgb(tmp_path / "in" / "x.png"))


def test_duplicate_stems_are_refused(tmp_path: Path) -> None:
    write_images(tmp_path / "a", ["same.png"])
    write_images(tmp_path / "b", ["same.png"])
    with pytest.raises(ValueError, match="same"):
        enhancers.collect_inputs([tmp_path / "a", tmp_path / "b"])


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_images(tmp_path / "in", ["a.png"])
    args = ["-o", str(tmp_path / "out"), str(tmp_path / "in")]
    assert cli.main(["--method", "clahe", "--option", "bogus=1", *args]) == 2
    assert "unknown option" in capsys.readouterr().err
    assert cli.main(["--method", "clahe", "--option", "novalue", *args]) == 2
    assert cli.main(["--method", "zero_dce", "--weights-dir", str(tmp_path), *args]) == 2
    assert "Epoch99.pth" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["--method", "gamma"])  # no output folder


def test_option_values_are_parsed() -> None:
    # the project's one grammar (lowlight_common.options): JSON, else YAML -- not Python literals
    assert cli.parse_options(["a=1", "b=0.5", "c=true", "d=null", "e=[15, 80]", "f=spsolve"]) == {
        "a": 1,
        "b": 0.5,
        "c": True,
        "d": None,
        "e": [15, 80],
        "f": "spsolve",
    }


def test_learned_method_through_the_cli(tmp_path: Path) -> None:
    weights = shared_path("weights")
    write_images(tmp_path / "in", ["p.png"])
    code = cli.main(
        [
            "-m",
            "sci_medium",
            "--weights-dir",
            str(weights),
            "--device",
            "cpu",
            "--no-progress",
            "-o",
            str(tmp_path / "out"),
            str(tmp_path / "in"),
        ]
    )
    assert code == 0
    assert read_rgb(tmp_path / "out" / "p.png").shape == (13, 17, 3)


@pytest.mark.slow
def test_console_script_is_installed() -> None:
    exe = shutil.which("enhance", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("console script 'enhance' not installed in this environment")
    proc = subprocess.run([exe, "--list"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "zero_dce_pp" in proc.stdout


def test_speed_script_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Methods timed through the one harness (``efficiency run``; was ``enhancers.speed``)."""
    import pandas as pd

    from efficiency.cli import main

    out = tmp_path / "speed.csv"
    options = {"gamma": {"gamma": 3}, "zero_dce": {"weights_dir": str(tmp_path / "no_weights")}}
    code = main(
        [
            "run",
            "--resolutions",
            "24x16",
            "--methods",
            "gamma",
            "lime",
            "zero_dce",
            "--repeats",
            "2",
            "--warmup",
            "1",
            "--device",
            "cpu",
            "--options-json",
            json.dumps(options),
            "-o",
            str(out),
        ]
    )
    assert code == 0
    rows = pd.read_csv(out).set_index("method")
    assert rows.loc["gamma", "status"] == "ok" and rows.loc["lime", "status"] == "ok"
    assert rows.loc["gamma", "median_s"] >= 0 and rows.loc["lime", "runs"] == 2
    # a method that cannot be created here is a row with the reason, not the end of the run
    assert rows.loc["zero_dce", "status"] == "error" and "Epoch99.pth" in rows.loc["zero_dce", "note"]
    assert "error" in capsys.readouterr().out
