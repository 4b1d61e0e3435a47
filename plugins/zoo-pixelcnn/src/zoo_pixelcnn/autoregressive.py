"""What every PixelCNN here shares: input scaling, the softmax head's log-probabilities, sampling.

A model is an :class:`AutoregressiveDensity` (p(x)) or :class:`AutoregressiveConditional`
(p(x | y)) holding a ``network``: a module that maps images scaled to [-1, 1], shape
(B, C, H, W), and labels (B,) or None, to logits (B, C * num_levels, H, W), the
``num_levels`` logits of channel 0 first. Its logits at sub-pixel (c, i, j) may depend only
on the sub-pixels before (c, i, j) in raster order (rows, then columns, then channels).

Sampling draws one uniform per sub-pixel up front, shape (n, C, H, W), in float64 with the
caller's generator, and turns each into a level by inverse CDF. ``cache=False`` runs the
whole network once per sub-pixel (the reference); ``cache=True`` asks the network for an
incremental evaluator, ``network.cache(batch, height, width, labels)`` with methods
``begin_row(i)``, ``logits(i, j) -> (B, C * num_levels)`` and ``put(i, j, c, scaled_value)``
(see ``cache.py``), that computes only what the new sub-pixel changes [3]. Both consume the
same uniforms in the same order, so they return the same images unless round-off in the
logits carries a CDF step across its uniform: never seen in float64 or on CPU in float32;
on CUDA it happened about once in a few thousand sub-pixels with TF32, which sampling
therefore switches off while it runs.

References:
    [3] P. Ramachandran et al., "Fast Generation for Convolutional Autoregressive Models",
        ICLR 2017 workshop.
"""

from __future__ import annotations

import operator
from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
from torch import nn

from zoo_core.errors import InvalidInput
from zoo_core.validate import check_class_names, check_event, check_images, check_labels

__all__ = ["inverse_cdf", "check_size", "AutoregressiveModel", "AutoregressiveDensity",
           "AutoregressiveConditional"]


