"""Cached against reference sampling of the autoregressive models, in one process, one thread.

PixelCNN on the pretrained `pixelcnn-fashion-mnist` (bar: >= 10x at batch 4 on the CPU,
goal >= 50x), the Row LSTM on a default-size 28x28 model (bar: >= 5x at batch 4) and the
Diagonal BiLSTM on a 12x12 one (its reference sampler is slow at 28x28). Each line
also checks that both samplers drew identical images. One thread: the cached path is many
small operations, which a second thread on a loaded 2-core machine only slows down.
Set ZOO_BENCH_DEVICE=cuda to time on a GPU.
"""

import os
import time

import torch

import zoo_core as zoo
from run import Result


def _time_sample(model, batch: int, cache: bool, device: str):
    generator = torch.Generator().manual_seed(1)
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.no_grad():
        draws = model.sample(batch, generator=generator, cache=cache)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, draws


def run() -> list[Result]:
    torch.set_num_threads(1)
    device = os.environ.get("ZOO_BENCH_DEVICE", "cpu")
    results = []
    torch.manual_seed(0)
    models = [("pixelcnn-fashion-mnist", zoo.load("pixelcnn-fashion-mnist", device=device), (4, 16)),
              ("pixelrnn/row-lstm 28x28", zoo.build("pixelrnn/row-lstm").to(device).eval(), (4,)),
              ("pixelrnn/diagonal-bilstm 12x12",
               zoo.build("pixelrnn/diagonal-bilstm", event_shape=(1, 12, 12)).to(device).eval(), (4,))]
    for name, model, batches in models:
        for batch in batches:
            fast, a = _time_sample(model, batch, True, device)
            slow, b = _time_sample(model, batch, False, device)
            results.append(Result(f"{name} sample cache=False / cache=True, batch {batch}, {device}", slow,
                                  "cache=True", fast, note=f"identical samples: {torch.equal(a, b)}"))
    return results
