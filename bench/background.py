"""A local-context density in the manner of a lossless image coder: a background model for the
likelihood-ratio rejection score.

Each sub-pixel x is predicted from its causal neighbours a (left), b (up), c (up-left) and
d (up-right), a neighbour outside the image counting as level 0, by the median edge detector
of LOCO-I / JPEG-LS [2]: pred = min(a, b) if c >= max(a, b), max(a, b) if c <= min(a, b),
else a + b - c. The residual e = x - pred has a distribution that depends on a context, the
local activity |a - c| + |b - c| + |d - b| quantised to ``ceil(log2(activity + 1))`` (9 bins
for 256 levels), and

    p(x | neighbours) = r_ctx(x - pred) / sum over levels v of r_ctx(v - pred),

so that the model is exactly normalised over all images. One residual table r serves every
position and channel (channels are treated alike, each with its own neighbours). The tables
are counted over training images, with add-``smoothing`` counts.

The model knows smoothness, edges and flat regions at any level, but not the shape of a
garment: the role of Ren et al.'s background model [1], which they obtain by training the same
network on training inputs whose sub-pixels are each replaced, with probability ``perturb``,
by a uniform random level. :meth:`LocalContextDensity.fit` perturbs its images the same way.

References:
    [1] J. Ren et al., "Likelihood Ratios for Out-of-Distribution Detection", NeurIPS 2019.
    [2] M. J. Weinberger, G. Seroussi, G. Sapiro, "The LOCO-I Lossless Image Compression
        Algorithm: Principles and Standardization into JPEG-LS", IEEE Trans. Image Processing, 2000.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from zoo_core.validate import check_event, check_images


class LocalContextDensity(torch.nn.Module):
    """A DensityModel over integer images (C, H, W) with ``num_levels`` levels; see the module docstring."""

    def __init__(self, event_shape=(1, 28, 28), num_levels: int = 256):
        super().__init__()
        self.event_shape, self.num_levels = check_event(event_shape, num_levels), num_levels
        self.contexts = math.ceil(math.log2(3 * (num_levels - 1) + 1)) + 1
        # log r_ctx(e) for e = -(L-1) .. L-1, stored at index e + L - 1; untrained: uniform
        self.register_buffer("log_residual", torch.zeros(self.contexts, 2 * num_levels - 1, dtype=torch.float64))
        self.register_buffer("log_norm", torch.zeros(self.contexts, num_levels, dtype=torch.float64))
        self._normalise()

    def _normalise(self) -> None:
        """log_norm[ctx, pred] = log sum over levels v of r_ctx(v - pred)."""
        levels = self.num_levels
        index = torch.arange(levels)[None, :] - torch.arange(levels)[:, None] + levels - 1  # [pred, v]
        self.log_norm.copy_(torch.logsumexp(self.log_residual[:, index.to(self.log_residual.device)], dim=-1))

    def _predict(self, a, b, c, d) -> tuple[torch.Tensor, torch.Tensor]:
        """(pred, context) from the neighbours' levels, elementwise."""
        low, high = torch.minimum(a, b), torch.maximum(a, b)
        pred = torch.where(c >= high, low, torch.where(c <= low, high, a + b - c))
        activity = (a - c).abs() + (b - c).abs() + (d - b).abs()
        context = torch.ceil(torch.log2(activity.double() + 1)).long()
        return pred, context

    def _neighbours(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        padded = F.pad(x, (1, 1, 1, 0))  # a zero column each side, a zero row on top
        h, w = x.shape[-2:]
        return (padded[..., 1:, :w], padded[..., :h, 1:w + 1], padded[..., :h, :w], padded[..., :h, 2:])

    def fit(self, x: torch.Tensor, *, perturb: float = 0.1, smoothing: float = 1.0,
            generator: torch.Generator | None = None, batch_size: int = 10000) -> dict:
        """Count the residuals of the training images ``x`` (N, C, H, W), each sub-pixel first
        replaced with probability ``perturb`` by a uniform random level (drawn with ``generator``
        on the CPU). Returns the settings, for the record."""
        x = check_images(x, self.event_shape, self.num_levels)
        device, levels = self.log_residual.device, self.num_levels
        counts = torch.full((self.contexts * (2 * levels - 1),), float(smoothing), dtype=torch.float64,
                            device=device)
        for chunk in x.split(batch_size):
            chunk = chunk.cpu()
            hit = torch.rand(chunk.shape, generator=generator) < perturb
            chunk = torch.where(hit, torch.randint(0, levels, chunk.shape, generator=generator), chunk).to(device)
            pred, context = self._predict(*self._neighbours(chunk))
            cells = context * (2 * levels - 1) + (chunk - pred + levels - 1)
            counts += torch.bincount(cells.flatten(), minlength=counts.numel()).double()
        table = counts.view(self.contexts, 2 * levels - 1)
        self.log_residual.copy_((table / table.sum(1, keepdim=True)).log())
        self._normalise()
        return {"images": len(x), "perturb": perturb, "smoothing": smoothing}

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Natural-log p(x) of integer images (B, C, H, W): (B,), float64.

        Raises:
            InvalidInput: not integers, wrong shape or values out of range.
        """
        x = check_images(x, self.event_shape, self.num_levels).to(self.log_residual.device)
        pred, context = self._predict(*self._neighbours(x))
        log_p = self.log_residual[context, x - pred + self.num_levels - 1] - self.log_norm[context, pred]
        return log_p.flatten(1).sum(1)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images drawn exactly, sub-pixel by sub-pixel in raster order: (n, C, H, W) long."""
        (c, h, w), levels = self.event_shape, self.num_levels
        x = torch.zeros(n, c, h + 1, w + 2, dtype=torch.long)  # zero border: a row on top, a column each side
        residual, norm = self.log_residual.cpu(), self.log_norm.cpu()
        v = torch.arange(levels)
        for i in range(1, h + 1):
            for j in range(1, w + 1):
                pred, context = self._predict(x[:, :, i, j - 1], x[:, :, i - 1, j], x[:, :, i - 1, j - 1],
                                              x[:, :, i - 1, j + 1])
                pred, context = pred.flatten(), context.flatten()
                offsets = v[None, :] - pred[:, None] + levels - 1
                log_p = residual[context[:, None], offsets] - norm[context, pred][:, None]
                x[:, :, i, j] = torch.multinomial(log_p.exp(), 1, generator=generator).view(n, c)
        return x[:, :, 1:, 1:w + 1].contiguous().to(self.log_residual.device)
