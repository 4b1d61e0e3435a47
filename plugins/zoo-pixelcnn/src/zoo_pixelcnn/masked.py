"""Masked convolutions: the causal building block of both PixelCNNs [1, 2].

A sub-pixel may depend only on the sub-pixels before it in raster order: the rows above,
the pixels to its left in its own row, and, inside its own pixel, the colour channels
before it (R, then G, then B). Spatially this is a kernel that stops at the centre pixel;
across colours, every feature map belongs to a colour group, and at the centre pixel a
group reads only the groups before it (mask A, the first layer, which must not see the
sub-pixel it predicts) or before it and itself (mask B, every later layer) [1, Sec. 3.4].

Difference from the papers: the k x k masked kernel is stored as (k//2 + 1) x k, the rows
below the centre, which a mask would zero, are simply left out.

References:
    [1] A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu, "Pixel Recurrent Neural Networks",
        ICML 2016.
    [2] A. van den Oord, N. Kalchbrenner, O. Vinyals, L. Espeholt, A. Graves,
        K. Kavukcuoglu, "Conditional Image Generation with PixelCNN Decoders", NeurIPS 2016.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["channel_groups", "MaskedConv2d", "OutputHead"]


def channel_groups(channels: int, colours: int) -> torch.Tensor:
    """The colour group of each of ``channels`` feature maps: contiguous blocks 0 (R), 1 (G), ...

    With ``channels = colours * num_levels`` this is the layout of the output logits:
    ``num_levels`` logits of channel 0, then of channel 1, and so on.
    """
    return torch.arange(channels) * colours // channels


class MaskedConv2d(nn.Conv2d):
    """A convolution whose output at (i, j) reads rows i-up .. i, columns j-left .. j+right.

    Rows above the centre row are read whole. With ``mask="A"`` or ``"B"``, the centre
    row is read left of column j, column j only from earlier colour groups (A) or earlier
    groups and the output's own group (B), and right of j not at all. With ``mask=None``
    the whole window is read: the vertical stack of the gated PixelCNN, which is made
    causal by shifting its output down a row instead.

    Args:
        in_channels, out_channels: feature maps in and out.
        up, left, right: reach of the kernel, (up + 1) x (left + 1 + right) taps.
        mask: "A", "B" or None.
        in_groups, out_groups: colour group of each input and output feature map
            (see :func:`channel_groups`); default: all in group 0.

    Input and output are (B, in_channels, H, W) and (B, out_channels, H, W): the input is
    zero-padded so that output (i, j) sits at input (i, j).
    """

    def __init__(self, in_channels: int, out_channels: int, *, up: int = 0, left: int = 0, right: int = 0,
                 mask: str | None = "B", in_groups: torch.Tensor | None = None,
                 out_groups: torch.Tensor | None = None):
        super().__init__(in_channels, out_channels, kernel_size=(up + 1, left + 1 + right))
        self.up, self.left, self.right = up, left, right
        taps = torch.ones(out_channels, in_channels, up + 1, left + 1 + right)
        if mask is not None:
            in_groups = torch.zeros(in_channels, dtype=torch.long) if in_groups is None else in_groups
            out_groups = torch.zeros(out_channels, dtype=torch.long) if out_groups is None else out_groups
            earlier = in_groups[None, :] < out_groups[:, None]
            same = in_groups[None, :] == out_groups[:, None]
            taps[:, :, up, left] = (earlier | same) if mask == "B" else earlier
            taps[:, :, up, left + 1:] = 0
        # rebuilt from the config, so checkpoints carry weights only
        self.register_buffer("mask", taps, persistent=False)

    def masked_weight(self) -> torch.Tensor:
        return self.weight * self.mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.up or self.left or self.right:
            x = F.pad(x, (self.left, self.right, self.up, 0))
        return F.conv2d(x, self.masked_weight(), self.bias)


class OutputHead(nn.Module):
    """ReLU, 1x1, ReLU, 1x1 to ``colours * num_levels`` logits per pixel, as in [1] and [2].

    Both 1x1 convolutions are mask B, so the logits of channel c read only colour groups
    <= c. Input (B, in_channels, H, W); output (B, colours * num_levels, H, W), the
    ``num_levels`` logits of channel 0 first.
    """

    def __init__(self, in_channels: int, hidden: int, colours: int, num_levels: int):
        super().__init__()
        groups_in = channel_groups(in_channels, colours)
        groups_hidden = channel_groups(hidden, colours)
        groups_out = channel_groups(colours * num_levels, colours)
        self.hidden = MaskedConv2d(in_channels, hidden, in_groups=groups_in, out_groups=groups_hidden)
        self.out = MaskedConv2d(hidden, colours * num_levels, in_groups=groups_hidden, out_groups=groups_out)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(self.hidden(F.relu(h))))
