"""What both PixelRNNs share: input and output layers, the zoo API, and the two samplers [1].

A PixelRNN [1, Sec. 3] maps an image, scaled to [-1, 1], through a 7 x 7 mask-A
convolution to ``2 * hidden_channels`` feature maps, then through LSTM layers with residual
connections (each layer adds its output to its input), then through the
:class:`~zoo_pixelrnn.masked.OutputHead` to a ``num_levels``-way softmax per sub-pixel.
Every feature map belongs to a colour group, so that with C > 1 channels the sub-pixels of a
pixel are predicted R, then G, then B [1, Sec. 3.4].

Sampling draws one uniform per sub-pixel up front, shape (n, C, H, W), in float64 with the
caller's generator (on the generator's device, then moved to the model's), and turns each
into a level by inverse CDF, in raster order. ``cache=False`` is the reference: one full
forward pass per sub-pixel. ``cache=True`` reuses the states of finished rows and
recomputes only what the new sub-pixel can change (see each model's ``_draw_cached``). The
cached sampler calls the very operations of the forward pass on tensors of the same shapes
and layout (see the models' docstrings), so its logits are bitwise those of the full pass
and it returns the same images, not merely images from the same distribution.

References:
    [1] A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu, "Pixel Recurrent Neural Networks",
        ICML 2016.
"""

from __future__ import annotations

import operator
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from zoo_core.errors import InvalidInput
from zoo_core.validate import check_class_names, check_event, check_images, check_labels
from zoo_pixelrnn.masked import MaskedConv2d, OutputHead, channel_groups

__all__ = ["inverse_cdf", "check_size", "PixelRNN", "ClassConditional"]

#: Reach of the first, mask-A convolution: a 7 x 7 kernel [1, Table 1].
INPUT_REACH = 3


