"""Softmax classifiers p(y | x) on pixel levels: softmax regression and a small CNN.

Both read integer images (B, C, H, W) in [0, L), scale them to [0, 1] by dividing by L - 1,
and return log_softmax of their logits. Dropout and batch norm follow the module's mode, as
in any torch model: ``zoo.load`` returns the model in eval mode, training uses train mode.
Both keep the float buffer ``label_counts`` (num_classes,), zeros until the training
engine records the training label counts in it (``prior="data"`` in zoo's Bayes adapters).

References:
    [1] K. Simonyan, A. Zisserman, "Very deep convolutional networks for large-scale image
        recognition", ICLR 2015 (stacks of 3x3 convolutions between poolings).
    [2] S. Ioffe, C. Szegedy, "Batch normalization", ICML 2015.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from zoo_core.errors import InvalidInput
from zoo_core.validate import check_class_names, check_event, check_images

__all__ = ["LinearSoftmax", "SmallCNN"]

#: Largest feature map (per side) that reaches the dense layer of :class:`SmallCNN`.
_MAX_GRID = 4


class _SoftmaxClassifier(nn.Module):
    """What both classifiers share: checks, scaling, class names, ``label_counts``."""

    def __init__(self, event_shape, num_levels, num_classes, class_names):
        super().__init__()
        self.event_shape = check_event(event_shape, num_levels, num_classes)
        if num_classes < 2:
            raise InvalidInput(f"a classifier needs num_classes >= 2; got {num_classes}")
        names = check_class_names(class_names, num_classes)
        self.num_levels, self.num_classes, self.class_names = num_levels, num_classes, names
        self.register_buffer("label_counts", torch.zeros(num_classes))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Unnormalised class scores (B, num_classes) of integer images (B, C, H, W)."""
        x = check_images(x, self.event_shape, self.num_levels)
        return self.net(x.to(self.label_counts.device, self.label_counts.dtype) / (self.num_levels - 1))

    def predict_log_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Natural-log p(y | x) for every class; returns (B, num_classes).

        Raises:
            InvalidInput: wrong shape, dtype or level range.
        """
        return torch.log_softmax(self.logits(x), -1)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Most probable class of each image; returns a long tensor (B,)."""
        return self.logits(x).argmax(-1)


class LinearSoftmax(_SoftmaxClassifier):
    """Softmax (multinomial logistic) regression on the scaled pixels.

    Args:
        event_shape, num_levels: the images, (C, H, W) with levels in [0, num_levels).
        num_classes, class_names: the labels and their names (default "0", "1", ...).
    """

    def __init__(self, event_shape=(1, 28, 28), num_levels=256, num_classes=10, class_names=None):
        super().__init__(event_shape, num_levels, num_classes, class_names)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(self.event_shape), num_classes))


def _conv_block(channels_in: int, channels_out: int, height: int, width: int, dropout: float):
    """Two 3x3 conv + batch norm + ReLU [1, 2], a 2x2 max-pool along each axis still >= 2, dropout."""
    pool = (2 if height >= 2 else 1, 2 if width >= 2 else 1)
    layers = []
    for cin in (channels_in, channels_out):
        layers += [nn.Conv2d(cin, channels_out, 3, padding=1, bias=False), nn.BatchNorm2d(channels_out), nn.ReLU()]
    if pool != (1, 1):
        layers.append(nn.MaxPool2d(pool))
    layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers), height // pool[0], width // pool[1]


class SmallCNN(_SoftmaxClassifier):
    """A small CNN: conv blocks, then a dense hidden layer, then the softmax layer.

    On Fashion-MNIST (1, 28, 28) the default has 0.44M parameters: blocks of 32, 64 and 128
    channels take 28x28 to 14x14, 7x7 and 3x3, then 128 hidden units, sized to pass 92.5%
    test accuracy within a few epochs of Adam. Images too small to pool
    along an axis skip that pooling, so (1, 2, 3) works; feature maps larger than 4x4 after
    the blocks are average-pooled to 4x4, so the dense layer stays small on large images.

    Args:
        event_shape, num_levels, num_classes, class_names: as in :class:`LinearSoftmax`.
        channels: output channels of each conv block.
        hidden: units of the dense layer.
        dropout: dropout after each conv block; twice that (at most 0.5) before the output.
    """

    def __init__(self, event_shape=(1, 28, 28), num_levels=256, num_classes=10, class_names=None,
                 channels: Sequence[int] = (32, 64, 128), hidden: int = 128, dropout: float = 0.1):
        super().__init__(event_shape, num_levels, num_classes, class_names)
        channels = list(channels)
        if not channels or not all(isinstance(c, int) and c > 0 for c in channels):
            raise InvalidInput(f"channels must be a non-empty list of positive integers; got {channels!r}")
        if not isinstance(hidden, int) or hidden < 1:
            raise InvalidInput(f"hidden must be a positive integer; got {hidden!r}")
        if not 0 <= dropout < 1:
            raise InvalidInput(f"dropout must be in [0, 1); got {dropout!r}")
        layers, (c, h, w) = [], self.event_shape
        for out in channels:
            block, h, w = _conv_block(c, out, h, w, dropout)
            layers.append(block)
            c = out
        if h > _MAX_GRID or w > _MAX_GRID:
            h, w = min(h, _MAX_GRID), min(w, _MAX_GRID)
            layers.append(nn.AdaptiveAvgPool2d((h, w)))
        layers += [nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU(), nn.Dropout(min(0.5, 2 * dropout)),
                   nn.Linear(hidden, num_classes)]
        self.net = nn.Sequential(*layers)
