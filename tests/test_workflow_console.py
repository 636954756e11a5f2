"""What a researcher sees on the console (issue 30): the five typical mistakes show their cause
without opening a log, long jobs report progress, and a run started from another folder with
``-s path/to/Snakefile`` uses the repository's paths and the shipped DiffLL model.

The mistakes: (1) a dataset path that does not exist, (2) a dataset folder without its kind's
folders, (3) a method whose weights file is absent, (4) a detector whose checkpoint is absent,
(5) a job that fails (a malformed label file in the user's dataset). Plus a weights file that is
present but not the released one. (1)-(4) are decided before any job, at ``-n``.

Real Snakemake processes on tiny data, batched into few invocations; slow-marked.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT
from test_workflow_reliability import TINY_DEMO, _env

from lldata.demo import DemoConfig, build_demo

pytestmark = pytest.mark.slow


def _run(cwd: Path, config: Path, *args: str, directory: Path | None = None) -> subprocess.CompletedProcess:
    """Snakemake as a user starts it: ``-s <repo>/Snakefile`` from ``cwd`` (no --directory
    unless given), with the workflow's default profile."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO_ROOT / "Snakefile"), "--configfile", str(config), *args]
    if directory is not None:
        cmd += ["--directory", str(directory)]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(cwd), timeout=900, cwd=cwd)


def _config(path: Path, **values) -> Path:
    path.write_text(yaml.safe_dump(values))
    return path


