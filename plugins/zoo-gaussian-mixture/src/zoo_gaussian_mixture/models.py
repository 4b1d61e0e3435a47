"""Discretised mixtures of diagonal Gaussians over pixel levels: p(x) and p(x | y).

p(x) = sum_k pi_k prod_d P(x_d | mu_kd, s_kd), where P is the probability that N(mu, s^2)
gives to level x_d's bin [x_d - 0.5, x_d + 0.5] on the level scale (levels 0 .. L-1, not
rescaled), the outer bins open to -inf and +inf. ``log_prob`` is therefore the exact
probability of the integer image, not a density, and sums to one over all images.

Unlike the usual continuous mixture on dequantised or rescaled data [1], the model is scored
as a discrete distribution. The fit is EM on uniformly dequantised levels (``em``), whose
continuous likelihood bounds the discrete one from below, followed by Sheppard's
correction of the variances (``em.sheppard``): the dequantisation noise's 1/12 is removed.

References:
    [1] C. M. Bishop, "Pattern Recognition and Machine Learning", 2006, section 9.2.
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn

from zoo_core.errors import InvalidInput
from zoo_core.validate import check_class_names, check_count, check_event, check_images, check_labels
from zoo_gaussian_mixture.discretised import bin_table, draw_levels, mixture_log_prob, table_log_probs
from zoo_gaussian_mixture.em import check_settings, fit_mixture, sheppard

__all__ = ["DiagonalGMM", "ClassConditionalGMM"]


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    """EM's matrices use the parameters' dtype, at least float32 (float64 parameters: float64 EM)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


