"""DSFD, the Dual Shot Face Detector (Li et al., CVPR 2019), as released by the authors
(Tencent/FaceDetection-DSFD, ``face_ssd.py`` with the ``widerface_640`` configuration): a
torchvision ResNet-152 backbone with two extra stages, a top-down feature pyramid that
*multiplies* the upsampled map into the lateral one, a feature enhance module (FEM) per level,
"progressive anchor" heads of three 3x3 convolutions and a 1x1 (only the face outputs are used
at test time), and max-in-out classification. Their WIDER FACE checkpoint
(``WIDERFace_DSFD_RES152.pth``) loads unchanged.

Test time follows their ``widerface_val.py``: single pass at ``shrink`` (1 unless the image is
huge), a horizontally flipped pass, the multi-scale passes (0.5/0.75 for large faces, 1.5/2/3
for small ones) and the pyramid passes (0.25, 1.25, 1.75, 2.25) with their size filters, then
their score-weighted box voting (``bbox_vote``: groups at IoU >= 0.3, singletons dropped, at most
750 boxes). Each stage is an option. Two details are theirs on purpose: a pass that finds
nothing contributes the placeholder box ``[0, 0, 0, 0]`` with score 0.001, and the bilinear
upsampling in the pyramid uses ``align_corners=True``, which is what ``F.upsample`` did in the
PyTorch 0.3.1 they trained and tested with (newer PyTorch changed the default).

Input: RGB uint8; the network gets BGR minus the means (104, 117, 123), as in their script.
At load the BatchNorms are folded into the convolutions before them (:mod:`detectors.fold`),
as for the PyTorch RetinaFace; the detections agree with the unfolded network's within 1e-4.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from detectors.base import Detections, Detector
from detectors.fold import fold_batchnorm_

CHECKPOINT = "dsfd/WIDERFace_DSFD_RES152.pth"
MEANS_BGR = (104.0, 117.0, 123.0)
STEPS = (4, 8, 16, 32, 64, 128)
MIN_SIZES = (16, 32, 64, 128, 256, 512)
ASPECT = 1.5
VARIANCE = (0.1, 0.2)
# Their cap on the input size: "the max size of input image for caffe"
MAX_PIXELS = 0x7FFFFFFF / 200.0
# Gain of the seeded random weights (detectors.random_init) for this network: chosen so that
# ResNet-152's residual stream neither explodes nor vanishes (box offsets of a few units,
# scores spread), which the parity tests and the random-weight timings rely on.
RANDOM_GAIN = 0.58


class FEM(nn.Module):
    """Feature enhance module: dilated 3x3 branches concatenated to 512 channels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.cpm1 = nn.Conv2d(channels, 256, 3, padding=1)
        self.cpm2 = nn.Conv2d(channels, 256, 3, dilation=2, padding=2)
        self.cpm3 = nn.Conv2d(256, 128, 3, padding=1)
        self.cpm4 = nn.Conv2d(256, 128, 3, dilation=2, padding=2)
        self.cpm5 = nn.Conv2d(128, 128, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.cpm1(x))
        b = F.relu(self.cpm2(x))
        c = F.relu(self.cpm3(b))
        d = F.relu(self.cpm4(b))
        e = F.relu(self.cpm5(d))
        return torch.cat([a, c, e], 1)


