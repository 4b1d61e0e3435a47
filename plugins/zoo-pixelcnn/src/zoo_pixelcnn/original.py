"""The original PixelCNN [1]: masked convolutions in residual blocks, a softmax per sub-pixel.

p(x) is the product over sub-pixels, in raster order with R, G, B in turn inside a pixel,
of softmax(logits)[x_cij], where, with x scaled linearly from [0, num_levels) to [-1, 1],

    h_0    = MaskA_k0(x)                                                     (k0 = 7)
    h_l    = h_{l-1} + 1x1(ReLU(MaskB_k(ReLU(1x1(ReLU(h_{l-1}))))))          l = 1 .. layers  [1, Fig. 5]
    logits = 1x1(ReLU(1x1(ReLU(h_layers))))                                   all mask B

Every convolution, 1x1 ones included, carries the channel-group mask (``masked.py``), so the
logits of channel c at (i, j) see only channels < c there [1, Sec. 3.4].

Differences from [1]:
    - ``channels`` is the residual stream's width (2h in [1]); the blocks work at channels // 2.
    - Inputs are scaled to [-1, 1] rather than fed as raw levels; no one-hot encoding.
    - Masked k x k kernels are stored as (k//2 + 1) x k (the masked-out rows are not kept).
    - The receptive field has the blind spot that [2] describes: a stack of masked k x k
      convolutions never sees part of the region up and to the right. ``gated.py`` removes it.

References:
    [1] A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu, "Pixel Recurrent Neural Networks",
        ICML 2016.
    [2] A. van den Oord et al., "Conditional Image Generation with PixelCNN Decoders", NeurIPS 2016.
    [3] P. Ramachandran et al., "Fast Generation for Convolutional Autoregressive Models",
        ICLR 2017 workshop.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from zoo_core.validate import check_size
from zoo_pixelcnn.autoregressive import PixelCNNDensity
from zoo_pixelcnn.cache import Canvas, FrozenConv
from zoo_pixelcnn.masked import MaskedConv2d, OutputHead, channel_groups

__all__ = ["ResidualBlock", "PixelCNNNet", "PixelCNNCache", "PixelCNN"]


class ResidualBlock(nn.Module):
    """h + 1x1(ReLU(MaskB_k(ReLU(1x1(ReLU(h)))))), at width ``channels``, inner width half that [1, Fig. 5]."""

    def __init__(self, channels: int, kernel_size: int, colours: int):
        super().__init__()
        inner, r = channels // 2, kernel_size // 2
        outer_groups, inner_groups = channel_groups(channels, colours), channel_groups(inner, colours)
        self.shrink = MaskedConv2d(channels, inner, in_groups=outer_groups, out_groups=inner_groups)
        self.conv = MaskedConv2d(inner, inner, up=r, left=r, right=r, in_groups=inner_groups,
                                 out_groups=inner_groups)
        self.expand = MaskedConv2d(inner, channels, in_groups=inner_groups, out_groups=outer_groups)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.shrink(F.relu(h)))
        return h + self.expand(F.relu(self.conv(a)))


class PixelCNNNet(nn.Module):
    """Scaled images (B, C, H, W) to logits (B, C * num_levels, H, W); arguments as for :class:`PixelCNN`."""

    def __init__(self, colours: int, num_levels: int, channels: int, layers: int, kernel_size: int,
                 first_kernel_size: int, output_channels: int):
        super().__init__()
        self.colours = colours
        r = first_kernel_size // 2
        self.first = MaskedConv2d(colours, channels, up=r, left=r, right=r, mask="A",
                                  in_groups=channel_groups(colours, colours),
                                  out_groups=channel_groups(channels, colours))
        self.blocks = nn.ModuleList(ResidualBlock(channels, kernel_size, colours) for _ in range(layers))
        self.head = OutputHead(channels, output_channels, colours, num_levels)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.first(x)
        for block in self.blocks:
            h = block(h)
        return self.head(h)

    def cache(self, batch: int, height: int, width: int, labels: torch.Tensor | None = None) -> "PixelCNNCache":
        return PixelCNNCache(self, batch, height, width)


class PixelCNNCache:
    """:class:`PixelCNNNet` evaluated one pixel at a time, for the cached sampler [3].

    Only the k x k convolutions read other pixels, so only their inputs are kept: the
    scaled image and, per block, the input of its masked convolution. Everything else
    acts on the current pixel alone. See ``cache.py``.
    """

    def __init__(self, net: PixelCNNNet, batch: int, height: int, width: int):
        like = net.head.out.weight
        self.input = Canvas(batch, net.colours, height, width, net.first.up, like)
        self.first = FrozenConv(net.first)
        self.blocks = [(FrozenConv(block.shrink), FrozenConv(block.conv), FrozenConv(block.expand),
                        Canvas(batch, block.conv.in_channels, height, width, block.conv.up, like))
                       for block in net.blocks]
        self.head = FrozenConv(net.head.hidden), FrozenConv(net.head.out)

    def begin_row(self, i: int) -> None:
        pass  # nothing is computed per row: every layer is evaluated at the current pixel

    def logits(self, i: int, j: int) -> torch.Tensor:
        """The network's logits at pixel (i, j): (B, C * num_levels)."""
        h = self.first.at(self.input, i, j)
        for shrink, conv, expand, inner in self.blocks:
            inner.put(i, j, F.relu(shrink.point(F.relu(h))))
            h = h + expand.point(F.relu(conv.at(inner, i, j)))
        hidden, out = self.head
        return out.point(F.relu(hidden.point(F.relu(h))))

    def put(self, i: int, j: int, channel: int, value: torch.Tensor) -> None:
        """Record the scaled value (B,) just drawn for one channel of pixel (i, j)."""
        self.input.put_channel(i, j, channel, value)


class PixelCNN(PixelCNNDensity):
    """The original PixelCNN [1] as a zoo density model (``pixelcnn/original``).

    Inputs are scaled to [-1, 1] before the first convolution. The defaults suit
    Fashion-MNIST (1 x 28 x 28, 256 levels).

    Args:
        event_shape: (C, H, W); C colour channels are predicted in order inside a pixel.
        num_levels: levels per sub-pixel (the softmax's size).
        channels: width of the residual stream (2h in [1]); at least 2.
        layers: number of residual blocks.
        kernel_size: odd size k of each block's masked k x k convolution.
        first_kernel_size: odd size of the first, mask-A convolution (7 in [1]).
        output_channels: width of the hidden 1x1 layer of the output head.
    """

    def __init__(self, event_shape: Sequence[int] = (1, 28, 28), num_levels: int = 256, channels: int = 128,
                 layers: int = 12, kernel_size: int = 3, first_kernel_size: int = 7, output_channels: int = 256):
        super().__init__(event_shape, num_levels)
        self.network = PixelCNNNet(self.event_shape[0], num_levels, check_size("channels", channels, at_least=2),
                                   check_size("layers", layers),
                                   check_size("kernel_size", kernel_size, odd=True),
                                   check_size("first_kernel_size", first_kernel_size, odd=True),
                                   check_size("output_channels", output_channels))
