"""The three kinds of model, as structural protocols.

Any object with these members composes with zoo (Bayes adapters, evaluation, the CLI);
the shipped models are ``torch.nn.Module`` s that also have them. Images are integer
tensors (B, C, H, W) with values in [0, num_levels); log-probabilities are natural logs
of the discrete image, shape (B,).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:  # torch is imported only by model code, never by `zoo list`
    import torch

__all__ = ["DensityModel", "ConditionalModel", "Classifier", "TASKS"]

#: Registry task names and the protocol each one promises.
TASKS = ("density", "conditional", "classifier")


@runtime_checkable
class DensityModel(Protocol):
    """p(x) over integer images of shape ``event_shape`` with ``num_levels`` levels."""

    event_shape: tuple[int, int, int]
    num_levels: int

    def log_prob(self, x: "torch.Tensor") -> "torch.Tensor":
        """Natural-log probability of each image in ``x`` (B, C, H, W); returns (B,)."""

    def sample(self, n: int, *, generator: "torch.Generator | None" = None) -> "torch.Tensor":
        """Draw ``n`` images; returns a long tensor (n, C, H, W)."""


@runtime_checkable
class ConditionalModel(Protocol):
    """p(x | y) for labels y in [0, num_classes)."""

    event_shape: tuple[int, int, int]
    num_levels: int
    num_classes: int
    class_names: Sequence[str]

    def log_prob(self, x: "torch.Tensor", y: "torch.Tensor") -> "torch.Tensor":
        """Natural-log p(x_i | y_i) for each pair; returns (B,)."""

    def sample(self, y: "torch.Tensor", *, generator: "torch.Generator | None" = None) -> "torch.Tensor":
        """Draw one image per label in ``y``; returns a long tensor (len(y), C, H, W)."""


@runtime_checkable
class Classifier(Protocol):
    """p(y | x) over ``num_classes`` classes."""

    event_shape: tuple[int, int, int]
    num_levels: int
    num_classes: int
    class_names: Sequence[str]

    def predict_log_proba(self, x: "torch.Tensor") -> "torch.Tensor":
        """Natural-log p(y | x) for every class; returns (B, num_classes)."""

    def predict(self, x: "torch.Tensor") -> "torch.Tensor":
        """Most probable class of each image; returns a long tensor (B,)."""
