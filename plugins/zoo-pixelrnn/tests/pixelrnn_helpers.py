"""Tiny configurations of every PixelRNN architecture, shared by this plugin's tests."""

from __future__ import annotations

import torch

from zoo_core import testing

ARCHITECTURES = ["pixelrnn/row-lstm", "pixelrnn/diagonal-bilstm", "pixelrnn/row-lstm-conditional"]
CONDITIONAL = "pixelrnn/row-lstm-conditional"

# hidden channels divisible by 3, so that every colour group of an RGB model has units
TINY = {
    "pixelrnn/row-lstm": {"hidden_channels": 6, "layers": 2, "kernel_size": 3},
    "pixelrnn/diagonal-bilstm": {"hidden_channels": 6, "layers": 2},
    CONDITIONAL: {"hidden_channels": 6, "layers": 2, "kernel_size": 3, "num_classes": 3,
                  "class_names": ["a", "b", "c"]},
}


def tiny(architecture: str, event_shape, num_levels: int, *, seed: int = 0, **overrides):
    """A small untrained model: the conformance kit's builder with this plugin's tiny sizes."""
    return testing.tiny(architecture, event_shape, num_levels, seed=seed, **{**TINY[architecture], **overrides})


def labels_for(model, n: int):
    """n labels cycling through the classes of a conditional model, else None."""
    if not hasattr(model, "num_classes"):
        return None
    return torch.arange(n) % model.num_classes


def draw(model, n: int, *, seed: int, cache: bool, device: str = "cpu"):
    """n samples (one per cycled label for a conditional model) with a seeded generator on ``device``."""
    generator = torch.Generator(device=device).manual_seed(seed)
    y = labels_for(model, n)
    if y is None:
        return model.sample(n, generator=generator, cache=cache)
    return model.sample(y, generator=generator, cache=cache)
