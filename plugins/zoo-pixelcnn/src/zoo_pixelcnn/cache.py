"""Pieces of the cached sampler: feature-map buffers and masked convolutions evaluated in place.

A sampler that re-runs the whole network for each sub-pixel repeats almost all its work:
drawing sub-pixel (i, j, c) changes no feature before (i, j) in raster order. Following
Ramachandran et al. [3], the cached samplers in ``original.py`` and ``gated.py`` keep every
layer's input in a :class:`Canvas` and evaluate each layer only where the next sub-pixel
needs it: at the one position (i, j), or, for the gated vertical stack, once per row.
Every value the network reads there precedes (i, j) and is already final, so the result
equals the full forward pass up to floating-point round-off.

References:
    [3] P. Ramachandran, T. L. Paine, P. Khorrami, M. Babaeizadeh, S. Chang, Y. Zhang,
        M. Hasegawa-Johnson, R. H. Campbell, T. S. Huang, "Fast Generation for
        Convolutional Autoregressive Models", ICLR 2017 workshop.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from zoo_pixelcnn.masked import MaskedConv2d

__all__ = ["Canvas", "FrozenConv"]


class Canvas:
    """A feature map (B, C, H, W) stored with a zero margin above, left and right of it.

    The margin stands for a convolution's zero padding, so a window at the border has the
    same shape as one inside. Coordinates are the image's: row 0, column 0 is the top-left
    pixel, negative ones fall in the margin.
    """

    def __init__(self, batch: int, channels: int, height: int, width: int, margin: int, like: torch.Tensor):
        self.margin = margin
        self.data = like.new_zeros(batch, channels, height + margin, width + 2 * margin)

    def window(self, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
        """Rows top .. bottom-1 and columns left .. right-1: (B, C, bottom-top, right-left)."""
        m = self.margin
        return self.data[:, :, top + m:bottom + m, left + m:right + m]

    def at(self, i: int, j: int) -> torch.Tensor:
        """The (B, C) features at pixel (i, j)."""
        return self.data[:, :, i + self.margin, j + self.margin]

    def put(self, i: int, j: int, features: torch.Tensor) -> None:
        """Write (B, C) features at pixel (i, j)."""
        self.data[:, :, i + self.margin, j + self.margin] = features

    def put_channel(self, i: int, j: int, channel: int, values: torch.Tensor) -> None:
        """Write (B,) values into one channel at pixel (i, j)."""
        self.data[:, channel, i + self.margin, j + self.margin] = values

    def put_row(self, i: int, features: torch.Tensor) -> None:
        """Write (B, C, 1, W) features into row i."""
        m = self.margin
        self.data[:, :, i + m:i + m + 1, m:self.data.shape[-1] - m] = features


class FrozenConv:
    """A :class:`MaskedConv2d` with its masked weight computed once, evaluated in place.

    ``at`` gives the output at one pixel as a matrix product over the kernel's window
    (much cheaper than ``conv2d`` at this size); ``row`` gives a whole row; ``point``
    applies a 1x1 convolution to (B, C) features.
    """

    def __init__(self, conv: MaskedConv2d):
        self.up, self.left, self.right = conv.up, conv.left, conv.right
        self.kernel = conv.masked_weight().detach()
        self.matrix = self.kernel.flatten(1)
        self.bias = conv.bias

    def at(self, canvas: Canvas, i: int, j: int) -> torch.Tensor:
        """Output at pixel (i, j) from the layer's input canvas: (B, out_channels)."""
        window = canvas.window(i - self.up, i + 1, j - self.left, j + self.right + 1)
        return F.linear(window.reshape(len(window), -1), self.matrix, self.bias)

    def row(self, canvas: Canvas, i: int, width: int) -> torch.Tensor:
        """Output along row i from the layer's input canvas: (B, out_channels, 1, width)."""
        window = canvas.window(i - self.up, i + 1, -self.left, width + self.right)
        return F.conv2d(window, self.kernel, self.bias)

    def point(self, features: torch.Tensor) -> torch.Tensor:
        """A 1x1 convolution of (B, in_channels) features: (B, out_channels)."""
        return F.linear(features, self.matrix, self.bias)

    def map(self, features: torch.Tensor) -> torch.Tensor:
        """A 1x1 convolution of (B, in_channels, h, w) features."""
        return F.conv2d(features, self.kernel, self.bias)
