"""The workflow under the conditions an audit found wanting: a user's own dataset whose files
change, a path with a space, a config value with shell syntax in it, clipped boxes, and
recovery after the scheduler was killed.

Real Snakemake processes on tiny data (raw method, one detector), hence slow-marked.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT

from lldata.demo import DemoConfig, build_demo

pytestmark = pytest.mark.slow
TINY_DEMO = {"seed": 7, "num_images": 3, "width": 192, "height": 144, "faces_per_image": [1, 3], "face_size": [20, 40]}


def _env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["TORCH_HOME"] = str(workdir / "torch")
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["OMP_NUM_THREADS"] = "1"
    return env


def _cmd(workdir: Path, config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO_ROOT / "Snakefile"), "--directory", str(workdir),
            "--configfile", str(config), *args]


def snakemake(workdir: Path, config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(_cmd(workdir, config, *args), capture_output=True, text=True, env=_env(workdir), timeout=900,
                          cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def _config(tmp_path: Path, **values) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def _planned_rules(proc: subprocess.CompletedProcess) -> set[str]:
    """Rule names of the jobs a dry run (``-n``) would run."""
    return {line.split()[1].rstrip(":") for line in proc.stdout.splitlines() if line.startswith(("rule ", "localrule "))}


def test_own_dataset_with_space_and_shell_syntax_in_paths_reruns_when_its_files_change(tmp_path):
    data = tmp_path / "my data" / "faces"
    build_demo(data, DemoConfig.from_dict(TINY_DEMO))
    # One face box reaches 30 px past the left edge: kept (clipped) only with clip_boxes.
    (data / "label" / "1.txt").write_text("1\n-30 20 30 60\n")
    results = "out dir; touch pwned; x"  # a config value with shell syntax: must stay one path
    # A user's own DiffLL checkpoint (replaced at the same path below), and DSFD first among the
    # detectors with its weights absent (skipped: the panel must use RetinaFace, which ran).
    from diffll.checkpoint import save_checkpoint
    from tests.diffll_models import perturbed_small_model

    checkpoint = tmp_path / "my ckpt"
    save_checkpoint(checkpoint, perturbed_small_model(0))
    (tmp_path / "no weights").mkdir()
    config = _config(
        tmp_path, results_dir=results, device="cpu", weights_dir=str(tmp_path / "no weights"),
        datasets={"faces": {"kind": "darkface", "path": str(data), "clip_boxes": True}},
        methods={"raw": {}, "dl": {"method": "diffll", "checkpoint": str(checkpoint), "steps": 1}},
        detectors={"dsfd": {}, "retinaface": {}}, evaluation={"bootstrap": 40, "seed": 0},
        iqa={"metrics": ["psnr"]}, benchmark={"enabled": False}, report={"panel_images": 1},
    )
    snakemake(tmp_path, config, "--cores", "2")
    res = tmp_path / results / "faces"
    report = (tmp_path / results / "report" / "index.html").read_text()
    assert "Magenta: detections of retinaface" in report and "detections of dsfd" not in report
    manifest = json.loads((res / "dl" / "shards" / "0.enhance.json").read_text())
    assert manifest["run"]["workdir"] == str(tmp_path.resolve()) and str(checkpoint / "model.safetensors") in manifest["weights"]
    assert (tmp_path / results / ".lowlight-owner").is_file() and not (tmp_path / results / ".lowlight-lock").exists()
    assert not list(tmp_path.rglob("pwned")) and not (REPO_ROOT / "pwned").exists()
    summary = json.loads((res / "dataset.json").read_text())
    assert summary["images"] == 3
    assert summary["items"][0]["boxes"][0][0] == 0.0  # clipped
    ap = json.loads((res / "raw" / "retinaface" / "eval" / "ap.json").read_text())
    assert ap["n_gt"] == summary["faces"]
    assert (tmp_path / results / "report" / "index.html").is_file()
    assert "Nothing to be done" in snakemake(tmp_path, config, "-n", "--quiet", "rules").stdout

    # Other weights at the same path, with the old time stamps: DiffLL's jobs are planned again.
    stamps = {p: p.stat() for p in checkpoint.iterdir()}
    save_checkpoint(checkpoint, perturbed_small_model(1))
    for path, st in stamps.items():
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    dry = snakemake(tmp_path, config, "-n")
    assert "enhance" in _planned_rules(dry) and "dl" in dry.stdout, dry.stdout

    # A second working directory on the same results folder is refused before any job, naming
    # the first; so is a run while the lock is held by a live process (1: always alive).
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(config, other / "config.yaml")
    values = yaml.safe_load(config.read_text())
    values["results_dir"] = str(tmp_path / results)
    (other / "config.yaml").write_text(yaml.safe_dump(values))
    refused = snakemake(other, other / "config.yaml", "-n", check=False)
    assert refused.returncode != 0 and f"belongs to the workflow run from {tmp_path.resolve()}" in refused.stdout + refused.stderr
    lock = tmp_path / results / ".lowlight-lock"
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": 1, "pid_start": None, "started": "earlier",
                                "workdir": "/somewhere/else", "configfiles": ["their.yaml"]}))
    refused = snakemake(tmp_path, config, "--cores", "1", check=False)
    assert refused.returncode != 0 and "being written by another run: process 1" in refused.stdout + refused.stderr
    lock.unlink()

    # Deleting an image (and its label), then editing a label: each alone plans validation and
    # everything scored against it again; the rerun scores the two images that are left.
    (data / "image" / "3.png").unlink()
    (data / "label" / "3.txt").unlink()
    dry = snakemake(tmp_path, config, "-n")
    assert {"validate_dataset", "evaluate", "report"} <= _planned_rules(dry), dry.stdout
    assert "Set of input files has changed" in dry.stdout
    (data / "label" / "2.txt").write_text("1\n10 10 40 40\n")
    dry = snakemake(tmp_path, config, "-n")
    assert "Updated input files" in dry.stdout and "label/2.txt" in dry.stdout
    snakemake(tmp_path, config, "--cores", "2")
    summary = json.loads((res / "dataset.json").read_text())
    ap = json.loads((res / "raw" / "retinaface" / "eval" / "ap.json").read_text())
    assert [i["stem"] for i in summary["items"]] == ["1", "2"] and ap["n_images"] == 2
    assert summary["items"][1]["boxes"] == [[10.0, 10.0, 40.0, 40.0]]
    assert "Nothing to be done" in snakemake(tmp_path, config, "-n", "--quiet", "rules").stdout
    # the removed image's outputs are gone too (they would otherwise stay in images/ and predictions/)
    left = {p.relative_to(res).as_posix() for p in res.rglob("3.*")}
    assert not left, left


def test_every_shell_command_keeps_paths_and_config_values_as_single_arguments(tmp_path):
    """A dry run prints every job's command: split as the shell would, no config value may
    break out of its argument (old rules: `--report res; touch pwned; x/...` ran `touch`)."""
    (tmp_path / "params dir").mkdir()
    (tmp_path / "params dir" / "niqe.npz").write_bytes(b"")
    config = _config(
        tmp_path, results_dir="res; touch pwned; x", device="cpu",
        datasets={"tiny": {"kind": "darkface", "path": "data/my tiny", "generate": "demo"}},
        methods={"raw": {}, "clahe": {}}, detectors={"retinaface": {}},
        iqa={"metrics": ["psnr", "niqe"], "niqe_params": "params dir/niqe.npz"},
        benchmark={"enabled": True, "methods": ["raw"], "resolutions": ["64x48"], "reference": "raw; touch pwned"},
    )
    dry = snakemake(tmp_path, config, "-n", "-p")
    commands = [line.removeprefix("Shell command: ") for line in dry.stdout.splitlines() if line.startswith("Shell command: ")]
    # each command runs through the job wrapper (lowlight_common.joblog): the program follows "--"
    programs = {words[words.index("--") + 1] if "--" in words else words[0] for words in map(shlex.split, commands)}
    assert {"lldata", "enhance", "detectors", "iqa", "efficiency", "reports"} <= programs, programs
    for command in commands:
        assert "touch" not in shlex.split(command), command
    assert any("'data/my tiny'" in c for c in commands)


def _interrupt_dataset_job(tmp_path: Path, config: Path, target: str, sig: signal.Signals) -> None:
    """Start building ``target``; once the demo job runs, send ``sig`` to Snakemake itself (not to
    its job), then wait until the job, left on its own, has written its output. Snakemake is
    left with the output marked incomplete (and, after SIGKILL, its lock)."""
    owned = tmp_path / "data" / "tiny" / ".lldata-demo.json"  # rewritten when a demo build begins
    before = owned.stat().st_mtime_ns if owned.exists() else None
    log = tmp_path / f"interrupted-{sig.name}.log"
    with log.open("w") as out:
        # SIGINT back to its default in the child: a shell that starts the tests in the
        # background (`make test &`) leaves it ignored, and then Snakemake never sees the Ctrl-C.
        proc = subprocess.Popen(_cmd(tmp_path, config, "--cores", "1", target), env=_env(tmp_path), cwd=tmp_path,
                                stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline and (
                not owned.exists() or owned.stat().st_mtime_ns == before):
            time.sleep(0.05)
        assert proc.poll() is None, f"the run ended before it could be interrupted:\n{log.read_text()[-3000:]}"
        proc.send_signal(sig)
        proc.wait(timeout=120)
    manifest = tmp_path / "data" / "tiny" / "manifest.json"
    while not manifest.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert manifest.exists(), log.read_text()[-3000:]


def test_unlock_needs_no_cores_and_a_plain_rerun_recovers_after_ctrl_c_and_kill(tmp_path):
    demo = {**TINY_DEMO, "num_images": 30, "width": 320, "height": 240}
    values = dict(device="cpu", datasets={"tiny": {"kind": "darkface", "path": "data/tiny", "generate": "demo"}},
                  demo=demo, methods={"raw": {}}, detectors={"retinaface": {}},
                  benchmark={"enabled": True, "methods": ["raw"], "resolutions": ["64x48"]})
    config = _config(tmp_path, **values)
    # `threads: <all cores>` of the benchmark rule must not need --cores where none is given.
    snakemake(tmp_path, config, "--unlock", "--workflow-profile", "none")
    snakemake(tmp_path, config, "-n", "--workflow-profile", "none")
    target = "results/tiny/dataset.json"

    # Ctrl-C (SIGINT to Snakemake): without rerun-incomplete the next run refuses to start; the
    # default workflow profile sets it, so a plain rerun redoes the job that was cut off.
    _interrupt_dataset_job(tmp_path, config, target, signal.SIGINT)
    assert not (tmp_path / target).exists()
    refused = snakemake(tmp_path, config, "--cores", "1", target, "--workflow-profile", "none", check=False)
    assert refused.returncode != 0 and "IncompleteFilesException" in refused.stdout + refused.stderr
    rerun = snakemake(tmp_path, config, "--cores", "1", target)
    assert "Using workflow specific profile" in rerun.stderr
    assert json.loads((tmp_path / target).read_text())["images"] == demo["num_images"]

    # kill -9 of Snakemake (new settings, so the dataset job runs again): its lock stays too.
    config = _config(tmp_path, **{**values, "demo": {**demo, "num_images": 29}})
    _interrupt_dataset_job(tmp_path, config, target, signal.SIGKILL)
    locked = snakemake(tmp_path, config, "--cores", "1", target, check=False)
    assert locked.returncode != 0 and "unlock" in locked.stdout + locked.stderr
    snakemake(tmp_path, config, "--unlock")  # the README's step after a kill; no --cores needed
    snakemake(tmp_path, config, "--cores", "1", target)
    assert json.loads((tmp_path / target).read_text())["images"] == 29
