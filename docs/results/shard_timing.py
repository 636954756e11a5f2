"""Wall and CPU seconds of the DARK FACE study's shard jobs, start-up apart from the per-frame cost
(issue 31, item 7): writes ``shard_cpu.csv``.

Each job is the command line a workflow shard runs (``workflow/rules/enhance.smk``, ``detect.smk``:
``python -m lowlight_common.joblog ... -- enhance ...`` / ``... -- detectors detect ...``, with the
shard's images/stems file and a completion manifest), run twice per round in a fresh process: on
a 1-frame shard and on an N-frame shard (N = ``--frames``, or the job's own smaller N for the
slowest methods). Then, per round,

    per-frame = (t_N - t_1) / (N - 1)        start-up = t_1 - per-frame

(start-up: interpreter, imports, model load, manifest), for wall time (``time.perf_counter``
around the job) and CPU time (user + system of the job's processes, ``RUSAGE_CHILDREN``); the CSV
gives the medians over rounds and every round's values. Rounds run the jobs in an order shuffled
per round (``--seed``) and alternate which shard size of a job goes first.

The data: the shared folder has 5 real DARK FACE frames (1080x720) with labels, so the N-frame
dataset repeats them under distinct names (``252_r01.png`` ... as symlinks, in ``--scratch``, never
in the repository); the per-frame cost is therefore that of those 5 scenes. Detection jobs run on
the ``raw`` method's output of the same shard (the workflow's ``detect <dataset>/raw/<detector>``
job); the cost of MTCNN and of the NMS of other detectors depends on the picture, so on enhanced
frames it differs. One thread, passive wait (``OMP_NUM_THREADS=1``, ``OMP_WAIT_POLICY=PASSIVE``),
CPU only. Run from the repository root:

    LOWLIGHT_WEIGHTS=../shared/weights .venv/bin/python docs/results/shard_timing.py \\
        ../shared/data/darkface --scratch /tmp/shard_timing --frames 50 --rounds 2 -o docs/results/shard_cpu.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

DIFFLL = {"checkpoint": "models/diffll-sice", "steps": 10, "seed": 0, "precision": "bf16"}  # config/darkface.yaml


@dataclass(frozen=True)
class Job:
    """One workflow job: ``kind`` enhance (``name`` = method) or detect (``name`` = detector, on
    the ``raw`` output); ``frames`` caps the shard size for slow methods (0: ``--frames``)."""

    kind: str
    name: str
    options: dict = field(default_factory=dict)
    frames: int = 0

    @property
    def label(self) -> str:
        return f"{self.kind} {'raw/' if self.kind == 'detect' else ''}{self.name}"


JOBS = [
    Job("enhance", "raw"), Job("enhance", "he"), Job("enhance", "clahe"), Job("enhance", "gamma_auto"),
    Job("enhance", "lime"), Job("enhance", "msrcr"), Job("enhance", "zero_dce_pp"), Job("enhance", "sci_medium"),
    Job("enhance", "ruas_lol"), Job("enhance", "diffll", DIFFLL, frames=10),
    Job("detect", "retinaface"), Job("detect", "yunet"), Job("detect", "scrfd"), Job("detect", "centerface"),
    Job("detect", "mtcnn"),
]
JOB_BY_LABEL = {job.label: job for job in JOBS}


def make_dataset(source: Path, root: Path, frames: int) -> list[str]:
    """A DARK FACE-layout folder of ``frames`` frames: the source's frames repeated under distinct
    stems (symlinks to the images and labels); returns the stems in order."""
    originals = sorted(p.stem for p in (source / "image").glob("*.png"))
    if not originals:
        raise SystemExit(f"{source / 'image'}: no .png frames")
    shutil.rmtree(root / "data", ignore_errors=True)
    for sub in ("image", "label"):
        (root / "data" / sub).mkdir(parents=True)
    stems = []
    for index in range(frames):
        original = originals[index % len(originals)]
        stem = f"{original}_r{index // len(originals) + 1:02d}"
        (root / "data" / "image" / f"{stem}.png").symlink_to((source / "image" / f"{original}.png").resolve())
        label = source / "label" / f"{original}.txt"
        if label.exists():
            (root / "data" / "label" / f"{stem}.txt").symlink_to(label.resolve())
        stems.append(stem)
    return stems


def write_shard(root: Path, stems: list[str], frames: int) -> Path:
    """``<frames>.images`` and ``<frames>.stems`` (what ``lldata shard`` writes) for the first frames."""
    shards = root / "shards"
    shards.mkdir(exist_ok=True)
    part = stems[:frames]
    (shards / f"{frames}.images").write_text("".join(f"{root / 'data' / 'image' / s}.png\n" for s in part))
    (shards / f"{frames}.stems").write_text("".join(f"{s}\n" for s in part))
    return shards


def command(job: Job, root: Path, frames: int) -> list[str]:
    """The job's command line as the workflow builds it, on the ``frames``-frame shard."""
    run = root / "runs" / f"{job.kind}-{job.name}-{frames}"
    options = [arg for key, value in job.options.items() for arg in ("--option", f"{key}={json.dumps(value)}")]
    wrapper = [sys.executable, "-m", "lowlight_common.joblog", "--log", str(run / "job.log"), "--label", job.label, "--"]
    if job.kind == "enhance":
        return wrapper + ["enhance", "--method", job.name, *options, "--device", "cpu", "--batch-size", "auto",
                          "--images-from", str(root / "shards" / f"{frames}.images"),
                          "--manifest", str(run / "manifest.json"), "-o", str(run / "out")]
    return wrapper + ["detectors", "detect", "--detector", job.name, *options, "--device", "cpu",
                      "--only-stems", str(root / "shards" / f"{frames}.stems"), "--manifest", str(run / "manifest.json"),
                      "-o", str(run / "out"), str(root / "raw")]