class DeepHead(nn.Module):
    """Three 3x3 convolutions with ReLU and a 1x1 output convolution."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        mid = min(in_channels, 256)
        self.conv1 = nn.Conv2d(in_channels, mid, 3, padding=1)
        self.conv2 = nn.Conv2d(mid, mid, 3, padding=1)
        self.conv3 = nn.Conv2d(mid, mid, 3, padding=1)
        self.conv4 = nn.Conv2d(mid, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv4(F.relu(self.conv3(F.relu(self.conv2(F.relu(self.conv1(x)))))))


def _stage(cin: int, mid: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, mid, 1),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid, cout, 3, padding=1, stride=2),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class DSFDNet(nn.Module):
    """The network; ``forward`` returns face box offsets and face/background logits per prior.

    Module names equal the authors' so that their state dict loads with ``strict=True``.
    """

    channels = (256, 512, 1024, 2048, 512, 256)

    def __init__(self, align_corners: bool = True) -> None:
        super().__init__()
        self.align_corners = bool(align_corners)
        r = torchvision.models.resnet152(weights=None)
        self.layer1 = nn.Sequential(r.conv1, r.bn1, r.relu, r.maxpool, r.layer1)
        self.layer2 = nn.Sequential(r.layer2)
        self.layer3 = nn.Sequential(r.layer3)
        self.layer4 = nn.Sequential(r.layer4)
        self.layer5 = _stage(2048, 512, 512)
        self.layer6 = _stage(512, 128, 256)
        c = self.channels
        self.latlayer3 = nn.Conv2d(c[3], c[2], 1)
        self.latlayer2 = nn.Conv2d(c[2], c[1], 1)
        self.latlayer1 = nn.Conv2d(c[1], c[0], 1)
        self.smooth3 = nn.Conv2d(c[2], c[2], 1)
        self.smooth2 = nn.Conv2d(c[1], c[1], 1)
        self.smooth1 = nn.Conv2d(c[0], c[0], 1)
        self.cpm3_3, self.cpm4_3, self.cpm5_3 = FEM(c[0]), FEM(c[1]), FEM(c[2])
        self.cpm7, self.cpm6_2, self.cpm7_2 = FEM(c[3]), FEM(c[4]), FEM(c[5])
        # progressive anchors: face (+ head, + body) outputs; max-in-out adds 2 class channels
        loc_out = [4, 8, 12, 12, 12, 12]
        conf_out = [4, 6, 8, 8, 8, 8]
        self.loc = nn.ModuleList(DeepHead(512, n) for n in loc_out)
        self.conf = nn.ModuleList(DeepHead(512, n) for n in conf_out)

    def _up_mul(self, top: torch.Tensor, lateral: torch.Tensor) -> torch.Tensor:
        size = lateral.shape[2:]
        up = F.interpolate(top, size=size, mode="bilinear", align_corners=self.align_corners)
        return up * lateral

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int]]]:
        c3 = self.layer1(x)
        c4 = self.layer2(c3)
        c5 = self.layer3(c4)
        fc7 = self.layer4(c5)
        c6 = self.layer5(fc7)
        c7 = self.layer6(c6)
        p5 = self._up_mul(self.latlayer3(fc7), self.smooth3(c5))
        p4 = self._up_mul(self.latlayer2(p5), self.smooth2(c4))
        p3 = self._up_mul(self.latlayer1(p4), self.smooth1(c3))
        fems = (self.cpm3_3, self.cpm4_3, self.cpm5_3, self.cpm7, self.cpm6_2, self.cpm7_2)
        sources = [f(s) for f, s in zip(fems, (p3, p4, p5, fc7, c6, c7), strict=True)]
        locs, confs, sizes = [], [], []
        for level, feat in enumerate(sources):
            sizes.append((int(feat.shape[2]), int(feat.shape[3])))
            loc = self.loc[level](feat)[:, :4]
            c = self.conf[level](feat)
            best = torch.max(torch.max(c[:, 0:1], c[:, 1:2]), c[:, 2:3])
            # max-in-out: level 0 maxes three background channels, the others three face channels
            face = torch.cat([best, c[:, 3:4]] if level == 0 else [c[:, 3:4], best], 1)
            locs.append(loc.permute(0, 2, 3, 1).reshape(x.shape[0], -1, 4))
            confs.append(face.permute(0, 2, 3, 1).reshape(x.shape[0], -1, 2))
        return torch.cat(locs, 1), torch.cat(confs, 1), sizes


def priors(sizes: list[tuple[int, int]], height: int, width: int) -> torch.Tensor:
    """Their PriorBox: one 1.5-aspect prior per cell, ``(cx, cy, w, h)`` relative, clipped to [0, 1]."""
    out = []
    for (fh, fw), step, min_size in zip(sizes, STEPS, MIN_SIZES, strict=True):
        cy, cx = np.meshgrid(
            (np.arange(fh) + 0.5) / (height / step),
            (np.arange(fw) + 0.5) / (width / step),
            indexing="ij",
        )
        w = np.full(cx.shape, min_size / width / math.sqrt(ASPECT))
        h = np.full(cx.shape, min_size / height * math.sqrt(ASPECT))
        out.append(np.stack([cx, cy, w, h], -1).reshape(-1, 4))
    return torch.from_numpy(np.concatenate(out).astype(np.float32)).clamp_(0, 1)


def decode(loc: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """SSD box decoding with variances (0.1, 0.2) to relative ``x1 y1 x2 y2``."""
    centre = prior[:, :2] + loc[:, :2] * VARIANCE[0] * prior[:, 2:]
    size = prior[:, 2:] * torch.exp(loc[:, 2:] * VARIANCE[1])
    x1y1 = centre - size / 2
    return torch.cat([x1y1, size + x1y1], 1)


def nms_keep(boxes: torch.Tensor, scores: torch.Tensor, iou: float, top_k: int) -> torch.Tensor:
    """Their greedy NMS: the ``top_k`` best scores, suppress IoU > ``iou`` (areas without +1)."""
    from torchvision.ops import nms

    order = torch.argsort(scores, descending=True)[:top_k]
    keep = nms(boxes[order], scores[order], iou)
    return order[keep]


def box_size_filter(det: np.ndarray, keep_large: bool, limit: float) -> np.ndarray:
    """Their size filters: max side > limit (large faces) or min side < limit (small faces)."""
    w = det[:, 2] - det[:, 0] + 1
    h = det[:, 3] - det[:, 1] + 1
    mask = np.maximum(w, h) > limit if keep_large else np.minimum(w, h) < limit
    return det[mask]


def bbox_vote(det: np.ndarray, iou: float = 0.3, keep_top_k: int = 750) -> np.ndarray:
    """Their box voting: the best remaining box and all boxes with IoU >= ``iou`` (+1 areas)
    become one box, the score-weighted mean of their corners with the group's best score;
    groups of a single box are dropped. At most ``keep_top_k`` boxes, best group first."""
    det = det[det[:, 4].ravel().argsort()[::-1]]
    groups = []
    while det.shape[0] > 0:
        area = (det[:, 2] - det[:, 0] + 1) * (det[:, 3] - det[:, 1] + 1)
        w = np.maximum(0.0, np.minimum(det[0, 2], det[:, 2]) - np.maximum(det[0, 0], det[:, 0]) + 1)
        h = np.maximum(0.0, np.minimum(det[0, 3], det[:, 3]) - np.maximum(det[0, 1], det[:, 1]) + 1)
        inter = w * h
        merge = inter / (area[0] + area - inter) >= iou
        group, det = det[merge], det[~merge]
        if group.shape[0] <= 1:
            continue
        weights = group[:, 4:5]
        corners = np.sum(group[:, :4] * weights, axis=0) / np.sum(weights)
        groups.append(np.concatenate([corners, [group[:, 4].max()]]))
        if len(groups) >= keep_top_k:
            break
    return np.asarray(groups, dtype=np.float64).reshape(-1, 5)


class DSFDDetector(Detector):
    name = "dsfd"
    description = (
        "DSFD ResNet-152 (Li et al. 2019), authors' WIDER FACE checkpoint; their test-time "
        "flip + multi-scale + pyramid + box voting (each an option)"
    )
    source_package = "project re-implementation of Tencent/FaceDetection-DSFD (face_ssd.py, widerface_val.py)"
    weights = f"<weights_dir>/{CHECKPOINT} (download: detectors/weights_manifest.json)"
    licence = "Tencent FaceDetection-DSFD licence: academic research use only"
    runtime = "torch"

    def __init__(
        self,
        device: str = "cpu",
        flip: bool = True,
        multi_scale: bool = True,
        pyramid: bool = True,
        bbox_vote: bool = True,
        max_shrink: float = 3.0,
        max_pixels: float = MAX_PIXELS,
        score_threshold: float = 0.01,
        nms_threshold: float = 0.3,
        top_k: int = 5000,
        vote_threshold: float = 0.3,
        keep_top_k: int = 750,
        align_corners: bool = True,
        weights_dir: str | None = None,
        checkpoint_sha256: str | None = None,
        random_weights_seed: int | None = None,
    ) -> None:
        if not 0.0 <= float(score_threshold) < 1.0:
            raise ValueError(f"dsfd: score_threshold must be in [0, 1), got {score_threshold}")
        for name, value in (("nms_threshold", nms_threshold), ("vote_threshold", vote_threshold)):
            if not 0.0 < float(value) <= 1.0:
                raise ValueError(f"dsfd: {name} must be in (0, 1], got {value}")
        if float(max_shrink) <= 0 or float(max_pixels) <= 0:
            raise ValueError(
                f"dsfd: max_shrink and max_pixels must be > 0, got {max_shrink}, {max_pixels}"
            )
        self.device = device
        self.flip, self.multi_scale, self.pyramid = bool(flip), bool(multi_scale), bool(pyramid)
        self.bbox_vote = bool(bbox_vote)
        self.max_shrink, self.max_pixels = float(max_shrink), float(max_pixels)
        self.score_threshold, self.nms_threshold = float(score_threshold), float(nms_threshold)
        self.top_k, self.keep_top_k = int(top_k), int(keep_top_k)
        self.vote_threshold = float(vote_threshold)
        self.net = build_network(
            DSFDNet(align_corners=align_corners),
            CHECKPOINT,
            weights_dir,
            checkpoint_sha256,
            random_weights_seed,
            RANDOM_GAIN,
        )
        self.random_weights = random_weights_seed is not None
        fold_batchnorm_(self.net)  # 159 BatchNorms: one pass over each feature map fewer
        self.net.to(device)

    @classmethod
    def unavailable_reason(cls, options: dict[str, Any]) -> str | None:
        if options.get("random_weights_seed") is not None:
            return None
        from detectors.checkpoints import missing_reason

        return missing_reason(CHECKPOINT, options.get("weights_dir"))

    @torch.no_grad()
    def detect_pass(self, bgr: np.ndarray, shrink: float) -> np.ndarray:
        """One network pass at scale ``shrink`` (their ``detect_face``): N x 5 in input pixels."""
        x = bgr
        if shrink != 1:
            x = cv2.resize(bgr, None, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_LINEAR)
        height, width = x.shape[:2]
        tensor = torch.from_numpy(x.astype(np.float32) - np.array(MEANS_BGR, dtype=np.float32))
        tensor = tensor.permute(2, 0, 1).unsqueeze(0).to(self.device)
        loc, conf, sizes = self.net(tensor)
        prior = priors(sizes, height, width).to(self.device)
        boxes = decode(loc[0], prior)
        scores = F.softmax(conf[0], dim=-1)[:, 1]
        mask = scores > self.score_threshold
        boxes, scores = boxes[mask], scores[mask]
        if scores.numel() == 0:
            return np.array([[0, 0, 0, 0, 0.001]])  # their placeholder for "nothing found"
        keep = nms_keep(boxes, scores, self.nms_threshold, self.top_k)
        scale = torch.tensor(
            [width, height, width, height], dtype=torch.float32, device=self.device
        )
        boxes = (boxes[keep] * scale).cpu().numpy()
        return np.column_stack([boxes / shrink, scores[keep].cpu().numpy()])

    def flip_pass(self, bgr: np.ndarray, shrink: float) -> np.ndarray:
        det = self.detect_pass(cv2.flip(bgr, 1), shrink)
        out = det.copy()
        out[:, 0] = bgr.shape[1] - det[:, 2]
        out[:, 2] = bgr.shape[1] - det[:, 0]
        return out

    def multi_scale_passes(self, bgr: np.ndarray, max_shrink: float) -> list[np.ndarray]:
        """Their ``multi_scale_test``: shrunk passes keep large faces, enlarged ones small faces."""
        st = 0.5 if max_shrink >= 0.75 else 0.5 * max_shrink
        det_s = [self.detect_pass(bgr, st)]
        if max_shrink > 0.75:
            det_s.append(self.detect_pass(bgr, 0.75))
        det_s = box_size_filter(np.vstack(det_s), keep_large=True, limit=30)
        bt = min(2, max_shrink) if max_shrink > 1 else (st + max_shrink) / 2
        det_b = [self.detect_pass(bgr, bt)]
        if max_shrink > 1.5:
            det_b.append(self.detect_pass(bgr, 1.5))
        if max_shrink > 2:
            bt *= 2
            while bt < max_shrink:
                det_b.append(self.detect_pass(bgr, bt))
                bt *= 2
            det_b.append(self.detect_pass(bgr, max_shrink))
        det_b = np.vstack(det_b)
        det_b = (
            box_size_filter(det_b, keep_large=False, limit=100)
            if bt > 1
            else box_size_filter(det_b, True, 30)
        )
        return [det_s, det_b]

    def pyramid_passes(self, bgr: np.ndarray, max_shrink: float) -> list[np.ndarray]:
        """Their ``multi_scale_test_pyramid``: 0.25 for large faces, 1.25-2.25 for small ones."""
        out = [box_size_filter(self.detect_pass(bgr, 0.25), keep_large=True, limit=30)]
        for s in (1.25, 1.75, 2.25):
            if s <= max_shrink:
                out.append(box_size_filter(self.detect_pass(bgr, s), keep_large=False, limit=100))
        return out

    def detect_raw(self, image: np.ndarray) -> np.ndarray:
        """The whole test-time procedure on an RGB image: N x 5 (x1, y1, x2, y2, score)."""
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        max_shrink = min(self.max_shrink, (self.max_pixels / (bgr.shape[0] * bgr.shape[1])) ** 0.5)
        shrink = max_shrink if max_shrink < 1 else 1
        dets = [self.detect_pass(bgr, shrink)]
        if self.flip:
            dets.append(self.flip_pass(bgr, shrink))
        if self.multi_scale:
            dets += self.multi_scale_passes(bgr, max_shrink)
        if self.pyramid:
            dets += self.pyramid_passes(bgr, max_shrink)
        det = np.vstack(dets).astype(np.float64)
        if self.bbox_vote:
            return bbox_vote(det, self.vote_threshold, self.keep_top_k)
        keep = nms_keep(
            torch.from_numpy(det[:, :4]), torch.from_numpy(det[:, 4]), self.nms_threshold, len(det)
        )
        return det[keep.numpy()[: self.keep_top_k]]

    def _detect(self, image: np.ndarray) -> Detections:
        det = self.detect_raw(image)
        return Detections(det[:, :4], det[:, 4])


def build_network(
    net: nn.Module,
    checkpoint: str,
    weights_dir: str | None,
    checkpoint_sha256: str | None,
    random_weights_seed: int | None,
    random_gain: float = 1.0,
) -> nn.Module:
    """The network in eval mode with the released checkpoint, or with the seeded random weights
    of :mod:`detectors.random_init` (tests and timing only; never for results)."""
    if random_weights_seed is not None:
        from detectors.random_init import randomize_

        randomize_(net, int(random_weights_seed), random_gain)
    else:
        from detectors.checkpoints import load_into, load_state_dict

        load_into(net, load_state_dict(checkpoint, weights_dir, checkpoint_sha256), checkpoint)
    return net.eval()
