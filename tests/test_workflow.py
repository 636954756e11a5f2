"""The Snakemake workflow end to end, on a tiny config in a temporary folder.

These tests run real Snakemake processes (the same rules and console entry points a user
runs), so they are marked slow; together they take a few minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO_ROOT, SHARED_DIR

pytestmark = pytest.mark.slow
TINY = REPO_ROOT / "tests" / "workflow" / "tiny.yaml"


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["TORCH_HOME"] = str(tmp_path / "torch")  # an empty cache: NIQE's model comes from the basicsr package
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["OMP_NUM_THREADS"] = "1"
    return env


def snakemake(workdir: Path, config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO_ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(config), "--cores", "2", "--quiet", "rules", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(workdir), timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def _write_config(tmp_path: Path, **changes) -> Path:
    config = yaml.safe_load(TINY.read_text())
    config.update(changes)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_end_to_end_outputs(tmp_path):
    config = _write_config(tmp_path)
    snakemake(tmp_path, config)
    res = tmp_path / "results"
    dataset = json.loads((res / "tiny" / "dataset.json").read_text())
    stems = [i["stem"] for i in dataset["items"]]
    assert dataset["images"] == 3 and (tmp_path / "data" / "tiny" / "manifest.json").is_file()
    assert sorted(p.name for p in (res / "tiny" / "shards").glob("*.stems")) == ["0.stems", "1.stems"]
    for method in ("raw", "clahe"):
        assert sorted(p.stem for p in (res / "tiny" / method / "images").glob("*.png")) == sorted(stems)
        assert sorted(p.stem for p in (res / "tiny" / method / "retinaface" / "predictions").glob("*.txt")) == sorted(stems)
        ev = res / "tiny" / method / "retinaface" / "eval"
        for name in ("ap.json", "pr_curve.csv", "per_image.csv", "size_recall.csv"):
            assert (ev / name).is_file(), name
        ap = json.loads((ev / "ap.json").read_text())
        assert 0.0 <= ap["ap"] <= 1.0 and "bootstrap" in ap
        iqa = json.loads((res / "tiny" / method / "iqa" / "summary.json").read_text())
        assert set(iqa["mean"]) == {"psnr", "ssim", "piqe", "niqe"} and not iqa["skipped"]  # as on a fresh machine
    assert (res / "tiny" / "clahe" / "retinaface" / "eval" / "vs_raw.json").is_file()
    bench = pd.read_csv(res / "benchmark" / "cpu.csv")
    assert bench["status"].tolist() == ["ok"]
    html = (res / "report" / "index.html").read_text()
    md = (res / "report" / "report.md").read_text()
    for section in ("Datasets", "Face detection", "Image quality", "Time and memory", "Qualitative", "Provenance"):
        assert section in html
    assert "clahe" in md and "PSNR" in md  # the tiny set has references: full-reference table in the report
    assert "niqe" in pd.read_csv(res / "report" / "iqa.csv").columns  # every mean is kept in iqa.csv
    for log in ("logs/report.log", "logs/validate_dataset/tiny.log", "logs/enhance/tiny/clahe/0.log"):
        assert (tmp_path / log).is_file(), log

    # The report's figures are what the packages compute when called directly.
    from detectors.evaluation import DarkFaceEvaluator
    from detectors.formats import load_pairs
    from iqa.score import score_images

    evaluator = DarkFaceEvaluator()
    for r in load_pairs(tmp_path / "data" / "tiny" / "label", res / "tiny" / "clahe" / "retinaface" / "predictions"):
        evaluator.process(r.image_id, r.gt_boxes, r.pred_boxes, r.pred_scores)
    direct_ap = evaluator.evaluate()["ap"]
    table = pd.read_csv(res / "report" / "ap.csv")
    reported = table[(table.method == "clahe") & (table.detector == "retinaface")]["AP"].item()
    assert reported == pytest.approx(direct_ap, abs=1e-6)
    items = [(i["stem"], res / "tiny" / "clahe" / "images" / f"{i['stem']}.png", tmp_path / i["reference"]) for i in dataset["items"]]
    scores, _ = score_images(items, ["psnr"])
    iqa_table = pd.read_csv(res / "report" / "iqa.csv")
    assert iqa_table[iqa_table.method == "clahe"]["psnr"].item() == pytest.approx(scores["psnr"].mean(), abs=1e-4)

    # A second run has nothing to do.
    again = snakemake(tmp_path, config, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr

    # Every file the evaluation wrote is a declared output (Snakemake removes them all when the
    # job fails), and each can be asked for by name.
    summary = snakemake(tmp_path, config, "--summary").stdout
    declared = {line.split("\t")[0] for line in summary.splitlines()[1:] if line.strip()}
    for method in ("raw", "clahe"):
        ev = res / "tiny" / method / "retinaface" / "eval"
        written = {str(p.relative_to(tmp_path)) for p in ev.iterdir()}
        assert written and written <= declared, sorted(written - declared)
    target = res / "tiny" / "clahe" / "retinaface" / "eval" / "size_recall.csv"
    target.unlink()
    plan = snakemake(tmp_path, config, "-n", str(target.relative_to(tmp_path))).stdout
    assert re.search(r"^evaluate\s+1$", plan, re.MULTILINE) and not re.search(r"^(enhance|detect)\s", plan, re.MULTILINE), plan


def test_rerun_after_a_failed_job_keeps_finished_work_and_distrusts_partial_files(tmp_path):
    # 'broken' fails on purpose (a negative gamma is rejected when the method is created).
    methods = {"raw": {}, "clahe": {}, "broken": {"method": "gamma", "gamma": -1.0}}
    config = _write_config(tmp_path, methods=methods, benchmark={"enabled": False})
    failed = snakemake(tmp_path, config, "--keep-going", check=False)
    assert failed.returncode != 0
    res = tmp_path / "results" / "tiny"
    assert not list((res / "broken" / "shards").glob("*.json")) if (res / "broken" / "shards").exists() else True
    finished = {p: p.stat().st_mtime_ns for p in (res / "clahe").rglob("*") if p.is_file()}
    assert any(p.name == "ap.json" for p in finished)
    # An interrupted job may leave a partial image behind (here: a truncated file). No manifest
    # names it, so the rerun must not trust it.
    partial = res / "broken" / "images" / "1.png"
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    methods["broken"]["gamma"] = 2.0
    config = _write_config(tmp_path, methods=methods, benchmark={"enabled": False})
    snakemake(tmp_path, config)
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # nothing finished was recomputed
    from lldata.imageio import read_rgb

    assert read_rgb(partial).shape == (144, 192, 3)
    assert (res / "broken" / "retinaface" / "eval" / "ap.json").is_file()


def test_bad_config_fails_before_any_job_naming_the_key(tmp_path):
    config = _write_config(tmp_path, device="tpu")
    proc = snakemake(tmp_path, config, "-n", check=False)
    assert proc.returncode != 0 and "device" in proc.stdout + proc.stderr and not (tmp_path / "results").exists()
    config = _write_config(tmp_path, methods={"raw": {}, "oops": {"method": "no_such_method"}})
    proc = snakemake(tmp_path, config, "-n", check=False)
    assert proc.returncode != 0 and "methods.oops" in proc.stdout + proc.stderr
    # metric names are checked against iqa/registry.py (the schema lists none)
    config = _write_config(tmp_path, iqa={"metrics": ["psnr", "nique"]})
    proc = snakemake(tmp_path, config, "-n", check=False)
    assert proc.returncode != 0 and "iqa.metrics: unknown metric 'nique'" in proc.stdout + proc.stderr
    # A YAML alias bomb (9**9 values once expanded) is refused at once, with a short message.
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    (tmp_path / "bomb.yaml").write_text("\n".join([*lines, "datasets: {d: {kind: darkface, path: x}}", "demo: {seed: *a8}"]))
    start = time.monotonic()
    proc = snakemake(tmp_path, tmp_path / "bomb.yaml", "-n", check=False)
    assert proc.returncode != 0 and "YAML aliases" in proc.stdout + proc.stderr and time.monotonic() - start < 60
    assert len(proc.stdout + proc.stderr) < 5000


def test_lint_is_clean_and_dry_runs_work():
    env = _env(REPO_ROOT)
    lint = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "--cores", "1"], cwd=REPO_ROOT, capture_output=True,
                          text=True, env=env, timeout=300)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "Congratulations" in lint.stdout + lint.stderr
    dry = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1"], cwd=REPO_ROOT, capture_output=True,
                         text=True, env=env, timeout=300)
    assert dry.returncode == 0, dry.stderr[-2000:]


def test_dry_run_with_the_shared_datasets(tmp_path):
    if not SHARED_DIR.is_dir():
        pytest.skip(f"needs {SHARED_DIR} (the project's ../shared folder is absent here)")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", "config/shared.yaml"],
                          cwd=REPO_ROOT, capture_output=True, text=True, env=_env(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    for rule in ("enhance", "detect", "evaluate", "iqa"):
        assert rule in out


def test_cluster_executor_runs_jobs_as_separate_processes(tmp_path):
    """cluster-generic submits every job through a script, as a batch system would."""
    submit = tmp_path / "submit.sh"
    submit.write_text('#!/usr/bin/env bash\n# A local "batch system": run the job script detached, print a job id.\n'
                      'mkdir -p cluster-logs\nnohup bash "$1" > "cluster-logs/$$.out" 2>&1 &\necho "local-$!"\n')
    submit.chmod(0o755)
    methods = {"raw": {}}
    config = _write_config(tmp_path, methods=methods, benchmark={"enabled": False})
    snakemake(tmp_path, config, "--executor", "cluster-generic", "--cluster-generic-submit-cmd", str(submit),
              "--jobs", "2", "--latency-wait", "10")
    assert (tmp_path / "results" / "report" / "index.html").is_file()
    assert len(list((tmp_path / "cluster-logs").glob("*.out"))) >= 5  # jobs went through the submit script
