"""Conventions every console command keeps (pyproject.toml [project.scripts]): `--version`, and
exit code 2 with one line naming the file for bad input (lowlight_common.cli). The commands run
as installed console scripts, the way the workflow and users call them."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"])
BIN = Path(sys.executable).parent


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = BIN / args[0]
    if not exe.exists():
        pytest.skip(f"console script {args[0]} is not installed in {BIN} (pip install -e .)")
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run([str(exe), *args[1:]], cwd=cwd, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("script", SCRIPTS)
def test_version(script: str, tmp_path: Path) -> None:
    from lowlight_common.cli import project_version

    proc = _run(script, "--version", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{script} {project_version()}"


# One bad-input case per command, more where a command reads several kinds of file. {m}: a
# path that does not exist; {t}: the test's folder. Each must exit 2 naming {m} on stderr.
MISSING = [
    ("lldata", "validate {m} --kind darkface"),
    ("lldata", "shard {m} --shards 2 -o {t}/shards"),
    ("lldata", "demo {t}/demo --config {m}"),
    ("lldata", "darken {m} -o {t}/dark"),
    ("diffll", "enhance {m} -o {t}/out"),
    ("diffll", "train --config {m}"),
    ("diffll", "convert-official {m} {t}/converted"),
    ("detectors", "evaluate --gt {m} --pred {t}"),
    ("detectors", "evaluate --dataset {m} --pred {t}"),
    ("enhance", "--method raw -o {t}/out {m}"),
    ("iqa", "score --dataset {m} --enhanced {t} --metrics psnr -o {t}/q.csv"),
    ("iqa", "install-niqe {m} --cache-dir {t}/cache"),
    ("efficiency", "compare {m} {m}"),
    ("reports", "build --config-json {{}} --results-dir {m} -o {t}/report"),
]


def test_every_command_has_a_missing_file_case() -> None:
    assert {script for script, _ in MISSING} == set(SCRIPTS)


@pytest.mark.parametrize(("script", "args"), MISSING, ids=[f"{s}-{a.split()[0]}" for s, a in MISSING])
def test_missing_input_exits_2_naming_it(script: str, args: str, tmp_path: Path) -> None:
    missing = tmp_path / "no_such_input.json"
    proc = _run(script, *args.format(m=missing, t=tmp_path).split(), cwd=tmp_path)
    assert proc.returncode == 2, f"exit {proc.returncode}\n{proc.stdout[-1000:]}\n{proc.stderr[-2000:]}"
    assert str(missing) in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]


# Files that exist but are not what the command reads: exit 2, naming the file.
MALFORMED = [
    ("lldata", "shard {f} --shards 2 -o {t}/shards", "not json"),
    ("lldata", "demo {t}/demo --config {f}", "demo: [unclosed"),
    ("lldata", "demo {t}/demo --config {f}", "demo:\n  nmu_images: 2\n"),
    ("iqa", "score --dataset {f} --enhanced {t} --metrics psnr -o {t}/q.csv", '{"items": 3}'),
    ("efficiency", "compare {f} {f}", "a,b\n1,2\n"),
    ("detectors", "evaluate --dataset {f} --pred {t}", "[]"),
]


@pytest.mark.parametrize(("script", "args", "content"), MALFORMED, ids=[f"{s}-{a.split()[0]}-{i}" for i, (s, a, _) in enumerate(MALFORMED)])
def test_malformed_input_exits_2_naming_it(script: str, args: str, content: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad_input.yaml"
    bad.write_text(content)
    proc = _run(script, *args.format(f=bad, t=tmp_path).split(), cwd=tmp_path)
    assert proc.returncode == 2, f"exit {proc.returncode}\n{proc.stdout[-1000:]}\n{proc.stderr[-2000:]}"
    assert str(bad) in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    for script in SCRIPTS:
        proc = _run(script, "--no-such-flag", cwd=tmp_path)
        assert proc.returncode == 2, (script, proc.stderr)
        assert "--no-such-flag" in proc.stderr or "usage" in proc.stderr.lower(), (script, proc.stderr)


def test_run_command_maps_bad_input_to_2_and_keeps_other_failures(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from lowlight_common.cli import run_command

    def missing(_: argparse.Namespace) -> int:
        open("/nonexistent/dir/file.txt")  # noqa: SIM115 - the error is the point
        return 0

    assert run_command("prog", missing, argparse.Namespace()) == 2
    assert capsys.readouterr().err.strip() == "prog: error: /nonexistent/dir/file.txt: No such file or directory"

    def bug(_: argparse.Namespace) -> int:
        raise ZeroDivisionError("a bug keeps its traceback")

    with pytest.raises(ZeroDivisionError):
        run_command("prog", bug, argparse.Namespace())


def test_diagnostics_are_logged_to_stderr(tmp_path: Path) -> None:
    """lldata's issue list goes through logging (lowlight_common.cli.setup_logging): in a real
    run it is on stderr, one plain line per problem, and a problem found is exit 1, not 2."""
    import numpy as np

    from lldata.imageio import write_png

    write_png(tmp_path / "set" / "image" / "1.png", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "set" / "label").mkdir()
    (tmp_path / "set" / "label" / "1.txt").write_text("1\n0 0 20 4\n")
    proc = _run("lldata", "validate", str(tmp_path / "set"), "--kind", "darkface", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "1.txt:2" in line]
    assert lines and lines[0].startswith(str(tmp_path / "set" / "label" / "1.txt")) and "outside" in lines[0]