def inverse_cdf(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """One draw per row from softmax(logits) (B, L), by inverse CDF of the uniforms u (B,).

    Returns the level k with cdf(k-1) <= u < cdf(k), a long tensor (B,). Computed in
    float64 from contiguous logits, so equal logits and equal uniforms give equal draws.
    """
    probs = torch.softmax(logits.double().contiguous(), dim=-1)
    cdf = probs.cumsum(-1)
    below = cdf <= (u * cdf[:, -1]).unsqueeze(-1)  # scaled by the total: round-off never runs off the end
    return below.sum(-1).clamp_(max=logits.shape[-1] - 1)


def check_size(name: str, value, *, odd: bool = False) -> int:
    """A builder's size argument: a positive integer (odd for kernel sizes), else InvalidInput."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (odd and value % 2 == 0):
        kind = "a positive odd integer" if odd else "a positive integer"
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


class AutoregressiveModel(nn.Module):
    """The shared machinery; use :class:`AutoregressiveDensity` or :class:`AutoregressiveConditional`.

    Args:
        event_shape: (C, H, W) of the images.
        num_levels: number of levels of each sub-pixel, at least 2.
        num_classes: number of classes of a conditional model.
    """

    autoregressive = True
    network: nn.Module

    def __init__(self, event_shape: Sequence[int], num_levels: int, num_classes: int | None = None):
        super().__init__()
        self.event_shape = check_event(event_shape, num_levels, num_classes)
        self.num_levels = num_levels

    def _anchor(self) -> torch.Tensor:
        return next(self.parameters())

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """Levels 0 .. num_levels-1 mapped linearly onto [-1, 1], in the model's dtype."""
        return x.to(self._anchor().dtype) * (2.0 / (self.num_levels - 1)) - 1.0

    def _conditional_log_probs(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        device = self._anchor().device
        labels = None if labels is None else labels.to(device)
        logits = self.network(self.scale(x.to(device)), labels)
        (c, h, w), levels = self.event_shape, self.num_levels
        return torch.log_softmax(logits.view(len(x), c, levels, h, w).permute(0, 1, 3, 4, 2), dim=-1)

    def _log_prob(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        log_probs = self._conditional_log_probs(x, labels)
        x = x.to(log_probs.device)
        return log_probs.gather(-1, x.unsqueeze(-1)).squeeze(-1).flatten(1).sum(1)

    @torch.no_grad()
    def _sample(self, n: int, labels: torch.Tensor | None, generator: torch.Generator | None,
                cache: bool) -> torch.Tensor:
        device = self._anchor().device
        labels = None if labels is None else labels.to(device)
        shape = (n, *self.event_shape)
        u = torch.rand(shape, generator=generator, dtype=torch.float64,
                       device=device if generator is None else generator.device).to(device)
        x = torch.zeros(shape, dtype=torch.long, device=device)
        if n:
            with _without_tf32(device):
                (self._draw_cached if cache else self._draw_reference)(x, u, labels)
        return x

    def _draw_reference(self, x: torch.Tensor, u: torch.Tensor, labels: torch.Tensor | None) -> None:
        """Fill x in place, one full forward pass per sub-pixel."""
        (c, h, w), levels = self.event_shape, self.num_levels
        for i in range(h):
            for j in range(w):
                for k in range(c):
                    logits = self.network(self.scale(x), labels)[:, k * levels:(k + 1) * levels, i, j]
                    x[:, k, i, j] = inverse_cdf(logits, u[:, k, i, j])

    def _draw_cached(self, x: torch.Tensor, u: torch.Tensor, labels: torch.Tensor | None) -> None:
        """Fill x in place with the same draws, computing only what each sub-pixel changes [3]."""
        (c, h, w), levels = self.event_shape, self.num_levels
        state = self.network.cache(len(x), h, w, labels)
        for i in range(h):
            state.begin_row(i)
            for j in range(w):
                for k in range(c):
                    logits = state.logits(i, j)[:, k * levels:(k + 1) * levels]
                    x[:, k, i, j] = level = inverse_cdf(logits, u[:, k, i, j])
                    state.put(i, j, k, self.scale(level))


class AutoregressiveDensity(AutoregressiveModel):
    """p(x) as a product of per-sub-pixel softmax distributions (a ``DensityModel``)."""

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Natural-log p(x) of integer images (B, C, H, W) in [0, num_levels): (B,).

        Raises:
            InvalidInput: not integers, wrong shape or values out of range.
        """
        return self._log_prob(check_images(x, self.event_shape, self.num_levels), None)

    def conditional_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x_cij = l | sub-pixels before it), all in one pass: (B, C, H, W, num_levels)."""
        return self._conditional_log_probs(check_images(x, self.event_shape, self.num_levels), None)

    def sample(self, n: int, *, generator: torch.Generator | None = None, cache: bool = True) -> torch.Tensor:
        """Draw n images: a long tensor (n, C, H, W) on the model's device.

        Args:
            n: how many.
            generator: a torch.Generator (on any device) for reproducible draws.
            cache: True evaluates only what each new sub-pixel changes; False reruns the whole
                network per sub-pixel. Both give the same images for the same generator.
        """
        return self._sample(_count(n), None, generator, cache)


class AutoregressiveConditional(AutoregressiveModel):
    """p(x | y) as a product of per-sub-pixel softmax distributions (a ``ConditionalModel``).

    Args:
        event_shape, num_levels: as for :class:`AutoregressiveModel`.
        num_classes: number of classes.
        class_names: one name per class; default "0", "1", ...
    """

    def __init__(self, event_shape: Sequence[int], num_levels: int, num_classes: int,
                 class_names: Sequence[str] | None = None):
        super().__init__(event_shape, num_levels, num_classes)
        self.num_classes = num_classes
        self.class_names = check_class_names(class_names, num_classes)

    def log_prob(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Natural-log p(x | y) for images (B, C, H, W) and labels (B,): (B,).

        Raises:
            InvalidInput: bad images, or labels of the wrong shape, length or range.
        """
        x = check_images(x, self.event_shape, self.num_levels)
        return self._log_prob(x, check_labels(y, self.num_classes, len(x)))

    def conditional_log_probs(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """log p(x_cij = l | sub-pixels before it, y), in one pass: (B, C, H, W, num_levels)."""
        x = check_images(x, self.event_shape, self.num_levels)
        return self._conditional_log_probs(x, check_labels(y, self.num_classes, len(x)))

    def sample(self, y: torch.Tensor, *, generator: torch.Generator | None = None,
               cache: bool = True) -> torch.Tensor:
        """Draw one image per label in y (B,): a long tensor (B, C, H, W) on the model's device.

        ``generator`` and ``cache`` are as for :meth:`AutoregressiveDensity.sample`.
        """
        y = check_labels(y, self.num_classes)
        return self._sample(len(y), y, generator, cache)
