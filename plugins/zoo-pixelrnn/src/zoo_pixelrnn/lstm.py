"""The LSTM cell both PixelRNN layers share: gates from pre-activations, eq. (3) of [1].

The pre-activations of a layer with ``hidden`` units are ``4 * hidden`` feature maps laid
out as [o, f, i, g], ``hidden`` maps each. Unit k's four gates sit at k, hidden + k,
2 hidden + k and 3 hidden + k, and all four must belong to unit k's colour group
(:func:`gate_groups`), so that its cell and hidden state stay in that group.

References:
    [1] A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu, "Pixel Recurrent Neural Networks",
        ICML 2016.
"""

from __future__ import annotations

import torch

from zoo_pixelrnn.masked import channel_groups

__all__ = ["GATES", "gate_groups", "lstm_cell"]

#: Pre-activations per hidden unit: output, forget, input gates and the content g.
GATES = 4


def gate_groups(hidden: int, colours: int) -> torch.Tensor:
    """Colour group of each of the ``4 * hidden`` pre-activations: unit k's group, four times."""
    return channel_groups(hidden, colours).repeat(GATES)


def lstm_cell(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[1, eq. 3]: c' = sigmoid(f) * c + sigmoid(i) * tanh(g), h' = sigmoid(o) * tanh(c').

    Args:
        gates: pre-activations (B, 4 * hidden, ...), laid out [o, f, i, g].
        c: the cell state the new one follows, (B, hidden, ...).

    Returns:
        (h', c'), each shaped like ``c``.
    """
    o, f, i, g = gates.chunk(GATES, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c