def inverse_cdf(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """One draw per row of ``logits`` (B, L) from softmax(logits), given uniforms ``u`` (B,).

    Returns the level k with cdf(k - 1) <= u * cdf(L - 1) < cdf(k), a long tensor (B,).
    Computed in float64 from a contiguous copy, so equal logits and equal uniforms give
    equal draws.
    """
    probs = torch.softmax(logits.to(torch.float64).contiguous(), dim=-1)
    cdf = probs.cumsum(-1)
    below = cdf <= (u * cdf[:, -1]).unsqueeze(-1)  # scaled by the total, so round-off never runs off the end
    return below.sum(-1).clamp_(max=logits.shape[-1] - 1)


def check_size(name: str, value, *, odd: bool = False, at_least: int = 1) -> int:
    """A builder's size argument: an integer >= ``at_least`` (odd if asked), else InvalidInput."""
    if isinstance(value, bool) or not isinstance(value, int) or value < at_least or (odd and value % 2 == 0):
        kind = f"an {'odd ' if odd else ''}integer >= {at_least}"
        raise InvalidInput(f"{name} must be {kind}; got {value!r}")
    return value


def _count(n) -> int:
    try:
        count = operator.index(n)
    except TypeError:
        count = -1
    if isinstance(n, bool) or count < 0:
        raise InvalidInput(f"the number of samples must be a non-negative integer; got {n!r}")
    return count


class PixelRNN(nn.Module):
    """The shared machinery and the density API (p(x)); subclasses add the LSTM layers.

    A subclass implements ``_logits(x, labels) -> (B, C * num_levels, H, W)`` (logits of
    channel 0 first) for long images x on the model's device, and
    ``_draw_cached(x, u, labels)``, which fills x in place as :meth:`_draw_reference` does.

    Args:
        event_shape: (C, H, W) of the images.
        num_levels: levels of each sub-pixel, at least 2.
        hidden_channels: h, the units of each LSTM; the residual stream has 2h maps [1, Sec. 3.3].

    Raises:
        InvalidInput: a bad shape, level count or size; fewer hidden channels than colours.
    """

    autoregressive = True

    def __init__(self, event_shape: Sequence[int], num_levels: int, hidden_channels: int):
        super().__init__()
        self.event_shape = check_event(event_shape, num_levels)
        self.num_levels = num_levels
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

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """Levels 0 .. num_levels-1 mapped linearly onto [-1, 1], in the model's dtype."""
        return x.to(self._anchor().dtype) * (2.0 / (self.num_levels - 1)) - 1.0

    def _padded_image(self, x: torch.Tensor) -> torch.Tensor:
        """The scaled image with the zero rows above it that the first layer reads: (B, C, 3 + H, W)."""
        return F.pad(self.scale(x), (0, 0, INPUT_REACH, 0))

    def _input_row(self, image: torch.Tensor, i: int) -> torch.Tensor:
        """The mask-A features of row i, (B, 2h, 1, W), from image rows i-3 .. i of ``_padded_image``."""
        return self.input_conv(image[:, :, i:i + INPUT_REACH + 1], pad_above=False)

    def _logits(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def _draw_cached(self, x: torch.Tensor, u: torch.Tensor, labels: torch.Tensor | None) -> None:
        raise NotImplementedError

    def _conditional_log_probs(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        device = self._anchor().device
        labels = None if labels is None else labels.to(device)
        logits = self._logits(x.to(device), labels)
        (c, h, w), levels = self.event_shape, self.num_levels
        return torch.log_softmax(logits.view(len(x), c, levels, h, w).permute(0, 1, 3, 4, 2), dim=-1)

    def _log_prob(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        log_probs = self._conditional_log_probs(x, labels)
        x = x.to(log_probs.device)
        return log_probs.gather(-1, x.unsqueeze(-1)).squeeze(-1).flatten(1).sum(1)

    # -- sampling ------------------------------------------------------------------------------

    @torch.no_grad()
    def _sample(self, n: int, labels: torch.Tensor | None, generator: torch.Generator | None,
                cache: bool) -> torch.Tensor:
        if not isinstance(cache, bool):
            raise InvalidInput(f"cache must be True or False; got {cache!r}")
        device = self._anchor().device
        labels = None if labels is None else labels.to(device)
        shape = (n, *self.event_shape)
        u = torch.rand(shape, generator=generator, dtype=torch.float64,
                       device=device if generator is None else generator.device).to(device)
        x = torch.zeros(shape, dtype=torch.long, device=device)
        if n:
            (self._draw_cached if cache else self._draw_reference)(x, u, labels)
        return x

    def _draw_reference(self, x: torch.Tensor, u: torch.Tensor, labels: torch.Tensor | None) -> None:
        """Fill x in place, one full forward pass per sub-pixel."""
        (c, h, w), levels = self.event_shape, self.num_levels
        for i in range(h):
            for j in range(w):
                for k in range(c):
                    logits = self._logits(x, labels)
                    x[:, k, i, j] = inverse_cdf(logits[:, k * levels:(k + 1) * levels, i, j], u[:, k, i, j])

    # -- the density API -----------------------------------------------------------------------

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Natural-log p(x) of integer images (B, C, H, W) in [0, num_levels): (B,).

        Raises:
            InvalidInput: not integers, wrong shape or values out of range.
        """
        return self._log_prob(check_images(x, self.event_shape, self.num_levels), None)

    def conditional_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x_cij = l | the sub-pixels before it), in one pass: (B, C, H, W, num_levels)."""
        return self._conditional_log_probs(check_images(x, self.event_shape, self.num_levels), None)

    def sample(self, n: int, *, generator: torch.Generator | None = None, cache: bool = True) -> torch.Tensor:
        """Draw ``n`` images: a long tensor (n, C, H, W) on the model's device.

        Args:
            n: number of images.
            generator: makes the draws reproducible; may live on another device than the model.
            cache: reuse the states of finished rows (fast); False runs one full forward
                pass per sub-pixel (the reference). Both return the same images.
        """
        return self._sample(_count(n), None, generator, cache)


class ClassConditional:
    """Turns a :class:`PixelRNN` into p(x | y): labels replace ``n`` and join ``log_prob``.

    Mixed in before the model class; the model's ``__init__`` calls :meth:`_set_classes`.
    """

    num_classes: int
    class_names: list[str]
    event_shape: tuple[int, int, int]
    num_levels: int

    def _set_classes(self, num_classes: int, class_names: Sequence[str] | None) -> None:
        check_event(self.event_shape, self.num_levels, num_classes)
        self.num_classes = num_classes
        self.class_names = check_class_names(class_names, num_classes)

    def log_prob(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Natural-log p(x | y) of images (B, C, H, W) with labels (B,): (B,).

        Raises:
            InvalidInput: bad images, or labels of the wrong shape, length or range.
        """
        x = check_images(x, self.event_shape, self.num_levels)
        return self._log_prob(x, check_labels(y, self.num_classes, len(x)))

    def conditional_log_probs(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """log p(x_cij = l | y, the sub-pixels before it): (B, C, H, W, num_levels)."""
        x = check_images(x, self.event_shape, self.num_levels)
        return self._conditional_log_probs(x, check_labels(y, self.num_classes, len(x)))

    def sample(self, y: torch.Tensor, *, generator: torch.Generator | None = None,
               cache: bool = True) -> torch.Tensor:
        """Draw one image per label in ``y`` (B,): a long tensor (B, C, H, W); see :meth:`PixelRNN.sample`."""
        y = check_labels(y, self.num_classes)
        return self._sample(len(y), y, generator, cache)
