"""What every PixelCNN here shares: a ``network`` of masked convolutions and its cached sampler.

A model is a :class:`PixelCNNDensity` (p(x)) or :class:`PixelCNNConditional` (p(x | y)), built
on :class:`zoo_core.autoregressive.AutoregressiveModel`, which gives the zoo API and both
samplers. It holds a ``network``: a module that maps images scaled to [-1, 1], shape
(B, C, H, W), and labels (B,) or None, to logits (B, C * num_levels, H, W), the
``num_levels`` logits of channel 0 first. Its logits at sub-pixel (c, i, j) may depend only
on the sub-pixels before (c, i, j) in raster order (rows, then columns, then channels).

``cache=True`` asks the network for an incremental evaluator,
``network.cache(batch, height, width, labels)`` with methods ``begin_row(i)``,
``logits(i, j) -> (B, C * num_levels)`` and ``put(i, j, c, scaled_value)`` (see ``cache.py``),
that computes only what the new sub-pixel changes [3]. It consumes the same uniforms in the
same order as the reference, so the two return the same images unless round-off in the
logits carries a CDF step across its uniform: never seen in float64 or on CPU in float32; on
CUDA it happened about once in a few thousand sub-pixels with TF32, which sampling therefore
switches off while it runs.

References:
    [3] P. Ramachandran et al., "Fast Generation for Convolutional Autoregressive Models",
        ICLR 2017 workshop.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
from torch import nn

from zoo_core.autoregressive import AutoregressiveModel, ClassConditional, inverse_cdf

__all__ = ["PixelCNNDensity", "PixelCNNConditional"]


@contextmanager
def _without_tf32(device: torch.device) -> Iterator[None]:
    """Full float32 on CUDA while sampling: cuDNN's default TF32 (10-bit mantissa) makes the full
    pass and the cached windows differ enough to flip a draw now and then."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


class PixelCNNDensity(AutoregressiveModel):
    """A PixelCNN p(x): the logits come from ``self.network``, which subclasses set.

    Args:
        event_shape: (C, H, W) of the images.
        num_levels: number of levels of each sub-pixel, at least 2.
    """

    network: nn.Module

    def _logits(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return self.network(self.scale(x), labels)

    def _sampling_context(self, device: torch.device):
        return _without_tf32(device)

    def _draw_cached(self, x: torch.Tensor, u: torch.Tensor, labels: torch.Tensor | None) -> None:
        """Fill x in place with the draws of the reference, computing only what each sub-pixel changes [3]."""
        (c, h, w), levels = self.event_shape, self.num_levels
        state = self.network.cache(len(x), h, w, labels)
        for i in range(h):
            state.begin_row(i)
            for j in range(w):
                for k in range(c):
                    logits = state.logits(i, j)[:, k * levels:(k + 1) * levels]
                    x[:, k, i, j] = level = inverse_cdf(logits, u[:, k, i, j])
                    state.put(i, j, k, self.scale(level))


class PixelCNNConditional(ClassConditional, PixelCNNDensity):
    """A PixelCNN p(x | y) (a ``ConditionalModel``); ``self.network`` receives the labels.

    Args:
        event_shape, num_levels: as for :class:`PixelCNNDensity`.
        num_classes: number of classes.
        class_names: one name per class; default "0", "1", ...
    """

    def __init__(self, event_shape: Sequence[int], num_levels: int, num_classes: int,
                 class_names: Sequence[str] | None = None):
        super().__init__(event_shape, num_levels)
        self._set_classes(num_classes, class_names)
