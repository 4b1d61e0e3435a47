"""Tiny configurations of every PixelCNN architecture, shared by this plugin's tests.

A module of its own name rather than conftest.py, so that no other conftest can shadow it.
"""

from __future__ import annotations

import torch

from zoo_core import testing

ARCHITECTURES = ["pixelcnn/original", "pixelcnn/gated", "pixelcnn/gated-conditional"]
CONDITIONAL = "pixelcnn/gated-conditional"

# channels divisible by 3, so that every colour group of an RGB model has feature maps
TINY = {
    "pixelcnn/original": {"channels": 6, "layers": 2, "kernel_size": 3, "first_kernel_size": 5,
                          "output_channels": 9},
    "pixelcnn/gated": {"channels": 6, "layers": 3, "kernel_size": 3, "first_kernel_size": 5,
                       "output_channels": 9},
}
TINY[CONDITIONAL] = {**TINY["pixelcnn/gated"], "num_classes": 3, "class_names": ["a", "b", "c"]}


def tiny(architecture: str, event_shape, num_levels: int, *, seed: int = 0, **overrides):
    """A small untrained model: the conformance kit's builder with this plugin's tiny sizes."""
    return testing.tiny(architecture, event_shape, num_levels, seed=seed, **{**TINY[architecture], **overrides})


def labels_for(model, n: int):
    """n labels cycling through the classes of a conditional model, else None."""
    if not hasattr(model, "num_classes"):
        return None
    return torch.arange(n) % model.num_classes
