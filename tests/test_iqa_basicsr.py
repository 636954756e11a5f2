"""The project's NIQE (pyiqa + the pristine model from the basicsr package) against BasicSR's own
``calculate_niqe`` on the same image files.

``import basicsr`` cannot be used: basicsr/__init__ imports its whole toolbox (archs, data,
models, ...), and basicsr/data/degradations.py imports ``torchvision.transforms.functional_tensor``,
which torchvision removed in 0.17 (ModuleNotFoundError with torchvision 0.29). So the test loads
basicsr/metrics/niqe.py and the two helper modules it needs from the installed package by file,
under stand-in package objects for ``basicsr``, ``basicsr.metrics`` and ``basicsr.utils`` whose
``__init__`` is never run (``basicsr.utils.bgr2ycbcr``, which metric_util imports from the
package, is set from color_util). The code that computes NIQE is BasicSR's, unchanged.

BasicSR's ``calculate_niqe`` is called with ``convert_to="gray"`` (0.299 R + 0.587 G + 0.114 B),
the luminance pyiqa's NIQE uses (its default "y" is the YCbCr luma with the 16..235 offset, a
different input), and ``crop_border=0`` like pyiqa.

Within 1e-3 holds for these three images (measured: 1e-4 or less). It is not a property of
every image. Measured the same way on 16 more scikit-image pictures and 10 DICM/LIME photos, 12
of the 26 agree within 1e-3; the others differ by up to 1.3e-1 (skimage's logo, a flat graphic),
5.2e-2 (immunohistochemistry), 1.2e-2 (DICM/05) and 2.3e-3 (coffee). BasicSR's own float32 path
(calculate_niqe casts to float32) and its float64 ``niqe()`` differ on such images by as much
(4.4e-2 on immunohistochemistry): the shape parameter of each block is the argmin over a 0.001
grid (pyiqa builds that grid in float32), and on near-constant blocks it jumps between grid
points with the last bits of the arithmetic; half-grey-level ties in the luminance rounding
add a little more (coffee). Both implementations are right to that precision and no further.
"""

from __future__ import annotations

import importlib.metadata
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from iqa.score import score_images
from lldata.imageio import write_png


def _basicsr_root() -> Path:
    try:
        dist = importlib.metadata.distribution("basicsr")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("basicsr is not installed (make install installs it, --no-deps)")
    return Path(str(dist.locate_file("basicsr")))


@pytest.fixture
def basicsr_niqe(monkeypatch):
    """BasicSR's basicsr.metrics.niqe module, imported without running basicsr's __init__."""
    root = _basicsr_root()
    for name, sub in (("basicsr", ""), ("basicsr.metrics", "metrics"), ("basicsr.utils", "utils")):
        package = types.ModuleType(name)
        package.__path__ = [str(root / sub)]
        monkeypatch.setitem(sys.modules, name, package)
    for name in ("basicsr.utils.color_util", "basicsr.utils.matlab_functions", "basicsr.utils.registry",
                 "basicsr.metrics.metric_util", "basicsr.metrics.niqe"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import basicsr.utils.color_util as color_util

    sys.modules["basicsr.utils"].bgr2ycbcr = color_util.bgr2ycbcr
    import basicsr.metrics.niqe as niqe

    assert Path(niqe.__file__).resolve() == (root / "metrics" / "niqe.py").resolve()
    yield niqe
    for name in list(sys.modules):
        if name == "basicsr" or name.startswith("basicsr."):
            monkeypatch.delitem(sys.modules, name, raising=False)


def test_project_niqe_equals_basicsr_calculate_niqe(tmp_path, monkeypatch, basicsr_niqe):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # empty: the model comes from the basicsr package
    images = {"chelsea": data.chelsea(), "coins": np.repeat(data.coins()[..., None], 3, axis=2),
              "motorcycle": data.stereo_motorcycle()[0]}
    items = []
    for name, image in images.items():
        write_png(tmp_path / f"{name}.png", image)
        items.append((name, tmp_path / f"{name}.png", None))
    table, skipped = score_images(items, ["niqe"])
    assert not skipped
    for row, (name, path, _) in zip(table.itertuples(), items, strict=True):
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        reference = basicsr_niqe.calculate_niqe(bgr, crop_border=0, input_order="HWC", convert_to="gray")
        assert row.niqe == pytest.approx(reference, abs=1e-3), name
        assert 1.0 < reference < 20.0, name  # a real NIQE value, not a degenerate one


def test_the_cached_model_is_basicsr_pristine_model(tmp_path, monkeypatch):
    """The converted .mat holds BasicSR's mu and cov unchanged (float64, no rounding)."""
    import scipy.io

    from iqa.registry import create_metric

    root = _basicsr_root()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    create_metric("niqe")
    mat = scipy.io.loadmat(tmp_path / "torch" / "hub" / "pyiqa" / "niqe_modelparameters.mat")
    npz = np.load(root / "metrics" / "niqe_pris_params.npz")
    np.testing.assert_array_equal(mat["mu_prisparam"].ravel(), npz["mu_pris_param"].ravel())
    np.testing.assert_array_equal(mat["cov_prisparam"], npz["cov_pris_param"])
    assert mat["cov_prisparam"].dtype == np.float64
