"""The Gated PixelCNN [2], unconditional and class-conditional.

Each layer runs two stacks [2, Fig. 2]: a vertical stack v that sees every row above the
current one, and a horizontal stack h that sees the current row up to the current pixel.
With x scaled linearly from [0, num_levels) to [-1, 1], v_0 = h_0 = x, and y the label of a
conditional model, layer l computes

    v'     = V * v                                  kernel (k//2 + 1) x k: rows i-k//2 .. i
    h'     = H * h + 1x1(shift_down(v')) + e_h(y)   kernel 1 x (k//2 + 1): columns j-k//2 .. j,
                                                    mask A in layer 1, mask B after
    v_out  = gate(v' + e_v(y))                      gate([a, b]) = tanh(a) * sigmoid(b)  [2, Eq. 2]
    h_out  = h + 1x1(gate(h'))                      (no residual in layer 1)
    skip  += 1x1(gate(h'))
    logits = 1x1(ReLU(1x1(ReLU(skip))))            after the last layer, all mask B

The vertical stack reads its own row, including pixels to the right, but reaches the
horizontal stack only shifted down a row; so sub-pixel (c, i, j) sees all rows above within
reach and the pixels left of it, without the blind spot of the original PixelCNN [2, Sec. 2.2].
The horizontal stack and the head carry the channel-group masks of ``masked.py``, so the
channels of a pixel are predicted in order (R, G, B); the vertical stack needs none.

Differences from [2]:
    - Inputs are scaled to [-1, 1]; no one-hot encoding.
    - The label enters as a learned embedding per gate (e_v, e_h, both halves of the gate):
      the paper's V^T h with h a one-hot label [2, Eq. 4].
    - The head reads the sum of every layer's skip output; the last layer therefore has
      no vertical output and no residual 1x1 (nothing would read them).
    - The first layer has its own kernel size (``first_kernel_size``, 7 by default).

References:
    [2] A. van den Oord, N. Kalchbrenner, O. Vinyals, L. Espeholt, A. Graves, K. Kavukcuoglu,
        "Conditional Image Generation with PixelCNN Decoders", NeurIPS 2016.
    [3] P. Ramachandran et al., "Fast Generation for Convolutional Autoregressive Models",
        ICLR 2017 workshop.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from zoo_core.validate import check_size
from zoo_pixelcnn.autoregressive import PixelCNNConditional, PixelCNNDensity
from zoo_pixelcnn.cache import Canvas, FrozenConv
from zoo_pixelcnn.masked import MaskedConv2d, OutputHead, channel_groups

__all__ = ["gate", "shift_down", "GatedLayer", "GatedPixelCNNNet", "GatedCache", "GatedPixelCNN",
           "ConditionalGatedPixelCNN"]


def gate(x: torch.Tensor) -> torch.Tensor:
    """tanh(a) * sigmoid(b) for x = [a, b] split in halves along dimension 1 [2, Eq. 2]."""
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


def shift_down(x: torch.Tensor) -> torch.Tensor:
    """Move a feature map (B, C, H, W) down one row; zeros enter at the top."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


