"""CPU seconds of one-image jobs in two source trees, side by side (issue 31, item 1).

Each job is a fresh interpreter running a command's ``main`` on one frame, as the workflow's jobs
do; its CPU time (user + system, ``RUSAGE_CHILDREN``) includes the start-up: the imports that
item 1 removes. Rounds alternate the trees' order; one thread (``OMP_NUM_THREADS=1``, passive
wait). The script also reports whether torch was loaded at the end of each job; a job whose
command exits non-zero stops it (``yunet`` needs its checkpoint: ``LOWLIGHT_WEIGHTS``).

    git archive <old commit> | tar -x -C /tmp/before
    LOWLIGHT_WEIGHTS=../shared/weights OMP_NUM_THREADS=1 .venv/bin/python docs/results/startup_cpu.py /tmp/before . \\
        ../shared/data/darkface/image/252.png --rounds 5
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

JOBS = {
    "enhance raw": "from enhancers.cli import main; raise SystemExit(main(['--method', 'raw', '--no-progress', '-o', OUT, IMG]))",
    "enhance clahe": "from enhancers.cli import main; raise SystemExit(main(['--method', 'clahe', '--no-progress', '-o', OUT, IMG]))",
    "enhance gamma": "from enhancers.cli import main; raise SystemExit(main(['--method', 'gamma', '--no-progress', '-o', OUT, IMG]))",
    "detect retinaface": "from detectors.cli import main; raise SystemExit(main(['detect', '--quiet', '--detector', 'retinaface', '-o', OUT, IMG]))",
    "detect yunet": "from detectors.cli import main; raise SystemExit(main(['detect', '--quiet', '--detector', 'yunet', '-o', OUT, IMG]))",
}


def run_job(tree: Path, job: str, image: Path, out: Path, env: dict[str, str]) -> tuple[float, bool]:
    """CPU seconds of one job in a fresh interpreter whose imports come from ``tree``."""
    shutil.rmtree(out, ignore_errors=True)
    code = (f"import atexit, sys; atexit.register(lambda: print('torch' in sys.modules)); "
            f"OUT = {str(out)!r}; IMG = {str(image)!r}; {JOBS[job]}")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tree, env={**env, "PYTHONPATH": str(tree)},
                          capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{job} in {tree} failed:\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, proc.stdout.strip().splitlines()[-1] == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before", type=Path, help="the old source tree")
    parser.add_argument("after", type=Path, help="the new source tree")
    parser.add_argument("image", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", nargs="+", default=list(JOBS), choices=list(JOBS))
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    seconds: dict[str, dict[str, list[float]]] = {job: {t: [] for t in trees} for job in args.jobs}
    torch_loaded: dict[tuple[str, str], bool] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for r in range(args.rounds):
            for job in args.jobs:
                for name in trees if r % 2 == 0 else reversed(list(trees)):
                    cpu, loaded = run_job(trees[name], job, args.image.resolve(), Path(scratch) / name, env)
                    seconds[job][name].append(cpu)
                    torch_loaded[job, name] = loaded
    print(f"{'job':18s} {'before CPU-s':>12s} {'after CPU-s':>12s} {'ratio':>6s}  torch loaded (before/after); "
          f"medians of {args.rounds} alternating rounds")
    for job in args.jobs:
        old, new = (statistics.median(seconds[job][t]) for t in trees)
        print(f"{job:18s} {old:12.2f} {new:12.2f} {new / old:6.2f}  "
              f"{torch_loaded[job, 'before']}/{torch_loaded[job, 'after']}")


if __name__ == "__main__":
    main()