class _Mixtures(nn.Module):
    """Parameters of K-component mixtures: one (``groups=None``), or one per class."""

    def __init__(self, groups, event_shape, num_levels, components, iterations, variance_floor, init):
        super().__init__()
        check_settings(components, iterations, variance_floor, init)
        self.event_shape, self.num_levels = event_shape, num_levels
        self.components, self.iterations = components, iterations
        self.variance_floor, self.init = float(variance_floor), init
        d = math.prod(self.event_shape)
        # untrained: components spread evenly over the level range, broad enough to overlap
        centres = (torch.arange(components) + 0.5) / components * (num_levels - 1)
        lead = () if groups is None else (groups,)
        self.logits = nn.Parameter(torch.zeros(*lead, components))
        self.means = nn.Parameter(centres[:, None].expand(*lead, components, d).clone())
        self.log_scales = nn.Parameter(torch.full((*lead, components, d), math.log(num_levels / 4)))

    def _mixture(self, group: int | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits (K,), means (K, D), log_scales (K, D)) of one mixture, as views."""
        params = self.logits, self.means, self.log_scales
        return params if group is None else tuple(p[group] for p in params)

    def _log_prob(self, x: torch.Tensor, group: int | None) -> torch.Tensor:
        logits, means, log_scales = self._mixture(group)
        if torch.is_grad_enabled():
            return mixture_log_prob(x, logits, means, log_scales, self.num_levels)
        # Scoring in batches (evaluation): the (D * L, K) table of bin probabilities is computed
        # once per set of parameters and reused, instead of B * K * D CDF pairs per batch.
        key = tuple((t.data_ptr(), t._version) for t in (self.logits, self.means, self.log_scales))
        tables = self.__dict__.setdefault("_tables", {})  # one per class for a class-conditional mixture
        cached = tables.get(group)
        if cached is None or cached[0] != key:
            cached = tables[group] = (key, bin_table(means, log_scales, self.num_levels))
        log_weights = torch.log_softmax(logits.double(), -1)
        return torch.logsumexp(table_log_probs(x, cached[1], self.num_levels) + log_weights, -1)

    def _fit_group(self, group, x, generator, progress, description):
        start = time.perf_counter()
        result = fit_mixture(x, self.components, iterations=self.iterations, variance_floor=self.variance_floor,
                             init=self.init, generator=generator, progress=progress,
                             dtype=_work_dtype(self.means.dtype), description=description)
        logits, means, log_scales = self._mixture(group)
        with torch.no_grad():
            logits.copy_(result.logits)
            means.copy_(result.means)
            log_scales.copy_(0.5 * torch.log(sheppard(result.variances, self.variance_floor)))
        return result, time.perf_counter() - start

    def extra_repr(self) -> str:
        return (f"event_shape={self.event_shape}, num_levels={self.num_levels}, components={self.components}, "
                f"iterations={self.iterations}, variance_floor={self.variance_floor}, init={self.init!r}")


class DiagonalGMM(_Mixtures):
    """p(x): a discretised mixture of ``components`` diagonal Gaussians.

    Parameters: ``logits`` (K,) of the mixture weights, ``means`` and ``log_scales`` (K, D)
    with D = C*H*W, on the level scale.

    Args:
        event_shape: (C, H, W) of the images.
        num_levels: pixel levels L; means and scales are on the level scale [0, L).
        components: K, the number of mixture components.
        iterations: EM iterations that ``fit`` runs.
        variance_floor: lower bound on every variance in ``fit``, in squared levels (during EM
            and after Sheppard's correction).
        init: ``"kmeans++"`` (seeding on a subsample, then a few k-means steps) or
            ``"random"`` (K random images as means, the data variance for every component).
    """

    def __init__(self, event_shape=(1, 28, 28), num_levels=256, components=10, iterations=30,
                 variance_floor=0.02, init="kmeans++"):
        super().__init__(None, check_event(event_shape, num_levels), num_levels, components, iterations,
                         variance_floor, init)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Natural-log probability of each integer image (B, C, H, W); returns (B,).

        Raises:
            InvalidInput: wrong shape, dtype or level range.
        """
        x = check_images(x, self.event_shape, self.num_levels).to(self.means.device)
        return self._log_prob(x.flatten(1), None).to(self.means.dtype)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images drawn exactly: a component, then every pixel from its discretised Gaussian."""
        n = check_count(n)
        with torch.no_grad():
            device = generator.device if generator is not None else self.means.device
            weights = torch.softmax(self.logits.double(), 0).to(device)
            k = torch.multinomial(weights, n, replacement=True, generator=generator) if n else \
                torch.zeros(0, dtype=torch.long, device=device)
            k = k.to(self.means.device)
            x = draw_levels(self.means[k], self.log_scales[k], self.num_levels, generator)
        return x.reshape(n, *self.event_shape)

    def fit(self, x: torch.Tensor, y: torch.Tensor | None = None, *, generator: torch.Generator | None = None,
            progress: bool = True) -> dict:
        """Fit by EM on the whole training split ``x`` (N, C, H, W); ``y`` is ignored.

        Returns:
            Figures for the model card: EM's final objective as training bits/dim of the
            dequantised data (before Sheppard's correction), EM iterations, re-seeded
            components and seconds taken.
        """
        x = check_images(x, self.event_shape, self.num_levels).to(self.means.device)
        result, seconds = self._fit_group(None, x.flatten(1), generator, progress, "EM gmm/diagonal")
        return {
            "train_bits_per_dim_dequantised": -result.log_likelihood[-1] / math.log(2),
            "em_iterations": self.iterations,
            "reseeded_components": result.reseeded,
            "fit_seconds": seconds,
        }


class ClassConditionalGMM(_Mixtures):
    """p(x | y): one discretised diagonal Gaussian mixture per class.

    Parameters as in :class:`DiagonalGMM` with a leading class dimension: ``logits``
    (num_classes, K), ``means`` and ``log_scales`` (num_classes, K, D).

    Args:
        num_classes, class_names: the labels y in [0, num_classes) and their names.
        The others as in :class:`DiagonalGMM`; every class gets ``components`` components.
    """

    def __init__(self, event_shape=(1, 28, 28), num_levels=256, num_classes=10, class_names=None, components=10,
                 iterations=30, variance_floor=0.02, init="kmeans++"):
        event_shape = check_event(event_shape, num_levels, num_classes)
        names = check_class_names(class_names, num_classes)
        super().__init__(num_classes, event_shape, num_levels, components, iterations, variance_floor, init)
        self.num_classes, self.class_names = num_classes, names

    def log_prob(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Natural-log p(x_i | y_i) for each pair; returns (B,).

        Raises:
            InvalidInput: bad images, or labels of the wrong shape, length or range.
        """
        x = check_images(x, self.event_shape, self.num_levels).to(self.means.device).flatten(1)
        y = check_labels(y, self.num_classes, len(x)).to(self.means.device)
        out = torch.empty(len(x), dtype=torch.float64, device=self.means.device)
        for label in y.unique().tolist():
            rows = torch.nonzero(y == label).squeeze(1)
            out[rows] = self._log_prob(x[rows], label)
        return out.to(self.means.dtype)

    def sample(self, y: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """One image per label in ``y``: a component of that class, then every pixel."""
        y = check_labels(y, self.num_classes).to(self.means.device)
        with torch.no_grad():
            device = generator.device if generator is not None else self.means.device
            weights = torch.softmax(self.logits[y].double(), 1).to(device)
            k = torch.multinomial(weights, 1, generator=generator).squeeze(1) if len(y) else \
                torch.zeros(0, dtype=torch.long, device=device)
            k = k.to(self.means.device)
            x = draw_levels(self.means[y, k], self.log_scales[y, k], self.num_levels, generator)
        return x.reshape(len(y), *self.event_shape)

    def fit(self, x: torch.Tensor, y: torch.Tensor | None = None, *, generator: torch.Generator | None = None,
            progress: bool = True) -> dict:
        """Fit one mixture per class by EM on that class's images.

        Returns:
            Figures for the model card, as :meth:`DiagonalGMM.fit` (bits/dim over all images).

        Raises:
            InvalidInput: bad images or labels, no labels, or a class with fewer images than
                components.
        """
        x = check_images(x, self.event_shape, self.num_levels).to(self.means.device).flatten(1)
        if y is None:
            raise InvalidInput("gmm/class-conditional fits one mixture per class: pass the labels y")
        y = check_labels(y, self.num_classes, len(x)).to(self.means.device)
        counts = torch.bincount(y, minlength=self.num_classes).tolist()
        few = [f"'{self.class_names[c]}' ({n})" for c, n in enumerate(counts) if n < self.components]
        if few:
            raise InvalidInput(f"every class needs at least components={self.components} images to fit; "
                               f"too few for {', '.join(few)}")
        log_likelihood, reseeded, seconds = 0.0, 0, 0.0
        for label in range(self.num_classes):
            result, took = self._fit_group(label, x[y == label], generator, progress,
                                           f"EM class {self.class_names[label]}")
            log_likelihood += result.log_likelihood[-1] * counts[label]
            reseeded += result.reseeded
            seconds += took
        return {
            "train_bits_per_dim_dequantised": -log_likelihood / len(x) / math.log(2),
            "em_iterations": self.iterations,
            "reseeded_components": reseeded,
            "fit_seconds": seconds,
        }