class GatedLayer(nn.Module):
    """One layer of both stacks, as in the module docstring.

    Args:
        in_channels: width of v and h coming in (the colours for the first layer).
        channels: width of v and h going out (p in [2]); the gates work at 2 * channels.
        kernel_size: odd k.
        colours: colour channels of the image (channel groups).
        first: the first layer (mask A, no residual); last: the last (skip output only).
        num_classes: number of labels of a conditional model, else None.
    """

    def __init__(self, in_channels: int, channels: int, kernel_size: int, colours: int, *, first: bool,
                 last: bool, num_classes: int | None = None):
        super().__init__()
        self.first, self.last, self.reach = first, last, kernel_size // 2
        r = self.reach
        groups_in = channel_groups(in_channels, colours)
        groups = channel_groups(channels, colours)
        groups_gate = groups.repeat(2)  # a and b of one gate in the same group
        self.vertical = MaskedConv2d(in_channels, 2 * channels, up=r, left=r, right=r, mask=None)
        self.horizontal = MaskedConv2d(in_channels, 2 * channels, left=r, mask="A" if first else "B",
                                       in_groups=groups_in, out_groups=groups_gate)
        self.link = MaskedConv2d(2 * channels, 2 * channels, mask=None)  # from rows above: any group may read it
        self.skip = MaskedConv2d(channels, channels, in_groups=groups, out_groups=groups)
        self.out = None if last else MaskedConv2d(channels, channels, in_groups=groups, out_groups=groups)
        conditional = num_classes is not None
        self.label_h = nn.Embedding(num_classes, 2 * channels) if conditional else None
        self.label_v = nn.Embedding(num_classes, 2 * channels) if conditional and not last else None

    def forward(self, v: torch.Tensor, h: torch.Tensor, labels: torch.Tensor | None = None):
        """(v, h) (B, in_channels, H, W) -> (v_out, h_out, skip), each (B, channels, H, W).

        v_out and h_out are None in the last layer.
        """
        v_conv = self.vertical(v)
        h_pre = self.horizontal(h) + self.link(shift_down(v_conv))
        if self.label_h is not None:
            h_pre = h_pre + self.label_h(labels)[:, :, None, None]
        gated = gate(h_pre)
        skip = self.skip(gated)
        if self.last:
            return None, None, skip
        v_pre = v_conv if self.label_v is None else v_conv + self.label_v(labels)[:, :, None, None]
        h_out = self.out(gated) if self.first else h + self.out(gated)
        return gate(v_pre), h_out, skip


class GatedPixelCNNNet(nn.Module):
    """Scaled images (B, C, H, W) and labels to logits (B, C * num_levels, H, W).

    Arguments as for :class:`GatedPixelCNN`; ``num_classes`` makes it conditional.
    """

    def __init__(self, colours: int, num_levels: int, channels: int, layers: int, kernel_size: int,
                 first_kernel_size: int, output_channels: int, num_classes: int | None = None):
        super().__init__()
        self.colours, self.channels = colours, channels
        self.layers = nn.ModuleList(
            GatedLayer(channels if l else colours, channels, kernel_size if l else first_kernel_size, colours,
                       first=l == 0, last=l == layers - 1, num_classes=num_classes)
            for l in range(layers))
        self.head = OutputHead(channels, output_channels, colours, num_levels)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        v = h = x
        skip = 0
        for layer in self.layers:
            v, h, s = layer(v, h, labels)
            skip = skip + s
        return self.head(skip)

    def cache(self, batch: int, height: int, width: int, labels: torch.Tensor | None = None) -> "GatedCache":
        return GatedCache(self, batch, height, width, labels)


