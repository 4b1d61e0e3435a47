"""A base for autoregressive models of integer images: a softmax per sub-pixel, in raster order.

p(x) = prod over sub-pixels of p(x_cij | the sub-pixels before it), where "before" is raster
order: rows, then columns, then channels (R, then G, then B). A model subclasses
:class:`AutoregressiveModel` and implements one method,

    ``_logits(x, labels) -> (B, C * num_levels, H, W)``

for long images ``x`` (B, C, H, W) on the model's device and labels (B,) or None: the
``num_levels`` logits of channel 0 first, the logits at sub-pixel (c, i, j) depending only on
the sub-pixels before it. The base gives it the zoo API: ``log_prob``, ``conditional_log_probs``
and ``sample``, with input checks; mixing in :class:`ClassConditional` first makes it a
``ConditionalModel`` p(x | y).

Sampling draws one uniform per sub-pixel up front, shape (n, C, H, W), in float64 with the
caller's generator (on the generator's device, then moved to the model's), and turns each
into a level by :func:`inverse_cdf`, in raster order. ``cache=False`` runs one full
``_logits`` per sub-pixel: the reference. ``cache=True`` calls ``_draw_cached``, which a model
overrides with an incremental evaluator that computes only what each new sub-pixel changes
(by default it is the reference). It must consume the same uniforms in the same order, so the
two samplers return the same images for the same generator; the plugins' tests hold theirs
to ``torch.equal``. ``_sampling_context(device)`` may switch off what makes a full pass and
an incremental one round differently (TF32, cuDNN's choice of algorithm) while sampling runs.
"""

from __future__ import annotations

import contextlib
from typing import ContextManager, Sequence

import torch
from torch import nn

from zoo_core.errors import InvalidInput
from zoo_core.validate import check_class_names, check_count, check_event, check_images, check_labels

__all__ = ["inverse_cdf", "AutoregressiveModel", "ClassConditional"]


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


class AutoregressiveModel(nn.Module):
    """p(x) of integer images as a product of per-sub-pixel softmax distributions (a ``DensityModel``).

    Subclasses implement ``_logits`` and may override ``_draw_cached``, ``_sampling_context``
    and ``_anchor`` (a parameter whose device and dtype are the model's); see the module
    docstring.

    Args:
        event_shape: (C, H, W) of the images.
        num_levels: levels of each sub-pixel, at least 2.

    Raises:
        InvalidInput: a bad shape or level count.
    """

    autoregressive = True

    def __init__(self, event_shape: Sequence[int], num_levels: int):
        super().__init__()
        self.event_shape = check_event(event_shape, num_levels)
        self.num_levels = num_levels

    # -- what a model provides -----------------------------------------------------------------

    def _logits(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement _logits(x, labels)")

    def _draw_cached(self, x: torch.Tensor, u: torch.Tensor, labels: torch.Tensor | None) -> None:
        """Fill x in place with the draws of :meth:`_draw_reference`; override with a faster way."""
        self._draw_reference(x, u, labels)

    def _sampling_context(self, device: torch.device) -> ContextManager:
        """Entered while sampling runs; by default it does nothing."""
        return contextlib.nullcontext()

    def _anchor(self) -> torch.Tensor:
        return next(self.parameters())

    # -- shared machinery ----------------------------------------------------------------------

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """Levels 0 .. num_levels-1 mapped linearly onto [-1, 1], in the model's dtype."""
        return x.to(self._anchor().dtype) * (2.0 / (self.num_levels - 1)) - 1.0

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
            with self._sampling_context(device):
                (self._draw_cached if cache else self._draw_reference)(x, u, labels)
        return x

    def _draw_reference(self, x: torch.Tensor, u: torch.Tensor, labels: torch.Tensor | None) -> None:
        """Fill x in place, one full forward pass per sub-pixel."""
        (c, h, w), levels = self.event_shape, self.num_levels
        for i in range(h):
            for j in range(w):
                for k in range(c):
                    logits = self._logits(x, labels)[:, k * levels:(k + 1) * levels, i, j]
                    x[:, k, i, j] = inverse_cdf(logits, u[:, k, i, j])

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
            cache: the model's incremental sampler (fast); False runs one full forward pass per
                sub-pixel (the reference). Both return the same images.
        """
        return self._sample(check_count(n), None, generator, cache)


class ClassConditional:
    """Mixed in before an :class:`AutoregressiveModel` subclass: p(x | y), a ``ConditionalModel``.

    Labels replace ``n`` in ``sample`` and join ``log_prob`` and ``conditional_log_probs``; the
    model's ``_logits`` receives them. The model's ``__init__`` calls :meth:`_set_classes`.
    """

    num_classes: int
    class_names: list[str]
    event_shape: tuple[int, int, int]
    num_levels: int

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        order = cls.__mro__
        if AutoregressiveModel in order and order.index(AutoregressiveModel) < order.index(ClassConditional):
            raise TypeError(f"{cls.__name__}: list ClassConditional before the model class in its bases, so that "
                            f"its log_prob and sample replace the unconditional ones")

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
        """Draw one image per label in ``y`` (B,): a long tensor (B, C, H, W); see
        :meth:`AutoregressiveModel.sample`."""
        y = check_labels(y, self.num_classes)
        return self._sample(len(y), y, generator, cache)