def test_config_mistakes_fail_or_skip_before_any_job_naming_the_cause(tmp_path):
    data = tmp_path / "faces"
    build_demo(data, DemoConfig.from_dict(TINY_DEMO))
    (tmp_path / "no labels" / "image").mkdir(parents=True)
    base = dict(results_dir=str(tmp_path / "res"), device="cpu", iqa={"metrics": ["psnr"]}, benchmark={"enabled": False})

    # (1) + (2): every dataset problem in one message, before any job.
    bad = _config(tmp_path / "bad.yaml", **base, methods={"raw": {}}, detectors={"retinaface": {}}, datasets={
        "typo": {"kind": "darkface", "path": str(tmp_path / "facez")},
        "half": {"kind": "darkface", "path": str(tmp_path / "no labels")},
    })
    proc = _run(tmp_path, bad, "-n", directory=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"datasets.typo.path: {tmp_path / 'facez'} is not a folder" in out, out[-3000:]
    assert "datasets.half.path" in out and "has no label folder" in out

    # (3) + (4): absent weights skip the method and the detector, with the reason and the
    # download address on the console; the plan has no job for either.
    weights = tmp_path / "weights"
    weights.mkdir()
    good = dict(base, weights_dir=str(weights), datasets={"faces": {"kind": "darkface", "path": str(data)}},
                methods={"raw": {}, "zdce": {"method": "zero_dce"}, "sci": {"method": "sci_easy"}},
                detectors={"retinaface": {}, "dsfd": {}})
    proc = _run(tmp_path, _config(tmp_path / "good.yaml", **good), "-n", directory=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert f"skipping method zdce: weights not found: {weights / 'zero_dce' / 'Epoch99.pth'} (download http" in out
    assert "skipping detector dsfd:" in out and "WIDERFace_DSFD_RES152.pth" in out
    assert "skipping method sci: weights not found" in out
    assert "/zdce/" not in proc.stdout and "/dsfd/" not in proc.stdout and "/raw/retinaface/" in proc.stdout

    # A weights file that is there but not the released one refuses the run, listing it.
    (weights / "sci").mkdir()
    (weights / "sci" / "easy.pt").write_bytes(b"not the released weights")
    proc = _run(tmp_path, tmp_path / "good.yaml", "-n", directory=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "not the released ones" in out and f"methods.sci: {weights / 'sci' / 'easy.pt'} has sha256" in out


def test_run_from_another_folder_shows_failures_and_progress_on_the_console(tmp_path):
    """``-s <repo>/Snakefile`` from an unrelated folder: the working directory is the repository
    (logs land in its logs/, the results folder's owner is the repository), DiffLL without a
    checkpoint finds the shipped model from the package, a failing job's cause is on the
    console, and a long job reports progress per image."""
    name = f"console_{tmp_path.name[-24:].replace('-', '_')}"  # unique: logs go to the repository's logs/
    data = tmp_path / "faces"
    build_demo(data, DemoConfig.from_dict(TINY_DEMO))
    label = data / "label" / "2.txt"
    good_label = label.read_text()
    label.write_text("1\n10 10 abc 40\n")  # mistake (5)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    results = tmp_path / "results"
    config = _config(elsewhere / "study.yaml", results_dir=str(results), device="cpu",
                     datasets={name: {"kind": "darkface", "path": str(data)}},
                     methods={"diffll": {"steps": 1, "seed": 0}}, detectors={"retinaface": {}},
                     evaluation={"bootstrap": 40, "seed": 0}, iqa={"metrics": ["psnr"]}, benchmark={"enabled": False})
    target = str(results / name / "diffll" / "retinaface" / "eval" / "ap.json")
    try:
        failed = _run(elsewhere, config, "--cores", "2", target)
        console = failed.stdout + failed.stderr
        assert failed.returncode != 0
        cause = next((line for line in console.splitlines() if line.startswith(f"FAILED validate {name} (exit ")), None)
        assert cause is not None and "2.txt:2: error: expected 'x1 y1 x2 y2', got '10 10 abc 40'" in cause, console[-4000:]
        assert (REPO_ROOT / "logs" / "validate_dataset" / f"{name}.log").is_file()  # the repository's logs/
        assert not (elsewhere / "logs").exists() and not (elsewhere / "results").exists()

        label.write_text(good_label)
        done = _run(elsewhere, config, "--cores", "2", target)
        console = done.stdout + done.stderr
        assert done.returncode == 0, console[-4000:]
        assert f"enhance {name}/diffll shard 0: 3/3 images" in console and "ETA" in console
        assert f"done enhance {name}/diffll shard 0 in" in console and f"done evaluate {name}/diffll/retinaface" in console
        assert "lowlight_common.joblog" not in console  # no shell command lines
        log = (REPO_ROOT / "logs" / "enhance" / name / "diffll" / "0.log").read_text()
        assert "the project's shipped model" in log and "3/3 images" in log
        manifest = json.loads((results / name / "diffll" / "shards" / "0.enhance.json").read_text())
        assert str(REPO_ROOT / "models" / "diffll-sice" / "model.safetensors") in manifest["weights"]
        assert (results / ".lowlight-owner").read_text().strip() == str(REPO_ROOT)
        assert manifest["run"]["workdir"] == str(REPO_ROOT) and manifest["run"]["results"] == str(results)
        # The same study from the repository itself: same working directory, nothing to do,
        # even after every label file was rewritten with its old content (newer time stamps,
        # same bytes: Snakemake compares the checksums it recorded, and plans nothing).
        for path in (data / "label").glob("*.txt"):
            path.write_text(path.read_text())
        again = _run(REPO_ROOT, config, "-n", target)
        assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, again.stdout[-3000:]
        # A validation that fails on a finished study is planned again by the next run of the
        # study (its default target, the report): a summary is never trusted for data that
        # failed. (Snakemake's update() flag would keep the previous dataset.json, but it
        # records the failed job's input checksums, and the next run then plans nothing with
        # the broken label still there: measured, and not used.)
        label.write_text("1\n10 10 abc 40\n")
        failed_again = _run(elsewhere, config, "--cores", "2", target)
        assert failed_again.returncode != 0 and f"FAILED validate {name}" in failed_again.stdout + failed_again.stderr
        assert "validate_dataset" in _run(REPO_ROOT, config, "-n").stdout
    finally:
        for folder in ("logs", "benchmarks"):
            for path in (REPO_ROOT / folder).glob(f"*/{name}*"):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