class GatedCache:
    """:class:`GatedPixelCNNNet` evaluated incrementally, for the cached sampler [3].

    ``begin_row(i)`` computes the vertical stack along row i-1, now fully drawn, once for
    the whole row; ``logits(i, j)`` evaluates the horizontal stacks and the head at pixel
    (i, j) alone. Each stack's input is kept in a :class:`Canvas`. See ``cache.py``.
    """

    def __init__(self, net: GatedPixelCNNNet, batch: int, height: int, width: int, labels: torch.Tensor | None):
        like = net.head.out.weight
        self.layers, self.width = list(net.layers), width
        self.input = Canvas(batch, net.colours, height, width, self.layers[0].reach, like)
        self.v_in = [self.input] + [Canvas(batch, net.channels, height, width, layer.reach, like)
                                    for layer in self.layers[1:]]
        self.h_in = [self.input] + [Canvas(batch, net.channels, height, width, layer.reach, like)
                                    for layer in self.layers[1:]]
        self.vertical = [FrozenConv(layer.vertical) for layer in self.layers]
        self.horizontal = [FrozenConv(layer.horizontal) for layer in self.layers]
        self.link = [FrozenConv(layer.link) for layer in self.layers]
        self.skip = [FrozenConv(layer.skip) for layer in self.layers]
        self.out = [None if layer.last else FrozenConv(layer.out) for layer in self.layers]
        self.label_h = [None if layer.label_h is None else layer.label_h(labels) for layer in self.layers]
        self.label_v = [None if layer.label_v is None else layer.label_v(labels)[:, :, None, None]
                        for layer in self.layers]
        self.head = FrozenConv(net.head.hidden), FrozenConv(net.head.out)
        # link(shift_down(v')) along the current row, per layer; shift_down brings zeros into row 0
        self.nothing_above = like.new_zeros(batch, 2 * net.channels, 1, width)
        self.linked: list[torch.Tensor] = [self.nothing_above] * len(self.layers)

    def begin_row(self, i: int) -> None:
        """Bring the vertical stack up to row i-1 and its link into row i."""
        for l, layer in enumerate(self.layers):
            if i == 0:
                above = self.nothing_above
            else:
                above = self.vertical[l].row(self.v_in[l], i - 1, self.width)
                if not layer.last:
                    v_pre = above if self.label_v[l] is None else above + self.label_v[l]
                    self.v_in[l + 1].put_row(i - 1, gate(v_pre))
            self.linked[l] = self.link[l].map(above)

    def logits(self, i: int, j: int) -> torch.Tensor:
        """The network's logits at pixel (i, j): (B, C * num_levels)."""
        skip = 0
        for l, layer in enumerate(self.layers):
            h_pre = self.horizontal[l].at(self.h_in[l], i, j) + self.linked[l][:, :, 0, j]
            if self.label_h[l] is not None:
                h_pre = h_pre + self.label_h[l]
            gated = gate(h_pre)
            skip = skip + self.skip[l].point(gated)
            if not layer.last:
                h_out = self.out[l].point(gated)
                self.h_in[l + 1].put(i, j, h_out if layer.first else self.h_in[l].at(i, j) + h_out)
        hidden, out = self.head
        return out.point(F.relu(hidden.point(F.relu(skip))))

    def put(self, i: int, j: int, channel: int, value: torch.Tensor) -> None:
        """Record the scaled value (B,) just drawn for one channel of pixel (i, j)."""
        self.input.put_channel(i, j, channel, value)


def _gated_net(event_shape, num_levels, channels, layers, kernel_size, first_kernel_size, output_channels,
               num_classes=None) -> GatedPixelCNNNet:
    return GatedPixelCNNNet(event_shape[0], num_levels, check_size("channels", channels),
                            check_size("layers", layers), check_size("kernel_size", kernel_size, odd=True),
                            check_size("first_kernel_size", first_kernel_size, odd=True),
                            check_size("output_channels", output_channels), num_classes)


class GatedPixelCNN(PixelCNNDensity):
    """The Gated PixelCNN [2] as a zoo density model (``pixelcnn/gated``).

    Inputs are scaled to [-1, 1] before the first convolution. The defaults suit
    Fashion-MNIST (1 x 28 x 28, 256 levels).

    Args:
        event_shape: (C, H, W); C colour channels are predicted in order inside a pixel.
        num_levels: levels per sub-pixel (the softmax's size).
        channels: width p of both stacks; each gate works at 2p.
        layers: number of gated layers.
        kernel_size: odd k of the layers after the first.
        first_kernel_size: odd k of the first layer.
        output_channels: width of the hidden 1x1 layer of the output head.
    """

    def __init__(self, event_shape: Sequence[int] = (1, 28, 28), num_levels: int = 256, channels: int = 64,
                 layers: int = 10, kernel_size: int = 5, first_kernel_size: int = 7, output_channels: int = 256):
        super().__init__(event_shape, num_levels)
        self.network = _gated_net(self.event_shape, num_levels, channels, layers, kernel_size, first_kernel_size,
                                  output_channels)


class ConditionalGatedPixelCNN(PixelCNNConditional):
    """The class-conditional Gated PixelCNN [2, Sec. 2.3] (``pixelcnn/gated-conditional``): p(x | y).

    Args:
        num_classes: number of labels y; class_names: their names (default "0", "1", ...).
        Everything else as for :class:`GatedPixelCNN`.
    """

    def __init__(self, event_shape: Sequence[int] = (1, 28, 28), num_levels: int = 256, num_classes: int = 10,
                 class_names: Sequence[str] | None = None, channels: int = 64, layers: int = 10,
                 kernel_size: int = 5, first_kernel_size: int = 7, output_channels: int = 256):
        super().__init__(event_shape, num_levels, num_classes, class_names)
        self.network = _gated_net(self.event_shape, num_levels, channels, layers, kernel_size, first_kernel_size,
                                  output_channels, num_classes)
