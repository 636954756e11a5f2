"""Seconds per 1080x720 frame of every face detector on this CPU, one thread, passive wait
(issue 31, item 7): writes ``detectors_cpu.csv``.

The former ``detectors_cpu.csv`` ran with 2 threads under OpenMP's active wait policy on a busy
2-vCPU machine, which inflated its times (docs/results/README.md, "Detector speed"). Here every visit is a fresh interpreter (``OMP_NUM_THREADS=1``, ``OMP_WAIT_POLICY=PASSIVE``,
``torch.set_num_threads(1)``) that builds one detector, runs ``--warmup`` untimed calls and then
``--repeats`` timed ``detector.detect(frame)`` calls, each timed as wall seconds
(``time.perf_counter``) and CPU seconds of the process (``time.process_time``). Rounds visit every
label once in an order shuffled per round (``--seed``), so drift of the shared machine spreads over
all labels; the CSV pools the timed calls of all rounds. ``wall/cpu`` near 1 means the frame got
its core; much above 1, that other jobs took it. Detectors whose checkpoint is absent run on
seeded random weights (``weights`` column: timing only; random scores pass the thresholds far
more often than a trained model's, see ``boxes``). ``peak_mem_mb``: the peak resident set of the
visit's process (imports and model included), largest over visits. Run from the repository root;
the second command adds DSFD's full test procedure (one frame, no warm-up):

    LOWLIGHT_WEIGHTS=../shared/weights .venv/bin/python docs/results/detectors_cpu.py \\
        ../shared/data/darkface/image/252.png --rounds 3 -o docs/results/detectors_cpu.csv
    .venv/bin/python docs/results/detectors_cpu.py ../shared/data/darkface/image/252.png \\
        --labels dsfd --rounds 1 --append -o docs/results/detectors_cpu.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

SINGLE = {"flip": False, "multi_scale": False, "pyramid": False}  # DSFD's single pass
# label -> (registry name, options, repeats per visit[, warm-up calls: default --warmup]); DSFD's
# single pass costs ~14 CPU-s a frame, so 1 repeat; its full procedure (11 passes) minutes, so no warm-up.
LABELS: dict[str, tuple] = {
    "mtcnn": ("mtcnn", {}, 3),
    "retinaface": ("retinaface", {}, 3),
    "retinaface_mnet": ("retinaface_mnet", {}, 3),
    "retinaface_r50": ("retinaface_r50", {}, 2),
    "dsfd_single": ("dsfd", SINGLE, 1),
    "mnet_099": ("retinaface_mnet", {"score_threshold": 0.99}, 3),
    "r50_099": ("retinaface_r50", {"score_threshold": 0.99}, 2),
    "dsfd_single_099": ("dsfd", {**SINGLE, "score_threshold": 0.99}, 1),
    "dsfd": ("dsfd", {}, 1, 0),
    "yunet": ("yunet", {}, 3),
    "yunet_s": ("yunet", {"variant": "s"}, 3),
    "scrfd": ("scrfd", {}, 3),
    "centerface": ("centerface", {}, 3),
}
COLUMNS = ["detector", "options", "weights", "device", "device_name", "size", "image", "warmup", "repeats",
           "median_s", "min_s", "mean_s", "peak_mem_mb", "boxes", "torch_threads", "torch_version", "date",
           "cpu_median_s", "wall_over_cpu", "rounds", "wait_policy", "load_avg_1min"]


def child(label: str, image_path: str, size: str, warmup: int) -> dict:
    """One visit: build the detector, warm up, time ``LABELS[label]``'s repeats (fresh process)."""
    import torch

    from efficiency.worker import create_detector_for, photo_frame, weights_label
    from lowlight_common.memory import peak_rss_bytes

    torch.set_num_threads(1)
    name, options, repeats = LABELS[label][:3]
    width, height = (int(v) for v in size.split("x"))
    frame = photo_frame(image_path, width, height)
    detector = create_detector_for(name, {**options, "random_weights_if_absent": True}, "cpu")
    for _ in range(warmup):
        detector.detect(frame)
    wall, cpu, boxes = [], [], 0
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        boxes = len(detector.detect(frame))
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return {"wall": wall, "cpu": cpu, "boxes": boxes, "weights": weights_label(detector),
            "peak_mem_mb": peak_rss_bytes() / 2**20, "torch_threads": torch.get_num_threads(),
            "torch_version": torch.__version__}


def visit(label: str, args: argparse.Namespace) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               OMP_WAIT_POLICY="PASSIVE")
    warmup = LABELS[label][3] if len(LABELS[label]) > 3 else args.warmup
    proc = subprocess.run([sys.executable, __file__, str(args.image), "--child", label, "--size", args.size,
                           "--warmup", str(warmup)], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["load"], result["warmup"] = os.getloadavg()[0], warmup
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("--size", default="1080x720")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--labels", nargs="+", default=[label for label in LABELS if label != "dsfd"],
                        choices=list(LABELS), help="default: all but the full DSFD procedure (minutes a frame)")
    parser.add_argument("--append", action="store_true", help="add the rows to an existing --output")
    parser.add_argument("--child", choices=list(LABELS), help=argparse.SUPPRESS)
    parser.add_argument("-o", "--output", type=Path, default=Path("detectors_cpu.csv"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, str(args.image), args.size, args.warmup)))
        return
    from efficiency.runner import device_name

    visits: dict[str, list[dict]] = {label: [] for label in args.labels}
    order = list(args.labels)
    for r in range(args.rounds):
        random.Random(args.seed * 1000 + r).shuffle(order)
        for label in order:
            result = visit(label, args)
            visits[label].append(result)
            print(f"round {r + 1} {label}: wall {statistics.median(result['wall']):.3f} s, "
                  f"cpu {statistics.median(result['cpu']):.3f} s, boxes {result['boxes']}, "
                  f"load {result['load']:.1f}", flush=True)
    rows = []
    for label in args.labels:
        name, options = LABELS[label][:2]
        wall = [t for v in visits[label] for t in v["wall"]]
        cpu = [t for v in visits[label] for t in v["cpu"]]
        first = visits[label][0]
        rows.append({
            "detector": name, "options": json.dumps(options), "weights": first["weights"], "device": "cpu",
            "device_name": device_name("cpu"), "size": args.size, "image": str(args.image),
            "warmup": first["warmup"], "repeats": len(wall), "median_s": statistics.median(wall),
            "min_s": min(wall), "mean_s": statistics.fmean(wall),
            "peak_mem_mb": max(v["peak_mem_mb"] for v in visits[label]), "boxes": visits[label][-1]["boxes"],
            "torch_threads": first["torch_threads"], "torch_version": first["torch_version"],
            "date": date.today().isoformat(), "cpu_median_s": statistics.median(cpu),
            "wall_over_cpu": statistics.median(w / c for w, c in zip(wall, cpu, strict=True)),
            "rounds": args.rounds, "wait_policy": "PASSIVE",
            "load_avg_1min": ";".join(f"{v['load']:.1f}" for v in visits[label]),
        })
    with args.output.open("a" if args.append else "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        if not args.append:
            writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
