"""The Diagonal BiLSTM [1, Sec. 3.2].

Each layer runs two diagonal LSTMs over its input map. The left-to-right one gives pixel
(i, j) a state that follows the states of the pixel above, (i-1, j), and the pixel to the
left, (i, j-1), so it sees every pixel above and to the left. Skewing the map, row i
shifted right by i (:func:`skew`), puts those two neighbours in the previous column, at
rows i-1 and i: a 2 x 1 convolution of the previous column then computes a whole diagonal
at once, column by column. The right-to-left LSTM is the same on the horizontally flipped
map, so it sees the pixels above and to the right, and also the pixels to the right in the
same row, which are still unknown when (i, j) is predicted; its output is therefore shifted
down one row (:func:`shift_down`): pixel (i, j) receives the right-to-left state of
(i-1, j), which has seen only rows above i. The two outputs are added to the layer's input.
Together they give every pixel the whole context above and to its left [1, Fig. 2].

Differences from the paper:
- Each direction maps its h units back to the 2h maps of the residual stream with its own
  1 x 1 convolution, inside its column step (the paper sums the directions, then
  upsamples; one 1 x 1 convolution of the concatenated states is the same model, a little
  more general).
- States at the skewed map's positions that hold no pixel are kept at zero, so the state
  "left of column 0" is zero, as it is above row 0.
- The forget gates start with a bias of 1 [2].

Cached sampling (``_draw_cached``) keeps every finished pixel's states in image
coordinates. For sub-pixel (i, j, c) it recomputes, in every layer, only the
left-to-right state of (i, j), from the states of (i-1, j) and (i, j-1) and the
right-to-left output of (i-1, j); when row i is finished it runs the right-to-left LSTM
along row i, right to left, which row i+1 needs whole. Each of these is one call of the
same column step the forward pass makes, on a column of the same shape, so the logits are
bitwise those of a full pass provided each output element of a convolution is computed from
its own inputs only, in a fixed order, and a masked tap contributes an exact zero (true of
direct and matrix-product convolutions; FFT and Winograd convolutions are not used: cuDNN is
switched off while sampling).

References:
    [1] A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu, "Pixel Recurrent Neural Networks",
        ICML 2016.
    [2] R. Jozefowicz, W. Zaremba, I. Sutskever, "An Empirical Exploration of Recurrent
        Network Architectures", ICML 2015.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from zoo_core.autoregressive import inverse_cdf
from zoo_core.validate import check_size
from zoo_pixelrnn.lstm import GATES, gate_groups, lstm_cell
from zoo_pixelrnn.masked import MaskedConv2d, channel_groups
from zoo_pixelrnn.pixelrnn import PixelRNN

__all__ = ["skew", "unskew", "shift_down", "DiagonalLSTM", "DiagonalBiLSTMLayer", "DiagonalBiLSTM"]


def skew(x: torch.Tensor) -> torch.Tensor:
    """Shift row i of x (B, C, H, W) right by i: (B, C, H, H + W - 1), zeros elsewhere.

    Pixel (i, j) lands in column i + j, so each column holds one anti-diagonal.
    """
    n, c, h, w = x.shape
    # rows padded to length W + H and read back with stride W + H - 1: row i starts i later
    flat = F.pad(x, (0, h)).reshape(n, c, h * (w + h))
    return flat[..., :h * (w + h - 1)].reshape(n, c, h, w + h - 1)


def unskew(x: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`skew`: (B, C, H, H + W - 1) to (B, C, H, W)."""
    n, c, h, k = x.shape
    w = k - h + 1
    flat = F.pad(x.reshape(n, c, h * k), (0, h))
    return flat.reshape(n, c, h, w + h)[..., :w]


