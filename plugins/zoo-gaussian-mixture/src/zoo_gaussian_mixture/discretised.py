"""Discretised diagonal Gaussians: exact bin probabilities in log space, and sampling.

Pixel levels live on the *level scale*: level ``v`` in [0, L) is the bin [v - 0.5, v + 0.5],
except that the outer bins are open, (-inf, 0.5] and [L - 1.5, +inf), so that the L bin
probabilities of any Gaussian sum to one. The probability of a bin is a difference of normal
CDFs, Phi(b) - Phi(a) with a = (v - 0.5 - mu) / s, b = (v + 0.5 - mu) / s, which is computed
in log space and float64 without catastrophic cancellation:

- both ends in one tail (after reflecting the upper tail onto the lower one): the larger log
  CDF plus log(1 - exp(difference of log CDFs)); ``torch.special.log_ndtr`` goes through the
  scaled complementary error function there, so it stays exact far into the tail;
- a bin straddling the mean: 0.5 (erf(b / sqrt 2) - erf(a / sqrt 2)), a sum of two terms of
  the same sign, so nothing cancels.

References:
    [1] M. Maechler, "Accurately computing log(1 - exp(-|a|))", Rmpfr package vignette, 2012.
"""

from __future__ import annotations

import math

import torch

__all__ = ["log_ndtr_diff", "log_bin_probs", "mixture_log_prob", "component_log_probs", "draw_levels"]

_SQRT_HALF = math.sqrt(0.5)
_LOG_2 = math.log(2.0)
#: Elements of the (batch, components, dimensions) float64 work tensor per chunk (32 MiB).
_CHUNK = 1 << 22


def _log1mexp(t: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(t)) for t <= 0, accurate at both ends [1]."""
    return torch.where(t > -_LOG_2, torch.log(-torch.expm1(t)), torch.log1p(-torch.exp(t)))


def log_ndtr_diff(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """log(Phi(b) - Phi(a)) for a < b elementwise (either may be infinite), without cancellation.

    Branches are evaluated on harmless stand-in values where they do not apply, so that
    neither the value nor the gradient of the selected branch is ever NaN.
    """
    flip = a > 0  # Phi(b) - Phi(a) = Phi(-a) - Phi(-b): move an upper-tail bin to the lower tail
    lo, hi = torch.where(flip, -b, a), torch.where(flip, -a, b)
    straddle = hi > 0  # now lo <= 0 always; the bin either contains 0 or lies left of it
    one = torch.ones_like(hi)
    log_hi = torch.special.log_ndtr(torch.where(straddle, -one, hi))
    log_lo = torch.special.log_ndtr(torch.where(straddle, -2 * one, lo))
    tail = log_hi + _log1mexp(log_lo - log_hi)
    mid = torch.log(0.5 * (torch.erf(torch.where(straddle, hi, one) * _SQRT_HALF)
                           - torch.erf(torch.where(straddle, lo, -one) * _SQRT_HALF)))
    return torch.where(straddle, mid, tail)


def log_bin_probs(v: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor, num_levels: int) -> torch.Tensor:
    """log P(level v) under N(mean, scale^2) discretised into ``num_levels`` bins (float64).

    ``v``, ``mean`` and ``scale`` broadcast together; ``v`` holds integer levels in
    [0, num_levels), ``scale`` > 0, both on the level scale.
    """
    v, mean, scale = v.double(), mean.double(), scale.double()
    inf = torch.tensor(math.inf, dtype=torch.float64, device=v.device)
    a = torch.where(v <= 0, -inf, (v - 0.5 - mean) / scale)
    b = torch.where(v >= num_levels - 1, inf, (v + 0.5 - mean) / scale)
    return log_ndtr_diff(a, b)


def component_log_probs(x: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor,
                        num_levels: int) -> torch.Tensor:
    """log p(x | component k) for every image and component: (B, K) float64.

    Args:
        x: (B, D) integer levels.
        means, log_scales: (K, D) on the level scale.

    For a batch larger than the number of levels, the (K, D, L) table of every bin's log
    probability is computed once and gathered, which is cheaper than B * K * D CDF pairs.
    """
    n, d = x.shape
    k = means.shape[0]
    scales = log_scales.double().exp()
    if n > num_levels:
        return table_log_probs(x, bin_table(means, log_scales, num_levels), num_levels)
    out = torch.empty(n, k, dtype=torch.float64, device=means.device)
    rows = max(1, _CHUNK // max(1, k * d))
    for start in range(0, n, rows):
        chunk = x[start:start + rows, None, :]
        out[start:start + rows] = log_bin_probs(chunk, means, scales, num_levels).sum(-1)
    return out


def bin_table(means: torch.Tensor, log_scales: torch.Tensor, num_levels: int) -> torch.Tensor:
    """log P(level v | component k) at every pixel d, as a (D * L, K) float64 table (row d * L + v)."""
    k, d = means.shape
    levels = torch.arange(num_levels, device=means.device)
    table = log_bin_probs(levels, means[..., None], log_scales.double().exp()[..., None], num_levels)  # (K, D, L)
    return table.permute(1, 2, 0).reshape(d * num_levels, k)


def table_log_probs(x: torch.Tensor, table: torch.Tensor, num_levels: int) -> torch.Tensor:
    """log p(x | component k), (B, K) float64, gathered from a :func:`bin_table`."""
    n, d = x.shape
    out = torch.empty(n, table.shape[1], dtype=torch.float64, device=table.device)
    rows = max(1, _CHUNK // max(1, table.shape[1] * d))
    offsets = torch.arange(d, device=table.device) * num_levels
    for start in range(0, n, rows):
        out[start:start + rows] = table[x[start:start + rows] + offsets].sum(1)
    return out


def mixture_log_prob(x: torch.Tensor, logits: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor,
                     num_levels: int) -> torch.Tensor:
    """log sum_k pi_k prod_d P(x_d | k) for x (B, D) integer levels; returns (B,) float64."""
    log_weights = torch.log_softmax(logits.double(), -1)
    return torch.logsumexp(component_log_probs(x, means, log_scales, num_levels) + log_weights, -1)


def draw_levels(mean: torch.Tensor, log_scale: torch.Tensor, num_levels: int,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """One level per element from the discretised Gaussian: a normal draw rounded into its bin.

    Rounding to the nearest level and clamping into [0, L) puts a draw in bin v exactly
    when it falls in [v - 0.5, v + 0.5) (open outer bins), which is the discretised law.
    The normal draws come from ``generator``'s device and are moved to ``mean``'s.
    """
    device = generator.device if generator is not None else mean.device
    noise = torch.randn(mean.shape, generator=generator, device=device, dtype=torch.float64).to(mean.device)
    value = mean.double() + log_scale.double().exp() * noise
    return value.round().clamp(0, num_levels - 1).long()
