"""The Row LSTM [1, Sec. 3.1], and its class-conditional variant.

The Row LSTM processes the image one row at a time, top to bottom, computing every pixel of
a row at once. In each layer the state of row i follows the state of row i-1 through a
1 x k state-to-state convolution, so pixel (i, j) sees a triangle above it: row i-1 at
columns j-1 .. j+1 (k = 3), row i-2 at j-2 .. j+2, and so on [1, Fig. 2]. The input-to-state
convolution is 1 x k as well, masked (mask B) so that it reads the pixels left of j and, at
j, the earlier colour groups and its own.

Differences from the paper:
- The input-to-state convolution and the first, mask-A convolution are computed one row at
  a time, as the recurrence already is (the paper computes them for the whole map at once;
  the values are the same). So the cached sampler, which recomputes one row, runs exactly
  the operations of the forward pass on exactly the same inputs, and its logits are bitwise
  those of a full pass.
- The forget gates start with a bias of 1 [2].
- The conditional variant adds a learned embedding of the label to the pre-activations of
  every layer, the way the conditional PixelCNN adds V^T h [3, eq. 4].

References:
    [1] A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu, "Pixel Recurrent Neural Networks",
        ICML 2016.
    [2] R. Jozefowicz, W. Zaremba, I. Sutskever, "An Empirical Exploration of Recurrent
        Network Architectures", ICML 2015.
    [3] A. van den Oord, N. Kalchbrenner, O. Vinyals, L. Espeholt, A. Graves,
        K. Kavukcuoglu, "Conditional Image Generation with PixelCNN Decoders", NeurIPS 2016.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from zoo_core.autoregressive import ClassConditional, inverse_cdf
from zoo_core.validate import check_size
from zoo_pixelrnn.lstm import GATES, gate_groups, lstm_cell
from zoo_pixelrnn.masked import MaskedConv2d, channel_groups
from zoo_pixelrnn.pixelrnn import PixelRNN

__all__ = ["RowLSTMLayer", "RowLSTM", "ConditionalRowLSTM"]

State = tuple[torch.Tensor, torch.Tensor]


class RowLSTMLayer(nn.Module):
    """One Row LSTM layer with its residual connection, applied to one row [1, eq. 3 and Sec. 3.3].

    For row i, with x_i the row of the layer's input and (h_{i-1}, c_{i-1}) the state of
    the row above::

        [o, f, i, g] = K_ss * h_{i-1} + K_is * x_i  (+ the label's embedding)
        c_i = sigmoid(f) . c_{i-1} + sigmoid(i) . tanh(g)
        h_i = sigmoid(o) . tanh(c_i)
        output_i = x_i + K_out * h_i

    Args:
        channels: maps of the residual stream (2h).
        hidden: LSTM units h.
        colours: colour channels C; maps and units are split into C groups.
        kernel_size: k of the 1 x k input-to-state and state-to-state convolutions (odd).
    """

    def __init__(self, channels: int, hidden: int, colours: int, kernel_size: int = 3):
        super().__init__()
        reach = kernel_size // 2
        stream, units = channel_groups(channels, colours), channel_groups(hidden, colours)
        self.input_to_state = MaskedConv2d(channels, GATES * hidden, left=reach, mask="B",
                                           in_groups=stream, out_groups=gate_groups(hidden, colours))
        # reads only the row above, where every colour group is already known
        self.state_to_state = nn.Conv2d(hidden, GATES * hidden, (1, kernel_size), padding=(0, reach), bias=False)
        self.projection = MaskedConv2d(hidden, channels, mask="B", in_groups=units, out_groups=stream)
        with torch.no_grad():
            self.input_to_state.bias[hidden:2 * hidden].fill_(1.0)  # the forget gates [2]

    def forward(self, x: torch.Tensor, state: State, label_bias: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, State]:
        """One row.

        Args:
            x: the row of the layer's input, (B, channels, 1, W).
            state: (h, c) of the row above, each (B, hidden, 1, W); zeros above the image.
            label_bias: (B, 4 * hidden), added to every pre-activation of the row, or None.

        Returns:
            The row of the layer's output (B, channels, 1, W) and the row's state (h, c).
        """
        h, c = state
        gates = self.state_to_state(h) + self.input_to_state(x)
        if label_bias is not None:
            gates = gates + label_bias[:, :, None, None]
        h, c = lstm_cell(gates, c)
        return x + self.projection(h), (h, c)


class RowLSTM(PixelRNN):
    """PixelRNN with Row LSTM layers: p(x) over integer images [1].

    Args:
        event_shape: (C, H, W) of the images.
        num_levels: levels of each sub-pixel.
        hidden_channels: h, the units of each LSTM (the residual stream has 2h maps); at least C.
        layers: number of Row LSTM layers.
        kernel_size: k of the 1 x k convolutions, odd.

    Raises:
        InvalidInput: a bad shape, level count or size.
    """

    def __init__(self, event_shape: Sequence[int] = (1, 28, 28), num_levels: int = 256, hidden_channels: int = 64,
                 layers: int = 5, kernel_size: int = 3):
        super().__init__(event_shape, num_levels, hidden_channels)
        check_size("layers", layers)
        check_size("kernel_size", kernel_size, odd=True)
        colours = self.event_shape[0]
        self.layers = nn.ModuleList(RowLSTMLayer(2 * hidden_channels, hidden_channels, colours, kernel_size)
                                    for _ in range(layers))

    def _label_biases(self, labels: torch.Tensor | None) -> list[torch.Tensor | None]:
        return [None] * len(self.layers)

    def _zero_state(self, n: int) -> list[State]:
        """The state 'above the image' of every layer."""
        zeros = self._anchor().new_zeros(n, self.hidden_channels, 1, self.event_shape[2])
        return [(zeros, zeros)] * len(self.layers)

    def _row(self, image: torch.Tensor, i: int, state: list[State], biases: list[torch.Tensor | None]
             ) -> tuple[torch.Tensor, list[State]]:
        """Logits of row i, (B, C * num_levels, 1, W), and every layer's state after row i.

        ``image`` comes from ``_padded_image``, ``state`` holds every layer's state after
        row i-1. Row i's logits read image rows i-3 .. i only.
        """
        x = self._input_row(image, i)
        after = []
        for layer, layer_state, bias in zip(self.layers, state, biases):
            x, layer_state = layer(x, layer_state, bias)
            after.append(layer_state)
        return self.head(x), after

    def _logits(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        image, biases, state = self._padded_image(x), self._label_biases(labels), self._zero_state(len(x))
        rows = []
        for i in range(self.event_shape[1]):
            logits, state = self._row(image, i, state, biases)
            rows.append(logits)
        return torch.cat(rows, dim=2)

    def _draw_cached(self, x: torch.Tensor, u: torch.Tensor, labels: torch.Tensor | None) -> None:
        """Fill x in place with the draws of the reference, recomputing one row per sub-pixel.

        Rows above i are final, so their states, kept from when they were finished, are
        what a full pass computes; only row i is recomputed, from the image as it stands.
        """
        (c, h, w), levels = self.event_shape, self.num_levels
        biases, state = self._label_biases(labels), self._zero_state(len(x))
        for i in range(h):
            for j in range(w):
                for k in range(c):
                    logits, _ = self._row(self._padded_image(x), i, state, biases)
                    x[:, k, i, j] = inverse_cdf(logits[:, k * levels:(k + 1) * levels, 0, j], u[:, k, i, j])
            _, state = self._row(self._padded_image(x), i, state, biases)


class ConditionalRowLSTM(ClassConditional, RowLSTM):
    """The Row LSTM of p(x | y): a learned embedding of y joins every layer's pre-activations.

    Args:
        event_shape, num_levels, hidden_channels, layers, kernel_size: as for :class:`RowLSTM`.
        num_classes: number of labels.
        class_names: a name per label; default "0", "1", ...
    """

    def __init__(self, event_shape: Sequence[int] = (1, 28, 28), num_levels: int = 256, num_classes: int = 10,
                 class_names: Sequence[str] | None = None, hidden_channels: int = 64, layers: int = 5,
                 kernel_size: int = 3):
        super().__init__(event_shape, num_levels, hidden_channels, layers, kernel_size)
        self._set_classes(num_classes, class_names)
        self.label_embeddings = nn.ModuleList(nn.Embedding(num_classes, GATES * hidden_channels)
                                              for _ in range(layers))
        for embedding in self.label_embeddings:
            nn.init.normal_(embedding.weight, std=0.1)

    def _label_biases(self, labels: torch.Tensor | None) -> list[torch.Tensor | None]:
        return [embedding(labels) for embedding in self.label_embeddings]
