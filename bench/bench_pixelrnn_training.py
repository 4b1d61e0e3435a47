"""One training step of the Diagonal BiLSTM against one of the Row LSTM, same sizes, same data.

Why `pixelrnn-fashion-mnist` is a Row LSTM: both at their defaults (64 units, 5 layers),
1 x 28 x 28, 256 levels, a batch of 16 Fashion-MNIST-sized random images; a step is
forward, backward and an Adam update. The Row LSTM runs 28 sequential row steps per layer,
the Diagonal BiLSTM 2 x 55 column steps (both directions over the skewed map), so on a
fixed training budget the Row LSTM sees several times more images. Median of 3 steps after
one warm-up step. Set ZOO_BENCH_DEVICE=cuda to time on a GPU.
"""

import os
import statistics
import time

import torch

import zoo_core as zoo
from run import Result


def _step_time(model, x: torch.Tensor, device: str, repeats: int = 3) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for k in range(repeats + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = -model.log_prob(x).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        if k:  # the first step warms up
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def run() -> list[Result]:
    device = os.environ.get("ZOO_BENCH_DEVICE", "cpu")
    batch = 16
    x = torch.randint(0, 256, (batch, 1, 28, 28), generator=torch.Generator().manual_seed(0)).to(device)
    seconds = {}
    for name in ("pixelrnn/row-lstm", "pixelrnn/diagonal-bilstm"):
        torch.manual_seed(0)
        seconds[name] = _step_time(zoo.build(name).to(device).train(), x, device)
    return [Result(f"pixelrnn/diagonal-bilstm training step, batch {batch}, 28x28, {device}",
                   seconds["pixelrnn/diagonal-bilstm"], "pixelrnn/row-lstm", seconds["pixelrnn/row-lstm"])]
