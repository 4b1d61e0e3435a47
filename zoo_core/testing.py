"""Checks that any zoo model must pass, usable from any plugin's tests.

Each ``check_*`` raises ``AssertionError`` with a message naming the property that failed.
They work on tiny event shapes, where the whole discrete space can be enumerated.

Autoregressive models declare ``autoregressive = True`` and expose
``conditional_log_probs(x[, y]) -> (B, C, H, W, num_levels)``: the natural-log
distribution of each sub-pixel given every sub-pixel before it in raster order
(rows top to bottom, columns left to right, channels in order inside a pixel).
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "all_images",
    "check_normalised",
    "check_causal",
    "check_sampler_matches_log_prob",
]


def all_images(event_shape, num_levels: int) -> torch.Tensor:
    """Every image of ``event_shape`` with ``num_levels`` levels: (num_levels**D, C, H, W) long."""
    d = math.prod(event_shape)
    if num_levels**d > 1 << 16:
        raise ValueError(f"{num_levels}**{d} images is too many to enumerate; use a smaller event shape")
    grids = torch.cartesian_prod(*[torch.arange(num_levels)] * d) if d > 1 else torch.arange(num_levels)[:, None]
    return grids.reshape(-1, *event_shape).long()


def _log_probs(model, x, y=None):
    with torch.no_grad():
        return model.log_prob(x) if y is None else model.log_prob(x, y)


def check_normalised(model, *, atol: float = 1e-4) -> None:
    """Probabilities over the whole discrete space sum to one (per class for conditionals)."""
    x = all_images(model.event_shape, model.num_levels)
    if hasattr(model, "predict_log_proba"):
        with torch.no_grad():
            total = model.predict_log_proba(x).double().exp().sum(-1)
        assert torch.allclose(total, torch.ones_like(total), atol=atol), (
            f"p(y|x) does not sum to one over classes: sums range over [{total.min():.6f}, {total.max():.6f}]")
        return
    labels = [None] if not hasattr(model, "num_classes") else list(range(model.num_classes))
    for label in labels:
        y = None if label is None else torch.full((len(x),), label, dtype=torch.long)
        total = torch.logsumexp(_log_probs(model, x, y).double(), 0).exp().item()
        where = "" if label is None else f" for class {label}"
        assert abs(total - 1.0) < atol, f"probabilities over all {len(x)} images sum to {total:.6f}{where}, not 1"


def check_causal(model, *, y=None, generator: torch.Generator | None = None) -> None:
    """Changing a sub-pixel changes no conditional at or before it in raster order."""
    c, h, w = model.event_shape
    g = generator or torch.Generator().manual_seed(0)
    x = torch.randint(model.num_levels, (2, c, h, w), generator=g)
    args = () if y is None else (y[:2],)

    def flat(t):  # (B, C, H, W, L) -> (B, H*W*C, L) in raster order, channels innermost
        return t.permute(0, 2, 3, 1, 4).reshape(t.shape[0], h * w * c, -1)

    with torch.no_grad():
        base = flat(model.conditional_log_probs(x, *args))
        for k in range(h * w * c):
            i, j, ch = k // (w * c), (k // c) % w, k % c
            x2 = x.clone()
            x2[:, ch, i, j] = (x2[:, ch, i, j] + 1) % model.num_levels
            moved = flat(model.conditional_log_probs(x2, *args))
            changed = (moved[:, : k + 1] - base[:, : k + 1]).abs().amax(dim=(0, 2))
            bad = torch.nonzero(changed > 1e-5).flatten()
            assert len(bad) == 0, (
                f"changing sub-pixel (c={ch}, h={i}, w={j}) changed the conditional of sub-pixel "
                f"{int(bad[0])} in raster order, which comes before it or is it: the model sees the future")


def check_sampler_matches_log_prob(model, *, n: int = 4000, y: int | None = None, seed: int = 0) -> None:
    """Sample frequencies over a tiny space agree with exp(log_prob) (total variation test)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        if y is None:
            s = model.sample(n, generator=g)
        else:
            s = model.sample(torch.full((n,), y, dtype=torch.long), generator=g)
    assert s.dtype == torch.long and tuple(s.shape) == (n, *model.event_shape), (
        f"sample returned {s.dtype} {tuple(s.shape)}, expected torch.int64 {(n, *model.event_shape)}")
    x = all_images(model.event_shape, model.num_levels)
    labels = None if y is None else torch.full((len(x),), y, dtype=torch.long)
    p = _log_probs(model, x, labels).double().exp()
    d = math.prod(model.event_shape)
    index = torch.zeros(n, dtype=torch.long)
    for v in s.reshape(n, d).unbind(1):
        index = index * model.num_levels + v
    freq = torch.bincount(index, minlength=len(x)).double() / n
    tv = 0.5 * (freq - p).abs().sum().item()
    # expected TV of n exact draws is about 0.5 * sum sqrt(2 p (1-p) / (pi n)); allow 4x plus slack
    bound = 4 * 0.5 * torch.sqrt(2 * p * (1 - p) / (math.pi * n)).sum().item() + 0.01
    assert tv < bound, f"samples disagree with log_prob: total variation {tv:.4f} exceeds {bound:.4f} ({n} samples)"
