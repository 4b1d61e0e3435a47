"""Input checks that every model shares, so bad input never becomes a silent wrong answer.

Each check raises :class:`~zoo_core.errors.InvalidInput` naming what was expected and what
was given, and returns the input as a long tensor ready for the model.
"""

from __future__ import annotations

import operator
from typing import Sequence

import torch

from zoo_core.errors import InvalidInput

__all__ = ["check_images", "check_labels", "check_event", "check_class_names", "check_count", "check_size"]

_INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def check_event(event_shape: Sequence[int], num_levels: int, num_classes: int | None = None) -> tuple[int, int, int]:
    """Validate a builder's ``event_shape``/``num_levels`` (and ``num_classes``) arguments."""
    shape = tuple(event_shape)
    if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
        raise InvalidInput(f"event_shape must be three positive integers (C, H, W); got {event_shape!r}")
    if not isinstance(num_levels, int) or num_levels < 2:
        raise InvalidInput(f"num_levels must be an integer >= 2; got {num_levels!r}")
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
        raise InvalidInput(f"num_classes must be a positive integer; got {num_classes!r}")
    return shape  # type: ignore[return-value]


def check_class_names(class_names, num_classes: int) -> list[str]:
    """One name per class, as a list of str; None gives "0", "1", ...

    Raises:
        InvalidInput: not a sequence of ``num_classes`` strings.
    """
    names = [str(k) for k in range(num_classes)] if class_names is None else class_names
    if isinstance(names, str) or not hasattr(names, "__len__") or len(names) != num_classes \
            or not all(isinstance(name, str) for name in names):
        raise InvalidInput(f"class_names must be {num_classes} strings, one per class; got {class_names!r}")
    return list(names)


def check_images(x, event_shape: Sequence[int], num_levels: int) -> torch.Tensor:
    """Check an image batch and return it as a long tensor.

    Args:
        x: integer tensor (B, C, H, W) with values in [0, num_levels).
        event_shape: the model's (C, H, W).
        num_levels: the model's number of pixel levels.

    Raises:
        InvalidInput: not a tensor, floating or bool dtype, wrong shape, or a value out of range.
    """
    expected = f"an integer tensor of shape (B, {', '.join(map(str, event_shape))}) with values in [0, {num_levels})"
    if not isinstance(x, torch.Tensor):
        raise InvalidInput(f"expected {expected}; got {type(x).__name__}")
    if x.dtype not in _INTEGER_DTYPES:
        raise InvalidInput(f"expected {expected}; got dtype {x.dtype} (convert images to integer levels, e.g. x.long())")
    if x.dim() != 4 or tuple(x.shape[1:]) != tuple(event_shape):
        raise InvalidInput(f"expected {expected}; got shape {tuple(x.shape)}")
    if x.numel():
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi >= num_levels:
            raise InvalidInput(f"expected {expected}; got values in [{lo}, {hi}]")
    return x.long()


def check_labels(y, num_classes: int, batch_size: int | None = None) -> torch.Tensor:
    """Check a label batch and return it as a long tensor.

    Args:
        y: integer tensor (B,) with values in [0, num_classes).
        num_classes: the model's number of classes.
        batch_size: when given, ``y`` must have this many labels (one per image).

    Raises:
        InvalidInput: not a tensor, not integers, wrong shape or length, or a label out of range.
    """
    length = "B" if batch_size is None else str(batch_size)
    expected = f"an integer label tensor of shape ({length},) with values in [0, {num_classes})"
    if not isinstance(y, torch.Tensor):
        raise InvalidInput(f"expected {expected}; got {type(y).__name__}")
    if y.dtype not in _INTEGER_DTYPES:
        raise InvalidInput(f"expected {expected}; got dtype {y.dtype}")
    if y.dim() != 1 or (batch_size is not None and y.shape[0] != batch_size):
        raise InvalidInput(f"expected {expected}; got shape {tuple(y.shape)}")
    if y.numel():
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= num_classes:
            raise InvalidInput(f"expected {expected}; got labels in [{lo}, {hi}]")
    return y.long()


def check_count(n) -> int:
    """A number of samples: a non-negative integer (a Python or NumPy int, or a 0-d integer tensor).

    Raises:
        InvalidInput: a bool, a float, a negative number or anything else.
    """
    try:
        count = operator.index(n)
    except TypeError:
        count = -1
    tensor = isinstance(n, torch.Tensor)
    if isinstance(n, bool) or (tensor and (n.dim() != 0 or n.dtype == torch.bool)) or count < 0:
        raise InvalidInput(f"the number of samples must be a non-negative integer; got {n!r}")
    return count


def check_size(name: str, value, *, odd: bool = False, at_least: int = 1) -> int:
    """A builder's size argument (channels, layers, a kernel size): an integer >= ``at_least``, odd if asked.

    Raises:
        InvalidInput: naming the argument, what it must be and what was given.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < at_least or (odd and value % 2 == 0):
        raise InvalidInput(f"{name} must be an {'odd ' if odd else ''}integer >= {at_least}; got {value!r}")
    return value