def run_job(job: Job, root: Path, frames: int, env: dict[str, str]) -> dict:
    """Wall and CPU seconds of one fresh run of the job, and the 1-minute load average around it."""
    run = root / "runs" / f"{job.kind}-{job.name}-{frames}"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    argv = command(job, root, frames)
    load_before = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        log = (run / "job.log").read_text() if (run / "job.log").exists() else ""
        raise SystemExit(f"{job.label} ({frames} frames) failed:\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}{log[-2000:]}")
    written = len(list((run / "out").glob("*")))
    if written != frames:
        raise SystemExit(f"{job.label}: {written} output files for {frames} frames ({run / 'out'})")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "load": (load_before + os.getloadavg()[0]) / 2}


def split(t1: float, tn: float, frames: int) -> tuple[float, float]:
    """(per-frame, start-up) from the times of a 1-frame and an N-frame shard."""
    per_frame = (tn - t1) / (frames - 1)
    return per_frame, t1 - per_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("darkface", type=Path, help="a DARK FACE folder (image/, label/)")
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/shard_timing"), help="outside the repository")
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--project", type=int, default=1000, help="frames of the labelled projection")
    parser.add_argument("--jobs", nargs="+", default=[job.label for job in JOBS], choices=list(JOB_BY_LABEL))
    parser.add_argument("-o", "--output", type=Path, default=Path("shard_cpu.csv"))
    args = parser.parse_args()
    jobs = [JOB_BY_LABEL[label] for label in args.jobs]
    root = args.scratch.resolve()
    if Path.cwd().resolve() in (root, *root.parents):
        raise SystemExit(f"--scratch {root} is inside the working directory: use a folder outside the repository")
    stems = make_dataset(args.darkface, root, args.frames)
    sizes = sorted({1, args.frames, *(job.frames for job in jobs if job.frames)})
    for size in sizes:
        write_shard(root, stems, size)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               OMP_WAIT_POLICY="PASSIVE")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])  # the console scripts
    # the detectors' input: the raw method's output of the whole set (not timed)
    raw = Job("enhance", "raw")
    run_job(raw, root, args.frames, env)
    shutil.rmtree(root / "raw", ignore_errors=True)
    shutil.copytree(root / "runs" / f"enhance-raw-{args.frames}" / "out", root / "raw")
    times: dict[str, dict[int, list[dict]]] = {job.label: {} for job in jobs}
    order = list(jobs)
    for r in range(args.rounds):
        random.Random(args.seed * 1000 + r).shuffle(order)
        for job in order:
            n = job.frames or args.frames
            for frames in (1, n) if r % 2 == 0 else (n, 1):
                result = run_job(job, root, frames, env)
                times[job.label].setdefault(frames, []).append(result)
                print(f"round {r + 1} {job.label} {frames} frame(s): wall {result['wall']:.1f} s, "
                      f"cpu {result['cpu']:.1f} s, load {result['load']:.1f}", flush=True)
    from efficiency.runner import device_name

    rows = []
    for job in jobs:
        n = job.frames or args.frames
        one, many = times[job.label][1], times[job.label][n]
        row = {"job": job.label, "options": json.dumps(job.options), "frames": n, "rounds": args.rounds}
        for clock in ("wall", "cpu"):
            parts = [split(a[clock], b[clock], n) for a, b in zip(one, many, strict=True)]
            per_frame = statistics.median(p for p, _ in parts)
            startup = statistics.median(s for _, s in parts)
            row.update({
                f"{clock}_1_s": statistics.median(a[clock] for a in one),
                f"{clock}_n_s": statistics.median(b[clock] for b in many),
                f"{clock}_per_frame_s": per_frame, f"{clock}_startup_s": startup,
                f"{clock}_projection_{args.project}_s": startup + args.project * per_frame,
                f"{clock}_per_frame_rounds": ";".join(f"{p:.4g}" for p, _ in parts),
                f"{clock}_startup_rounds": ";".join(f"{s:.4g}" for _, s in parts),
            })
        row.update({"load_avg_1min": ";".join(f"{v['load']:.1f}" for v in one + many),
                    "threads": 1, "wait_policy": "PASSIVE", "device_name": device_name("cpu"),
                    "image": f"{args.darkface} (5 frames repeated)", "date": date.today().isoformat()})
        rows.append(row)
    with args.output.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
