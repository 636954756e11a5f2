"""Commands import torch only when the work needs it (issue 31, item 1): a classical enhancement,
an ONNX detector's detect and ``reports build`` run in a fresh interpreter and must leave torch
(and torchvision, pyiqa) out of ``sys.modules``; torch's import was most of such a one-image
job's CPU time. The ONNX RetinaFace's numpy NMS must keep what ``torchvision.ops.nms`` keeps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO_ROOT, SHARED_DIR

from detectors.nms import torchvision_nms
from lowlight_common.devices import gpu_driver_present

HEAVY = ("torch", "torchvision", "pyiqa")


def _run_without_torch(code: str, tmp_path: Path, env: dict[str, str] | None = None) -> None:
    """Run ``code`` in a fresh interpreter; fail if it fails or leaves a heavy module loaded."""
    check = f"\nimport sys\nloaded = [m for m in {HEAVY!r} if m in sys.modules]\nassert not loaded, loaded\n"
    full = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code) + check], cwd=REPO_ROOT, env=full,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _image(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "in" / "frame.png"
    path.parent.mkdir()
    cv2.imwrite(str(path), rng.integers(0, 60, size=(48, 64, 3), dtype=np.uint8))
    return path


def test_classical_enhancements_run_without_torch(tmp_path: Path) -> None:
    image = _image(tmp_path)
    code = f"""
        from enhancers.cli import main
        for method in ("raw", "he", "clahe", "gamma", "gamma_auto", "lime", "msrcr"):
            out = {str(tmp_path)!r} + "/" + method
            assert main(["--method", method, "--no-progress", "-o", out, "--manifest", out + ".json", {str(image)!r}]) == 0
            assert json.load(open(out + ".json"))["device"] == "cpu"
    """
    _run_without_torch("import json\n" + textwrap.dedent(code), tmp_path)


def test_onnx_detectors_detect_without_torch(tmp_path: Path) -> None:
    image = _image(tmp_path)
    detectors = ["retinaface", "centerface"]
    weights = SHARED_DIR / "weights"
    if (weights / "detectors" / "yunet").is_dir() and (weights / "detectors" / "scrfd").is_dir():
        detectors += ["yunet", "scrfd"]  # their checkpoints are in ../shared only
    code = f"""
        from detectors.cli import main
        for name in {detectors!r}:
            assert main(["detect", "--quiet", "--detector", name, "-o", {str(tmp_path)!r} + "/" + name, {str(image)!r}]) == 0
    """
    _run_without_torch(code, tmp_path, env={"LOWLIGHT_WEIGHTS": str(weights)})
    for name in detectors:
        assert (tmp_path / name / "frame.txt").is_file()


def test_reports_build_runs_without_torch(tmp_path: Path) -> None:
    from lldata.manifest import write_manifest

    image = tmp_path / "d" / "raw" / "images" / "0.png"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"png")
    write_manifest(tmp_path / "d" / "raw" / "shards" / "0.enhance.json", [image], method="raw", device="cpu",
                   options_as_run={}, weights={})
    config = {"datasets": {"d": {"kind": "unpaired", "path": str(tmp_path)}}, "methods": {"raw": {}}, "detectors": {}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    code = f"""
        from reports.cli import main
        assert main(["build", "--config-file", {str(tmp_path / "config.json")!r}, "--results-dir", {str(tmp_path)!r},
                     "-o", {str(tmp_path / "r")!r}]) == 0
    """
    if gpu_driver_present():
        pytest.skip("a GPU driver is present: the report asks torch whether CUDA is usable")
    _run_without_torch(code, tmp_path)
    assert (tmp_path / "r" / "index.html").is_file()


def _random_boxes(rng: np.random.Generator, n: int, integer: bool) -> tuple[np.ndarray, np.ndarray]:
    xy = rng.integers(0, 60, size=(n, 2)).astype(np.float64)
    wh = rng.integers(0, 12, size=(n, 2)).astype(np.float64)  # empty boxes included
    if not integer:
        xy += rng.random((n, 2))
        wh += rng.random((n, 2))
    scores = rng.integers(0, 20, size=n) / 20.0 if integer else rng.random(n)  # ties when integer
    return np.concatenate([xy, xy + wh], 1), scores


def test_numpy_nms_keeps_what_torchvision_keeps() -> None:
    """Integer boxes give IoUs exactly at 0.4 or 1/3 and tied scores: the comparison in float64
    against the threshold and the stable sort are what torchvision does."""
    import torch
    from torchvision.ops import nms

    rng = np.random.default_rng(0)
    for trial in range(60):
        boxes, scores = _random_boxes(rng, int(rng.integers(1, 300)), integer=trial % 2 == 0)
        threshold = (0.4, 0.5, 0.3, 1 / 3)[trial % 4]
        keep_top_k = int(rng.integers(1, 40)) if trial % 3 == 0 else 750
        want = nms(torch.from_numpy(boxes.astype(np.float32)), torch.from_numpy(scores.astype(np.float32)),
                   threshold).numpy()[:keep_top_k]
        np.testing.assert_array_equal(torchvision_nms(boxes, scores, threshold, keep_top_k), want)
    assert torchvision_nms(np.zeros((0, 4)), np.zeros(0), 0.4, 750).shape == (0,)
    boxes, scores = _random_boxes(rng, 200, integer=True)  # no limit: every box torchvision keeps
    want = nms(torch.from_numpy(boxes.astype(np.float32)), torch.from_numpy(scores.astype(np.float32)), 0.4).numpy()
    np.testing.assert_array_equal(torchvision_nms(boxes, scores, 0.4), want)


def test_modules_import_without_torch(tmp_path: Path) -> None:
    modules = ("enhancers.base", "enhancers.classical", "enhancers.lime", "enhancers.msrcr", "enhancers.weights",
               "detectors.retinaface_onnx", "detectors.nms", "detectors.yunet", "detectors.scrfd", "detectors.centerface",
               "reports.provenance", "reports.sections", "reports.build")
    _run_without_torch("".join(f"import {m}\n" for m in modules), tmp_path)
