"""DSFD's BatchNorm is folded into its convolutions at load (detectors.fold, issue 31): the
folded network has no BatchNorm left and gives the detections of the unfolded one within 1e-4."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from detectors import create_detector
from detectors.dsfd import CHECKPOINT, RANDOM_GAIN, DSFDNet, build_network


@pytest.mark.slow  # two ResNet-152 networks with seeded random weights: ~4 s
def test_folded_dsfd_detects_as_the_unfolded_network():
    folded = create_detector("dsfd", device="cpu", random_weights_seed=0, flip=False, multi_scale=False,
                             pyramid=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.net.modules())
    unfolded_net = build_network(DSFDNet(), CHECKPOINT, None, None, 0, RANDOM_GAIN)
    assert any(isinstance(m, nn.BatchNorm2d) for m in unfolded_net.modules())
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 80, size=(96, 128, 3), dtype=np.uint8)
    want_folded = folded.detect_pass(bgr, 1)
    folded.net = unfolded_net
    want_unfolded = folded.detect_pass(bgr, 1)
    assert want_folded.shape == want_unfolded.shape and len(want_unfolded) > 0
    np.testing.assert_allclose(want_folded, want_unfolded, atol=1e-4, rtol=1e-6)