def shift_down(x: torch.Tensor) -> torch.Tensor:
    """Row i of the result is row i-1 of x (B, C, H, W); row 0 is zeros."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


def inside_image(height: int, width: int, device=None) -> torch.Tensor:
    """(H, H + W - 1) booleans: which positions of a skewed map hold a pixel."""
    rows = torch.arange(height, device=device)[:, None]
    columns = torch.arange(height + width - 1, device=device)[None, :]
    return (columns >= rows) & (columns < rows + width)


class DiagonalLSTM(nn.Module):
    """One diagonal LSTM, left to right: the state of (i, j) follows those of (i-1, j) and (i, j-1).

    For column k of the skewed input x, with (h, c) the state of column k-1 [1, eq. 3]::

        [o, f, i, g] = K_ss * h_{k-1} + K_is * x_k     (K_ss 2 x 1 over rows i-1 and i)
        c_k = sigmoid(f) . c_{k-1} + sigmoid(i) . tanh(g)
        h_k = sigmoid(o) . tanh(c_k)
        output_k = K_out * h_k

    K_is and K_out are 1 x 1 and mask B.

    Args:
        channels: maps of the residual stream (2h).
        hidden: LSTM units h.
        colours: colour channels C; maps and units are split into C groups.
    """

    def __init__(self, channels: int, hidden: int, colours: int):
        super().__init__()
        stream, units = channel_groups(channels, colours), channel_groups(hidden, colours)
        self.hidden = hidden
        self.input_to_state = MaskedConv2d(channels, GATES * hidden, mask="B", in_groups=stream,
                                           out_groups=gate_groups(hidden, colours))
        # reads the pixel above and the pixel to the left, whose every colour group is known
        self.state_to_state = nn.Conv2d(hidden, GATES * hidden, (2, 1), bias=False)
        self.projection = MaskedConv2d(hidden, channels, mask="B", in_groups=units, out_groups=stream)
        with torch.no_grad():
            self.input_to_state.bias[hidden:2 * hidden].fill_(1.0)  # the forget gates [2]

    def step(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One column of the skewed map.

        Args:
            x: the column of the input, (B, channels, H, 1).
            h, c: the state of the previous column, each (B, hidden, H, 1).

        Returns:
            (output, h, c): the column's output (B, channels, H, 1) and state.
        """
        x = x.contiguous()  # a column of the skewed map is a strided view; the sampler's is not
        gates = self.state_to_state(F.pad(h, (0, 0, 1, 0))) + self.input_to_state(x)
        h, c = lstm_cell(gates, c)
        return self.projection(h), h, c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The LSTM over a whole map: (B, channels, H, W) to its output (B, channels, H, W)."""
        n, _, height, width = x.shape
        x = skew(x)
        inside = inside_image(height, width, x.device)
        h = c = x.new_zeros(n, self.hidden, height, 1)
        outputs = []
        for k, column in enumerate(x.split(1, dim=-1)):
            output, h, c = self.step(column, h, c)
            keep = inside[:, k:k + 1]
            h, c = torch.where(keep, h, 0.0), torch.where(keep, c, 0.0)
            outputs.append(output)
        return unskew(torch.cat(outputs, dim=-1))


class DiagonalBiLSTMLayer(nn.Module):
    """One Diagonal BiLSTM layer with its residual connection [1, Sec. 3.2-3.3]::

        output = x + LSTM_left-to-right(x) + shift_down(flip(LSTM_left-to-right'(flip(x))))

    Args:
        channels, hidden, colours: as for :class:`DiagonalLSTM`.
    """

    def __init__(self, channels: int, hidden: int, colours: int):
        super().__init__()
        self.left_to_right = DiagonalLSTM(channels, hidden, colours)
        self.right_to_left = DiagonalLSTM(channels, hidden, colours)  # run on the flipped map

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, channels, H, W) to (B, channels, H, W)."""
        left_to_right = self.left_to_right(x)
        right_to_left = self.right_to_left(x.flip(-1)).flip(-1)
        return x + left_to_right + shift_down(right_to_left)


class DiagonalBiLSTM(PixelRNN):
    """PixelRNN with Diagonal BiLSTM layers: p(x) over integer images [1].

    Args:
        event_shape: (C, H, W) of the images.
        num_levels: levels of each sub-pixel.
        hidden_channels: h, the units of each LSTM (the residual stream has 2h maps); at least C.
        layers: number of Diagonal BiLSTM layers.

    Raises:
        InvalidInput: a bad shape, level count or size.
    """

    def __init__(self, event_shape: Sequence[int] = (1, 28, 28), num_levels: int = 256, hidden_channels: int = 64,
                 layers: int = 5):
        super().__init__(event_shape, num_levels, hidden_channels)
        check_size("layers", layers)
        colours = self.event_shape[0]
        self.layers = nn.ModuleList(DiagonalBiLSTMLayer(2 * hidden_channels, hidden_channels, colours)
                                    for _ in range(layers))

    def _logits(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        h = self.input_conv(self.scale(x))
        for layer in self.layers:
            h = layer(h)
        # a row at a time, as the cached sampler applies it
        return torch.cat([self.head(row) for row in h.split(1, dim=2)], dim=2)

    def _sampling_context(self, device: torch.device):
        # cuDNN may pick FFT or Winograd convolutions, whose round-off mixes output elements
        return torch.backends.cudnn.flags(enabled=False)

    def _draw_cached(self, x: torch.Tensor, u: torch.Tensor, labels: torch.Tensor | None) -> None:
        """Fill x in place with the draws of the reference; see the module docstring."""
        (c, height, width), levels = self.event_shape, self.num_levels
        memory = _PixelStates(self, len(x))
        for i in range(height):
            for j in range(width):
                for k in range(c):
                    v = self.input_conv(self.scale(x))[:, :, i, j]
                    for index, layer in enumerate(self.layers):
                        memory.inputs[index][:, :, i, j] = v
                        v = memory.left_to_right(index, layer.left_to_right, v, i, j)
                    memory.top[:, :, i, j] = v
                    logits = self.head(memory.top[:, :, i:i + 1])
                    x[:, k, i, j] = inverse_cdf(logits[:, k * levels:(k + 1) * levels, 0, j], u[:, k, i, j])
            for index, layer in enumerate(self.layers):
                for j in reversed(range(width)):
                    memory.right_to_left(index, layer.right_to_left, i, j)


class _PixelStates:
    """What the cached sampler keeps of finished pixels, per layer, in image coordinates.

    A pixel's values are stored each time one of its sub-pixels is drawn. The last time
    they are final: everything drawn after it meets them only through masked taps, which
    contribute exact zeros, so they are bitwise what a full pass computes later.
    """

    def __init__(self, model: DiagonalBiLSTM, n: int):
        _, self.height, self.width = model.event_shape
        self.hidden, channels = model.hidden_channels, 2 * model.hidden_channels
        self.like = model._anchor()
        layers = len(model.layers)
        self.n = n
        self.inputs = [self._maps(channels) for _ in range(layers)]  # each layer's input
        self.l2r_h = [self._maps(self.hidden) for _ in range(layers)]  # left-to-right state
        self.l2r_c = [self._maps(self.hidden) for _ in range(layers)]
        self.r2l_h = [self._maps(self.hidden) for _ in range(layers)]  # right-to-left state
        self.r2l_c = [self._maps(self.hidden) for _ in range(layers)]
        self.r2l_out = [self._maps(channels) for _ in range(layers)]  # right-to-left output
        self.top = self._maps(channels)  # the last layer's output, read by the head a row at a time

    def _maps(self, channels: int) -> torch.Tensor:
        return self.like.new_zeros(self.n, channels, self.height, self.width)

    def _column(self, channels: int, rows: dict[int, torch.Tensor]) -> torch.Tensor:
        """A column (n, channels, H, 1) of zeros but for the given rows, as a column step reads it."""
        column = self.like.new_zeros(self.n, channels, self.height, 1)
        for row, value in rows.items():
            column[:, :, row, 0] = value
        return column

    def left_to_right(self, index: int, lstm: DiagonalLSTM, v: torch.Tensor, i: int, j: int) -> torch.Tensor:
        """Layer ``index``'s output at (i, j), (n, channels), from its input v there; stores the state."""
        h, c = self.l2r_h[index], self.l2r_c[index]
        above = {i - 1: h[:, :, i - 1, j]} if i > 0 else {}
        left = {i: h[:, :, i, j - 1]} if j > 0 else {}
        output, h_new, c_new = lstm.step(self._column(v.shape[1], {i: v}), self._column(self.hidden, above | left),
                                         self._column(self.hidden, {i: c[:, :, i, j - 1]} if j > 0 else {}))
        h[:, :, i, j], c[:, :, i, j] = h_new[:, :, i, 0], c_new[:, :, i, 0]
        below = self.r2l_out[index][:, :, i - 1, j] if i > 0 else torch.zeros_like(v)
        return v + output[:, :, i, 0] + below

    def right_to_left(self, index: int, lstm: DiagonalLSTM, i: int, j: int) -> None:
        """The right-to-left state and output of layer ``index`` at (i, j), once row i is finished."""
        h, c = self.r2l_h[index], self.r2l_c[index]
        above = {i - 1: h[:, :, i - 1, j]} if i > 0 else {}
        right = {i: h[:, :, i, j + 1]} if j + 1 < self.width else {}
        v = self.inputs[index][:, :, i, j]
        output, h_new, c_new = lstm.step(
            self._column(v.shape[1], {i: v}), self._column(self.hidden, above | right),
            self._column(self.hidden, {i: c[:, :, i, j + 1]} if j + 1 < self.width else {}))
        h[:, :, i, j], c[:, :, i, j] = h_new[:, :, i, 0], c_new[:, :, i, 0]
        self.r2l_out[index][:, :, i, j] = output[:, :, i, 0]
