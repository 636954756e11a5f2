"""The timing scripts of issue 31, item 7 (docs/results/shard_timing.py, detectors_cpu.py): the
shard jobs are the workflow's command lines, the repeated data set has distinct names and stays
outside the repository, start-up and per-frame cost are split as documented, and a tiny run of
each script writes its CSV. The figures themselves are measured by running the scripts, not here."""

from __future__ import annotations

import csv
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "results" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


shard_timing = _load("shard_timing")


def _darkface(folder: Path, frames: int = 5, size: tuple[int, int] = (64, 48)) -> Path:
    rng = np.random.default_rng(0)
    (folder / "image").mkdir(parents=True)
    (folder / "label").mkdir()
    for i in range(frames):
        pixels = rng.integers(0, 60, size=(size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / "image" / f"{10 + i}.png")
        (folder / "label" / f"{10 + i}.txt").write_text("1\n4 4 20 20\n")
    return folder


def _rule_flags(rule_file: str) -> set[str]:
    """The long options in a workflow rule's shell command (its first rule)."""
    text = (ROOT / "workflow" / "rules" / rule_file).read_text()
    shell = text.split("shell:", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"(--[a-z][a-z-]+)", shell))


def test_repeated_dataset_has_distinct_names_linked_to_the_originals(tmp_path):
    source = _darkface(tmp_path / "src")
    stems = shard_timing.make_dataset(source, tmp_path / "scratch", 12)
    assert len(stems) == len(set(stems)) == 12
    assert stems[:6] == ["10_r01", "11_r01", "12_r01", "13_r01", "14_r01", "10_r02"]
    image = tmp_path / "scratch" / "data" / "image" / "10_r02.png"
    assert image.is_symlink() and image.resolve() == (source / "image" / "10.png").resolve()
    assert (tmp_path / "scratch" / "data" / "label" / "11_r03.txt").read_text() == "1\n4 4 20 20\n"
    shards = shard_timing.write_shard(tmp_path / "scratch", stems, 7)
    assert (shards / "7.stems").read_text().split() == stems[:7]
    assert [Path(p).name for p in (shards / "7.images").read_text().split()] == [f"{s}.png" for s in stems[:7]]


def test_start_up_and_per_frame_split():
    per_frame, startup = shard_timing.split(2.0, 2.0 + 49 * 0.5, 50)
    assert per_frame == pytest.approx(0.5) and startup == pytest.approx(1.5)


@pytest.mark.parametrize(("kind", "rule_file"), [("enhance", "enhance.smk"), ("detect", "detect.smk")])
def test_jobs_use_the_workflow_rules_options(kind, rule_file, tmp_path):
    job = next(j for j in shard_timing.JOBS if j.kind == kind)
    argv = shard_timing.command(job, tmp_path, 3)
    assert argv[1:3] == ["-m", "lowlight_common.joblog"]
    missing = _rule_flags(rule_file) - set(argv)
    assert not missing, f"the workflow's {kind} rule passes {sorted(missing)}, the timed job does not"


def test_scratch_inside_the_repository_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "results" / "shard_timing.py"), str(tmp_path),
                           "--scratch", str(ROOT / "scratch-shard")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0 and "outside the repository" in proc.stderr
    assert not (ROOT / "scratch-shard").exists()


@pytest.mark.slow  # 5 fresh command processes and 1 detector visit: ~6 s
def test_tiny_runs_write_their_csvs(tmp_path):
    source = _darkface(tmp_path / "src")
    out = tmp_path / "shard.csv"
    subprocess.run([sys.executable, str(ROOT / "docs" / "results" / "shard_timing.py"), str(source),
                    "--scratch", str(tmp_path / "scratch"), "--frames", "3", "--rounds", "1",
                    "--jobs", "enhance raw", "detect raw/retinaface", "-o", str(out)], cwd=ROOT, check=True,
                   capture_output=True)
    rows = list(csv.DictReader(out.open()))
    assert [r["job"] for r in rows] == ["enhance raw", "detect raw/retinaface"]
    for row in rows:
        assert row["frames"] == "3" and float(row["cpu_n_s"]) > 0 and float(row["cpu_1_s"]) > 0  # tiny frames: no order
        assert float(row["cpu_projection_1000_s"]) == pytest.approx(
            float(row["cpu_startup_s"]) + 1000 * float(row["cpu_per_frame_s"]))
    detectors_csv = tmp_path / "detectors.csv"
    subprocess.run([sys.executable, str(ROOT / "docs" / "results" / "detectors_cpu.py"),
                    str(source / "image" / "10.png"), "--size", "64x48", "--rounds", "1", "--labels", "retinaface",
                    "-o", str(detectors_csv)], cwd=ROOT, check=True, capture_output=True)
    (row,) = csv.DictReader(detectors_csv.open())
    committed = (ROOT / "docs" / "results" / "detectors_cpu.csv").read_text().splitlines()[0].split(",")
    assert list(row) == committed
    assert row["detector"] == "retinaface" and row["weights"] == "released" and row["torch_threads"] == "1"
    assert row["repeats"] == "3" and float(row["cpu_median_s"]) > 0
