"""Masked convolutions and the softmax output head: what makes a PixelRNN causal [1].

A sub-pixel may depend only on the sub-pixels before it in raster order: the rows above,
the pixels to its left in its own row and, inside its own pixel, the colour channels
before it (R, then G, then B). Spatially, a masked kernel stops at its centre pixel. Across
colours, every feature map belongs to a colour group (:func:`channel_groups`); at the
centre pixel a group reads only the groups before it (mask A, the first layer, which must
not see the sub-pixel it predicts) or before it and itself (mask B, every later layer)
[1, Sec. 3.4]. So a feature of group c at pixel (i, j) carries only what channel c of
pixel (i, j) may be predicted from.

Difference from the paper: the taps a mask zeroes whole (the rows below the centre, the
columns right of it in the centre row) are not stored; a 7 x 7 mask-A kernel is stored as
4 x 7, a 1 x 3 mask-B kernel as 1 x 2.

References:
    [1] A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu, "Pixel Recurrent Neural Networks",
        ICML 2016.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["channel_groups", "MaskedConv2d", "OutputHead"]


def channel_groups(channels: int, colours: int) -> torch.Tensor:
    """The colour group of each of ``channels`` feature maps: contiguous blocks 0 (R), 1 (G), ...

    With ``channels >= colours`` every group has at least one map. With
    ``channels = colours * num_levels`` this is the layout of the output logits: the
    ``num_levels`` logits of channel 0, then those of channel 1, and so on.
    """
    return torch.arange(channels) * colours // channels


class MaskedConv2d(nn.Conv2d):
    """A convolution whose output at (i, j) reads rows i-up .. i and columns j-left .. j+right.

    Rows above the centre row are read whole. In the centre row, columns left of j are read
    whole, column j only from earlier colour groups (mask "A") or from earlier groups and
    the output's own group (mask "B"), and columns right of j (``right`` taps) are not
    read at all: they are kept only so that rows above reach right of j.

    Args:
        in_channels, out_channels: feature maps in and out.
        up, left, right: reach of the kernel: (up + 1) x (left + 1 + right) taps.
        mask: "A" or "B".
        in_groups, out_groups: colour group of each input and output map (long tensors);
            default: every map in group 0.

    Input (B, in_channels, H, W); output (B, out_channels, H, W): the input is zero-padded
    so that output (i, j) sits at input (i, j). With ``pad_above=False`` the input already
    holds the ``up`` rows above the first output row, and the output has ``up`` rows fewer.
    """

    def __init__(self, in_channels: int, out_channels: int, *, up: int = 0, left: int = 0, right: int = 0,
                 mask: str = "B", in_groups: torch.Tensor | None = None, out_groups: torch.Tensor | None = None):
        if mask not in ("A", "B"):
            raise ValueError(f"mask must be 'A' or 'B'; got {mask!r}")
        super().__init__(in_channels, out_channels, kernel_size=(up + 1, left + 1 + right))
        self.up, self.left, self.right = up, left, right
        in_groups = torch.zeros(in_channels, dtype=torch.long) if in_groups is None else in_groups
        out_groups = torch.zeros(out_channels, dtype=torch.long) if out_groups is None else out_groups
        earlier = in_groups[None, :] < out_groups[:, None]
        readable = earlier if mask == "A" else earlier | (in_groups[None, :] == out_groups[:, None])
        taps = torch.ones(out_channels, in_channels, up + 1, left + 1 + right)
        taps[:, :, up, left] = readable
        taps[:, :, up, left + 1:] = 0
        # rebuilt from the config, so checkpoints carry the weights only
        self.register_buffer("mask", taps, persistent=False)

    def forward(self, x: torch.Tensor, *, pad_above: bool = True) -> torch.Tensor:
        above = self.up if pad_above else 0
        if above or self.left or self.right:
            x = F.pad(x, (self.left, self.right, above, 0))
        return F.conv2d(x, self.weight * self.mask, self.bias)


class OutputHead(nn.Module):
    """ReLU, 1 x 1, ReLU, 1 x 1: ``colours * num_levels`` logits per pixel [1, Sec. 3.5].

    Both 1 x 1 convolutions are mask B, so the logits of channel c read colour groups <= c
    only. Input (B, channels, H, W); output (B, colours * num_levels, H, W), the
    ``num_levels`` logits of channel 0 first; a softmax over them is the distribution of
    that sub-pixel.
    """

    def __init__(self, channels: int, colours: int, num_levels: int):
        super().__init__()
        groups = channel_groups(channels, colours)
        logit_groups = channel_groups(colours * num_levels, colours)
        self.hidden = MaskedConv2d(channels, channels, in_groups=groups, out_groups=groups)
        self.logits = MaskedConv2d(channels, colours * num_levels, in_groups=groups, out_groups=logit_groups)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.logits(F.relu(self.hidden(F.relu(h))))
