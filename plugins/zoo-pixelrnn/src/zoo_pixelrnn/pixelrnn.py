"""What both PixelRNNs share: input and output layers, the zoo API, and the two samplers [1].

A PixelRNN [1, Sec. 3] maps an image, scaled to [-1, 1], through a 7 x 7 mask-A
convolution to ``2 * hidden_channels`` feature maps, then through LSTM layers with residual
connections (each layer adds its output to its input), then through the
:class:`~zoo_pixelrnn.masked.OutputHead` to a ``num_levels``-way softmax per sub-pixel.
Every feature map belongs to a colour group, so that with C > 1 channels the sub-pixels of a
pixel are predicted R, then G, then B [1, Sec. 3.4].

Sampling and the zoo API come from :class:`zoo_core.autoregressive.AutoregressiveModel`:
``cache=False`` is the reference, one full forward pass per sub-pixel; ``cache=True`` runs
each model's ``_draw_cached``, which reuses the states of finished rows and recomputes only
what the new sub-pixel can change. The cached sampler calls the very operations of the
forward pass on tensors of the same shapes and layout (see the models' docstrings), so its
logits are bitwise those of the full pass and it returns the same images, not merely images
from the same distribution.

References:
    [1] A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu, "Pixel Recurrent Neural Networks",
        ICML 2016.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch.nn import functional as F

from zoo_core.autoregressive import AutoregressiveModel
from zoo_core.validate import check_size
from zoo_pixelrnn.masked import MaskedConv2d, OutputHead, channel_groups

__all__ = ["PixelRNN"]

#: Reach of the first, mask-A convolution: a 7 x 7 kernel [1, Table 1].
INPUT_REACH = 3


class PixelRNN(AutoregressiveModel):
    """The layers both PixelRNNs share; subclasses add the LSTM layers.

    A subclass implements ``_logits(x, labels) -> (B, C * num_levels, H, W)`` (logits of
    channel 0 first) for long images x on the model's device, and
    ``_draw_cached(x, u, labels)``, which fills x in place as ``_draw_reference`` does.

    Args:
        event_shape: (C, H, W) of the images.
        num_levels: levels of each sub-pixel, at least 2.
        hidden_channels: h, the units of each LSTM; the residual stream has 2h maps [1, Sec. 3.3].

    Raises:
        InvalidInput: a bad shape, level count or size; fewer hidden channels than colours.
    """

    def __init__(self, event_shape: Sequence[int], num_levels: int, hidden_channels: int):
        super().__init__(event_shape, num_levels)
        colours = self.event_shape[0]
        self.hidden_channels = check_size("hidden_channels", hidden_channels, at_least=colours)
        width = 2 * hidden_channels
        self.input_conv = MaskedConv2d(colours, width, up=INPUT_REACH, left=INPUT_REACH, right=INPUT_REACH,
                                       mask="A", in_groups=torch.arange(colours),
                                       out_groups=channel_groups(width, colours))
        self.head = OutputHead(width, colours, num_levels)

    # -- the network ---------------------------------------------------------------------------

    def _anchor(self) -> torch.Tensor:
        return self.head.logits.weight

    def _padded_image(self, x: torch.Tensor) -> torch.Tensor:
        """The scaled image with the zero rows above it that the first layer reads: (B, C, 3 + H, W)."""
        return F.pad(self.scale(x), (0, 0, INPUT_REACH, 0))

    def _input_row(self, image: torch.Tensor, i: int) -> torch.Tensor:
        """The mask-A features of row i, (B, 2h, 1, W), from image rows i-3 .. i of ``_padded_image``."""
        return self.input_conv(image[:, :, i:i + INPUT_REACH + 1], pad_above=False)
